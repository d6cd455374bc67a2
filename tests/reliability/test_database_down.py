"""Stop the database under a live gunicorn: every endpoint answers 503 DATABASE_UNAVAILABLE within 5 s, liveness
stays up, and once the database is back the same processes serve again, with no restart."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ragsite.database import embedded_server_running, embedded_server_start, embedded_server_stop
from tests.reliability.invariants import assert_live_invariants
from tests.reliability.live_service import worker_pids

pytestmark = pytest.mark.slow


def requests_to_every_endpoint(ids: dict[str, str]) -> dict[str, dict]:
    """One request per endpoint and method, with ids of objects that exist (when the database is up)."""
    vault, document, agent, session = ids["vault"], ids["document"], ids["agent"], ids["session"]
    return {
        "health": {"method": "GET", "url": "/health"},
        "search": {"method": "POST", "url": "/search", "json": {"query": "otters", "vault_id": vault}},
        "search (keyword)": {"method": "POST", "url": "/search", "json": {"query": "otters", "mode": "keyword"}},
        "chat": {"method": "POST", "url": "/chat", "json": {"message": "What do otters do?", "session_id": session}},
        "chat (stream)": {
            "method": "POST",
            "url": "/chat",
            "json": {"message": "What do otters do?", "agent_id": agent, "stream": True},
        },
        "ingest (JSON)": {"method": "POST", "url": "/ingest", "json": {"text": f"Beavers build dams {uuid.uuid4()}."}},
        "ingest (multipart)": {
            "method": "POST",
            "url": "/ingest",
            "files": {"file": ("owls.txt", f"Owls turn their heads {uuid.uuid4()}.".encode(), "text/plain")},
            "data": {"vault_id": vault},
        },
        "documents list": {"method": "GET", "url": "/documents", "params": {"q": "otters"}},
        "document get": {"method": "GET", "url": f"/documents/{document}"},
        "document delete": {"method": "DELETE", "url": f"/documents/{uuid.uuid4()}"},
        "vaults list": {"method": "GET", "url": "/vaults"},
        "vault create": {"method": "POST", "url": "/vaults", "json": {"name": f"vault {uuid.uuid4()}"}},
        "vault get": {"method": "GET", "url": f"/vaults/{vault}"},
        "vault delete": {"method": "DELETE", "url": f"/vaults/{uuid.uuid4()}"},
        "session get": {"method": "GET", "url": f"/sessions/{session}"},
        "session delete": {"method": "DELETE", "url": "/sessions/no-such-session"},
        "agents list": {"method": "GET", "url": "/agents", "params": {"vault_id": vault}},
        "agent create": {
            "method": "POST",
            "url": "/agents",
            "json": {"name": f"agent {uuid.uuid4()}", "vault_id": vault, "system_prompt": "Be brief."},
        },
        "agent get": {"method": "GET", "url": f"/agents/{agent}"},
        "agent delete": {"method": "DELETE", "url": f"/agents/{uuid.uuid4()}"},
    }


# With the database back, these name objects that never existed; every other request succeeds.
MISSING_WHEN_UP = {
    "document delete": "DOCUMENT_NOT_FOUND",
    "session delete": "SESSION_NOT_FOUND",
    "vault delete": "VAULT_NOT_FOUND",
    "agent delete": "AGENT_NOT_FOUND",
}


def timed(client: httpx.Client, request: dict) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.request(**request)
    return response, time.monotonic() - started


def test_every_endpoint_is_503_while_the_database_is_down_and_recovers_without_a_restart(live):
    with live.client() as client:
        vault = client.post("/vaults", json={"name": "Outage"}).json()["vault_id"]
        ingested = client.post("/ingest", json={"text": "Otters hold hands while sleeping.", "vault_id": vault})
        document = ingested.json()["document_id"]
        agent = client.post(
            "/agents", json={"name": "Otter expert", "vault_id": vault, "system_prompt": "Answer briefly."}
        ).json()["agent_id"]
        session = client.post("/chat", json={"message": "What do otters do?", "session_id": "outage-1"}).json()
        ids = {"vault": vault, "document": document, "agent": agent, "session": session["session_id"]}
        workers_before = worker_pids(live.server)
        requests = requests_to_every_endpoint(ids)

        assert embedded_server_stop(pgdata=live.pgdata)
        try:
            # Concurrently, so both workers (and several of their threads) meet the outage, as under real traffic.
            with ThreadPoolExecutor(4) as pool:
                outcomes = dict(zip(requests, pool.map(lambda r: timed(client, r), requests.values()), strict=True))
            live_check = client.get("/health/live")
        finally:
            embedded_server_start(pgdata=live.pgdata)

        for name, (response, seconds) in outcomes.items():
            assert response.status_code == 503, f"{name}: {response.status_code} {response.text[:300]}"
            body = response.json()
            assert body["code"] == "DATABASE_UNAVAILABLE", name
            assert body["error"], name
            assert response.headers["X-Request-ID"], name
            assert seconds < 5, f"{name} took {seconds:.1f} s"
        assert live_check.status_code == 200

        # Back by itself: the first requests may still meet a connection the outage broke, then all succeed.
        deadline = time.monotonic() + 15
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover within 15 s"
            time.sleep(0.2)
        for _ in range(4):  # enough requests to reach both workers' threads
            recovered = {name: client.request(**request) for name, request in requests_to_every_endpoint(ids).items()}
            failed = {
                name: (r.status_code, r.text[:200])
                for name, r in recovered.items()
                if not (r.is_success or (r.status_code == 404 and r.json()["code"] == MISSING_WHEN_UP.get(name)))
            }
            assert not failed, failed
        # The same master and the same workers: nothing was restarted to recover.
        assert live.server.process.poll() is None
        assert worker_pids(live.server) == workers_before

    assert embedded_server_running(pgdata=live.pgdata)
    assert_live_invariants(live.pgdata)
