"""The embedded PostgreSQL is started on demand and shared safely by processes that need it at the same moment."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ragsite.database import embedded_server_running
from tests.live import BASE_DIR, service_env

_CONNECT = (
    "from django.db import connection; connection.ensure_connection(); "
    "cursor = connection.cursor(); cursor.execute('SELECT pg_postmaster_start_time()'); "
    "print(cursor.fetchone()[0].isoformat())"
)


@pytest.mark.slow
def test_processes_starting_at_once_share_one_server_that_stops_after_the_last_one(tmp_path):
    env = service_env(DATA_DIR=str(tmp_path))
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
    results = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0, 0], [err for _, err in results]
    start_times = {out.strip() for out, _ in results}
    assert len(start_times) == 1  # one server, not four
    assert not embedded_server_running(pgdata=tmp_path / "postgres")  # the last process out stopped it
