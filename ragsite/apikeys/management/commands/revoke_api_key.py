"""python manage.py revoke_api_key PREFIX"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ragsite.apikeys.models import APIKey
from ragsite.apikeys.services import api_keys_revoke


class Command(BaseCommand):
    help = "Revoke the API key with this prefix (the rsk_… characters shown in the admin and in logs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        keys = APIKey.objects.filter(prefix=prefix)
        if not keys.exists():
            raise CommandError(f"no API key with prefix {prefix!r}")
        revoked = api_keys_revoke(api_keys=keys)
        if not revoked:
            self.stdout.write(f"The API key with prefix {prefix} was revoked already; nothing changed.")
            return
        self.stdout.write(self.style.SUCCESS(f"Revoked {revoked} API key(s) with prefix {prefix}."))
