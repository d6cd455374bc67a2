"""Top-level routes. API paths have no trailing slash; one is tolerated (never redirected) for old clients."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from ragsite.docs import RedocView, SchemaView, SwaggerView
from ragsite.health import HealthView, LiveView
from ragsite.metrics import metrics_view

urlpatterns = [
    path("openapi.json", SchemaView.as_view(), name="openapi"),
    re_path(r"^docs/?$", SwaggerView.as_view(), name="docs"),
    re_path(r"^redoc/?$", RedocView.as_view(), name="redoc"),
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    re_path(r"^health/live/?$", LiveView.as_view(), name="health-live"),
    re_path(r"^metrics/?$", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("documents.urls")),
    path("", include("chat.urls")),
    path("", include("ragsite.console.urls")),
]

handler400 = "ragsite.errors.handler400"
handler403 = "ragsite.errors.handler403"
handler404 = "ragsite.errors.handler404"
handler500 = "ragsite.errors.handler500"
