"""Logging: key=value lines (or JSON with LOG_FORMAT=json) that carry the request id, and never a request's payload.

The request id comes from a contextvar set by RequestIdMiddleware. Fields passed with `extra=` are written after the
message, so `logger.info("event=request", extra={"status": 200})` gives `... event=request status=200`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import traceback
from types import TracebackType
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# The packages whose DEBUG lines we write ourselves and know to be free of payloads.
OWN_LOGGERS = ("ragsite", "documents", "chat")

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9._:/@+\-{}<>,\[\]]+$")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class PayloadFreeFilter(logging.Filter):
    """Drop DEBUG lines of every logger but ours: at DEBUG, libraries write what they carry.

    django.db.backends logs each SQL statement with its parameters (document text, questions), the OpenAI SDK its
    request options (inputs and prompts), httpx/httpcore their traffic, LlamaIndex its prompts. Pinning their levels
    is not enough: OPENAI_LOG=debug or any library can lower them again after start-up, so the handler decides.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return record.name.split(".", 1)[0] in OWN_LOGGERS


def kv_value(value: Any) -> str:
    """A value for a key=value line: plain tokens as they are, anything else JSON-quoted, so a path holding a
    space, a quote or a newline cannot split the line or forge a field."""
    text = "-" if value is None else str(value)
    return text if _PLAIN_VALUE.match(text) else json.dumps(text)


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def exception_text(exc_info: ExcInfo) -> str:
    """A traceback (the whole chain) with each exception's type and frames but not its message.

    Messages quote the values that failed: a database error the COPY row of a chunk, a validation error the
    provider's response, an SDK error the provider's echo of the request. Any of them may be a document.
    """
    if exc_info[0] is None:
        return ""
    return "".join(_exception_lines(traceback.TracebackException(*exc_info))).rstrip("\n")


def _exception_lines(exception: traceback.TracebackException) -> list[str]:
    lines: list[str] = []
    if exception.__cause__ is not None:
        lines += _exception_lines(exception.__cause__)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif exception.__context__ is not None and not exception.__suppress_context__:
        lines += _exception_lines(exception.__context__)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    exc_type = exception.exc_type
    name = "?" if exc_type is None else f"{exc_type.__module__}.{exc_type.__qualname__}"
    lines.append("Traceback (most recent call last):\n")
    lines.extend(exception.stack.format())
    lines.append(f"{name}: (message withheld)\n")
    return lines


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record was given with `extra=`, in the order they were given."""
    return {name: value for name, value in vars(record).items() if name not in _RECORD_ATTRIBUTES}


def utc_timestamp(record: logging.LogRecord) -> str:
    """`2026-11-28T15:04:05.123Z`: the record's time in UTC, to the millisecond, in both formats."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


# One `key=value` pair of a message: a plain value, or a JSON-quoted one (kv_value's two forms).
_MESSAGE_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?:\s+|$)')


_FORMAT_KEY = re.compile(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=")


def message_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The key=value pairs of a record's message (`event=request status=200` → {"event": "request", "status":
    "200"}), or none when the message is not made of such pairs only (then it stays a plain message). Only keys
    written in the format string count: a value put in with %s cannot add a field of its own."""
    message = record.getMessage()
    keys = set(_FORMAT_KEY.findall(str(record.msg)))
    fields: dict[str, Any] = {}
    position = 0
    while position < len(message):
        pair = _MESSAGE_PAIR.match(message, position)
        if pair is None or pair.end() == position:
            return {}
        key, value = pair.groups()
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                return {}
        fields.setdefault(key, value)  # the first of a repeated key: a later one may come from a logged value
        position = pair.end()
    return {key: value for key, value in fields.items() if key in keys}


class KeyValueFormatter(logging.Formatter):
    """`ts=… level=… logger=… request_id=… <message> <extra fields>`; messages are themselves key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"ts={utc_timestamp(record)}",
            f"level={record.levelname}",
            f"logger={record.name}",
            f"request_id={kv_value(getattr(record, 'request_id', '-'))}",
            record.getMessage(),
        ]
        parts.extend(f"{name}={kv_value(value)}" for name, value in record_fields(record).items())
        line = " ".join(part for part in parts if part)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return exception_text(ei)


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: ts, level, logger, request_id, message, then the message's own key=value pairs as
    fields (`"event": "request"`, so log tools can filter on them as on the key=value lines), then the extra fields.
    A pair never replaces a field of the record."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{request_id}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="ts",
        )

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return exception_text(ei)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["ts"] = utc_timestamp(record)  # the key=value lines' form, not isoformat's +00:00
        for key, value in message_fields(record).items():
            log_data.setdefault(key, value)
