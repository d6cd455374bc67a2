"""Request id on every response, and the error envelope for error responses that bypass the handlers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from ragsite.errors import DatabaseUnavailable, RequestTooLarge, ServiceError, error_response
from ragsite.log import request_id_var
from ragsite.metrics import request_observe

access_logger = logging.getLogger("ragsite.access")

# An incoming id is echoed only if it is short and plain, so it cannot forge log lines or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset afterwards: Django logs 5xx responses (django.request) after the middleware chain returns, and
        # those lines need the id too. Each request sets its own value in its own thread.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class RequestLogMiddleware:
    """Exactly one access line and one latency observation per request, once its response is complete.

    The line holds the request id, method, path (never the query string), status, duration_ms and the API key's
    prefix, never headers or bodies. A stream is complete when its last byte has gone or its client has left, so
    its line and its latency cover the whole answer. Placed outside the middleware that can change the status.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        if response.streaming:
            # Django closes the response after the server has sent it (or the client left), which closes this too.
            response.streaming_content = _OnClose(
                response.streaming_content, lambda: _request_done(request, response, started)
            )
        else:
            _request_done(request, response, started)
        return response


class _OnClose:
    """An iterable that runs a callback, once, when it is closed (started or not)."""

    def __init__(self, content: Iterable[bytes], callback: Callable[[], None]) -> None:
        self.content, self.callback, self.called = content, callback, False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.content)

    def close(self) -> None:
        if not self.called:
            self.called = True
            self.callback()


def _request_done(request: HttpRequest, response: HttpResponse, started: float) -> None:
    seconds = time.monotonic() - started
    match = request.resolver_match
    request_observe(
        method=request.method or "", route=match.route if match else None, status=response.status_code, seconds=seconds
    )
    access_logger.info(
        "event=request",
        extra={
            "request_id": getattr(request, "request_id", "-"),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "api_key": _api_key_prefix(request),
        },
    )


def _api_key_prefix(request: HttpRequest) -> str:
    """The prefix of the API key that authenticated the request (its public part, made to be logged), or "-".

    Authentication sets `request.api_key_prefix`; DRF's `request.auth` (copied onto Django's request) is the
    fallback when it is a key object with a `prefix`.
    """
    prefix = getattr(request, "api_key_prefix", None) or getattr(getattr(request, "auth", None), "prefix", None)
    return prefix if isinstance(prefix, str) and prefix else "-"


# Set by ragsite.wsgi.ChunkedBodies on a chunked body that ran past MAX_REQUEST_SIZE: read only that far, its size is
# unknown.
CHUNKED_OVER_LIMIT = "ragsite.chunked_over_limit"


class RequestSizeLimitMiddleware:
    """MAX_REQUEST_SIZE for every body, JSON and uploads alike, refused before a byte of it is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_SIZE:
            size = "more bytes" if request.META.get(CHUNKED_OVER_LIMIT) else f"{length} bytes"
            return error_response(
                RequestTooLarge(detail=f"the body has {size}; the limit is {settings.MAX_REQUEST_SIZE}")
            )
        return self.get_response(request)


class ErrorEnvelopeMiddleware:
    """Views outside DRF (Django's own 405s, the admin's database errors) still answer in the envelope."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = error_response(
                ServiceError(
                    "Method not allowed",
                    code="METHOD_NOT_ALLOWED",
                    status=405,
                    detail=f"{request.method} is not allowed here; allowed: {allowed}",
                )
            )
            response["Allow"] = allowed
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError):
            return error_response(DatabaseUnavailable())
        return None
