"""Request id on every response, and the error envelope for error responses that bypass the handlers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from ragsite.errors import DatabaseUnavailable, RequestTooLarge, ServiceError, error_response
from ragsite.log import request_id_var

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
            return error_response(
                RequestTooLarge(detail=f"the body has {length} bytes; the limit is {settings.MAX_REQUEST_SIZE}")
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
