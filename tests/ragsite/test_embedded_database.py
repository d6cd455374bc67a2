"""The embedded PostgreSQL is started on demand and shared safely by processes that need it at the same moment."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ragsite.database import embedded_server_running
from tests.live import BASE_DIR, service_env

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


@pytest.mark.slow
def test_processes_starting_at_once_share_one_server_that_stops_after_the_last_one(tmp_path):
    release = tmp_path / "release"
    env = service_env(DATA_DIR=str(tmp_path), RELEASE_FILE=str(release))
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", _CONNECT],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    start_times = {process.stdout.readline().strip() for process in processes}
    assert embedded_server_running(pgdata=tmp_path / "postgres")
    release.touch()
    errors = [process.communicate(timeout=120)[1] for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    assert len(start_times) == 1 and "" not in start_times  # one server, not four
    assert not embedded_server_running(pgdata=tmp_path / "postgres")  # the last process out stopped it
