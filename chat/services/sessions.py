"""Chat sessions."""

from __future__ import annotations

from chat.models import Session
from ragsite.errors import SessionNotFound


def session_delete(*, session_id: str) -> None:
    """Delete a session and its messages (ON DELETE CASCADE, one statement)."""
    deleted, _ = Session.objects.filter(pk=session_id).delete()
    if not deleted:
        raise SessionNotFound(detail=f"no session with id {session_id[:200]}")
