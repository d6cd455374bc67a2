"""Creating, checking and revoking API keys."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from documents.models import Vault
from ragsite.apikeys.models import APIKey

logger = logging.getLogger(__name__)

# Keys look like `rsk_` + 43 URL-safe characters (256 random bits); the first 12 characters are the visible prefix.
KEY_MARKER = "rsk_"
PREFIX_LENGTH = len(KEY_MARKER) + 8
# last_used_at is written at most this often per key: one UPDATE per request would make every read a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_hash(token: str) -> str:
    """sha256 of a key. A fast hash is enough here: a key carries 256 random bits, so no table of guesses can
    reach it (slow hashes such as bcrypt exist for human passwords); and a deterministic hash lets a request find
    its key with one indexed lookup instead of comparing against every stored key."""
    return hashlib.sha256(token.encode()).hexdigest()


def api_key_save_new(*, api_key: APIKey) -> str:
    """Give an unsaved key its secret and save it. Returns the key in clear: the only time it exists.

    Side effects: one INSERT.
    """
    token = KEY_MARKER + secrets.token_urlsafe(32)
    api_key.prefix = token[:PREFIX_LENGTH]
    api_key.key_hash = api_key_hash(token)
    api_key.save()
    logger.info("event=api_key_created prefix=%s scope=%s vault_id=%s", api_key.prefix, api_key.scope, api_key.vault_id)
    return token


def api_key_create(*, name: str, scope: str = APIKey.Scope.READ, vault: Vault | None = None) -> tuple[APIKey, str]:
    """Create a key; returns it and its secret, shown once. Side effects: one INSERT."""
    api_key = APIKey(name=name, scope=scope, vault=vault)
    return api_key, api_key_save_new(api_key=api_key)


def api_key_find(*, token: str) -> APIKey | None:
    """The key with this secret, revoked or not; None when there is none.

    The lookup compares hashes in the database's unique index, so how long it takes says nothing about how much
    of a guess was right (the constant-time property hmac.compare_digest gives a comparison in Python).
    """
    return APIKey.objects.filter(key_hash=api_key_hash(token)).first()


def api_key_admits_metrics(*, token: str) -> bool:
    """Whether this secret is an active admin key that spans every vault: such a key may read /metrics."""
    api_key = api_key_find(token=token)
    return (
        api_key is not None and not api_key.is_revoked and api_key.scope == APIKey.Scope.ADMIN and not api_key.vault_id
    )


def api_key_touch(*, api_key: APIKey) -> None:
    """Record that the key was used, at most once per LAST_USED_RESOLUTION. Side effects: maybe one UPDATE."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional, so that workers racing on the same key write once between them.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    APIKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def api_keys_revoke(*, api_keys: QuerySet[APIKey]) -> int:
    """Revoke keys (they answer 401 from the next request on); returns how many were still active.

    Side effects: one UPDATE. Revoked keys stay listed, so their prefixes still identify them in old logs.
    """
    revoked = api_keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    logger.info("event=api_keys_revoked count=%s", revoked)
    return revoked
