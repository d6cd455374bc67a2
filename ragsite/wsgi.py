"""WSGI entry point for gunicorn (see ragsite/gunicorn.conf.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


_PIECE = 64 * 1024
_IN_MEMORY = 1024 * 1024  # a larger body waits in a temporary file


class ChunkedBodies:
    """Give a chunked request body (Transfer-Encoding: chunked, no Content-Length) its length.

    gunicorn decodes the chunks and says so (`wsgi.input_terminated`), but Django reads a body without a
    Content-Length as empty, so such a POST lost its JSON or its upload and was answered as if nothing was sent. Its
    length is known only once it is read, so it is read here, before authentication and routing: at most one byte
    past MAX_REQUEST_SIZE (a longer one is marked and gets the size limit's 413), and past a megabyte into a
    temporary file rather than memory, so that anyone's chunked POST costs a worker little memory.
    """

    def __init__(self, app: WSGIApp, *, limit: int, over_limit_key: str) -> None:
        self.app = app
        self.limit = limit
        self.over_limit_key = over_limit_key  # set in the environ of a body that ran past the limit

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            # Not a `with`: the request reads it later; it is freed with the environ when the request is done.
            body = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115
            size = 0
            while size <= self.limit:
                piece = environ["wsgi.input"].read(min(_PIECE, self.limit + 1 - size))
                if not piece:
                    break
                body.write(piece)
                size += len(piece)
            body.seek(0)
            environ["wsgi.input"] = body
            environ["CONTENT_LENGTH"] = str(size)
            if size > self.limit:
                environ[self.over_limit_key] = True
        return self.app(environ, start_response)


def _application() -> WSGIApp:
    django_app = get_wsgi_application()
    # Both need the settings that get_wsgi_application configured.
    from django.conf import settings

    from ragsite.middleware import CHUNKED_OVER_LIMIT

    return ChunkedBodies(django_app, limit=settings.MAX_REQUEST_SIZE, over_limit_key=CHUNKED_OVER_LIMIT)


application = _application()
