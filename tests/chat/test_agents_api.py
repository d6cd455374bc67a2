"""Agents: a system prompt bound to a vault (API.md)."""

from __future__ import annotations

import uuid

import pytest

from chat.models import Agent, Session
from documents.models import Vault
from tests.ragsite.test_errors import assert_envelope

pytestmark = pytest.mark.django_db


@pytest.fixture
def vault() -> Vault:
    return Vault.objects.create(name="HR")


def create(api_client, **payload):
    return api_client.post("/agents", payload, format="json")


def test_creating_an_agent_is_201_with_its_fields(api_client, vault):
    response = create(api_client, name="HR helper", vault_id=str(vault.pk), system_prompt="Answer HR questions.")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"agent_id", "name", "vault_id", "system_prompt", "created_at"}
    agent = Agent.objects.get(pk=body["agent_id"])
    assert (agent.name, agent.vault_id, agent.system_prompt) == ("HR helper", vault.pk, "Answer HR questions.")


def test_an_agent_name_is_unique_within_its_vault_ignoring_case(api_client, vault):
    create(api_client, name="Helper", vault_id=str(vault.pk), system_prompt="p")
    other = Vault.objects.create(name="Legal")

    assert create(api_client, name="Helper", vault_id=str(other.pk), system_prompt="p").status_code == 201
    assert_envelope(create(api_client, name="HELPER", vault_id=str(vault.pk), system_prompt="p"), 409, "AGENT_EXISTS")
    assert Agent.objects.count() == 2


def test_an_unknown_vault_is_404_and_nothing_is_written(api_client):
    response = create(api_client, name="x", vault_id=str(uuid.uuid4()), system_prompt="p")
    assert_envelope(response, 404, "VAULT_NOT_FOUND")
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"vault_id": None, "system_prompt": "p"}, "name"),
        ({"name": "a", "system_prompt": "p"}, "vault_id"),
        ({"name": "a", "vault_id": "nope", "system_prompt": "p"}, "vault_id"),
        ({"name": "a"}, "system_prompt"),
    ],
)
def test_bad_agent_input_is_422(api_client, vault, payload, field):
    payload = {key: (str(vault.pk) if key == "vault_id" and value is None else value) for key, value in payload.items()}
    body = assert_envelope(create(api_client, **payload), 422, "VALIDATION_ERROR")
    assert field in body["detail"]


def test_listing_agents_filters_by_vault(api_client, vault):
    other = Vault.objects.create(name="Legal")
    create(api_client, name="A", vault_id=str(vault.pk), system_prompt="p")
    create(api_client, name="B", vault_id=str(other.pk), system_prompt="p")

    everything = api_client.get("/agents").json()["agents"]
    only_hr = api_client.get("/agents", {"vault_id": str(vault.pk)}).json()["agents"]

    assert [agent["name"] for agent in everything] == ["A", "B"]
    assert [agent["name"] for agent in only_hr] == ["A"]


def test_getting_and_deleting_an_agent_keeps_its_sessions(api_client, vault):
    agent_id = create(api_client, name="A", vault_id=str(vault.pk), system_prompt="p").json()["agent_id"]
    Session.objects.create(id="conversation", agent_id=agent_id)

    assert api_client.get(f"/agents/{agent_id}").json()["name"] == "A"
    assert api_client.delete(f"/agents/{agent_id}").json() == {"agent_id": agent_id, "status": "deleted"}

    assert not Agent.objects.exists()
    assert Session.objects.get(pk="conversation").agent_id is None
    assert_envelope(api_client.get(f"/agents/{agent_id}"), 404, "AGENT_NOT_FOUND")
    assert_envelope(api_client.delete(f"/agents/{agent_id}"), 404, "AGENT_NOT_FOUND")
    assert_envelope(api_client.get("/agents/not-a-uuid"), 404, "AGENT_NOT_FOUND")
