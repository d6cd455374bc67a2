"""Request budgets: fixed windows counted in the shared cache, per API key (per client address without one).

DRF's own SimpleRateThrottle keeps each client's request times as a list it reads, appends to and writes back;
two workers doing that at once both write, and one request goes uncounted, so parallel clients get several times
their budget. Here each request is one atomic increment (Redis INCR, or a row lock in PostgreSQL, see cache.py),
so every worker and replica counts every request.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpRequest
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from ragsite.apikeys.cache import DatabaseCache
from ragsite.apikeys.models import APIKey
from ragsite.apikeys.permissions import READ, required_scope

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNSAFE_KEY_CHARACTERS = re.compile(r"[^0-9A-Za-z:._-]")


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For as far as NUM_PROXIES trusts it (also django-axes's
    view of the client, so the admin lockout and the rate limits agree)."""
    return BaseThrottle().get_ident(request)


def rate_parse(rate: str) -> tuple[int, int]:
    """`30/min` → (30, 60): requests per window, and the window in seconds (DRF's notation)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


def request_budget(view: APIView, method: str) -> str | None:
    """The budget a request draws on: the view's own (`rate_budget = "chat"`), else `read` for read-scope
    requests and `ingest` for every write. None for views without scopes (health): never limited."""
    if not getattr(view, "required_scopes", None):
        return None
    explicit: str | None = getattr(view, "rate_budget", None)
    if explicit is not None:
        return explicit
    return "read" if required_scope(view, method) == READ else "ingest"


def budget_rate(budget: str) -> str:
    return {"chat": settings.RATE_LIMIT_CHAT, "ingest": settings.RATE_LIMIT_INGEST}.get(
        budget, settings.RATE_LIMIT_READ
    )


def budget_count(key: str, *, window: int) -> int:
    """Add one to a counter in the shared cache and return it; the counter lives for two windows."""
    backend = caches["default"]
    if isinstance(backend, DatabaseCache):
        return backend.count(key, lifetime=2 * window)  # one statement (see cache.py)
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet for this window
        if cache.add(key, 1, timeout=2 * window):
            return 1
        return cache.incr(key)  # another worker created it meanwhile


class BudgetThrottle(BaseThrottle):
    """429 RATE_LIMITED with Retry-After (seconds to the end of the window) once a budget is spent."""

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        budget = request_budget(view, request.method or "GET")
        if budget is None:
            return True
        limit, window = rate_parse(budget_rate(budget))
        api_key = request.auth
        who = f"key:{api_key.pk}" if isinstance(api_key, APIKey) else f"addr:{self.get_ident(request)}"
        now = time.time()
        current = int(now // window)
        key = _UNSAFE_KEY_CHARACTERS.sub("_", f"ratelimit:{budget}:{window}:{who}:{current}")[:200]
        try:
            count = budget_count(key, window=window)
        except RedisError as exc:
            # A rate limit is a guard, not the service: with Redis away, serve rather than fail every request.
            logger.warning("event=rate_limit_unavailable budget=%s error=%s", budget, type(exc).__name__)
            return True
        if count <= limit:
            return True
        self.retry_after = (current + 1) * window - now
        return False

    def wait(self) -> float | None:
        return None if self.retry_after is None else max(1.0, math.ceil(self.retry_after))
