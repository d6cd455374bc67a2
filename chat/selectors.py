"""Reads of agents, sessions and messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connection
from django.db.models import Prefetch, QuerySet

from chat.models import Agent, Message, Session
from chat.services.prompts import Turn
from ragsite.apikeys.scoping import in_vault_scope
from ragsite.errors import AgentNotFound, SessionNotFound


def agent_list(*, vault_id: uuid.UUID | None = None) -> QuerySet[Agent]:
    agents = Agent.objects.order_by("name", "id")
    return agents.filter(vault_id=vault_id) if vault_id is not None else agents


def agent_get(*, agent_id: uuid.UUID, vault_scope: uuid.UUID | None = None) -> Agent:
    """One agent; AgentNotFound if there is none (or, with `vault_scope`, none in that vault)."""
    agent = in_vault_scope(Agent.objects.filter(pk=agent_id), vault_scope).first()
    if agent is None:
        raise AgentNotFound(detail=f"no agent with id {agent_id}")
    return agent


@dataclass(frozen=True)
class SessionState:
    """What a chat turn needs to know of its session before answering."""

    exists: bool
    agent_id: uuid.UUID | None
    vault_id: uuid.UUID | None
    history: list[Turn]  # the last user and assistant messages, oldest first


# The session row and its last messages in one round trip: a turn reads both before anything else can start.
_SESSION_STATE_SQL = """
SELECT s.id IS NOT NULL, s.agent_id, s.vault_id, m.role, m.content
FROM (SELECT %(session_id)s::varchar AS id) AS wanted
LEFT JOIN chat_session s ON s.id = wanted.id
LEFT JOIN LATERAL (
    SELECT id, role, content FROM chat_message
    WHERE session_id = wanted.id AND role IN ('user', 'assistant')
    ORDER BY id DESC LIMIT %(limit)s
) AS m ON true
ORDER BY m.id
"""


def session_state(*, session_id: str, limit: int) -> SessionState:
    """The session's agent and vault (None for a session not created yet) and its last `limit` turns."""
    with connection.cursor() as cursor:
        cursor.execute(_SESSION_STATE_SQL, {"session_id": session_id, "limit": max(limit, 0)})
        rows = cursor.fetchall()
    exists, agent_id, vault_id = rows[0][:3]
    history = [Turn(role=role, content=content) for *_, role, content in rows if role is not None]
    return SessionState(exists=exists, agent_id=agent_id, vault_id=vault_id, history=history)


def session_get(*, session_id: str, vault_scope: uuid.UUID | None = None) -> Session:
    """A session with its messages prefetched in order; SessionNotFound if there is none (or, with `vault_scope`,
    none of that vault's)."""
    sessions = Session.objects.prefetch_related(Prefetch("messages", queryset=Message.objects.order_by("id")))
    session = in_vault_scope(sessions, vault_scope).filter(pk=session_id).first()
    if session is None:
        raise SessionNotFound(detail=f"no session with id {session_id[:200]}")
    return session
