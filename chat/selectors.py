"""Reads of agents, sessions and messages."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from chat.models import Agent
from ragsite.errors import AgentNotFound


def agent_list(*, vault_id: uuid.UUID | None = None) -> QuerySet[Agent]:
    agents = Agent.objects.order_by("name", "id")
    return agents.filter(vault_id=vault_id) if vault_id is not None else agents


def agent_get(*, agent_id: uuid.UUID) -> Agent:
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        raise AgentNotFound(detail=f"no agent with id {agent_id}")
    return agent
