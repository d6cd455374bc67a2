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
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_loads_strict(text: str) -> Any:
    """json.loads without NaN and Infinity (they are not JSON, and PostgreSQL's jsonb refuses them), with lone
    surrogates replaced by U+FFFD: no UTF-8 encodes them, so PostgreSQL would refuse them too, and so would the
    response that echoes one in an error."""
    value = json.loads(text, parse_constant=_reject_constant)
    return _without_lone_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def _without_lone_surrogates(value: Any) -> Any:
    """`value` with every string in it, keys too, cleaned in place. A loop, not recursion: whatever depth json.loads
    accepted is fine here too."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            items = list(node.items())
            node.clear()  # re-inserted in their order, under their cleaned keys
            for key, item in items:
                node[LONE_SURROGATE.sub("\ufffd", key)] = _cleaned(item, pending)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                node[index] = _cleaned(item, pending)
    return value


def _cleaned(item: Any, pending: list[Any]) -> Any:
    if isinstance(item, str):
        return LONE_SURROGATE.sub("\ufffd", item)
    if isinstance(item, dict | list):
        pending.append(item)
    return item


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")
