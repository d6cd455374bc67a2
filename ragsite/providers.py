"""Model-provider failures as the service's errors, the same way for embeddings and chat."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings

from ragsite.errors import ServiceError, UpstreamTimeout
from ragsite.metrics import provider_call_observe

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The metrics' names for the two kinds of provider call.
_METRIC_PROVIDER = {"embedding": "embeddings", "llm": "chat"}


class provider_errors:
    """A context manager turning OpenAI SDK (and httpx) exceptions into UpstreamTimeout (504) or `failure` (502).

    Details name the status or the kind of failure only: a provider's own message can echo the request, a key or
    an internal address, so it goes to no client and no log. Each call's latency and failure kind go to the metrics.
    """

    def __init__(self, *, kind: str, subject: str, model: str, failure: type[ServiceError]) -> None:
        self.kind, self.subject, self.model, self.failure = kind, subject, model, failure

    def __enter__(self) -> None:
        self._started = time.monotonic()
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> bool:
        if exc is not None and not isinstance(exc, Exception):
            return False  # GeneratorExit and the like (a client left mid-stream) pass through untouched
        failure = _failure_kind(exc)
        provider_call_observe(
            provider=_METRIC_PROVIDER.get(self.kind, self.kind),
            model=self.model,
            seconds=time.monotonic() - self._started,
            failure=failure,
        )
        if exc is None or failure is None:
            return False
        import httpx
        import openai

        # A read timeout in the middle of a stream reaches us from httpx, not wrapped by the SDK.
        if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
            logger.warning("event=%s_timeout model=%s", self.kind, self.model)
            raise UpstreamTimeout(detail=f"the {self.subject} did not answer in time") from None
        if isinstance(exc, openai.APIStatusError):
            logger.warning("event=%s_failed model=%s status=%s", self.kind, self.model, exc.status_code)
            raise self.failure(detail=f"the {self.subject} answered HTTP {exc.status_code}") from None
        if isinstance(exc, openai.APIConnectionError):
            logger.warning("event=%s_failed model=%s reason=connection", self.kind, self.model)
            raise self.failure(detail=f"the {self.subject} cannot be reached") from None
        # A body that is not the OpenAI shape (a proxy's HTML page, truncated JSON), or a bug of ours: the
        # traceback goes to the log.
        logger.exception("event=%s_failed model=%s reason=%s", self.kind, self.model, type(exc).__name__)
        raise self.failure(detail=f"the {self.subject} sent an invalid response") from None


def _failure_kind(exc: BaseException | None) -> str | None:
    """How a provider call failed, as the metrics count it; None when it did not (ServiceErrors are ours)."""
    if exc is None or isinstance(exc, ServiceError):
        return None
    import httpx
    import openai

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return "rate_limited"
        if exc.status_code in (401, 403):
            return "unauthorized"
        return "server_error" if exc.status_code >= 500 else "client_error"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    return "invalid_response"


def built_per_settings(*names: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Decorate a builder of provider clients: it runs once per process for each distinct value of the named
    settings, so clients (and their connection pools) are reused, yet a changed setting (tests do that) takes
    effect."""

    def decorate(build: Callable[[], T]) -> Callable[[], T]:
        built: dict[tuple[Any, ...], T] = {}
        lock = threading.Lock()

        @functools.wraps(build)
        def get() -> T:
            key = tuple(getattr(settings, name) for name in names)
            with lock:
                if key not in built:
                    built[key] = build()
                return built[key]

        return get

    return decorate
