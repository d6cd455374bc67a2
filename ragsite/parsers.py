"""Request parsers."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class LenientJSONParser(JSONParser):
    """DRF's JSON parser, except that invalid UTF-8 is replaced rather than refused and absurd nesting is a 422.

    Clients paste text from everywhere; a stray Latin-1 byte should not cost them the document.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        text = raw.decode("utf-8", errors="replace")
        try:
            return json_loads_strict(text)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def json_loads_strict(text: str) -> Any:
    """json.loads without NaN and Infinity: they are not JSON, and PostgreSQL's jsonb refuses them."""
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")
