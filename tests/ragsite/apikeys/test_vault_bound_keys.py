"""A key bound to a vault sees and touches only that vault: objects of other vaults answer 404 as if missing, a
vault_id naming another vault answers 403 (existing or not), and a request naming no vault is confined to the key's.
"""

from __future__ import annotations

import uuid

import pytest

from chat.models import Agent, Message, Session
from documents.models import Document, Vault
from tests.ragsite.test_errors import assert_envelope


@pytest.fixture
def hr_client(keyed_client, world, settings):
    settings.API_AUTH = "required"
    return keyed_client("admin", vault=world.hr)


def test_listing_documents_shows_only_the_keys_vault(hr_client, world):
    response = hr_client.get("/documents")
    assert response.status_code == 200
    assert [d["document_id"] for d in response.json()["documents"]] == [str(world.hr_doc.pk)]
    assert response.json()["total"] == 1
    assert hr_client.get(f"/documents?vault_id={world.hr.pk}").json()["total"] == 1


@pytest.mark.parametrize("other", ["zoo", "missing"])
def test_naming_another_vault_is_403_whether_it_exists_or_not(hr_client, world, other):
    vault_id = str(world.zoo.pk if other == "zoo" else uuid.uuid4())
    documents_before = Document.objects.count()
    for response in [
        hr_client.get(f"/documents?vault_id={vault_id}"),
        hr_client.post("/search", {"query": "annual leave", "vault_id": vault_id}, format="json"),
        hr_client.post("/chat", {"message": "Leave?", "vault_id": vault_id}, format="json"),
        hr_client.post("/ingest", {"text": "Secret zoo plans.", "vault_id": vault_id}, format="json"),
        hr_client.get(f"/agents?vault_id={vault_id}"),
        hr_client.post("/agents", {"name": "Spy", "vault_id": vault_id, "system_prompt": "x"}, format="json"),
    ]:
        body = assert_envelope(response, 403, "FORBIDDEN")
        assert body["detail"] == "this API key is bound to another vault"
    assert Document.objects.count() == documents_before
    assert not Agent.objects.filter(name="Spy").exists()
    assert not Session.objects.exclude(pk__in=["hr-session", "zoo-session", "open-session"]).exists()


def test_documents_of_other_vaults_are_404_to_get_and_delete(hr_client, world):
    for document in (world.zoo_doc, world.loose_doc):
        assert_envelope(hr_client.get(f"/documents/{document.pk}"), 404, "DOCUMENT_NOT_FOUND")
        assert_envelope(hr_client.delete(f"/documents/{document.pk}"), 404, "DOCUMENT_NOT_FOUND")
    assert Document.objects.filter(pk__in=[world.zoo_doc.pk, world.loose_doc.pk]).count() == 2
    assert hr_client.get(f"/documents/{world.hr_doc.pk}").json()["title"] == "Leave"
    assert hr_client.delete(f"/documents/{world.hr_doc.pk}").status_code == 200
    assert not Document.objects.filter(pk=world.hr_doc.pk).exists()


def test_search_without_a_vault_searches_the_keys_vault_only(hr_client, world):
    for mode in ("hybrid", "vector", "keyword"):
        response = hr_client.post("/search", {"query": "annual leave", "mode": mode, "top_k": 10}, format="json")
        assert response.status_code == 200
        assert {hit["document_id"] for hit in response.json()["results"]} == {str(world.hr_doc.pk)}, mode


def test_ingest_without_a_vault_goes_into_the_keys_vault(hr_client, world):
    response = hr_client.post("/ingest", {"text": "Parking is free on Fridays."}, format="json")
    assert response.status_code == 200
    assert response.json()["vault_id"] == str(world.hr.pk)
    assert Document.objects.get(pk=response.json()["document_id"]).vault_id == world.hr.pk


def test_chat_answers_from_the_keys_vault_and_its_session_stays_there(hr_client, world):
    response = hr_client.post("/chat", {"message": "How much annual leave?", "session_id": "hr-2"}, format="json")
    assert response.status_code == 200
    assert {source["document_id"] for source in response.json()["sources"]} <= {str(world.hr_doc.pk)}
    assert Session.objects.get(pk="hr-2").vault_id == world.hr.pk
    assert hr_client.get("/sessions/hr-2").status_code == 200


def test_sessions_of_other_vaults_are_404_and_cannot_be_continued(hr_client, world):
    Message.objects.create(session=world.zoo_session, role="user", content="What do pandas eat?")
    for session_id in ("zoo-session", "open-session"):
        assert_envelope(hr_client.get(f"/sessions/{session_id}"), 404, "SESSION_NOT_FOUND")
        assert_envelope(hr_client.delete(f"/sessions/{session_id}"), 404, "SESSION_NOT_FOUND")
        response = hr_client.post("/chat", {"message": "And then?", "session_id": session_id}, format="json")
        assert_envelope(response, 403, "FORBIDDEN")
    assert Session.objects.filter(pk__in=["zoo-session", "open-session"]).count() == 2
    assert Message.objects.filter(session=world.zoo_session).count() == 1
    assert hr_client.delete("/sessions/hr-session").status_code == 200


def test_agents_of_other_vaults_are_404_everywhere(hr_client, world):
    assert [a["agent_id"] for a in hr_client.get("/agents").json()["agents"]] == [str(world.hr_agent.pk)]
    assert_envelope(hr_client.get(f"/agents/{world.zoo_agent.pk}"), 404, "AGENT_NOT_FOUND")
    assert_envelope(hr_client.delete(f"/agents/{world.zoo_agent.pk}"), 404, "AGENT_NOT_FOUND")
    response = hr_client.post("/chat", {"message": "Pandas?", "agent_id": str(world.zoo_agent.pk)}, format="json")
    assert_envelope(response, 404, "AGENT_NOT_FOUND")
    assert Agent.objects.filter(pk=world.zoo_agent.pk).exists()
    with_own_agent = hr_client.post("/chat", {"message": "Leave?", "agent_id": str(world.hr_agent.pk)}, format="json")
    assert with_own_agent.status_code == 200


def test_vaults_other_than_the_keys_are_invisible_and_vaults_cannot_be_made_or_removed(hr_client, world):
    assert [v["vault_id"] for v in hr_client.get("/vaults").json()["vaults"]] == [str(world.hr.pk)]
    assert_envelope(hr_client.get(f"/vaults/{world.zoo.pk}"), 404, "VAULT_NOT_FOUND")
    assert_envelope(hr_client.post("/vaults", {"name": "Finance"}, format="json"), 403, "FORBIDDEN")
    assert_envelope(hr_client.delete(f"/vaults/{world.hr.pk}"), 403, "FORBIDDEN")
    assert_envelope(hr_client.delete(f"/vaults/{world.zoo.pk}"), 403, "FORBIDDEN")
    assert Vault.objects.count() == 2


def test_an_unbound_key_sees_every_vault(keyed_client, world, settings):
    settings.API_AUTH = "required"
    client = keyed_client("read")
    assert client.get("/documents").json()["total"] == 3
    assert client.get(f"/documents/{world.zoo_doc.pk}").status_code == 200
    assert client.get("/sessions/zoo-session").status_code == 200
    assert len(client.get("/vaults").json()["vaults"]) == 2


def test_a_session_that_moves_between_vaults_is_left_to_unbound_keys(keyed_client, hr_client, world):
    unbound = keyed_client("read")
    unbound.post("/chat", {"message": "Leave?", "session_id": "wander", "vault_id": str(world.hr.pk)}, format="json")
    assert Session.objects.get(pk="wander").vault_id == world.hr.pk
    assert hr_client.get("/sessions/wander").status_code == 200
    unbound.post("/chat", {"message": "Pandas?", "session_id": "wander", "vault_id": str(world.zoo.pk)}, format="json")
    assert Session.objects.get(pk="wander").vault_id is None
    assert_envelope(hr_client.get("/sessions/wander"), 404, "SESSION_NOT_FOUND")
