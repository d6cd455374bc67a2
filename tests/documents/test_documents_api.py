"""GET /documents, GET /documents/{id} and DELETE /documents/{id}: listing, reading and deleting stored documents."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from documents.models import Chunk, Document
from tests.ragsite.test_errors import assert_envelope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("openai_settings")]

ITEM_KEYS = {
    "document_id",
    "title",
    "source",
    "vault_id",
    "metadata",
    "chunk_count",
    "embedding_model",
    "created_at",
    "updated_at",
}
HANDBOOK = "Employees get 25 days of paid leave per year. Unused days carry over until March."
# Long enough for several chunks at the default CHUNK_SIZE, with no characters HTML or JSON would escape.
LONG_TEXT = " ".join(f"Paragraph {n} describes animal number {n} and where it sleeps in winter." for n in range(150))


def keys_anywhere(value) -> set[str]:
    """Every key of every object nested in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_anywhere(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_anywhere(item)}
    return set()


def document_ids(body: dict) -> list[str]:
    return [item["document_id"] for item in body["documents"]]


@pytest.fixture
def three_documents(ingest) -> list[str]:
    """Three documents, ids in the order they were ingested."""
    return [
        ingest(text=f"Document number {n} is about {topic}.").json()["document_id"] for n, topic in enumerate("abc")
    ]


# GET /documents


def test_documents_are_listed_newest_first(api_client, three_documents):
    # Creation times opposite to the ingestion order: the list must follow created_at, not insertion order.
    now = timezone.now()
    for age, document_id in enumerate(three_documents):
        Document.objects.filter(pk=document_id).update(created_at=now - timedelta(days=age))
    expected = [str(pk) for pk in Document.objects.order_by("-created_at").values_list("pk", flat=True)]
    assert expected == three_documents

    response = api_client.get("/documents")

    assert response.status_code == 200
    body = response.json()
    assert document_ids(body) == expected
    assert body["total"] == 3 == Document.objects.count()
    assert (body["limit"], body["offset"]) == (20, 0)


def test_each_listed_document_has_exactly_the_api_fields(api_client, ingest, vault):
    created = ingest(
        text=HANDBOOK, title="Leave policy", source="hr/leave.md", metadata={"team": "hr"}, vault_id=str(vault.pk)
    ).json()

    response = api_client.get("/documents")

    assert response.status_code == 200
    assert set(response.json()) == {"documents", "total", "limit", "offset"}
    (item,) = response.json()["documents"]
    assert set(item) == ITEM_KEYS
    document = Document.objects.get(pk=created["document_id"])
    assert item["document_id"] == str(document.pk)
    assert (item["title"], item["source"], item["metadata"]) == ("Leave policy", "hr/leave.md", {"team": "hr"})
    assert item["vault_id"] == str(vault.pk)
    assert item["chunk_count"] == document.chunks.count() == created["chunk_count"]
    assert item["embedding_model"] == "text-embedding-3-small"
    assert datetime.fromisoformat(item["created_at"]) == document.created_at
    assert datetime.fromisoformat(item["updated_at"]) == document.updated_at


def test_a_document_outside_any_vault_is_listed_with_a_null_vault_id(api_client, ingest):
    ingest(text=HANDBOOK)

    (item,) = api_client.get("/documents").json()["documents"]

    assert item["vault_id"] is None
    assert item["metadata"] == {}
    assert Document.objects.get().vault_id is None


def test_no_documents_is_an_empty_list_not_an_error(api_client):
    response = api_client.get("/documents")

    assert response.status_code == 200
    assert response.json() == {"documents": [], "total": 0, "limit": 20, "offset": 0}
    assert Document.objects.count() == 0


def test_limit_and_offset_page_through_the_documents_and_total_counts_them_all(api_client, ingest):
    for n in range(5):
        ingest(text=f"Page test document {n}.")
    everything = document_ids(api_client.get("/documents").json())
    assert len(everything) == 5 == Document.objects.count()

    first = api_client.get("/documents", {"limit": 2}).json()
    second = api_client.get("/documents", {"limit": 2, "offset": 2}).json()
    last = api_client.get("/documents", {"limit": 2, "offset": 4}).json()

    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert (second["total"], second["limit"], second["offset"]) == (5, 2, 2)
    assert (last["total"], last["limit"], last["offset"]) == (5, 2, 4)
    assert document_ids(first) + document_ids(second) + document_ids(last) == everything


def test_an_offset_past_the_end_is_an_empty_page_with_the_total(api_client, ingest):
    ingest(text=HANDBOOK)

    response = api_client.get("/documents", {"offset": 10})

    assert response.status_code == 200
    assert response.json() == {"documents": [], "total": 1, "limit": 20, "offset": 10}
    assert Document.objects.count() == 1


def test_the_vault_id_filter_lists_only_that_vaults_documents(api_client, ingest, vault):
    inside = ingest(text="Inside the handbook vault.", vault_id=str(vault.pk)).json()["document_id"]
    ingest(text="Outside any vault.")

    body = api_client.get("/documents", {"vault_id": str(vault.pk)}).json()

    assert document_ids(body) == [inside]
    assert body["total"] == 1
    assert Document.objects.count() == 2
    assert [str(pk) for pk in Document.objects.filter(vault=vault).values_list("pk", flat=True)] == [inside]


def test_q_matches_the_title_or_the_source_ignoring_case(api_client, ingest):
    by_title = ingest(text="Twenty-five days.", title="Leave policy", source="hr/policy.md").json()["document_id"]
    by_source = ingest(text="Receipts needed.", title="Expenses", source="hr/leave-extras.md").json()["document_id"]
    ingest(text="Dogs allowed on Fridays.", title="Pets", source="misc/pets.md")

    body = api_client.get("/documents", {"q": "LEAVE"}).json()

    assert set(document_ids(body)) == {by_title, by_source}
    assert body["total"] == 2
    assert Document.objects.count() == 3


def test_q_does_not_match_the_text(api_client, ingest):
    ingest(text="Otters hold hands while sleeping.", title="Animals", source="zoo/animals.md")

    body = api_client.get("/documents", {"q": "otters"}).json()

    assert body == {"documents": [], "total": 0, "limit": 20, "offset": 0}
    assert Document.objects.count() == 1


@pytest.mark.parametrize("path", ["/documents", "/agents"])
def test_a_query_parameter_given_twice_is_422(api_client, path):
    # schemathesis found this: DRF took the last of several values, which might be empty, or any one of them.
    response = api_client.get(f"{path}?vault_id=not-a-uuid&vault_id=")
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert body["detail"] == {"vault_id": ["Give this parameter once."]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "ten"),
        ("limit", "-5"),
        ("offset", "-1"),
        ("offset", "first"),
        ("vault_id", "not-a-uuid"),
        ("vault_id", "1 OR 1=1"),
    ],
)
def test_an_invalid_limit_offset_or_vault_id_is_422(api_client, ingest, field, value):
    ingest(text=HANDBOOK)

    response = api_client.get("/documents", {field: value})

    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert field in body["detail"]
    assert Document.objects.count() == 1


# GET /documents/{id}


def test_a_document_is_shown_with_its_text_and_its_chunks_in_order(api_client, ingest):
    created = ingest(text=LONG_TEXT, title="Animals in winter", source="zoo/winter.md").json()
    assert created["chunk_count"] > 1

    response = api_client.get(f"/documents/{created['document_id']}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == ITEM_KEYS | {"text", "chunks"}
    document = Document.objects.get(pk=created["document_id"])
    assert body["document_id"] == str(document.pk)
    assert (body["title"], body["source"], body["text"]) == ("Animals in winter", "zoo/winter.md", LONG_TEXT)
    assert body["chunk_count"] == len(body["chunks"]) == created["chunk_count"]
    assert body["embedding_model"] == "text-embedding-3-small"
    stored = list(document.chunks.order_by("position"))
    assert body["chunks"] == [
        {"chunk_id": chunk.id, "position": chunk.position, "text": chunk.text} for chunk in stored
    ]
    assert [chunk["position"] for chunk in body["chunks"]] == list(range(len(stored)))
    assert body["chunks"][0]["text"].startswith("Paragraph 0 describes")


def test_vectors_never_appear_in_a_document_or_the_list(api_client, ingest):
    document_id = ingest(text=LONG_TEXT).json()["document_id"]
    assert all(chunk.embedding is not None for chunk in Chunk.objects.filter(document_id=document_id))

    detail = api_client.get(f"/documents/{document_id}")
    listing = api_client.get("/documents")

    assert detail.status_code == listing.status_code == 200
    assert "embedding" not in keys_anywhere(detail.json())
    assert "embedding" not in keys_anywhere(listing.json())


@pytest.mark.parametrize("document_id", [str(uuid.uuid4()), "not-a-uuid", "42"])
def test_an_unknown_or_malformed_document_id_is_404(api_client, ingest, document_id):
    ingest(text=HANDBOOK)

    response = api_client.get(f"/documents/{document_id}")

    assert_envelope(response, 404, "DOCUMENT_NOT_FOUND")
    assert Document.objects.count() == 1


# DELETE /documents/{id}


def test_deleting_a_document_removes_it_and_its_chunks(api_client, ingest):
    created = ingest(text=LONG_TEXT).json()
    document_id = created["document_id"]
    assert Chunk.objects.filter(document_id=document_id).count() == created["chunk_count"] > 1

    response = api_client.delete(f"/documents/{document_id}")

    assert response.status_code == 200
    assert response.json() == {"document_id": document_id, "status": "deleted"}
    assert not Document.objects.filter(pk=document_id).exists()
    assert not Chunk.objects.filter(document_id=document_id).exists()
    assert_envelope(api_client.get(f"/documents/{document_id}"), 404, "DOCUMENT_NOT_FOUND")


def test_deleting_a_document_twice_is_404_the_second_time(api_client, ingest):
    document_id = ingest(text=HANDBOOK).json()["document_id"]
    assert api_client.delete(f"/documents/{document_id}").status_code == 200

    response = api_client.delete(f"/documents/{document_id}")

    assert_envelope(response, 404, "DOCUMENT_NOT_FOUND")
    assert Document.objects.count() == 0
    assert Chunk.objects.count() == 0


def test_deleting_a_document_leaves_the_others_untouched(api_client, ingest, vault):
    doomed = ingest(text=HANDBOOK).json()["document_id"]
    kept = ingest(text=LONG_TEXT, vault_id=str(vault.pk)).json()
    kept_chunks = set(Chunk.objects.filter(document_id=kept["document_id"]).values_list("id", flat=True))

    response = api_client.delete(f"/documents/{doomed}")

    assert response.status_code == 200
    assert [str(pk) for pk in Document.objects.values_list("pk", flat=True)] == [kept["document_id"]]
    assert set(Chunk.objects.values_list("id", flat=True)) == kept_chunks
    assert len(kept_chunks) == kept["chunk_count"]
    assert api_client.get(f"/documents/{kept['document_id']}").json()["chunk_count"] == kept["chunk_count"]


@pytest.mark.parametrize("document_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_deleting_an_unknown_or_malformed_document_id_is_404_and_deletes_nothing(api_client, ingest, document_id):
    created = ingest(text=HANDBOOK).json()

    response = api_client.delete(f"/documents/{document_id}")

    assert_envelope(response, 404, "DOCUMENT_NOT_FOUND")
    assert Document.objects.count() == 1
    assert Chunk.objects.count() == created["chunk_count"]
