"""Logs and metrics of a real gunicorn: counts add up across workers, and nothing secret reaches the log at DEBUG."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.openai_server import FakeOpenAI
from tests.live import gunicorn_server, manage, service_env

pytestmark = pytest.mark.slow

TOKEN = "live-metrics-token-7f3e9a1b2c"
ROUTE = "/documents/{document_id}"


def _requests_served_per_worker(metrics_dir: Path) -> dict[str, float]:
    """From the workers' sample files: how many requests each worker answered on ROUTE."""
    served: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        served[path.stem] = sum(
            value
            for key, value, _timestamp, _position in values
            if json.loads(key)[1] == "ragsite_http_requests_total" and json.loads(key)[2].get("route") == ROUTE
        )
    return served


def test_metrics_add_up_across_two_workers(tmp_path: Path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over by an earlier server")
    with gunicorn_server(
        data_dir=tmp_path, workers=2, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    ) as server:
        assert not (metrics_dir / "counter_1.db").exists()
        sent = 0
        # A new connection per request lets either worker accept it; go on until both have answered some.
        while sent < 400:
            for _ in range(20):
                response = httpx.get(f"{server.url}/documents/00000000-0000-0000-0000-000000000000", timeout=10)
                assert response.status_code == 404
                sent += 1
            if len([count for count in _requests_served_per_worker(metrics_dir).values() if count]) >= 2:
                break
        per_worker = _requests_served_per_worker(metrics_dir)
        assert len([count for count in per_worker.values() if count]) == 2, per_worker

        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 401
        scraped = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert scraped.status_code == 200
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(scraped.text)
            for sample in family.samples
        }
        labels = (("method", "GET"), ("route", ROUTE))
        assert samples[("ragsite_http_requests_total", (*labels, ("status", "404")))] == sent
        assert samples[("ragsite_http_request_duration_seconds_count", labels)] == sent
        assert samples[("ragsite_chat_sessions_active", ())] == 0


SECRETS = {
    "OPENAI_API_KEY": "sk-live-secret-4b1d9e7c5a3f",
    "SECRET_KEY": "django-secret-key-9c8b7a6d5e4f3a2b1c0d9e8f7a6b5c4d",
    "METRICS_TOKEN": "metrics-secret-token-1a2b3c4d5e",
}
DOCUMENT = "Zanzibarian quokkas negotiate the Vortigern merger under clause ninety-seven."
QUESTION = "Which quokkas negotiate Vortigern clauses"


def test_debug_logs_hold_no_secret_key_or_text(tmp_path: Path):
    with (
        FakeOpenAI(dimensions=64) as fake,
        gunicorn_server(
            data_dir=tmp_path,
            OPENAI_API_BASE=fake.base_url,
            LOG_LEVEL="DEBUG",
            DEBUG="true",  # Django then logs every SQL statement with its parameters (django.db.backends)
            OPENAI_LOG="debug",  # the SDK then sets its own and httpx's loggers to DEBUG
            **SECRETS,
        ) as server,
    ):
        # A real key (a wrong one is refused with 401), made as an operator would.
        created = manage("create_api_key", "log test", "--scope", "write", env=service_env(DATA_DIR=str(tmp_path)))
        assert created.returncode == 0, created.stderr
        client_key = created.stdout.strip()
        auth = {"Authorization": f"Bearer {client_key}", "X-API-Key": client_key}
        with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
            ingested = client.post("/ingest", json={"text": DOCUMENT, "title": "Quokka minutes"})
            assert ingested.status_code == 200, ingested.text
            assert client.post("/search", json={"query": QUESTION}).status_code == 200
            assert client.post("/chat", json={"message": QUESTION, "session_id": "s-1"}).status_code == 200
            with client.stream("POST", "/chat", json={"message": QUESTION, "stream": True}) as streamed:
                assert "done" in "".join(streamed.iter_text())
            assert client.get(f"/documents/{ingested.json()['document_id']}").status_code == 200
            assert client.get("/documents", params={"q": "Vortigern"}).status_code == 200
            metrics = client.get("/metrics", headers={"Authorization": f"Bearer {SECRETS['METRICS_TOKEN']}"})
            assert metrics.status_code == 200
        assert fake.chat_requests() and fake.embedding_requests()
        log = (tmp_path / "gunicorn.log").read_text()

    # The log was really written at DEBUG, and holds the line of every request.
    assert re.search(r"level=DEBUG logger=documents\.services\.embeddings request_id=\w+ event=embedding_batch", log)
    requests = re.findall(r"logger=ragsite\.access request_id=\w+ event=request method=\w+ path=(\S+)", log)
    assert len([path for path in requests if path != "/health/live"]) == 7
    assert "path=/chat status=200" in log
    for secret in [*SECRETS.values(), client_key, client_key[12:]]:
        assert secret not in log
    assert f"api_key={client_key[:12]}" in log  # the prefix, made to be logged
    for word in ["Zanzibarian", "quokka", "Vortigern", "ninety-seven", "Quokka minutes"]:
        assert word.lower() not in log.lower()
    assert "Authorization" not in log and "X-API-Key" not in log
