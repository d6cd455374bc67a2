"""Vault-bound keys: a key bound to a vault sees and touches only that vault.

Objects addressed by id in another vault answer 404 as if they did not exist (ids do not leak); a `vault_id`
naming another vault answers 403 whether that vault exists or not (which leaks nothing either).
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.db.models import Model, QuerySet
from rest_framework.request import Request

from ragsite.apikeys.models import APIKey
from ragsite.errors import Forbidden

_M = TypeVar("_M", bound=Model)


def in_vault_scope(objects: QuerySet[_M], vault_scope: uuid.UUID | None, *, field: str = "vault_id") -> QuerySet[_M]:
    """`objects` confined to the vault of a vault-bound key (`vault_scope`); all of them when there is none."""
    return objects if vault_scope is None else objects.filter(**{field: vault_scope})


def request_vault_scope(request: Request) -> uuid.UUID | None:
    """The vault the request is confined to: its key's vault; None for unbound keys and requests without a key."""
    api_key = request.auth
    return api_key.vault_id if isinstance(api_key, APIKey) else None


def request_vault_id(request: Request, requested: uuid.UUID | None) -> uuid.UUID | None:
    """The vault a request acts on: the one it names, or its key's when it names none. 403 when a vault-bound key
    names another vault."""
    scope = request_vault_scope(request)
    if scope is None:
        return requested
    if requested is not None and requested != scope:
        raise Forbidden(detail="this API key is bound to another vault")
    return scope


def request_unbound(request: Request) -> None:
    """403 for vault-bound keys: creating and deleting vaults is for keys that span every vault."""
    if request_vault_scope(request) is not None:
        raise Forbidden(detail="this API key is bound to one vault; vaults are created and deleted with unbound keys")
