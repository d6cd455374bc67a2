"""WSGI entry point for gunicorn (see ragsite/gunicorn.conf.py)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ChunkedBodies:
    """Give a chunked request body (Transfer-Encoding: chunked, no Content-Length) its length.

    gunicorn decodes the chunks and says so (`wsgi.input_terminated`), but Django reads a body without a
    Content-Length as empty, so such a POST lost its JSON or its upload and was answered as if nothing was sent. The
    body is read here up to one byte past MAX_REQUEST_SIZE: a longer one keeps that length and gets the size limit's
    413, never more than the limit in memory.
    """

    def __init__(self, app: WSGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read(self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


def _application() -> WSGIApp:
    django_app = get_wsgi_application()
    from django.conf import settings  # configured by get_wsgi_application

    return ChunkedBodies(django_app, limit=settings.MAX_REQUEST_SIZE)


application = _application()
