"""Many clients at once against a live gunicorn, over real HTTP: parallel ingests of the same and of different
documents, deletes during ingests and searches, a re-embed during searches, many first messages to one new session.
Afterwards the database invariants hold (checked in SQL) and every request got a well-formed answer."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.live import BASE_DIR
from tests.reliability.invariants import assert_live_invariants, live_database
from tests.reliability.live_service import OTHER_EMBEDDING_MODEL, Live

pytestmark = pytest.mark.slow

Expected = dict[int, set[str]]  # error status -> the envelope codes acceptable for it


def assert_well_formed(response: httpx.Response, expected_errors: Expected | None = None) -> dict[str, Any]:
    """A 2xx JSON answer, or an envelope whose status and code the test expects; never a 500."""
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = response.json()
    if response.is_success:
        return body
    assert set(body) == {"error", "code", "detail"}, body
    allowed = (expected_errors or {}).get(response.status_code, set())
    assert body["code"] in allowed, (
        f"{response.request.method} {response.request.url.path}: {response.status_code} {body}"
    )
    return body


def together(live: Live, count: int, work: Callable[[int, httpx.Client], Any]) -> list[Any]:
    """Run work(i, client) in `count` threads released at the same moment, each with its own HTTP connection."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        with live.client(timeout=60) as client:
            barrier.wait()
            return work(index, client)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def create_vault(live: Live, name: str) -> str:
    with live.client() as client:
        response = client.post("/vaults", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["vault_id"]


def test_parallel_ingests_of_the_same_and_of_different_documents(live):
    vault = create_vault(live, "Parallel ingests")
    other = create_vault(live, "Parallel ingests elsewhere")
    live.provider.delay = 0.3  # every request is past the dedup check before the first one stores
    requests: list[tuple[str, dict]] = (
        [("same text", {"text": "The same handbook text.", "vault_id": vault})] * 4
        + [("same text, other vault", {"text": "The same handbook text.", "vault_id": other})] * 2
        + [("same source", {"text": f"Version {i} of the policy.", "source": "policy.md", "vault_id": vault})
           for i in range(4)]
        + [("different", {"text": f"Distinct document number {i}.", "vault_id": vault}) for i in range(4)]
        + [("same upload", {"file": "upload"})] * 2
    )  # fmt: skip

    def ingest(index: int, client: httpx.Client) -> tuple[str, dict]:
        kind, payload = requests[index]
        if kind == "same upload":
            files = {"file": ("notes.txt", b"Uploaded notes about otters.", "text/plain")}
            response = client.post("/ingest", files=files, data={"vault_id": vault})
        else:
            response = client.post("/ingest", json=payload)
        assert response.status_code == 200, response.text
        return kind, assert_well_formed(response)

    results = together(live, len(requests), ingest)

    by_kind: dict[str, list[dict]] = {}
    for kind, body in results:
        by_kind.setdefault(kind, []).append(body)
    for kind in ("same text", "same text, other vault", "same upload"):
        assert sorted(body["status"] for body in by_kind[kind]) == ["indexed"] + ["unchanged"] * (
            len(by_kind[kind]) - 1
        ), kind
        assert len({body["document_id"] for body in by_kind[kind]}) == 1, kind
    assert by_kind["same text"][0]["document_id"] != by_kind["same text, other vault"][0]["document_id"]
    assert sorted(body["status"] for body in by_kind["same source"]) == ["indexed", "updated", "updated", "updated"]
    assert len({body["document_id"] for body in by_kind["same source"]}) == 1
    assert [body["status"] for body in by_kind["different"]] == ["indexed"] * 4

    with live_database(live.pgdata) as conn:
        counts = dict(
            conn.execute(
                "SELECT vault_id::text, count(*) FROM documents_document WHERE vault_id IN (%s, %s) GROUP BY 1",
                [vault, other],
            ).fetchall()
        )
        # The policy document holds whichever version was stored last, and its chunks agree with it.
        policy_text, chunk_texts = conn.execute(
            "SELECT d.text, array_agg(c.text ORDER BY c.position) FROM documents_document d "
            "JOIN documents_chunk c ON c.document_id = d.id WHERE d.source = 'policy.md' AND d.vault_id = %s "
            "GROUP BY d.id",
            [vault],
        ).fetchone()
    assert counts == {vault: 1 + 1 + 4 + 1, other: 1}
    assert chunk_texts == [policy_text]
    assert_live_invariants(live.pgdata)


def test_deletes_during_ingests_and_searches(live):
    vault = create_vault(live, "Deletes during ingest")
    doomed_vault = create_vault(live, "Deleted during ingest")
    live.provider.delay = 0.05
    stop = threading.Event()
    answers: list[tuple[str, int]] = []

    def record(kind: str, response: httpx.Response, expected: Expected | None = None) -> dict:
        body = assert_well_formed(response, expected)
        answers.append((kind, response.status_code))
        return body

    def ingester(index: int, client: httpx.Client) -> None:
        for round_ in range(8):
            # New documents, and new versions of a few shared sources that the deleter keeps removing.
            payload = {"text": f"Otters report {index}-{round_} about rivers and dams.", "vault_id": vault}
            if round_ % 2:
                payload["source"] = f"shared-{round_ % 3}.md"
            record("ingest", client.post("/ingest", json=payload), {409: {"CONFLICT"}})
        stop.set()

    doomed_ingests = threading.Semaphore(0)

    def doomed_ingester(index: int, client: httpx.Client) -> None:
        for round_ in range(8):
            payload = {"text": f"Beavers in a doomed vault {index}-{round_}.", "vault_id": doomed_vault}
            record("ingest into a deleted vault", client.post("/ingest", json=payload), {404: {"VAULT_NOT_FOUND"}})
            doomed_ingests.release()

    def vault_deleter(index: int, client: httpx.Client) -> None:
        for _ in range(2):
            doomed_ingests.acquire()
        # Deleted while its ingester is still at work: its next ingests are 404s, and none of them survives.
        record("delete vault", client.delete(f"/vaults/{doomed_vault}"))

    def deleter(index: int, client: httpx.Client) -> None:
        deleted = 0
        while not stop.is_set() or deleted == 0:
            listed = record("list", client.get("/documents", params={"vault_id": vault, "limit": 5}))
            for document in listed["documents"]:
                record("get", client.get(f"/documents/{document['document_id']}"), {404: {"DOCUMENT_NOT_FOUND"}})
                body = record(
                    "delete", client.delete(f"/documents/{document['document_id']}"), {404: {"DOCUMENT_NOT_FOUND"}}
                )
                deleted += body.get("status") == "deleted"

    def searcher(index: int, client: httpx.Client) -> None:
        mode = ["hybrid", "vector", "keyword"][index % 3]
        while not stop.is_set():
            record("search", client.post("/search", json={"query": "otters rivers", "mode": mode, "vault_id": vault}))

    roles = [ingester, ingester, doomed_ingester, vault_deleter, deleter, deleter, searcher, searcher, searcher]
    together(live, len(roles), lambda index, client: roles[index](index, client))

    kinds = {kind for kind, _ in answers}
    assert {"ingest", "delete", "search", "get", "list", "delete vault"} <= kinds
    assert ("delete", 200) in answers and ("search", 200) in answers
    assert ("ingest into a deleted vault", 404) in answers
    with live_database(live.pgdata) as conn:
        left_in_doomed = conn.execute(
            "SELECT count(*) FROM documents_document WHERE vault_id = %s", [doomed_vault]
        ).fetchone()[0]
    assert left_in_doomed == 0
    assert_live_invariants(live.pgdata)


def test_reembed_with_another_model_while_searches_run(live):
    vault = create_vault(live, "Re-embedded")
    with live.client() as client:
        for index in range(6):
            text = f"Herons fish in shallow water, report {index}. " + "They stand still for a long time. " * 40
            assert client.post("/ingest", json={"text": text, "vault_id": vault}).status_code == 200
    live.provider.delay = 0.02  # each re-embed round takes a moment, so searches interleave with the swaps
    stop = threading.Event()
    keyword_counts: list[int] = []

    def searcher(index: int, client: httpx.Client) -> int:
        searches = 0
        mode = ["keyword", "hybrid", "vector"][index]
        while not stop.is_set() or searches == 0:
            response = client.post("/search", json={"query": "herons fish", "mode": mode, "vault_id": vault})
            body = assert_well_formed(response)
            if mode == "keyword":
                keyword_counts.append(len(body["results"]))
            searches += 1
            time.sleep(0.05)  # searches keep coming, without starving the re-embed of the machine's two cores
        return searches

    def search_with_a_client(index: int) -> int:
        with live.client() as client:
            return searcher(index, client)

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(search_with_a_client, index) for index in range(3)]
        try:
            reembed = subprocess.run(
                [sys.executable, "manage.py", "reembed", "--batch", "2"],
                cwd=BASE_DIR,
                env={**live.env, "EMBEDDING_MODEL": OTHER_EMBEDDING_MODEL},
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            stop.set()
        searches = [future.result() for future in futures]

    assert reembed.returncode == 0, reembed.stderr
    assert f"with {OTHER_EMBEDDING_MODEL}" in reembed.stdout
    assert min(searches) >= 1
    # Each document's chunks are swapped in one transaction: keyword search finds the vault's chunks throughout.
    assert keyword_counts and min(keyword_counts) == 5
    with live_database(live.pgdata) as conn:
        models = conn.execute(
            "SELECT DISTINCT c.embedding_model, vector_dims(c.embedding) FROM documents_chunk c "
            "JOIN documents_document d ON d.id = c.document_id WHERE d.vault_id = %s",
            [vault],
        ).fetchall()
    assert models == [(OTHER_EMBEDDING_MODEL, 96)]
    assert_live_invariants(live.pgdata)


def test_many_first_messages_to_one_new_session(live):
    with live.client() as client:
        client.post("/ingest", json={"text": "Employees get 25 days of paid leave per year."})
    live.provider.delay = 0.2  # all of them are past the session lookup before the first one saves
    count = 10

    def ask(index: int, client: httpx.Client) -> dict:
        payload = {"message": f"How much leave, question {index}?", "session_id": "crowded"}
        if index % 2:
            with client.stream("POST", "/chat", json={**payload, "stream": True}) as response:
                assert response.status_code == 200
                events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
            assert events[-1]["type"] == "done", events[-1]
            return events[-1]
        return assert_well_formed(client.post("/chat", json=payload))

    answers = together(live, count, ask)

    assert {answer["session_id"] for answer in answers} == {"crowded"}
    assert len({answer["message_id"] for answer in answers}) == count
    with live.client() as client:
        session = assert_well_formed(client.get("/sessions/crowded"))
    roles = [message["role"] for message in session["messages"]]
    assert roles.count("user") == roles.count("assistant") == count
    with live_database(live.pgdata) as conn:
        assert conn.execute("SELECT count(*) FROM chat_session WHERE id = 'crowded'").fetchone()[0] == 1
    assert_live_invariants(live.pgdata)
