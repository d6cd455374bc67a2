"""Concurrent ingests are settled by the database's constraints: no duplicates, no half-written documents."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from documents.models import Chunk, Document, Vault
from documents.services.ingest import document_ingest
from ragsite.errors import VaultNotFound

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("openai_settings")]


def in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run work(i) in `count` threads that start together; each closes its own database connection."""
    barrier = threading.Barrier(count)

    def run(index: int) -> object:
        barrier.wait()
        try:
            return work(index)
        except Exception as error:  # returned, so the test sees every outcome
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_identical_ingests_at_the_same_time_make_one_document(fake_openai):
    fake_openai.delay = 0.2  # all of them are past the dedup check before any of them stores
    results = in_threads(4, lambda _: document_ingest(text="The same handbook text.", title="Handbook"))

    assert {result.document_id for result in results} == {Document.objects.get().pk}
    assert sorted(result.status for result in results) == ["indexed", "unchanged", "unchanged", "unchanged"]
    assert Chunk.objects.count() == 1


def test_different_texts_for_one_source_at_the_same_time_make_one_document(fake_openai):
    fake_openai.delay = 0.2
    results = in_threads(3, lambda i: document_ingest(text=f"Version {i} of the policy.", source="policy.md"))

    document = Document.objects.get()
    assert {result.document_id for result in results} == {document.pk}
    assert sorted(result.status for result in results) == ["indexed", "updated", "updated"]
    # Whichever write came last, the document and its chunks agree.
    assert [chunk.text for chunk in document.chunks.order_by("position")] == [document.text]


def test_readers_never_see_half_of_an_updated_document(fake_openai):
    long_text = "Alpha sentence one. " * 400
    document_id = document_ingest(text=long_text, source="swap.md").document_id
    versions = ["Beta sentence two. " * 400, "Gamma sentence three. " * 300, "Delta four. " * 500]
    observations: list[tuple[int, ...]] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                chunks = list(Chunk.objects.filter(document_id=document_id).values_list("position", "text"))
                words = {text.split()[0] for _, text in chunks}
                observations.append((len(chunks), len(words)))
                assert sorted(position for position, _ in chunks) == list(range(len(chunks)))
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for text in versions:
            document_ingest(text=text, source="swap.md")
    finally:
        stop.set()
        reader.join()
    assert observations
    assert all(count > 0 and words == 1 for count, words in observations)  # never empty, never mixed
    assert Document.objects.get().text == versions[-1]


def test_a_vault_deleted_while_its_document_is_embedded_leaves_nothing_behind(fake_openai):
    vault = Vault.objects.create(name="Doomed")
    fake_openai.delay = 0.3

    def delete_vault_meanwhile(index: int) -> object:
        if index == 0:
            return document_ingest(text="Written into a vault that disappears.", vault=vault)
        threading.Event().wait(0.1)
        return Vault.objects.filter(pk=vault.pk).delete()

    outcome, _ = in_threads(2, delete_vault_meanwhile)

    assert isinstance(outcome, VaultNotFound)
    assert Document.objects.count() == 0
    assert Chunk.objects.count() == 0


def test_two_batches_crossing_on_the_same_texts_settle_after_the_deadlock_postgresql_breaks(fake_openai):
    import time

    from django.db import transaction

    from documents.services.embeddings import embedding_provider
    from documents.services.ingest import IngestRequest, documents_embed, documents_plan, documents_store

    # The batch inserts "Yaks…" first, then "Xerus…"; another transaction holds "Xerus…" and then wants "Yaks…".
    batch = documents_plan(
        requests=[IngestRequest(text="Yaks live high up."), IngestRequest(text="Xerus dig burrows.")]
    )
    documents_embed(batch, provider=embedding_provider())
    yaks, xerus = batch.pending
    outcomes: list[object] = []

    def insert(plan) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO documents_document (id, title, source, metadata, text, content_hash, created_at, "
                "updated_at) VALUES (gen_random_uuid(), 't', '', '{}', %s, %s, now(), now())",
                [plan.text, plan.content_hash],
            )

    def store() -> None:
        try:
            outcomes.extend(documents_store(batch))
        finally:
            connection.close()

    with transaction.atomic():
        insert(xerus)
        storing = threading.Thread(target=store)
        storing.start()
        time.sleep(0.5)  # the batch has inserted "Yaks…" and waits for "Xerus…"
        insert(yaks)  # waits for the batch: a cycle, which PostgreSQL breaks by failing the batch (waiting longer)
    storing.join(timeout=30)

    assert [(outcome.status, outcome.chunk_count) for outcome in outcomes] == [("unchanged", 0), ("unchanged", 0)]
    assert Document.objects.count() == 2
    assert Chunk.objects.count() == 0  # the other transaction stored texts without chunks; nothing was added
