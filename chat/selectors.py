"""Reads of agents, sessions and messages."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from chat.models import Agent, Message, Session
from chat.services.prompts import Turn
from ragsite.errors import AgentNotFound, SessionNotFound


def agent_list(*, vault_id: uuid.UUID | None = None) -> QuerySet[Agent]:
    agents = Agent.objects.order_by("name", "id")
    return agents.filter(vault_id=vault_id) if vault_id is not None else agents


def agent_get(*, agent_id: uuid.UUID, vault_scope: uuid.UUID | None = None) -> Agent:
    """One agent; AgentNotFound if there is none (or, with `vault_scope`, none in that vault)."""
    agents = Agent.objects.filter(pk=agent_id)
    if vault_scope is not None:
        agents = agents.filter(vault_id=vault_scope)
    agent = agents.first()
    if agent is None:
        raise AgentNotFound(detail=f"no agent with id {agent_id}")
    return agent


def session_turns(*, session_id: str, limit: int) -> list[Turn]:
    """The last `limit` user and assistant messages of a session, oldest first (none for a new session)."""
    if limit <= 0:
        return []
    recent = (
        Message.objects.filter(session_id=session_id, role__in=[Message.Role.USER, Message.Role.ASSISTANT])
        .order_by("-id")
        .values_list("role", "content")[:limit]
    )
    return [Turn(role=role, content=content) for role, content in reversed(list(recent))]


def session_get(*, session_id: str, vault_scope: uuid.UUID | None = None) -> Session:
    """A session with its messages prefetched in order; SessionNotFound if there is none (or, with `vault_scope`,
    none of that vault's)."""
    sessions = Session.objects.prefetch_related(Prefetch("messages", queryset=Message.objects.order_by("id")))
    if vault_scope is not None:
        sessions = sessions.filter(vault_id=vault_scope)
    session = sessions.filter(pk=session_id).first()
    if session is None:
        raise SessionNotFound(detail=f"no session with id {session_id[:200]}")
    return session
