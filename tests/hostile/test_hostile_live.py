"""Hostile requests against gunicorn itself (real sockets, a real WSGI server): oversized, chunked, malformed and
injected bodies and URLs get the envelope, never a 500, and the data is intact afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.live import gunicorn_server

pytestmark = pytest.mark.slow

# Under gunicorn's 64 KiB cap on draining a body the application left unread: past it, gunicorn closes the
# keep-alive connection after answering (benoitc/gunicorn#2622), and a client's next request on it fails.
LIMIT = 16 * 1024


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-Request-ID"]
    body = response.json()
    assert set(body) == {"error", "code", "detail"} and body["code"] == code
    return body


def test_gunicorn_answers_hostile_requests_in_the_envelope_and_keeps_the_data(tmp_path: Path):
    with (
        FakeOpenAI() as fake,
        gunicorn_server(
            data_dir=tmp_path, OPENAI_API_KEY="sk-test", OPENAI_API_BASE=fake.base_url, MAX_REQUEST_SIZE=str(LIMIT)
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        kept = client.post("/ingest", json={"text": "Employees get 25 days of leave.", "title": "Leave \u202e😀"})
        assert kept.status_code == 200, kept.text

        over = client.post("/ingest", json={"text": "x" * (LIMIT + 4096)})
        assert_envelope(over, 413, "REQUEST_TOO_LARGE")
        at_limit = b'{"text": "' + b"y" * (LIMIT - len(b'{"text": ""}')) + b'"}'
        assert len(at_limit) == LIMIT
        assert client.post("/ingest", content=at_limit, headers={"Content-Type": "application/json"}).status_code == 200

        # No Content-Length (chunked transfer encoding): Django reads such a body as empty, so it can never slip
        # past the limit; the answer is a 4xx in the envelope and nothing is stored.
        def chunks():
            yield b'{"text": "'
            for _ in range(2 * LIMIT // 1024):
                yield b"z" * 1024
            yield b'"}'

        chunked = client.post("/ingest", content=chunks(), headers={"Content-Type": "application/json"})
        assert 400 <= chunked.status_code < 500, chunked.text[:300]
        assert_envelope(chunked, chunked.status_code, chunked.json()["code"])

        body = json.dumps({"text": "Injected", "vault_id": "'; DROP TABLE documents_document; --"})
        injected = client.post("/ingest", content=body, headers={"Content-Type": "application/json"})
        assert "vault_id" in assert_envelope(injected, 422, "VALIDATION_ERROR")["detail"]
        assert_envelope(client.get("/documents", params={"vault_id": "1 OR 1=1"}), 422, "VALIDATION_ERROR")
        assert_envelope(client.get("/documents/%00"), 404, "DOCUMENT_NOT_FOUND")
        assert_envelope(client.get("/sessions/%ED%A0%80"), 404, "SESSION_NOT_FOUND")
        nested = '{"text": "deep", "metadata": ' + "[" * 7_000 + "]" * 7_000 + "}"  # deeper ones pass the limit
        deep = client.post("/ingest", content=nested, headers={"Content-Type": "application/json"})
        assert_envelope(deep, 422, "VALIDATION_ERROR")
        broken = client.post("/ingest", content=b'{"text": "caf\xe9', headers={"Content-Type": "application/json"})
        assert_envelope(broken, 422, "VALIDATION_ERROR")

        listed = client.get("/documents").json()
        assert listed["total"] == 2  # the first document and the one at the limit; nothing else got in
        assert {item["title"] for item in listed["documents"]} >= {"Leave \u202e😀"}
        assert client.get("/health").json()["database"] == "ok"
