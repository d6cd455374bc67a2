"""Chat sessions."""

from __future__ import annotations

import uuid

from chat.models import Session
from ragsite.apikeys.scoping import in_vault_scope
from ragsite.errors import SessionNotFound


def session_delete(*, session_id: str, vault_scope: uuid.UUID | None = None) -> None:
    """Delete a session and its messages (ON DELETE CASCADE, one statement); SessionNotFound if there is none (or,
    with `vault_scope`, none of that vault's)."""
    deleted, _ = in_vault_scope(Session.objects.filter(pk=session_id), vault_scope).delete()
    if not deleted:
        raise SessionNotFound(detail=f"no session with id {session_id[:200]}")
