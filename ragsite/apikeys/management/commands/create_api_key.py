"""python manage.py create_api_key NAME [--scope read|write|admin] [--vault ID or name]"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents.models import Vault
from ragsite.apikeys.models import APIKey
from ragsite.apikeys.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who or what uses the key")
        parser.add_argument("--scope", choices=[scope.value for scope in APIKey.Scope], default=APIKey.Scope.READ)
        parser.add_argument("--vault", help="bind the key to this vault (id or name): it sees and touches only it")

    def handle(self, *args: Any, name: str, scope: str, vault: str | None, **options: Any) -> None:
        if not name.strip():
            raise CommandError("the name must not be blank")
        bound = _vault(vault) if vault else None
        api_key, secret = api_key_create(name=name.strip(), scope=scope, vault=bound)
        where = f"vault {bound.name!r} only" if bound else "every vault"
        self.stderr.write(f"Created API key {api_key.prefix}… ({scope}, {where}). It is shown once; keep it safe:")
        # The key alone on stdout, so `KEY=$(manage.py create_api_key …)` captures it.
        self.stdout.write(secret)


def _vault(value: str) -> Vault:
    try:
        found = Vault.objects.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        found = Vault.objects.filter(name__iexact=value).first()
    if found is None:
        raise CommandError(f"no vault with id or name {value!r}")
    return found
