"""migrate_locked: replicas starting together migrate one after the other, so each migration is applied once."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ragsite.management.commands.migrate_locked import MIGRATION_LOCK_ID
from tests.live import BASE_DIR, service_env
from tests.ragsite.scratch_database import scratch_database, server_params


def _migrate_locked(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "migrate_locked"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_processes_migrating_at_once_both_succeed_and_apply_each_migration_once(django_db_setup):
    with scratch_database() as database:
        env = service_env(DB_URL=database.url)
        processes = [_migrate_locked(env), _migrate_locked(env)]
        outputs = [process.communicate(timeout=180) for process in processes]

        for process, (_stdout, stderr) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, stderr
        applied_by = [stdout for stdout, _ in outputs if "Applying documents.0001_initial... OK" in stdout]
        assert len(applied_by) == 1
        assert any("No migrations to apply." in stdout for stdout, _ in outputs)

        with database.connect() as conn:
            rows = conn.execute("SELECT app, name FROM django_migrations").fetchall()
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        # django_migrations has no unique constraint: a race would show up as duplicate rows.
        assert len(rows) == len(set(rows))
        assert ("documents", "0001_initial") in rows
        assert {"documents_document", "documents_chunk", "chat_session"} <= tables


@pytest.mark.django_db
def test_a_held_lock_makes_migrate_locked_wait_then_give_up_without_migrating():
    with psycopg.connect(dbname=connection.settings_dict["NAME"], autocommit=True, **server_params()) as other_replica:
        other_replica.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_ID])
        out = StringIO()
        with pytest.raises(CommandError, match="another process held the migration lock for over 0.5 s"):
            call_command("migrate_locked", "--lock-timeout=0.5", stdout=out)
        assert "waiting for it to finish" in out.getvalue()
        assert "Operations to perform" not in out.getvalue()


@pytest.mark.django_db
def test_with_the_lock_free_migrate_locked_runs_migrate_and_releases_the_lock():
    out = StringIO()
    call_command("migrate_locked", stdout=out)
    assert "No migrations to apply." in out.getvalue()
    with psycopg.connect(dbname=connection.settings_dict["NAME"], autocommit=True, **server_params()) as other_replica:
        assert other_replica.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK_ID]).fetchone()[0] is True
