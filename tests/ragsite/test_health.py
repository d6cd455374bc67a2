"""GET /health reads the database and pgvector; GET /health/live touches nothing."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from ragsite.database import embedded_server_running, embedded_server_start, embedded_server_stop
from tests.live import gunicorn_server


@pytest.mark.django_db
def test_health_reports_database_and_pgvector_version(api_client, settings):
    response = api_client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert re.fullmatch(r"0\.8\.\d+", body["pgvector"])
    assert body["version"] == settings.VERSION
    assert body["embedding_model"] == settings.EMBEDDING_MODEL
    assert body["chat_model"] == settings.CHAT_MODEL


def test_liveness_answers_without_the_database(api_client, django_db_blocker):
    # django_db_blocker keeps database access blocked here: any query would raise.
    response = api_client.get("/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.slow
def test_health_is_503_within_5_seconds_while_the_database_is_down_and_recovers_without_restart(tmp_path):
    with gunicorn_server(data_dir=tmp_path) as server:
        up = httpx.get(server.url + "/health", timeout=10)
        assert up.status_code == 200, up.text
        assert up.json()["database"] == "ok"
        assert up.headers["X-Request-ID"]

        assert embedded_server_stop(pgdata=server.pgdata)
        assert not embedded_server_running(pgdata=server.pgdata)
        started = time.monotonic()
        down = httpx.get(server.url + "/health", timeout=10)
        elapsed = time.monotonic() - started
        assert down.status_code == 503
        assert elapsed < 5
        body = down.json()
        assert body["status"] == "unavailable"
        assert body["database"] == "unavailable"
        assert body["code"] == "DATABASE_UNAVAILABLE"
        assert body["error"]
        assert httpx.get(server.url + "/health/live", timeout=10).status_code == 200
        # The service does not restart its database on its own: it stays down until an operator starts it.
        assert not embedded_server_running(pgdata=server.pgdata)

        embedded_server_start(pgdata=server.pgdata)
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            status = httpx.get(server.url + "/health", timeout=10).status_code
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200
        assert server.process.poll() is None  # the same server process, never restarted
    assert not embedded_server_running(pgdata=server.pgdata)
