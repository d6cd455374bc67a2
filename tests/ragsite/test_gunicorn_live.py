"""gunicorn as deployed: SIGTERM (a redeploy) lets in-flight answers and streams finish, and a production server
behind no proxy redirects plain HTTP while its health checks still answer."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.live import BASE_DIR, gunicorn_server, service_env
from tests.ragsite.scratch_database import scratch_database

pytestmark = pytest.mark.slow

REPLY = "Employees get twenty five days of leave [1] per year, as the handbook says in its leave section."


@pytest.fixture
def slow_model():
    with FakeOpenAI(token_delay=0.2, reply=lambda messages: REPLY) as fake:
        yield fake


def test_sigterm_lets_an_in_flight_answer_and_stream_finish_before_gunicorn_exits(tmp_path, slow_model):
    results: dict[str, object] = {}
    first_token = threading.Event()

    with gunicorn_server(data_dir=tmp_path, OPENAI_API_KEY="sk-test", OPENAI_API_BASE=slow_model.base_url) as server:
        ingested = httpx.post(server.url + "/ingest", json={"text": "Employees get 25 days of leave."}, timeout=30)
        assert ingested.status_code == 200, ingested.text
        # From now on every provider call takes 2 s: the plain answer below needs at least 4.
        slow_model.delay = 2.0

        def stream() -> None:
            events = []
            payload = {"message": "How much leave?", "session_id": "drain-stream", "stream": True}
            with httpx.stream("POST", server.url + "/chat", json=payload, timeout=60) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        events.append(json.loads(line[6:]))
                        first_token.set()
            results["stream"] = events

        def answer() -> None:
            payload = {"message": "How much leave?", "session_id": "drain-plain"}
            results["answer"] = httpx.post(server.url + "/chat", json=payload, timeout=60)

        streaming = threading.Thread(target=stream)
        streaming.start()
        assert first_token.wait(timeout=30), "the stream never started"
        answering = threading.Thread(target=answer)
        answering.start()
        time.sleep(1.0)  # accepted by the worker, and at least 3 s from done

        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        streaming.join(timeout=60)
        answering.join(timeout=60)
        assert server.process.wait(timeout=60) == 0
        drained_for = time.monotonic() - signalled

    events = results["stream"]
    assert [event["type"] for event in events][-2:] == ["sources", "done"]
    assert "".join(event["content"] for event in events if event["type"] == "token") == REPLY
    answer = results["answer"]
    assert answer.status_code == 200, answer.text
    assert answer.json()["answer"] == REPLY
    # gunicorn waited for them rather than exiting at once (and killed nothing: both completed above).
    assert drained_for > 2.0


def test_a_production_server_redirects_http_and_still_answers_health_checks(tmp_path, django_db_setup):
    production = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": "test-only-production-secret-key-0123456789-abcdefghij",
        # 127.0.0.1 for the test harness's own readiness probe.
        "ALLOWED_HOSTS": "rag.example.com,127.0.0.1",
        "CORS_ORIGINS": "https://app.example.com",
        "OPENAI_API_KEY": "sk-test",
        "RAILWAY_SERVICE_ID": "test-service",
    }
    with (
        scratch_database() as database,
        gunicorn_server(data_dir=tmp_path, DB_URL=database.url, **production) as server,
    ):
        port = server.url.rsplit(":", 1)[1]

        docker_check = subprocess.run(
            [sys.executable, "-m", "ragsite.healthcheck"],
            cwd=BASE_DIR,
            env=service_env(PORT=port, ALLOWED_HOSTS=production["ALLOWED_HOSTS"]),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert docker_check.returncode == 0, docker_check.stderr

        railway_check = httpx.get(server.url + "/health", headers={"Host": "healthcheck.railway.app"}, timeout=10)
        assert railway_check.status_code == 200
        assert railway_check.json()["database"] == "ok"

        plain = httpx.get(server.url + "/documents", headers={"Host": "rag.example.com"}, timeout=10)
        assert plain.status_code == 301
        assert plain.headers["Location"] == "https://rag.example.com/documents"

        proxied = httpx.get(
            server.url + "/health/live",
            headers={"Host": "rag.example.com", "X-Forwarded-Proto": "https"},
            timeout=10,
        )
        assert proxied.status_code == 200
        assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"

        foreign = httpx.get(server.url + "/health", headers={"Host": "evil.example.com"}, timeout=10)
        assert foreign.status_code == 400


def test_a_chunked_body_is_read_and_held_to_the_size_limit(tmp_path):
    # httpx sends a body given as an iterator with Transfer-Encoding: chunked and no Content-Length.
    def chunked(body: bytes):
        yield from (body[start : start + 7] for start in range(0, len(body), 7))

    with gunicorn_server(data_dir=tmp_path, MAX_REQUEST_SIZE="2048") as server:
        query = json.dumps({"query": "otters", "mode": "keyword"}).encode()
        found = httpx.post(
            server.url + "/search", content=chunked(query), headers={"Content-Type": "application/json"}, timeout=30
        )
        assert found.request.headers["Transfer-Encoding"] == "chunked"
        assert found.status_code == 200, found.text  # before: 422, "query: this field is required"
        assert found.json()["results"] == []

        huge = json.dumps({"query": "otters " * 1000, "mode": "keyword"}).encode()
        refused = httpx.post(
            server.url + "/search", content=chunked(huge), headers={"Content-Type": "application/json"}, timeout=30
        )
        assert refused.status_code == 413
        assert refused.json()["code"] == "REQUEST_TOO_LARGE"
        assert refused.json()["detail"] == "the body has more bytes; the limit is 2048"
