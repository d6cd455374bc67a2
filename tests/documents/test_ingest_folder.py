"""manage.py ingest_folder: every supported file under a folder, a summary, failures reported, reruns free."""

from __future__ import annotations

import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from documents.models import Chunk, Document, Vault
from tests.documents.files import docx_bytes, pdf_bytes
from tests.live import BASE_DIR, service_env

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("openai_settings")]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "deep").mkdir()
    (tmp_path / "a.txt").write_text("Otters hold hands while sleeping.")
    (tmp_path / "notes" / "b.md").write_text("# Beavers\n\nBeavers build dams.")
    (tmp_path / "notes" / "c.html").write_text("<title>Owls</title><p>Owls turn their heads.</p>")
    (tmp_path / "notes" / "deep" / "d.pdf").write_bytes(pdf_bytes("Foxes hunt at dusk."))
    (tmp_path / "notes" / "deep" / "e.docx").write_bytes(docx_bytes("Badgers dig setts."))
    (tmp_path / "ignored.png").write_bytes(b"\x89PNG")
    return tmp_path


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ingest_folder", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_every_supported_file_is_ingested_recursively_with_a_summary(folder, fake_openai):
    out, _ = run(str(folder))

    assert "new: 5, updated: 0, unchanged: 0, failed: 0; chunks: 5" in out
    assert sorted(Document.objects.values_list("title", flat=True)) == ["Owls", "a.txt", "b.md", "d.pdf", "e.docx"]
    assert Chunk.objects.count() == 5
    assert Document.objects.get(title="Owls").source == str((folder / "notes" / "c.html").resolve())
    # The files' chunks were embedded together, not one request per file.
    assert len(fake_openai.embedding_requests()) == 1


def test_a_second_run_over_unchanged_files_makes_no_provider_call(folder, fake_openai):
    run(str(folder))
    fake_openai.reset()

    out, _ = run(str(folder))

    assert "new: 0, updated: 0, unchanged: 5, failed: 0; chunks: 0" in out
    assert fake_openai.embedding_requests() == []
    assert Document.objects.count() == 5


def test_a_changed_file_updates_its_document(folder):
    run(str(folder))
    before = Document.objects.get(title="a.txt")
    (folder / "a.txt").write_text("Otters also use rocks as tools.")

    out, _ = run(str(folder))

    assert "new: 0, updated: 1, unchanged: 4" in out
    after = Document.objects.get(title="a.txt")
    assert after.pk == before.pk
    assert after.text == "Otters also use rocks as tools."


def test_failed_files_are_reported_with_their_reason_and_skipped(folder):
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (folder / "empty.txt").write_text("   ")

    with pytest.raises(CommandError, match="2 of 7 files failed"):
        run(str(folder))

    assert Document.objects.count() == 5  # the good files went in regardless
    assert not Document.objects.filter(source__endswith="broken.pdf").exists()


def test_failures_are_listed_on_stderr(folder):
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("ingest_folder", str(folder), stdout=StringIO(), stderr=err)
    assert f"failed: {folder / 'broken.pdf'}: The file cannot be read: the PDF is corrupt" in err.getvalue()


def test_a_provider_outage_fails_the_files_and_writes_nothing(folder, fake_openai):
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)
    with pytest.raises(CommandError, match="5 of 5 files failed"):
        run(str(folder))
    assert Document.objects.count() == 0


def test_glob_selects_files_and_vault_is_created_by_name(folder):
    out, _ = run(str(folder), "--glob", "**/*.md", "--vault", "Wildlife")
    assert "new: 1," in out
    vault = Vault.objects.get(name="Wildlife")
    assert list(Document.objects.values_list("title", "vault")) == [("b.md", vault.pk)]


def test_an_existing_vault_is_found_regardless_of_case(folder):
    vault = Vault.objects.create(name="Wildlife")
    run(str(folder), "--vault", "WILDLIFE", "--glob", "*.txt")
    assert Vault.objects.count() == 1
    assert Document.objects.get().vault_id == vault.pk


def test_dry_run_writes_nothing_and_calls_no_provider(folder, fake_openai):
    out, _ = run(str(folder), "--dry-run", "--vault", "Nowhere")
    assert "dry run: would be new: 5" in out
    assert Document.objects.count() == 0
    assert not Vault.objects.exists()
    assert fake_openai.embedding_requests() == []


def test_several_workers_and_small_windows_give_the_same_result_in_one_request(folder, fake_openai):
    out, _ = run(str(folder), "--workers", "3", "--batch", "2")
    assert "new: 5," in out
    # Requests are cut across windows: five chunks in three windows of files still make one request.
    assert [len(r.body["input"]) for r in fake_openai.embedding_requests()] == [5]


def test_embedding_requests_are_full_across_windows_and_a_failed_one_fails_only_its_documents(
    folder, fake_openai, settings
):
    settings.EMBEDDING_BATCH_SIZE = 2
    settings.EMBEDDING_CONCURRENCY = 1  # requests in order, so the failed one is the first
    fake_openai.fail_next(status=400, endpoint="embeddings")  # not retried

    with pytest.raises(CommandError, match="2 of 5 files failed"):
        run(str(folder), "--batch", "3")

    assert [len(r.body["input"]) for r in fake_openai.embedding_requests()] == [2, 2, 1]
    # The first request held the chunks of the first two files (in path order); nothing of them was stored.
    assert sorted(Document.objects.values_list("title", flat=True)) == ["Owls", "d.pdf", "e.docx"]
    assert Chunk.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_windows_are_stored_on_their_own_connections_which_are_closed_after(
    folder, fake_openai, settings
):
    from django.db import connection
    from django.db.backends.signals import connection_created

    settings.EMBEDDING_BATCH_SIZE = 1  # a request per chunk, so windows come back one by one
    opened_by: list[str] = []

    def opened(sender, **kwargs):
        opened_by.append(threading.current_thread().name)

    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = backends()
    connection_created.connect(opened)
    try:
        out, _ = run(str(folder), "--batch", "1")
    finally:
        connection_created.disconnect(opened)

    assert "new: 5, updated: 0, unchanged: 0, failed: 0; chunks: 5" in out
    assert Document.objects.count() == 5 and Chunk.objects.count() == 5
    assert opened_by and all(name.startswith("ingest-store") for name in opened_by)
    assert backends() == before  # the storer threads' connections were closed


@pytest.mark.django_db(transaction=True)
def test_windows_stored_side_by_side_are_all_counted_in_the_summary(tmp_path, fake_openai):
    for index in range(120):
        (tmp_path / f"note-{index:03}.txt").write_text(f"Note {index} is about topic {index % 7}.")

    out, _ = run(str(tmp_path), "--batch", "1")

    assert "new: 120, updated: 0, unchanged: 0, failed: 0; chunks: 120" in out
    assert Document.objects.count() == 120


@pytest.mark.django_db(transaction=True)
def test_a_window_that_fails_to_store_on_a_storer_thread_fails_the_command(folder, fake_openai, monkeypatch):
    from documents.management.commands import ingest_folder

    stored = ingest_folder.documents_store

    def store(batch):
        if any("Owls" in plan.text for plan in batch.pending):
            raise RuntimeError("the database went away")
        return stored(batch)

    monkeypatch.setattr(ingest_folder, "documents_store", store)
    with pytest.raises(RuntimeError, match="the database went away"):
        run(str(folder), "--batch", "1")


def test_the_collector_is_left_as_the_command_found_it_even_when_a_file_fails(folder):
    import gc

    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    frozen = gc.get_freeze_count()

    with pytest.raises(CommandError):
        run(str(folder))

    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # what the run froze was unfrozen


def test_the_local_model_gets_many_batches_per_call_so_it_can_sort_them_by_length(folder, settings, monkeypatch):
    from documents.services.embeddings import LocalEmbeddings

    settings.EMBEDDING_PROVIDER = "local"
    settings.LOCAL_EMBEDDING_BATCH_SIZE = 2
    calls: list[int] = []
    embed = LocalEmbeddings.embed

    def recorded(self, texts):
        calls.append(len(texts))
        return embed(self, texts)  # the real model

    monkeypatch.setattr(LocalEmbeddings, "embed", recorded)
    out, _ = run(str(folder), "--batch", "2")

    assert "new: 5, updated: 0, unchanged: 0, failed: 0; chunks: 5" in out
    # Five chunks in three windows, one call: encode() sorts a call's texts by length before it batches them by two.
    assert calls == [5]
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {settings.LOCAL_EMBEDDING_MODEL}


def test_the_embedder_frees_a_request_once_every_input_of_it_was_taken(fake_openai):
    from documents.management.commands.ingest_folder import _Embedder
    from documents.services.embeddings import OpenAIEmbeddings

    provider = OpenAIEmbeddings(
        model="m", api_key="sk-test", base_url=fake_openai.base_url, timeout=5, max_retries=0, batch_size=2,
        concurrency=2,
    )  # fmt: skip
    embedder = _Embedder(provider)
    first = embedder.add(["one", "two", "three"])  # a request of two goes out; "three" waits
    second = embedder.add(["four", "five"])
    embedder.flush()
    try:
        assert len(embedder.vectors(first)) == 3
        assert embedder.held == 2  # "three" shares its request with "four", not taken yet
        assert len(embedder.vectors(second)) == 2
        assert embedder.held == 0
    finally:
        embedder.close()
    # Two in flight at once: they reach the server in either order.
    assert sorted(len(r.body["input"]) for r in fake_openai.embedding_requests()) == [1, 2, 2]


def test_a_missing_folder_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        run(str(tmp_path / "nope"))


@pytest.mark.slow
def test_the_exit_status_is_non_zero_when_a_file_failed(tmp_path, fake_openai):
    (tmp_path / "broken.pdf").write_bytes(b"garbage")
    env = service_env(DATA_DIR=str(tmp_path / "data"), OPENAI_API_KEY="sk-test", OPENAI_API_BASE=fake_openai.base_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True, timeout=120)
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest_folder", str(tmp_path)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "failed: 1" in result.stdout
    assert "1 of 1 files failed" in result.stderr


def hnsw_index_valid(model: str) -> bool | None:
    from django.db import connection

    from documents.models import EmbeddingSpace

    name = EmbeddingSpace.objects.get(model=model).index_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s", [name]
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def test_a_bulk_load_builds_the_index_once_afterwards(folder, settings, monkeypatch, caplog):
    from documents.services import vector_index

    monkeypatch.setattr(vector_index, "BULK_LOAD_MIN_CHUNKS", 3)
    with caplog.at_level("INFO", logger="documents.services.vector_index"):
        run(str(folder))

    assert "event=embedding_index_deferred" in caplog.text
    assert hnsw_index_valid("text-embedding-3-small") is True  # rebuilt after the load
    assert Chunk.objects.filter(embedding_model="text-embedding-3-small").count() == 5


def test_a_small_load_into_a_larger_collection_keeps_the_index(folder, tmp_path, monkeypatch, caplog):
    from documents.services import vector_index

    run(str(folder))  # 5 chunks already stored
    monkeypatch.setattr(vector_index, "BULK_LOAD_MIN_CHUNKS", 1)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "f.txt").write_text("Ferrets sleep most of the day.")
    with caplog.at_level("INFO", logger="documents.services.vector_index"):
        run(str(extra))

    assert "event=embedding_index_deferred" not in caplog.text
    assert hnsw_index_valid("text-embedding-3-small") is True
