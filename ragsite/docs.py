"""The API docs: GET /openapi.json (the schema, generated from the code by drf-spectacular; see ragsite/openapi.py),
GET /docs (Swagger UI) and GET /redoc. The pages' scripts and styles are static files of drf-spectacular-sidecar,
served by whitenoise: nothing comes from a CDN.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


class _PublicPage:
    """No key and no rate limit: the docs describe the API, and every endpoint they describe still wants its key.
    Errors (a POST, say) answer in the JSON envelope like everywhere else, not as an HTML page."""

    authentication_classes: list = []
    permission_classes: list = []
    # DRF's OPTIONS answer is data for a JSON renderer; these pages have only HTML and the schema's renderers.
    http_method_names = ["get", "head"]

    def handle_exception(self, exc: Exception) -> Response:
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return super().handle_exception(exc)  # type: ignore[misc]


class SchemaView(_PublicPage, SpectacularJSONAPIView):
    @extend_schema(
        summary="The OpenAPI schema of this API",
        responses={
            (200, "application/vnd.oai.openapi+json"): OpenApiTypes.OBJECT,
            (200, "application/json"): OpenApiTypes.OBJECT,
        },
    )
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class SwaggerView(_PublicPage, SpectacularSwaggerView):
    url_name = "openapi"

    @extend_schema(summary="Swagger UI for this API", responses={(200, "text/html"): OpenApiTypes.STR})
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RedocView(_PublicPage, SpectacularRedocView):
    url_name = "openapi"
    template_name = "docs/redoc.html"

    @extend_schema(summary="Redoc for this API", responses={(200, "text/html"): OpenApiTypes.STR})
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
