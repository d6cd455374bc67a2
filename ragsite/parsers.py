"""Request parsers."""

from __future__ import annotations

import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class LenientJSONParser(JSONParser):
    """DRF's JSON parser, except that invalid UTF-8 (and its escaped twin, a lone surrogate such as "\\ud800") is
    replaced rather than refused and absurd nesting is a 422.

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


# A \uD800–\uDFFF escape: the only way a JSON text makes a surrogate, which json.loads keeps when it is unpaired.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_loads_strict(text: str) -> Any:
    """json.loads without NaN and Infinity (they are not JSON, and PostgreSQL's jsonb refuses them), with lone
    surrogates replaced by U+FFFD: no UTF-8 encodes them, so PostgreSQL would refuse them too, and so would the
    response that echoes one in an error."""
    value = json.loads(text, parse_constant=_reject_constant)
    return _without_lone_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item) for key, item in value.items()}
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")
