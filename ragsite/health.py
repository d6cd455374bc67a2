"""GET /health (database and pgvector, never a model provider) and GET /health/live (the process only)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ragsite.errors import DatabaseUnavailable, error_body
from ragsite.serializers import HealthSerializer, HealthUnavailableSerializer, LiveSerializer

logger = logging.getLogger(__name__)


def pgvector_version() -> str | None:
    """The installed pgvector version, read from the database; None when the extension is missing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = %s", ["vector"])
        row = cursor.fetchone()
    return row[0] if row else None


class HealthView(APIView):
    # Open to load balancers and Railway's health check: no key, no rate limit (throttles skip views without
    # required_scopes).
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        summary="Service health: the database and pgvector (never a model provider)",
        responses={
            200: HealthSerializer,
            503: OpenApiResponse(
                HealthUnavailableSerializer,
                description="`DATABASE_UNAVAILABLE`: the database cannot be reached, or pgvector is not installed.",
            ),
        },
    )
    def get(self, request: Request) -> Response:
        body = {
            "status": "ok",
            "version": settings.VERSION,
            "database": "ok",
            "pgvector": None,
            "embedding_model": settings.EMBEDDING_MODEL,
            "chat_model": settings.CHAT_MODEL,
        }
        try:
            body["pgvector"] = pgvector_version()
        except DatabaseError as exc:
            logger.warning("event=health_database_unavailable error=%s", type(exc).__name__)
            error = DatabaseUnavailable()
            body.update(
                error_body(message=error.message, code=error.code), status="unavailable", database="unavailable"
            )
            return Response(body, status=error.status)
        if body["pgvector"] is None:
            error = DatabaseUnavailable(
                "The pgvector extension is not installed", detail="run `python manage.py migrate` to create it"
            )
            body.update(error_body(message=error.message, code=error.code, detail=error.detail), status="unavailable")
            return Response(body, status=error.status)
        return Response(body)


class LiveView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        summary="Liveness: the process answers (the database is not touched)", responses={200: LiveSerializer}
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok", "version": settings.VERSION})
