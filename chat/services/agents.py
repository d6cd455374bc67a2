"""Agents: a system prompt bound to a vault."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from chat.models import Agent
from documents.models import Vault
from ragsite.apikeys.scoping import in_vault_scope
from ragsite.errors import AgentExists, AgentNotFound


def agent_create(*, name: str, vault: Vault, system_prompt: str) -> Agent:
    """Create an agent; AgentExists when the vault already has one of that name (ignoring case)."""
    try:
        with transaction.atomic():
            return Agent.objects.create(name=name, vault=vault, system_prompt=system_prompt)
    except IntegrityError:
        raise AgentExists(detail=f"vault {vault.name!r} already has an agent named {name!r}") from None


def agent_delete(*, agent_id: uuid.UUID, vault_scope: uuid.UUID | None = None) -> None:
    """Delete an agent; its sessions stay, without an agent (ON DELETE SET NULL). AgentNotFound if there is none
    (or, with `vault_scope`, none in that vault)."""
    deleted, _ = in_vault_scope(Agent.objects.filter(pk=agent_id), vault_scope).delete()
    if not deleted:
        raise AgentNotFound(detail=f"no agent with id {agent_id}")
