"""POST /ingest: JSON and file uploads, through one pipeline, with dedup, updates and clean failures."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Chunk, Document, EmbeddingSpace
from tests.conftest import FAKE_EMBEDDING_DIMENSIONS
from tests.documents.files import docx_bytes, encrypted_pdf_bytes, pdf_bytes
from tests.ragsite.test_errors import assert_envelope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("openai_settings")]

HANDBOOK = "Employees get 25 days of paid leave per year. Unused days carry over until March."


def embedded_inputs(fake_openai) -> list[str]:
    return [text for request in fake_openai.embedding_requests() for text in request.body["input"]]


def assert_nothing_written() -> None:
    assert Document.objects.count() == 0
    assert Chunk.objects.count() == 0


def test_ingest_text_indexes_a_document_with_embedded_chunks(ingest, fake_openai):
    response = ingest(text=HANDBOOK, title="Leave policy", source="hr/leave.md", metadata={"team": "hr"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "indexed"
    assert body["chunk_count"] == 1
    assert body["vault_id"] is None
    document = Document.objects.get(pk=body["document_id"])
    assert (document.title, document.source, document.metadata) == ("Leave policy", "hr/leave.md", {"team": "hr"})
    chunk = document.chunks.get()
    assert chunk.text == HANDBOOK
    assert chunk.embedding_model == "text-embedding-3-small"
    assert len(chunk.embedding) == FAKE_EMBEDDING_DIMENSIONS
    assert chunk.token_count > 10
    assert EmbeddingSpace.objects.get(model="text-embedding-3-small").dimensions == FAKE_EMBEDDING_DIMENSIONS


def test_only_the_title_and_text_are_embedded_never_ids_or_metadata(ingest, fake_openai):
    body = ingest(text=HANDBOOK, title="Leave policy", metadata={"secret_code": "XYZZY-42"}).json()

    (embedded,) = embedded_inputs(fake_openai)
    assert embedded == f"Leave policy\n\n{HANDBOOK}"
    assert body["document_id"] not in embedded
    assert "XYZZY-42" not in embedded


def test_ingest_same_text_twice_is_unchanged_without_a_provider_call(ingest, fake_openai):
    first = ingest(text=HANDBOOK, title="Leave").json()
    fake_openai.reset()

    second = ingest(text=HANDBOOK, title="Another title").json()

    assert second == {**first, "status": "unchanged"}
    assert fake_openai.embedding_requests() == []
    assert Document.objects.count() == 1


def test_same_text_in_another_vault_is_another_document(ingest, vault):
    first = ingest(text=HANDBOOK).json()
    second = ingest(text=HANDBOOK, vault_id=str(vault.pk)).json()
    assert second["status"] == "indexed"
    assert second["document_id"] != first["document_id"]
    assert second["vault_id"] == str(vault.pk)


def test_same_source_with_new_text_updates_the_document_in_place(ingest):
    first = ingest(text=HANDBOOK, source="hr/leave.md", metadata={"v": 1}).json()
    old_chunk_ids = set(Chunk.objects.values_list("id", flat=True))

    second = ingest(text="Leave is now 30 days. " * 200, source="hr/leave.md").json()

    assert second["status"] == "updated"
    assert second["document_id"] == first["document_id"]
    assert second["chunk_count"] > 1
    document = Document.objects.get()
    assert document.text.startswith("Leave is now 30 days.")
    assert document.metadata == {"v": 1}  # no metadata sent: kept
    chunks = list(document.chunks.order_by("position"))
    assert [chunk.position for chunk in chunks] == list(range(second["chunk_count"]))
    assert not old_chunk_ids & {chunk.id for chunk in chunks}
    assert Chunk.objects.count() == second["chunk_count"]


def test_an_unknown_vault_is_404_with_nothing_written_and_no_provider_call(ingest, fake_openai):
    response = ingest(text=HANDBOOK, vault_id=str(uuid.uuid4()))
    assert_envelope(response, 404, "VAULT_NOT_FOUND")
    assert_nothing_written()
    assert fake_openai.embedding_requests() == []


def test_metadata_cannot_override_the_document_or_vault_id(ingest, vault):
    forged = str(uuid.uuid4())
    body = ingest(text=HANDBOOK, vault_id=str(vault.pk), metadata={"document_id": forged, "vault_id": forged}).json()

    assert body["document_id"] != forged
    assert body["vault_id"] == str(vault.pk)
    document = Document.objects.get(pk=body["document_id"])
    assert document.vault_id == vault.pk


@pytest.mark.parametrize(
    ("name", "data", "title", "snippet"),
    [
        ("notes.txt", b"Otters hold hands while sleeping.", "notes.txt", "Otters hold hands"),
        ("guide.md", b"# Beavers\n\nBeavers build dams.", "guide.md", "Beavers build dams"),
        ("page.html", b"<title>Owls</title><p>Owls turn their heads.</p>", "Owls", "Owls turn their heads"),
        ("paper.pdf", pdf_bytes("Foxes hunt at dusk."), "paper.pdf", "Foxes hunt at dusk"),
        ("memo.docx", docx_bytes("Badgers dig setts."), "memo.docx", "Badgers dig setts"),
    ],
)
def test_uploading_a_file_of_each_supported_type(api_client, name, data, title, snippet):
    upload = SimpleUploadedFile(name, data)
    response = api_client.post("/ingest", {"file": upload, "metadata": '{"origin": "upload"}'}, format="multipart")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "indexed"
    document = Document.objects.get(pk=response.json()["document_id"])
    assert document.title == title
    assert snippet in document.text
    assert document.metadata == {"origin": "upload"}
    assert document.chunks.count() == response.json()["chunk_count"] >= 1


def test_an_upload_can_be_given_a_title_source_and_vault(api_client, vault):
    upload = SimpleUploadedFile("x.txt", b"Moles are nearly blind.")
    response = api_client.post(
        "/ingest",
        {"file": upload, "title": "Moles", "source": "zoo/moles", "vault_id": str(vault.pk)},
        format="multipart",
    )
    assert response.status_code == 200
    document = Document.objects.get()
    assert (document.title, document.source, document.vault_id) == ("Moles", "zoo/moles", vault.pk)


@pytest.mark.parametrize("text", ["", "   \n\t  ", "\x00\x00"])
def test_empty_or_whitespace_text_is_422(ingest, fake_openai, text):
    response = ingest(text=text)
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert "text" in body["detail"]
    assert_nothing_written()
    assert fake_openai.embedding_requests() == []


def test_missing_text_is_422(ingest):
    body = assert_envelope(ingest(title="no text"), 422, "VALIDATION_ERROR")
    assert "text" in body["detail"]
    assert_nothing_written()


def test_nul_bytes_and_lone_surrogates_are_cleaned_not_a_500(api_client, openai_settings):
    payload = {"text": "Null\x00 bytes and a lone \ud800 surrogate.", "title": "t\x00", "metadata": {"k\x00": "v\x00"}}
    # json.dumps escapes them as \u0000 and \ud800, as a JavaScript client would send them.
    response = api_client.post("/ingest", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 200
    document = Document.objects.get()
    assert document.text == "Null bytes and a lone \ufffd surrogate."
    assert document.title == "t"
    assert document.metadata == {"k": "v"}


def test_invalid_utf8_in_a_json_body_is_cleaned_not_a_500(api_client, openai_settings):
    response = api_client.post("/ingest", data=b'{"text": "caf\xe9 au lait"}', content_type="application/json")
    assert response.status_code == 200
    assert Document.objects.get().text == "caf\ufffd au lait"


def test_an_unreadable_multipart_form_is_422_saying_so(api_client):
    response = api_client.generic("POST", "/ingest", b"not a form", content_type="multipart/form-data")
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert body["error"] == "Invalid multipart form"  # not "Invalid JSON", as before
    assert_nothing_written()


def test_invalid_json_is_422(api_client):
    response = api_client.post("/ingest", data=b'{"text": ', content_type="application/json")
    assert_envelope(response, 422, "VALIDATION_ERROR")
    assert_nothing_written()


def test_an_unsupported_file_type_is_415_with_nothing_written(api_client, fake_openai):
    response = api_client.post("/ingest", {"file": SimpleUploadedFile("photo.png", b"\x89PNG")}, format="multipart")
    body = assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert ".png" in body["detail"]
    assert_nothing_written()
    assert fake_openai.embedding_requests() == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [(encrypted_pdf_bytes("classified"), "encrypted"), (b"%PDF-1.7 this is not really a pdf", "corrupt")],
)
def test_an_encrypted_or_corrupt_pdf_is_422_naming_the_problem(api_client, data, problem):
    response = api_client.post("/ingest", {"file": SimpleUploadedFile("doc.pdf", data)}, format="multipart")
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert problem in body["detail"]["file"][0]
    assert_nothing_written()


def test_a_body_over_max_request_size_is_413(api_client, settings):
    settings.MAX_REQUEST_SIZE = 2048
    response = api_client.post("/ingest", {"text": "x" * 5000}, format="json")
    assert_envelope(response, 413, "REQUEST_TOO_LARGE")
    upload = SimpleUploadedFile("big.txt", b"y" * 5000)
    response = api_client.post("/ingest", {"file": upload}, format="multipart")
    assert_envelope(response, 413, "REQUEST_TOO_LARGE")
    assert_nothing_written()


@pytest.mark.parametrize("metadata", [[1, 2], "a string", 42])
def test_metadata_that_is_not_an_object_is_422(ingest, metadata):
    body = assert_envelope(ingest(text=HANDBOOK, metadata=metadata), 422, "VALIDATION_ERROR")
    assert "metadata" in body["detail"]
    assert_nothing_written()


def test_null_optional_fields_mean_absent_as_for_clients_of_the_old_service(ingest, vault):
    response = ingest(text=HANDBOOK, title=None, source=None, metadata=None, vault_id=None)

    assert response.status_code == 200, response.content
    document = Document.objects.get(pk=response.json()["document_id"])
    assert (document.source, document.metadata, document.vault_id) == ("", {}, None)
    assert document.title == HANDBOOK[:100]  # the default title, as when the field is left out
    body = assert_envelope(ingest(text=None), 422, "VALIDATION_ERROR")  # null is no text: still required
    assert "text" in body["detail"]


def test_deeply_nested_metadata_is_422(ingest):
    nested: dict = {}
    for _ in range(40):
        nested = {"a": nested}
    body = assert_envelope(ingest(text=HANDBOOK, metadata=nested), 422, "VALIDATION_ERROR")
    assert "metadata" in body["detail"]


@pytest.mark.parametrize("vault_id", ["not-a-uuid", "1 OR 1=1", "'; DROP TABLE documents_document; --"])
def test_a_vault_id_that_is_not_a_uuid_is_422(ingest, vault_id):
    body = assert_envelope(ingest(text=HANDBOOK, vault_id=vault_id), 422, "VALIDATION_ERROR")
    assert "vault_id" in body["detail"]
    assert_nothing_written()


def test_text_and_file_together_are_422(api_client):
    upload = SimpleUploadedFile("a.txt", b"file text")
    response = api_client.post("/ingest", {"file": upload, "text": "body text"}, format="multipart")
    assert_envelope(response, 422, "VALIDATION_ERROR")
    assert_nothing_written()


def test_an_overlong_title_is_422(ingest):
    assert_envelope(ingest(text=HANDBOOK, title="t" * 501), 422, "VALIDATION_ERROR")
    assert_nothing_written()


def test_a_provider_failure_is_502_with_nothing_written(ingest, fake_openai):
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)
    body = assert_envelope(ingest(text=HANDBOOK), 502, "EMBEDDING_ERROR")
    assert "500" in body["detail"]
    assert_nothing_written()
    assert len(fake_openai.embedding_requests()) == 3  # the first try and PROVIDER_MAX_RETRIES=2 retries


def test_a_rate_limited_provider_is_retried_after_retry_after(ingest, fake_openai):
    fake_openai.fail_next(count=1, status=429, retry_after=0.2, endpoint="embeddings")
    response = ingest(text=HANDBOOK)
    assert response.status_code == 200
    first, second = fake_openai.embedding_requests()
    assert second.timestamp - first.timestamp >= 0.2
    assert Document.objects.count() == 1


def test_a_provider_that_does_not_answer_in_time_is_504(ingest, fake_openai, settings):
    settings.REQUEST_TIMEOUT = 0.5
    settings.PROVIDER_MAX_RETRIES = 0
    fake_openai.hang_next(count=1, seconds=5, endpoint="embeddings")
    assert_envelope(ingest(text=HANDBOOK), 504, "UPSTREAM_TIMEOUT")
    assert_nothing_written()


def test_a_provider_sending_garbage_is_502(ingest, fake_openai):
    fake_openai.garbage_next(count=3, endpoint="embeddings")
    assert_envelope(ingest(text=HANDBOOK), 502, "EMBEDDING_ERROR")
    assert_nothing_written()


def test_a_trailing_slash_is_accepted_not_redirected(api_client, openai_settings):
    response = api_client.post("/ingest/", {"text": HANDBOOK}, format="json")
    assert response.status_code == 200
