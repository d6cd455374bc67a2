"""`kill -9` mid-ingest, of a gunicorn worker or of `manage.py ingest_folder`: PostgreSQL rolls the dead process's
transaction back, so nothing half-written survives (no document without chunks, no chunk without a document, no
duplicate), and running the same ingest again completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.live import BASE_DIR
from tests.reliability.invariants import assert_live_invariants, live_database
from tests.reliability.live_service import Live, worker_pids

pytestmark = pytest.mark.slow

ANIMALS = ["otters", "beavers", "owls", "foxes", "badgers", "herons", "voles", "stoats", "hares", "moles"]


def long_text(animal: str, index: int) -> str:
    """A text of several chunks, different for each animal and index."""
    sentences = [f"Fact {n} about {animal} number {index}: {animal} do thing {n} near the river." for n in range(150)]
    return " ".join(sentences)


def vault_documents(live: Live, vault_id: str) -> list[tuple[str, str]]:
    """(source, content hash) of every document in the vault, straight from the database."""
    with live_database(live.pgdata) as conn:
        rows = conn.execute(
            "SELECT source, content_hash FROM documents_document WHERE vault_id = %s ORDER BY source", [vault_id]
        ).fetchall()
    return [(source, digest) for source, digest in rows]


def healthy(live: Live) -> bool:
    try:
        return httpx.get(live.url + "/health", timeout=5).status_code == 200
    except httpx.TransportError:  # a new worker still booting
        return False


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_killing_the_workers_mid_ingest_leaves_nothing_half_written_and_a_retry_completes(live):
    with live.client() as client:
        vault = client.post("/vaults", json={"name": "Killed workers"}).json()["vault_id"]
    payloads = [
        {"text": long_text(animal, 1), "title": animal, "source": f"killed/{animal}.txt", "vault_id": vault}
        for animal in ANIMALS[:6]
    ]
    workers = worker_pids(live.server)
    # Every provider call now takes 1 s, so requests are inside the workers when they die.
    live.provider.delay = 1.0

    def ingest(payload: dict) -> httpx.Response | httpx.TransportError:
        try:
            return httpx.post(live.url + "/ingest", json=payload, timeout=30)
        except httpx.TransportError as error:
            return error

    with ThreadPoolExecutor(len(payloads)) as pool:
        futures = [pool.submit(ingest, payload) for payload in payloads]
        wait_for(lambda: len(live.provider.embedding_requests()) >= 2, timeout=20, what="ingests to reach the provider")
        # Mid-request: the first embedding calls are still being answered (or the first documents stored).
        time.sleep(0.5)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        outcomes = [future.result() for future in futures]

    killed = [outcome for outcome in outcomes if isinstance(outcome, httpx.TransportError)]
    assert killed, "no request was in flight when the workers died"
    for outcome in outcomes:  # a request either completed or lost its connection; none got a 5xx
        if isinstance(outcome, httpx.Response):
            assert outcome.status_code == 200, outcome.text

    # gunicorn's master replaces the dead workers by itself.
    wait_for(lambda: len(worker_pids(live.server) - workers) == 2, timeout=30, what="new workers")
    live.provider.delay = 0.0
    wait_for(lambda: healthy(live), timeout=30, what="/health")
    assert_live_invariants(live.pgdata)
    survivors = vault_documents(live, vault)
    assert len(survivors) < len(payloads)

    with live.client() as client:
        retried = [client.post("/ingest", json=payload) for payload in payloads]
    assert [r.status_code for r in retried] == [200] * len(payloads)
    statuses = sorted(r.json()["status"] for r in retried)
    assert statuses.count("unchanged") == len(survivors)
    assert statuses.count("indexed") == len(payloads) - len(survivors)
    assert [source for source, _ in vault_documents(live, vault)] == sorted(p["source"] for p in payloads)
    assert_live_invariants(live.pgdata)


@pytest.fixture
def animal_folder(tmp_path: Path) -> Path:
    for index in range(2):
        for animal in ANIMALS[:8]:
            (tmp_path / f"{animal}-{index}.txt").write_text(long_text(animal, index))
    return tmp_path


def ingest_folder(live: Live, folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "manage.py", "ingest_folder", str(folder), "--vault", "Killed command", *extra]


def test_killing_ingest_folder_mid_run_leaves_nothing_half_written_and_a_rerun_completes(live, animal_folder):
    files = sorted(animal_folder.iterdir())
    # One request at a time of about one file's chunks, each taking 0.3 s: the run takes several seconds, and
    # documents are stored as their requests come back.
    live.provider.delay = 0.3
    command = subprocess.Popen(
        ingest_folder(live, animal_folder, "--batch", "2"),
        cwd=BASE_DIR,
        env={**live.env, "EMBEDDING_BATCH_SIZE": "8", "EMBEDDING_CONCURRENCY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def stored() -> int:
            with live_database(live.pgdata) as conn:
                return conn.execute(
                    "SELECT count(*) FROM documents_document d JOIN documents_vault v ON v.id = d.vault_id "
                    "WHERE v.name = 'Killed command'"
                ).fetchone()[0]

        wait_for(lambda: stored() >= 4 or command.poll() is not None, timeout=60, what="the first windows")
        assert command.poll() is None, f"the command finished before it could be killed: {command.communicate()}"
        command.send_signal(signal.SIGKILL)
        assert command.wait(timeout=10) == -signal.SIGKILL
    finally:
        if command.poll() is None:
            command.kill()
        command.communicate()

    assert_live_invariants(live.pgdata)
    before = stored()
    assert 0 < before < len(files)

    live.provider.delay = 0.0
    rerun = subprocess.run(
        ingest_folder(live, animal_folder), cwd=BASE_DIR, env=live.env, capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"new: {len(files) - before}, updated: 0, unchanged: {before}, failed: 0" in rerun.stdout
    assert stored() == len(files)
    assert_live_invariants(live.pgdata)
