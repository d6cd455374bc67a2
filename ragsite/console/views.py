"""The web console: two HTML pages whose scripts call the public HTTP API, plus the service description at `/`.

The pages hold no data and need no API key themselves; everything they show is fetched by the browser from the API
with the key the user gives (kept in sessionStorage), so the console can do exactly what an API client can.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

# Scripts and styles only from this origin, no inline script, no plugins, no framing: even if a bug let document
# text reach the DOM as HTML, the browser would refuse to run it. connect-src 'self' keeps the API key from being
# sent anywhere else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

SERVICE_LINKS = {
    "health": "/health",
    "documents": "/documents",
    "ingest": "/ingest",
    "search": "/search",
    "chat": "/chat",
    "vaults": "/vaults",
    "agents": "/agents",
    "console": "/console",
    "docs": "/docs",
    "redoc": "/redoc",
    "openapi": "/openapi.json",
    "admin": "/admin/",
}


@csrf_exempt  # they change nothing; an unsafe method gets require_safe's 405, not CSRF's HTML 403
@require_safe
def root(request: HttpRequest) -> HttpResponse:
    """`GET /`: the chat page for a browser, the service description for everyone else (curl's */* included)."""
    if request.get_preferred_type(["application/json", "text/html"]) == "text/html":
        response = chat_page(request)
    else:
        response = JsonResponse({"name": "ragsite", "version": settings.VERSION, "links": SERVICE_LINKS})
    # Caches must keep the two answers apart.
    patch_vary_headers(response, ["Accept"])
    return response


@csrf_exempt  # they change nothing; an unsafe method gets require_safe's 405, not CSRF's HTML 403
@require_safe
def chat_page(request: HttpRequest) -> HttpResponse:
    # Without a chat model every answer is extractive; the page says so up front.
    return _page(request, "console/chat.html", {"page": "chat", "extractive": not settings.CHAT_MODEL})


@csrf_exempt  # they change nothing; an unsafe method gets require_safe's 405, not CSRF's HTML 403
@require_safe
def documents_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "console/documents.html", {"page": "documents"})


def _page(request: HttpRequest, template: str, context: dict[str, object]) -> HttpResponse:
    response = render(request, template, {"version": settings.VERSION, **context})
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Cache-Control"] = "no-cache"
    return response
