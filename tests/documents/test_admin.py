"""The documents admin: browse, search and filter documents, upload through the ingest pipeline, re-embed and delete
through the same services as the API."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import escape

from chat.models import Agent
from documents.models import Chunk, Document, EmbeddingSpace, Vault
from tests.documents.files import pdf_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("openai_settings")]

CHANGELIST = reverse("admin:documents_document_changelist")
ADD = reverse("admin:documents_document_add")
HANDBOOK = "Employees get 25 days of paid leave per year. Unused days carry over until March."
# Long enough for several chunks at the default CHUNK_SIZE, with no characters HTML would escape.
LONG_TEXT = " ".join(f"Paragraph {n} describes animal number {n} and where it sleeps in winter." for n in range(150))


def change_url(document_id) -> str:
    return reverse("admin:documents_document_change", args=[document_id])


def delete_url(document_id) -> str:
    return reverse("admin:documents_document_delete", args=[document_id])


def column_headers(html: str) -> dict[str, str]:
    """The changelist's columns: field name -> header text."""
    headers = re.findall(
        r'<th scope="col"\s+class="[^"]*column-(\w+)[^"]*">.*?<div class="text">\s*(?:<a [^>]*>|<span>)([^<]*)<',
        html,
        flags=re.DOTALL,
    )
    return dict(headers)


def column_values(html: str, field: str) -> list[str]:
    """The text of every row's cell in one column of the changelist, top to bottom."""
    cells = re.findall(rf'<t[hd] class="field-{field}[^"]*">(.*?)</t[hd]>', html, flags=re.DOTALL)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def listed_ids(response) -> set[str]:
    return {str(document.pk) for document in response.context["cl"].result_list}


@pytest.fixture
def handbook(ingest, vault) -> Document:
    """A one-chunk document in the Handbook vault."""
    body = ingest(text=HANDBOOK, title="Leave policy", source="hr/leave.md", vault_id=str(vault.pk)).json()
    return Document.objects.get(pk=body["document_id"])


@pytest.fixture
def animals(ingest) -> Document:
    """A document of several chunks, outside any vault."""
    body = ingest(text=LONG_TEXT, title="Animals in winter", source="zoo/winter.md").json()
    return Document.objects.get(pk=body["document_id"])


# The changelist


def test_the_changelist_shows_title_vault_source_chunk_count_embedding_model_and_updated(
    admin_client, handbook, animals
):
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert column_headers(html) == {
        "title": "Title",
        "vault": "Vault",
        "source": "Source",
        "chunk_count": "Chunks",
        "embedding_model": "Embedding model",
        "updated_at": "Updated at",
    }
    # Newest first, like the API.
    assert column_values(html, "title") == ["Animals in winter", "Leave policy"]
    assert column_values(html, "vault") == ["-", "Handbook"]
    assert column_values(html, "source") == ["zoo/winter.md", "hr/leave.md"]
    assert column_values(html, "chunk_count") == [str(animals.chunks.count()), str(handbook.chunks.count())]
    assert animals.chunks.count() > 1
    assert column_values(html, "embedding_model") == ["text-embedding-3-small", "text-embedding-3-small"]
    assert column_values(html, "updated_at") == [
        formats.localize(timezone.template_localtime(document.updated_at)) for document in (animals, handbook)
    ]
    assert response.context["cl"].result_count == Document.objects.count() == 2


def test_searching_narrows_the_list_by_title_or_source(admin_client, handbook, animals):
    by_title = admin_client.get(CHANGELIST, {"q": "leave policy"})
    by_source = admin_client.get(CHANGELIST, {"q": "zoo/"})

    assert by_title.status_code == by_source.status_code == 200
    assert listed_ids(by_title) == {str(handbook.pk)}
    assert column_values(by_title.content.decode(), "title") == ["Leave policy"]
    assert listed_ids(by_source) == {str(animals.pk)}
    assert Document.objects.count() == 2


def test_the_vault_filter_narrows_the_list(admin_client, handbook, animals, vault):
    response = admin_client.get(CHANGELIST, {"vault__id__exact": str(vault.pk)})

    assert response.status_code == 200
    assert listed_ids(response) == {str(handbook.pk)}
    assert column_values(response.content.decode(), "title") == ["Leave policy"]
    assert list(Document.objects.filter(vault=vault)) == [handbook]


def test_the_embedding_model_filter_narrows_the_list(admin_client, ingest, handbook, openai_settings):
    openai_settings.EMBEDDING_MODEL = "text-embedding-3-large"
    large = ingest(text="Otters hold hands while sleeping.", title="Otters").json()["document_id"]

    response = admin_client.get(CHANGELIST, {"embedding_model": "text-embedding-3-large"})

    assert response.status_code == 200
    html = response.content.decode()
    assert listed_ids(response) == {large}
    assert column_values(html, "embedding_model") == ["text-embedding-3-large"]
    # Both models are offered as choices in the filter sidebar.
    assert "?embedding_model=text-embedding-3-small" in html
    assert "?embedding_model=text-embedding-3-large" in html
    assert set(EmbeddingSpace.objects.values_list("model", flat=True)) == {
        "text-embedding-3-small",
        "text-embedding-3-large",
    }
    assert set(Chunk.objects.filter(document_id=large).values_list("embedding_model", flat=True)) == {
        "text-embedding-3-large"
    }


def test_the_embedding_model_filter_keeps_chunk_counts_right(admin_client, animals):
    response = admin_client.get(CHANGELIST, {"embedding_model": "text-embedding-3-small"})

    assert response.status_code == 200
    assert listed_ids(response) == {str(animals.pk)}
    chunk_count = animals.chunks.count()
    assert chunk_count > 1
    assert column_values(response.content.decode(), "chunk_count") == [str(chunk_count)]


# The document page


def test_the_document_page_shows_its_chunks_read_only(admin_client, animals):
    chunks = list(animals.chunks.order_by("position"))

    response = admin_client.get(change_url(animals.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Animals in winter" in html
    for chunk in chunks:
        assert escape(chunk.text) in html
    # Read-only: no inputs for the chunks or the document, and no save button.
    assert 'name="chunks-0-text"' not in html
    assert "<textarea" not in html
    assert 'name="_save"' not in html
    assert list(animals.chunks.order_by("position")) == chunks


# The add page: upload or paste, through the ingest pipeline


def test_the_add_page_has_a_file_input_in_a_multipart_form(admin_client, vault):
    response = admin_client.get(ADD)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert re.search(r'<input type="file" name="file"', html)
    assert 'name="text"' in html
    assert "Handbook" in html  # the vault choice
    assert Document.objects.count() == 0


def test_uploading_a_text_file_ingests_it_and_shows_the_document(admin_client, fake_openai, vault):
    upload = SimpleUploadedFile("notes.txt", b"Otters hold hands while sleeping.")

    response = admin_client.post(ADD, {"file": upload, "vault": str(vault.pk)})

    document = Document.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(document.pk)
    assert (document.title, document.text, document.vault) == ("notes.txt", "Otters hold hands while sleeping.", vault)
    chunk = document.chunks.get()
    assert chunk.text == "Otters hold hands while sleeping."
    assert chunk.embedding is not None
    assert chunk.embedding_model == "text-embedding-3-small"
    assert len(fake_openai.embedding_requests()) == 1
    assert "Document indexed: 1 chunks." in admin_client.get(response["Location"]).content.decode()


def test_uploading_a_pdf_ingests_its_text(admin_client):
    upload = SimpleUploadedFile("paper.pdf", pdf_bytes("Foxes hunt at dusk."))

    response = admin_client.post(ADD, {"file": upload, "title": "Foxes"})

    document = Document.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(document.pk)
    assert document.title == "Foxes"
    assert "Foxes hunt at dusk" in document.text
    assert document.chunks.count() == 1


def test_pasting_text_ingests_it_and_shows_the_document(admin_client, fake_openai):
    response = admin_client.post(ADD, {"text": LONG_TEXT, "title": "Animals in winter", "source": "zoo/winter.md"})

    document = Document.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(document.pk)
    assert (document.title, document.source, document.text) == ("Animals in winter", "zoo/winter.md", LONG_TEXT)
    assert document.vault is None
    chunks = list(document.chunks.order_by("position"))
    assert len(chunks) > 1
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert {chunk.embedding_model for chunk in chunks} == {"text-embedding-3-small"}
    assert all(chunk.embedding is not None for chunk in chunks)
    assert len(fake_openai.embedding_requests()) >= 1


def test_pasting_the_same_source_again_updates_the_document(admin_client, handbook, vault):
    response = admin_client.post(
        ADD, {"text": "Leave is now 30 days.", "source": "hr/leave.md", "vault": str(vault.pk)}
    )

    assert response.status_code == 302
    assert response["Location"] == change_url(handbook.pk)
    document = Document.objects.get()
    assert document.pk == handbook.pk
    assert document.text == "Leave is now 30 days."
    assert document.chunks.get().text == "Leave is now 30 days."


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("broken.pdf", b"%PDF-1.7 this is not really a pdf", "the PDF is corrupt"),
        ("photo.png", b"\x89PNG", ".png files cannot be read"),
    ],
)
def test_an_unreadable_upload_shows_the_error_and_writes_nothing(admin_client, fake_openai, name, data, problem):
    response = admin_client.post(ADD, {"file": SimpleUploadedFile(name, data)})

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="errornote"' in html
    assert problem in html
    assert Document.objects.count() == 0
    assert Chunk.objects.count() == 0
    assert fake_openai.embedding_requests() == []


@pytest.mark.parametrize(
    "data",
    [
        {"vault": "", "text": "", "title": "", "source": ""},  # what a browser sends for the empty form
        {"text": "   \n  "},
        {"title": "A title alone"},
        pytest.param({}, id="empty-post"),
    ],
)
def test_posting_neither_a_file_nor_text_asks_for_one(admin_client, fake_openai, data):
    response = admin_client.post(ADD, data)

    assert response.status_code == 200
    assert "Upload a file or paste some text." in response.content.decode()
    assert Document.objects.count() == 0
    assert fake_openai.embedding_requests() == []


def test_a_provider_failure_shows_the_error_and_writes_nothing(admin_client, fake_openai):
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)

    response = admin_client.post(ADD, {"text": HANDBOOK})

    assert response.status_code == 200
    assert "The embedding provider failed" in response.content.decode()
    assert Document.objects.count() == 0
    assert Chunk.objects.count() == 0


# Actions


def test_reembed_selected_reembeds_with_the_configured_model(
    admin_client, fake_openai, animals, handbook, openai_settings
):
    old_chunks = {chunk.id: chunk.text for chunk in animals.chunks.all()}
    handbook_chunks = list(handbook.chunks.values_list("id", "embedding_model"))
    openai_settings.EMBEDDING_MODEL = "text-embedding-3-large"
    fake_openai.reset()

    response = admin_client.post(CHANGELIST, {"action": "reembed_selected", "_selected_action": [str(animals.pk)]})

    assert response.status_code == 302
    chunks = list(animals.chunks.order_by("position"))
    assert len(chunks) == len(old_chunks)
    assert {chunk.embedding_model for chunk in chunks} == {"text-embedding-3-large"}
    assert all(chunk.embedding is not None for chunk in chunks)
    assert [chunk.text for chunk in chunks] == [old_chunks[pk] for pk in sorted(old_chunks)]
    assert not {chunk.id for chunk in chunks} & set(old_chunks)  # swapped for new rows
    assert EmbeddingSpace.objects.filter(model="text-embedding-3-large").exists()
    assert {request.body["model"] for request in fake_openai.embedding_requests()} == {"text-embedding-3-large"}
    # The document not selected is left alone.
    assert list(handbook.chunks.values_list("id", "embedding_model")) == handbook_chunks
    assert "Re-embedded 1 documents." in admin_client.get(response["Location"]).content.decode()


def test_reembed_selected_with_a_failing_provider_keeps_the_old_chunks(
    admin_client, fake_openai, animals, openai_settings
):
    old_chunks = set(animals.chunks.values_list("id", "embedding_model"))
    openai_settings.EMBEDDING_MODEL = "text-embedding-3-large"
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)

    response = admin_client.post(
        CHANGELIST, {"action": "reembed_selected", "_selected_action": [str(animals.pk)]}, follow=True
    )

    assert response.status_code == 200
    assert "Re-embedding failed" in response.content.decode()
    assert set(animals.chunks.values_list("id", "embedding_model")) == old_chunks


def test_delete_selected_asks_for_confirmation_before_deleting(admin_client, handbook, animals):
    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [str(handbook.pk), str(animals.pk)]}
    )

    assert response.status_code == 200
    assert "Are you sure you want to delete the selected documents?" in response.content.decode()
    assert Document.objects.count() == 2
    assert Chunk.objects.count() == handbook.chunks.count() + animals.chunks.count()


def test_delete_selected_deletes_the_documents_and_their_chunks(admin_client, ingest, handbook, animals):
    kept = Document.objects.get(pk=ingest(text="Otters hold hands while sleeping.").json()["document_id"])
    kept_chunks = set(kept.chunks.values_list("id", flat=True))
    doomed = [handbook.pk, animals.pk]

    response = admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [str(pk) for pk in doomed], "post": "yes"},
    )

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert list(Document.objects.all()) == [kept]
    assert not Chunk.objects.filter(document_id__in=doomed).exists()
    assert set(Chunk.objects.values_list("id", flat=True)) == kept_chunks
    assert "Successfully deleted 2 documents." in admin_client.get(CHANGELIST).content.decode()


def test_deleting_one_document_on_its_delete_page_deletes_its_chunks(admin_client, handbook, animals):
    kept_chunks = set(handbook.chunks.values_list("id", flat=True))
    confirmation = admin_client.get(delete_url(animals.pk))
    assert confirmation.status_code == 200
    assert "Are you sure you want to delete the document" in confirmation.content.decode()

    response = admin_client.post(delete_url(animals.pk), {"post": "yes"})

    assert response.status_code == 302
    assert "was deleted successfully" in admin_client.get(response["Location"]).content.decode()
    assert list(Document.objects.all()) == [handbook]
    assert not Chunk.objects.filter(document_id=animals.pk).exists()
    assert set(Chunk.objects.values_list("id", flat=True)) == kept_chunks


def test_deleting_a_vault_in_the_admin_removes_its_documents_chunks_and_agents(admin_client, handbook, animals, vault):
    Agent.objects.create(name="HR helper", vault=vault, system_prompt="Answer from the handbook.")
    kept_chunks = set(animals.chunks.values_list("id", flat=True))

    response = admin_client.post(reverse("admin:documents_vault_delete", args=[vault.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:documents_vault_changelist")
    assert not Vault.objects.exists()
    assert list(Document.objects.all()) == [animals]
    assert set(Chunk.objects.values_list("id", flat=True)) == kept_chunks
    assert not Agent.objects.exists()


def test_deleting_selected_vaults_in_the_admin_removes_their_documents(admin_client, ingest, handbook, vault):
    other = Vault.objects.create(name="Engineering")
    other_document = ingest(text="Deploys happen on Tuesdays.", vault_id=str(other.pk)).json()["document_id"]
    kept = Vault.objects.create(name="Legal")
    kept_document = ingest(text="Contracts need two signatures.", vault_id=str(kept.pk)).json()["document_id"]

    response = admin_client.post(
        reverse("admin:documents_vault_changelist"),
        {"action": "delete_selected", "_selected_action": [str(vault.pk), str(other.pk)], "post": "yes"},
    )

    assert response.status_code == 302
    assert list(Vault.objects.all()) == [kept]
    assert not Document.objects.filter(pk__in=[handbook.pk, other_document]).exists()
    assert [str(pk) for pk in Document.objects.values_list("pk", flat=True)] == [kept_document]
    assert set(Chunk.objects.values_list("document_id", flat=True)) == {kept.documents.get().pk}


# Access


@pytest.fixture
def non_staff_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="reader", password="not-a-real-password")
    client.force_login(user)
    return client


def test_a_non_staff_user_is_sent_to_the_login_page(non_staff_client, handbook):
    response = non_staff_client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")
    assert Document.objects.count() == 1


def test_a_non_staff_user_cannot_upload_or_delete(non_staff_client, fake_openai, handbook):
    chunks = set(Chunk.objects.values_list("id", flat=True))
    fake_openai.reset()

    upload = non_staff_client.post(ADD, {"text": "Sneaky text from a non-staff user."})
    delete = non_staff_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [str(handbook.pk)], "post": "yes"}
    )

    for response in (upload, delete):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login") + "?next=")
    assert list(Document.objects.all()) == [handbook]
    assert set(Chunk.objects.values_list("id", flat=True)) == chunks
    assert fake_openai.embedding_requests() == []
