"""`migrate`, under a PostgreSQL advisory lock: several replicas starting together apply each migration once.

Django's `migrate` takes no lock of its own: two processes migrating one database at once both try to create the
same tables (one fails) or record the same migration twice. The Procfile's release step and the Docker image's
start run this command instead.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

# Any constant works as long as every replica uses the same one; this one spells "ragsite" in ASCII.
MIGRATION_LOCK_ID = 0x72616773697465


class Command(BaseCommand):
    help = (
        "Apply migrations while holding a PostgreSQL advisory lock, so processes started together migrate one "
        "after the other (the later ones find nothing left to apply)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias to migrate.")
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=600.0,
            help="Seconds to wait for another process's migrations before giving up (default: 600).",
        )

    def handle(self, *args: Any, database: str, lock_timeout: float, verbosity: int, **options: Any) -> None:
        if lock_timeout <= 0:
            raise CommandError("--lock-timeout must be a positive number of seconds")
        wrapper = connections[database]
        # The lock lives on a connection of its own, so nothing `migrate` does to Django's connection (closing it,
        # rolling back a failed migration) can release it early. Closing this connection releases the lock.
        lock = wrapper.get_new_connection(wrapper.get_connection_params())
        try:
            lock.autocommit = True
            lock.execute("SELECT set_config('lock_timeout', %s, false)", [f"{int(lock_timeout * 1000)}ms"])
            acquired = lock.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK_ID]).fetchone()[0]
            if not acquired:
                if verbosity >= 1:
                    self.stdout.write("Another process is migrating this database; waiting for it to finish.")
                try:
                    lock.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_ID])
                except psycopg.errors.LockNotAvailable:
                    raise CommandError(
                        f"another process held the migration lock for over {lock_timeout:g} s; nothing was migrated"
                    ) from None
            # The streams given to this command (call_command's stdout=...), not self.stdout: migrate wraps them itself,
            # and a wrapper around a wrapper would end each "Applying …" on its own line, before its " OK".
            call_command(
                "migrate",
                database=database,
                interactive=False,
                verbosity=verbosity,
                stdout=options.get("stdout"),
                stderr=options.get("stderr"),
            )
        finally:
            lock.close()
