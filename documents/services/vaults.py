"""Vaults: named collections of documents."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from documents.models import Vault
from documents.selectors import search_statistics_forget
from ragsite.errors import VaultExists, VaultNotFound


def vault_create(*, name: str, description: str = "") -> Vault:
    """Create a vault. Side effects: one INSERT; VaultExists when the name is taken (ignoring case)."""
    try:
        with transaction.atomic():
            return Vault.objects.create(name=name, description=description)
    except IntegrityError:
        raise VaultExists(detail=f"a vault named {name!r} already exists") from None


def vault_get_or_create(*, name: str) -> Vault:
    """The vault with this name (ignoring case), created if missing. Side effects: may INSERT."""
    existing = Vault.objects.filter(name__iexact=name).first()
    if existing is not None:
        return existing
    try:
        return vault_create(name=name)
    except VaultExists:  # created by someone else since we looked
        return Vault.objects.get(name__iexact=name)


def vault_delete(*, vault_id: uuid.UUID) -> None:
    """Delete a vault with its documents, chunks and agents (ON DELETE CASCADE, one statement)."""
    deleted, _ = Vault.objects.filter(pk=vault_id).delete()
    if not deleted:
        raise VaultNotFound(detail=f"no vault with id {vault_id}")
    search_statistics_forget()
