"""Through gunicorn, as deployed: two workers share one budget (the counters live in PostgreSQL, not in a worker),
and keys made by `create_api_key` work against the running service."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

import pytest

from tests.live import gunicorn_server, manage, service_env

pytestmark = pytest.mark.slow


def serving_worker(server_pid: int, server_port: int, connection: http.client.HTTPConnection) -> int:
    """The pid of the gunicorn worker holding this client connection's other end (Linux /proc)."""
    client_port = connection.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            inode = fields[9]
    assert inode is not None, "the server side of the connection is not in /proc/net/tcp"
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or not Path(f"/proc/{pid}/stat").exists():
            continue
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == server_pid and any(
                os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]" for fd in os.listdir(f"/proc/{pid}/fd")
            ):
                return int(pid)
        except (FileNotFoundError, PermissionError):
            continue
    raise AssertionError("no worker holds the connection")


def get(connection: http.client.HTTPConnection, path: str, key: str) -> http.client.HTTPResponse:
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    return response


def test_two_workers_share_one_budget_and_answer_429_with_retry_after(tmp_path):
    env = {"API_AUTH": "required", "RATE_LIMIT_READ": "3/hour"}
    with gunicorn_server(data_dir=tmp_path, workers=2, **env) as server:
        created = manage("create_api_key", "live test", env=service_env(DATA_DIR=str(tmp_path), **env))
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        port = int(server.url.rsplit(":", 1)[1])

        # Keep-alive connections until two of them are served by different workers.
        connections: dict[int, http.client.HTTPConnection] = {}
        for _ in range(30):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.connect()
            unauthenticated = get(connection, "/vaults", "rsk_wrong")
            assert unauthenticated.status == 401  # a wrong key is refused before it can spend a budget
            worker = serving_worker(server.process.pid, port, connection)
            if worker in connections:
                connection.close()
            else:
                connections[worker] = connection
            if len(connections) == 2:
                break
        assert len(connections) == 2, "gunicorn never spread connections over both workers"
        first, second = connections.values()

        # 3 reads an hour in all: counted per worker, each would allow 3.
        statuses = [get(connection, "/vaults", key).status for connection in (first, second, first)]
        assert statuses == [200, 200, 200]
        for connection in (second, first):
            limited = get(connection, "/vaults", key)
            assert limited.status == 429
            assert json.loads(limited.body)["code"] == "RATE_LIMITED"
            assert 1 <= int(limited.getheader("Retry-After")) <= 3600
        for connection in connections.values():
            connection.close()
