"""API keys: only a hash of each key is stored, with a visible prefix to tell keys apart."""

from __future__ import annotations

from django.db import models

from documents.models import Vault


class APIKey(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "read: search, chat, list and get"
        WRITE = "write", "write: read, plus ingest and delete"
        ADMIN = "admin", "admin: everything, including creating and deleting vaults and agents"

    name = models.CharField(max_length=200, help_text="Who or what uses this key.")
    prefix = models.CharField(max_length=16, editable=False, help_text="The key's first characters, not secret.")
    # sha256 of the key; the key itself is shown once, when it is created, and stored nowhere.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    # DO_NOTHING here and ON DELETE CASCADE in the database (migration 0001): a key bound to a deleted vault goes
    # with it. It must never outlive its vault unbound, which would widen it to every vault.
    vault = models.ForeignKey(
        Vault,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="api_keys",
        help_text="A key bound to a vault sees and touches only that vault. Empty: every vault.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(condition=models.Q(scope__in=["read", "write", "admin"]), name="apikey_scope_valid")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        """Whether this key's scope includes `scope` (admin includes write, which includes read)."""
        return SCOPE_RANK[self.scope] >= SCOPE_RANK[scope]


SCOPE_RANK = {APIKey.Scope.READ: 0, APIKey.Scope.WRITE: 1, APIKey.Scope.ADMIN: 2}
