"""The one error shape of API.md: {"error": message, "code": CODE, "detail": str | {field: [messages]}}.

Services raise ServiceError subclasses; the DRF exception handler and Django's 400/403/404/500 handlers render
them. Nothing else builds error bodies.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)

Detail = str | dict[str, list[str]]


class ServiceError(Exception):
    """An error with its HTTP status, code and a message safe to show to clients."""

    status: int = 500
    code: str = "INTERNAL_ERROR"
    message: str = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Detail = "",
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.detail = detail
        self.code = code or self.code
        self.status = status or self.status
        self.headers = headers or {}
        super().__init__(self.message)

    def summary(self) -> str:
        """The message and its detail in one line, for command output and admin messages."""
        detail = self.detail
        if isinstance(detail, dict):
            detail = "; ".join(message for messages in detail.values() for message in messages)
        return f"{self.message}: {detail}" if detail else self.message


class ValidationFailed(ServiceError):
    status, code, message = 422, "VALIDATION_ERROR", "Invalid request"


class Forbidden(ServiceError):
    status, code, message = 403, "FORBIDDEN", "Forbidden"


class NotFound(ServiceError):
    status, code, message = 404, "NOT_FOUND", "Not found"


class DocumentNotFound(NotFound):
    code, message = "DOCUMENT_NOT_FOUND", "Document not found"


class VaultNotFound(NotFound):
    code, message = "VAULT_NOT_FOUND", "Vault not found"


class SessionNotFound(NotFound):
    code, message = "SESSION_NOT_FOUND", "Session not found"


class AgentNotFound(NotFound):
    code, message = "AGENT_NOT_FOUND", "Agent not found"


class Conflict(ServiceError):
    status, code, message = 409, "CONFLICT", "Conflict"


class VaultExists(Conflict):
    code, message = "VAULT_EXISTS", "A vault with this name already exists"


class AgentExists(Conflict):
    code, message = "AGENT_EXISTS", "An agent with this name already exists in the vault"


class UnsupportedMediaType(ServiceError):
    status, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "This file type cannot be read"


class EmbeddingFailed(ServiceError):
    status, code, message = 502, "EMBEDDING_ERROR", "The embedding provider failed"


class LLMFailed(ServiceError):
    status, code, message = 502, "LLM_ERROR", "The language model provider failed"


class UpstreamTimeout(ServiceError):
    status, code, message = 504, "UPSTREAM_TIMEOUT", "The model provider did not answer in time"


class RequestTooLarge(ServiceError):
    status, code, message = 413, "REQUEST_TOO_LARGE", "Request body too large"


class DatabaseUnavailable(ServiceError):
    status, code, message = 503, "DATABASE_UNAVAILABLE", "The database cannot be reached"


def error_body(*, message: str, code: str, detail: Detail = "") -> dict[str, Any]:
    return {"error": message, "code": code, "detail": detail}


def error_response(error: ServiceError) -> JsonResponse:
    """A plain Django response in the envelope, for code paths outside DRF."""
    response = JsonResponse(
        error_body(message=error.message, code=error.code, detail=error.detail), status=error.status
    )
    for name, value in error.headers.items():
        response[name] = value
    return response


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF validation detail (dict, list or string, possibly nested) as {field: [messages]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for field, value in detail.items():
            if isinstance(value, dict):
                for sub_field, messages in _flatten(value).items():
                    flat[f"{field}.{sub_field}"] = messages
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub_field, messages in _flatten(item).items():
                        flat[f"{field}[{index}].{sub_field}"] = messages
            else:
                flat[str(field)] = [str(message) for message in (value if isinstance(value, list) else [value])]
        return flat
    if isinstance(detail, list):
        return {"non_field_errors": [str(message) for message in detail]}
    return {"non_field_errors": [str(detail)]}


_DRF_ERRORS: list[tuple[type[Exception], int, str]] = [
    (drf.ParseError, 422, "VALIDATION_ERROR"),
    (drf.NotAuthenticated, 401, "UNAUTHORIZED"),
    (drf.AuthenticationFailed, 401, "UNAUTHORIZED"),
    (drf.PermissionDenied, 403, "FORBIDDEN"),
    (drf.NotFound, 404, "NOT_FOUND"),
    (drf.MethodNotAllowed, 405, "METHOD_NOT_ALLOWED"),
    (drf.NotAcceptable, 406, "NOT_ACCEPTABLE"),
    (drf.UnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE"),
    (drf.Throttled, 429, "RATE_LIMITED"),
]


def exception_to_error(exc: Exception) -> ServiceError:
    """Map any exception raised while handling a request to the ServiceError it is shown as."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, drf.ValidationError):
        return ValidationFailed(detail=_flatten(exc.detail))
    if isinstance(exc, drf.ParseError):
        detail = str(exc.detail)
        # DRF's MultiPartParser says so; every other parser the API accepts reads JSON.
        multipart = detail.startswith("Multipart form parse error")
        return ValidationFailed("Invalid multipart form" if multipart else "Invalid JSON", detail=detail)
    for exc_class, status, code in _DRF_ERRORS:
        if isinstance(exc, exc_class):
            headers = {}
            if isinstance(exc, drf.Throttled) and exc.wait is not None:
                headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
            if getattr(exc, "auth_header", None):  # set by DRF on 401s: how to authenticate
                headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
            return ServiceError(str(exc.detail), code=code, status=status, headers=headers)  # type: ignore[attr-defined]
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, PermissionDenied):
        return Forbidden()
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("event=database_unavailable error=%s", type(exc).__name__)
        return DatabaseUnavailable()
    if isinstance(exc, DatabaseError):
        logger.exception("event=database_error")
        return ServiceError()
    logger.exception("event=unhandled_exception")
    return ServiceError()


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception raised in an API view becomes an enveloped response."""
    error = exception_to_error(exc)
    return Response(
        error_body(message=error.message, code=error.code, detail=error.detail),
        status=error.status,
        headers=error.headers,
    )


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(ServiceError("Bad request", code="BAD_REQUEST", status=400))


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(Forbidden())


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(NotFound(detail=f"no route for {request.method} {request.path}"))


def handler500(request: HttpRequest) -> JsonResponse:
    return error_response(ServiceError())
