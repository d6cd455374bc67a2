"""Chat sessions."""

from __future__ import annotations

import uuid

from chat.models import Session
from ragsite.errors import SessionNotFound


def session_delete(*, session_id: str, vault_scope: uuid.UUID | None = None) -> None:
    """Delete a session and its messages (ON DELETE CASCADE, one statement); SessionNotFound if there is none (or,
    with `vault_scope`, none of that vault's)."""
    sessions = Session.objects.filter(pk=session_id)
    if vault_scope is not None:
        sessions = sessions.filter(vault_id=vault_scope)
    deleted, _ = sessions.delete()
    if not deleted:
        raise SessionNotFound(detail=f"no session with id {session_id[:200]}")
