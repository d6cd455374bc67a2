"""Prometheus metrics: what is recorded (requests, provider calls, ingestion) and GET /metrics, which exposes them.

Under gunicorn every worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode, set up by ragsite/gunicorn.conf.py) and a scrape adds up all workers, live or dead. Elsewhere
(runserver, tests, management commands) the samples live in the process.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from ragsite.apikeys.services import PREFIX_LENGTH, api_key_admits_metrics
from ragsite.errors import ServiceError, error_response

# Up to two minutes: a streamed chat answer is one request from its first byte to its last.
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

http_request_duration = Histogram(
    "ragsite_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte (streams included), per route.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
http_requests = Counter(
    "ragsite_http_requests",
    "Requests answered, per route and status.",
    ["method", "route", "status"],
)
provider_request_duration = Histogram(
    "ragsite_provider_request_duration_seconds",
    "One call to a model provider, the SDK's retries included; for a streamed answer, until its last token.",
    ["provider", "model"],
    buckets=_LATENCY_BUCKETS,
)
provider_failures = Counter(
    "ragsite_provider_errors",
    "Provider calls that failed after the SDK's retries, by kind of failure.",
    ["provider", "kind"],
)
documents_ingested = Counter(
    "ragsite_documents_ingested",
    "Documents ingested, by outcome (indexed: new, updated: new text for a source, unchanged: already stored).",
    ["status"],
)
chunks_ingested = Counter("ragsite_chunks_ingested", "Chunks embedded and stored (of indexed and updated documents).")


def route_label(route: str | None) -> str:
    """A URL pattern as a label: `^documents/(?P<document_id>[^/]+)/?$` -> `/documents/{document_id}`.

    The pattern, never the path, so ids do not multiply the series; unmatched paths all share one label.
    """
    if route is None:
        return "<unmatched>"
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # re_path groups
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)  # path() converters
    return "/" + route.replace("^", "").replace("$", "").replace("/?", "")


def request_observe(*, method: str, route: str | None, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "OTHER"
    route = route_label(route)
    http_request_duration.labels(method, route).observe(seconds)
    http_requests.labels(method, route, str(status)).inc()


def provider_call_observe(*, provider: str, model: str, seconds: float, failure: str | None) -> None:
    """One provider call: `provider` is embeddings or chat; `failure` a kind (timeout, rate_limited, …) or None."""
    provider_request_duration.labels(provider, model).observe(seconds)
    if failure is not None:
        provider_failures.labels(provider, failure).inc()


def ingest_observe(*, status: str, chunks: int) -> None:
    documents_ingested.labels(status).inc()
    if status != "unchanged":
        chunks_ingested.inc(chunks)


class ActiveSessionsCollector:
    """Chat sessions with a message in the last METRICS_ACTIVE_SESSION_MINUTES, counted from the database at scrape
    time: every worker sees the same number, and no worker has to keep a gauge in step."""

    def collect(self) -> Iterator[Metric]:
        from chat.models import Session

        since = timezone.now() - timedelta(minutes=settings.METRICS_ACTIVE_SESSION_MINUTES)
        try:
            count = Session.objects.filter(last_active_at__gte=since).count()
        except DatabaseError:
            return  # a scrape during a database outage still reports everything else
        yield GaugeMetricFamily(
            "ragsite_chat_sessions_active",
            f"Chat sessions with a message in the last {settings.METRICS_ACTIVE_SESSION_MINUTES} minutes.",
            value=count,
        )


class _ProcessMetrics:
    """The metrics of this process alone (no gunicorn), as a collector for the scrape's registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def _multiprocess_dir() -> str | None:
    # prometheus_client's own variable, read by the library itself when it is imported: whether the samples are in
    # files is decided by the process environment (gunicorn.conf.py sets it for its workers), not by a setting.
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def metrics_exposition() -> bytes:
    """Every metric in Prometheus' text format. Side effects: one COUNT query for the active sessions."""
    registry = CollectorRegistry()
    directory = _multiprocess_dir()
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ProcessMetrics())
    registry.register(ActiveSessionsCollector())
    return generate_latest(registry)


def _authorized(request: HttpRequest) -> bool:
    """METRICS_TOKEN, or an admin API key that spans every vault (metrics count all of them)."""
    token = settings.METRICS_TOKEN
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    presented = credentials.strip() if scheme.lower() == "bearer" else ""
    if token is not None and hmac.compare_digest(presented.encode(), token.encode()):
        return True
    if presented and api_key_admits_metrics(token=presented):
        request.api_key_prefix = presented[:PREFIX_LENGTH]  # type: ignore[attr-defined]  # for the request log
        return True
    return token is None and not settings.IS_PRODUCTION


@csrf_exempt  # it changes nothing; an unsafe method gets require_GET's 405, not CSRF's HTML 403
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Bearer METRICS_TOKEN when it is set, and always in production; open in development otherwise."""
    if not _authorized(request):
        return error_response(
            ServiceError(
                "Authentication required",
                code="UNAUTHORIZED",
                status=401,
                detail="send Authorization: Bearer <METRICS_TOKEN>",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        )
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
