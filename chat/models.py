"""Agents (a system prompt bound to a vault), chat sessions and their messages."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower

from documents.models import Vault


class Agent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # ON DELETE CASCADE in the database (migration 0001): deleting a vault deletes its agents.
    vault = models.ForeignKey(Vault, on_delete=models.DO_NOTHING, related_name="agents")
    system_prompt = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), "vault", name="agent_name_unique_per_vault_ci")]

    def __str__(self) -> str:
        return self.name


class Session(models.Model):
    # Client-chosen (the old service's clients pick their own ids), or generated when absent.
    id = models.CharField(primary_key=True, max_length=200)
    # ON DELETE SET NULL in the database: a session outlives the agent it talked to.
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="sessions")
    # The vault every turn of the session searched; NULL when it searched everything or several vaults. Keys bound
    # to a vault see only its sessions. ON DELETE SET NULL in the database (migration 0002).
    vault = models.ForeignKey(Vault, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    last_active_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-last_active_at"]

    def __str__(self) -> str:
        return self.id


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    # A bigint identity: messages written in one transaction share created_at, the id keeps their order stable.
    id = models.BigAutoField(primary_key=True)
    session = models.ForeignKey(Session, on_delete=models.DO_NOTHING, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    sources = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "id"]
        indexes = [models.Index(fields=["session", "id"], name="message_session_order_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["user", "assistant", "system"]), name="message_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.id}"
