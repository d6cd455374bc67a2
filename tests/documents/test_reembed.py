"""Moving stored documents to another embedding model: the reembed command and service."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from documents.models import Chunk, Document, EmbeddingSpace
from documents.selectors import chunk_vector_search
from documents.services.ingest import document_ingest
from tests.fakes.openai_server import fake_embedding

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("openai_settings")]


def reembed(*args: str) -> str:
    out = StringIO()
    call_command("reembed", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def two_documents(openai_settings):
    first = document_ingest(text="Otters hold hands while sleeping.", title="Otters")
    second = document_ingest(text="Beavers build dams in rivers.", title="Beavers")
    return first.document_id, second.document_id


def models_in_use() -> set[str]:
    return set(Chunk.objects.values_list("embedding_model", flat=True))


def test_reembed_moves_documents_to_the_configured_model(two_documents, settings, fake_openai):
    settings.EMBEDDING_MODEL = "text-embedding-3-large"
    fake_openai.reset()

    out = reembed()

    assert "re-embedded 2 of 2 documents with text-embedding-3-large" in out
    assert models_in_use() == {"text-embedding-3-large"}
    assert EmbeddingSpace.objects.filter(model="text-embedding-3-large").exists()
    assert [r.body["model"] for r in fake_openai.embedding_requests()] == ["text-embedding-3-large"]
    hits = chunk_vector_search(
        query_vector=fake_embedding("Otters\n\nOtters hold hands while sleeping.", 64),
        model="text-embedding-3-large",
        k=1,
    )
    assert [passage.title for passage, _ in hits] == ["Otters"]


def test_documents_already_on_the_configured_model_are_left_alone(two_documents, fake_openai):
    fake_openai.reset()
    assert "re-embedded 0 of 0 documents" in reembed()
    assert fake_openai.embedding_requests() == []


def test_all_re_embeds_every_document(two_documents, fake_openai):
    chunk_ids = set(Chunk.objects.values_list("id", flat=True))
    assert "re-embedded 2 of 2" in reembed("--all")
    assert not chunk_ids & set(Chunk.objects.values_list("id", flat=True))  # fresh chunks swapped in


def test_model_selects_the_documents_of_one_old_model(two_documents, settings):
    settings.EMBEDDING_MODEL = "model-b"
    document_ingest(text="Foxes hunt at dusk.", title="Foxes")  # on model-b already
    settings.EMBEDDING_MODEL = "model-c"

    assert "re-embedded 2 of 2 documents with model-c" in reembed("--model", "text-embedding-3-small")
    assert models_in_use() == {"model-b", "model-c"}


def test_a_provider_outage_stops_with_a_clear_error_and_keeps_the_old_chunks(two_documents, settings, fake_openai):
    settings.EMBEDDING_MODEL = "text-embedding-3-large"
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)
    with pytest.raises(CommandError, match="stopped after 0 documents: The embedding provider failed"):
        reembed()
    assert models_in_use() == {"text-embedding-3-small"}
    assert Chunk.objects.count() == 2
    assert Document.objects.count() == 2
