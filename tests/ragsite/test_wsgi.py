"""ragsite.wsgi.ChunkedBodies, on its own: what it reads of a chunked body, and where it keeps it (the live gunicorn
test in test_gunicorn_live.py sends real chunked requests through it)."""

from __future__ import annotations

import io
from typing import Any

from ragsite.wsgi import ChunkedBodies

LIMIT = 3 * 1024 * 1024


def passed_on(body: bytes) -> tuple[dict[str, Any], io.BytesIO]:
    """The environ the wrapped app gets for a chunked body (gunicorn has already decoded the chunks), and the input
    it was read from."""
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return []

    sent = io.BytesIO(body)
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": sent, "wsgi.input_terminated": True}
    ChunkedBodies(app, limit=LIMIT, over_limit_key="over")(environ, lambda *args: None)
    return seen, sent


def test_a_body_over_a_megabyte_waits_in_a_file_not_in_memory():
    body = b"x" * (2 * 1024 * 1024)

    seen, _ = passed_on(body)

    assert seen["CONTENT_LENGTH"] == str(len(body))
    assert seen["wsgi.input"]._rolled  # SpooledTemporaryFile moved it to disk past its max_size
    assert seen["wsgi.input"].read() == body
    assert "over" not in seen


def test_a_body_over_the_limit_is_read_one_byte_past_it_and_marked():
    seen, sent = passed_on(b"y" * (LIMIT + 5000))

    assert sent.tell() == LIMIT + 1  # the rest is never read
    assert seen["CONTENT_LENGTH"] == str(LIMIT + 1)
    assert seen["over"] is True
