"""The embedded PostgreSQL is started on demand and shared safely by processes that need it at the same moment."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ragsite.database import embedded_server_running, embedded_server_stop
from tests.live import BASE_DIR, manage, service_env

# Each process connects, reports the server's start time, and holds on until the test lets it go, so all four
# are using the server at the same time.
_CONNECT = """
import os, sys, time
from django.db import connection
cursor = connection.cursor()
cursor.execute('SELECT pg_postmaster_start_time()')
print(cursor.fetchone()[0].isoformat(), flush=True)
while not os.path.exists(os.environ['RELEASE_FILE']):
    time.sleep(0.05)
"""


def connected_user(env: dict[str, str]) -> subprocess.Popen[str]:
    """A process that connects (starting the server if need be), prints the server's start time and holds on until
    the RELEASE_FILE of its environment exists."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", _CONNECT],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_processes_starting_at_once_share_one_server_that_stops_after_the_last_one(tmp_path):
    release = tmp_path / "release"
    env = service_env(DATA_DIR=str(tmp_path), RELEASE_FILE=str(release))
    processes = [connected_user(env) for _ in range(4)]
    start_times = {process.stdout.readline().strip() for process in processes}
    assert embedded_server_running(pgdata=tmp_path / "postgres")
    release.touch()
    errors = [process.communicate(timeout=120)[1] for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    assert len(start_times) == 1 and "" not in start_times  # one server, not four
    assert not embedded_server_running(pgdata=tmp_path / "postgres")  # the last process out stopped it


_QUERY = "from django.db import connection; connection.cursor().execute('SELECT 1')"


@pytest.mark.slow
def test_a_database_started_by_hand_outlives_the_processes_that_use_it_until_stopped(tmp_path):
    env = service_env(DATA_DIR=str(tmp_path))
    pgdata = tmp_path / "postgres"

    def succeeds(*args: str) -> str:
        result = manage(*args, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    try:
        succeeds("embedded_db", "start")
        succeeds("shell", "--no-imports", "-c", _QUERY)
        succeeds("shell", "--no-imports", "-c", _QUERY)
        assert embedded_server_running(pgdata=pgdata)  # the users came and went; the server stayed

        assert "stopped" in succeeds("embedded_db", "stop")
        succeeds("shell", "--no-imports", "-c", _QUERY)
        assert not embedded_server_running(pgdata=pgdata)  # started by that user, stopped when it left
    finally:
        embedded_server_stop(pgdata=pgdata)


@pytest.mark.slow
def test_embedded_db_start_adopts_a_server_another_process_started(tmp_path):
    release = tmp_path / "release"
    env = service_env(DATA_DIR=str(tmp_path), RELEASE_FILE=str(release))
    pgdata = tmp_path / "postgres"
    user = connected_user(env)
    try:
        assert user.stdout.readline().strip()  # it started the server and is using it
        started = manage("embedded_db", "start", env=env)
        assert started.returncode == 0, started.stderr
        release.touch()
        assert user.communicate(timeout=120)[0] == "" and user.returncode == 0

        assert embedded_server_running(pgdata=pgdata)  # its starter left, but it was taken in hand meanwhile
    finally:
        release.touch()
        embedded_server_stop(pgdata=pgdata)
