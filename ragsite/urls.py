"""Top-level routes. API paths have no trailing slash; one is tolerated (never redirected) for old clients."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from ragsite.health import HealthView, LiveView
from ragsite.metrics import metrics_view

urlpatterns = [
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
