"""`manage.py embedded_db start|stop|status`: the development database by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ragsite.database import embedded_server_running, embedded_server_start, embedded_server_stop


class Command(BaseCommand):
    help = "Start, stop or show the embedded PostgreSQL used when DB_URL/DATABASE_URL is unset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if not settings.DATABASE_IS_EMBEDDED:
            raise CommandError("DB_URL or DATABASE_URL is set: the service does not use the embedded database")
        pgdata = Path(settings.DATABASES["default"]["PGDATA"])
        if action == "start":
            socket_dir = embedded_server_start(pgdata=pgdata)
            self.stdout.write(self.style.SUCCESS(f"running: {pgdata} (socket in {socket_dir}); left running"))
        elif action == "stop":
            stopped = embedded_server_stop(pgdata=pgdata)
            self.stdout.write(self.style.SUCCESS("stopped") if stopped else "not running")
        else:
            self.stdout.write(f"{'running' if embedded_server_running(pgdata=pgdata) else 'stopped'}: {pgdata}")
