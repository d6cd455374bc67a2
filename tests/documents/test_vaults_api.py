"""POST/GET /vaults and GET/DELETE /vaults/{id}: named collections of documents, deleted with all they hold."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from chat.models import Agent
from documents.models import Chunk, Document, Vault
from tests.ragsite.test_errors import assert_envelope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("openai_settings")]

VAULT_KEYS = {"vault_id", "name", "description", "created_at", "document_count"}
LONG_TEXT = " ".join(f"Paragraph {n} describes animal number {n} and where it sleeps in winter." for n in range(150))


@pytest.fixture
def create_vault(api_client):
    """POST /vaults as JSON; returns the response."""

    def post(**payload):
        return api_client.post("/vaults", payload, format="json")

    return post


# POST /vaults


def test_creating_a_vault_is_201_with_an_empty_document_count(create_vault):
    response = create_vault(name="Engineering", description="Runbooks and design docs")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == VAULT_KEYS
    vault = Vault.objects.get()
    assert body["vault_id"] == str(vault.pk)
    assert (body["name"], body["description"]) == ("Engineering", "Runbooks and design docs")
    assert (vault.name, vault.description) == ("Engineering", "Runbooks and design docs")
    assert body["document_count"] == 0
    assert datetime.fromisoformat(body["created_at"]) == vault.created_at


def test_the_description_is_optional(create_vault):
    response = create_vault(name="Legal")

    assert response.status_code == 201
    assert response.json()["description"] == ""
    assert Vault.objects.get().description == ""


@pytest.mark.parametrize("name", ["handbook", "HANDBOOK", "Handbook"])
def test_a_name_already_used_in_any_case_is_409_with_nothing_written(create_vault, vault, name):
    response = create_vault(name=name, description="a second one")

    body = assert_envelope(response, 409, "VAULT_EXISTS")
    assert name in body["detail"]
    assert list(Vault.objects.values_list("name", "description")) == [("Handbook", "Company handbook")]


@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": "   "}, {"name": None}, {"description": "no name"}])
def test_a_blank_or_missing_name_is_422_with_nothing_written(create_vault, payload):
    response = create_vault(**payload)

    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert "name" in body["detail"]
    assert Vault.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "v", "description": "\x00" * 10_001},  # schemathesis found this one: NULs are cleaned away
        {"name": "v" + " " * 200},  # and DRF measured a name after trimming its spaces
    ],
)
def test_the_length_limit_is_on_what_was_sent(create_vault, payload):
    body = assert_envelope(create_vault(**payload), 422, "VALIDATION_ERROR")
    assert set(body["detail"]) & {"name", "description"}
    assert Vault.objects.count() == 0


def test_an_overlong_name_is_422_with_nothing_written(create_vault):
    body = assert_envelope(create_vault(name="v" * 201), 422, "VALIDATION_ERROR")
    assert "name" in body["detail"]
    assert Vault.objects.count() == 0


# GET /vaults, GET /vaults/{id}


def test_vaults_are_listed_with_their_document_counts(api_client, create_vault, ingest):
    full = create_vault(name="Full").json()["vault_id"]
    empty = create_vault(name="Empty").json()["vault_id"]
    ingest(text="First document in the full vault.", vault_id=full)
    ingest(text="Second document in the full vault.", vault_id=full)
    ingest(text="A document outside any vault.")

    response = api_client.get("/vaults")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"vaults"}
    assert all(set(item) == VAULT_KEYS for item in body["vaults"])
    counts = {item["vault_id"]: item["document_count"] for item in body["vaults"]}
    assert counts == {full: 2, empty: 0}
    assert Document.objects.filter(vault_id=full).count() == 2
    assert Document.objects.filter(vault_id=empty).count() == 0


def test_no_vaults_is_an_empty_list(api_client):
    response = api_client.get("/vaults")

    assert response.status_code == 200
    assert response.json() == {"vaults": []}
    assert Vault.objects.count() == 0


def test_a_vault_is_shown_with_its_document_count(api_client, ingest, vault):
    ingest(text="Holidays are listed on the intranet.", vault_id=str(vault.pk))

    response = api_client.get(f"/vaults/{vault.pk}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == VAULT_KEYS
    assert body["vault_id"] == str(vault.pk)
    assert (body["name"], body["description"]) == ("Handbook", "Company handbook")
    assert body["document_count"] == 1 == vault.documents.count()


@pytest.mark.parametrize("vault_id", [str(uuid.uuid4()), "not-a-uuid", "42"])
def test_an_unknown_or_malformed_vault_id_is_404(api_client, vault, vault_id):
    response = api_client.get(f"/vaults/{vault_id}")

    assert_envelope(response, 404, "VAULT_NOT_FOUND")
    assert Vault.objects.count() == 1


# DELETE /vaults/{id}


def test_deleting_a_vault_removes_its_documents_chunks_and_agents(api_client, ingest, vault):
    documents = [
        ingest(text=LONG_TEXT, vault_id=str(vault.pk)).json(),
        ingest(text="Holidays are listed on the intranet.", vault_id=str(vault.pk)).json(),
    ]
    document_ids = [document["document_id"] for document in documents]
    Agent.objects.create(name="HR helper", vault=vault, system_prompt="Answer from the handbook.")
    assert Chunk.objects.filter(document_id__in=document_ids).count() == sum(d["chunk_count"] for d in documents) > 2

    response = api_client.delete(f"/vaults/{vault.pk}")

    assert response.status_code == 200
    assert response.json() == {"vault_id": str(vault.pk), "status": "deleted"}
    assert not Vault.objects.filter(pk=vault.pk).exists()
    assert not Document.objects.filter(pk__in=document_ids).exists()
    assert not Chunk.objects.filter(document_id__in=document_ids).exists()
    assert not Agent.objects.filter(vault_id=vault.pk).exists()
    assert_envelope(api_client.get(f"/vaults/{vault.pk}"), 404, "VAULT_NOT_FOUND")


def test_deleting_a_vault_leaves_other_vaults_and_unvaulted_documents_alone(api_client, ingest, vault):
    other = Vault.objects.create(name="Engineering")
    other_agent = Agent.objects.create(name="Engineer", vault=other, system_prompt="Answer from the runbooks.")
    ingest(text="Doomed with its vault.", vault_id=str(vault.pk))
    kept = [
        ingest(text=LONG_TEXT, vault_id=str(other.pk)).json(),
        ingest(text="A document outside any vault.").json(),
    ]
    kept_chunks = set(
        Chunk.objects.filter(document_id__in=[d["document_id"] for d in kept]).values_list("id", flat=True)
    )

    response = api_client.delete(f"/vaults/{vault.pk}")

    assert response.status_code == 200
    assert list(Vault.objects.all()) == [other]
    assert {str(pk) for pk in Document.objects.values_list("pk", flat=True)} == {d["document_id"] for d in kept}
    assert set(Chunk.objects.values_list("id", flat=True)) == kept_chunks
    assert len(kept_chunks) == sum(d["chunk_count"] for d in kept)
    assert list(Agent.objects.all()) == [other_agent]
    assert api_client.get(f"/vaults/{other.pk}").json()["document_count"] == 1


@pytest.mark.parametrize("vault_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_deleting_an_unknown_or_malformed_vault_id_is_404_and_deletes_nothing(api_client, ingest, vault, vault_id):
    ingest(text="Holidays are listed on the intranet.", vault_id=str(vault.pk))

    response = api_client.delete(f"/vaults/{vault_id}")

    assert_envelope(response, 404, "VAULT_NOT_FOUND")
    assert Vault.objects.count() == 1
    assert Document.objects.filter(vault=vault).count() == 1
    assert Chunk.objects.count() == 1


def test_deleting_a_vault_twice_is_404_the_second_time(api_client, vault):
    assert api_client.delete(f"/vaults/{vault.pk}").status_code == 200

    response = api_client.delete(f"/vaults/{vault.pk}")

    assert_envelope(response, 404, "VAULT_NOT_FOUND")
    assert Vault.objects.count() == 0
