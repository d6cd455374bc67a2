"""Real gunicorn servers for tests, each on its own embedded PostgreSQL, as `make run` starts them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from ragsite.database import embedded_server_running, embedded_server_stop

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    pgdata: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(**overrides: str) -> dict[str, str]:
    """The environment of a child process: this one's, minus any external database, plus overrides."""
    env = {name: value for name, value in os.environ.items() if name not in ("DB_URL", "DATABASE_URL")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def gunicorn_server(*, data_dir: Path, workers: int = 1, **env_overrides: str) -> Iterator[LiveServer]:
    """Migrate, then serve with `gunicorn -c ragsite/gunicorn.conf.py` (the Makefile's and Procfile's command)."""
    port = free_port()
    env = service_env(DATA_DIR=str(data_dir), HOST="127.0.0.1", PORT=str(port), WORKERS=str(workers), **env_overrides)
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    log = open(data_dir / "gunicorn.log", "w+")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "ragsite/gunicorn.conf.py"], cwd=BASE_DIR, env=env, stdout=log, stderr=log
    )
    server = LiveServer(url=f"http://127.0.0.1:{port}", process=process, pgdata=data_dir / "postgres")
    try:
        _wait_until_live(server, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if embedded_server_running(pgdata=server.pgdata):
            embedded_server_stop(pgdata=server.pgdata)


def _wait_until_live(server: LiveServer, log) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"gunicorn exited with {server.process.returncode}:\n{log.read()}")
        try:
            if httpx.get(server.url + "/health/live", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    log.seek(0)
    raise AssertionError(f"gunicorn did not come up within 60 s:\n{log.read()}")
