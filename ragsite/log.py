"""Logging that carries the request id: a contextvar set by RequestIdMiddleware, a filter and a key=value format."""

from __future__ import annotations

import contextvars
import logging
import time

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class KeyValueFormatter(logging.Formatter):
    """`ts=… level=… logger=… request_id=… <message>`; messages are themselves written as key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = (
            f"ts={timestamp} level={record.levelname} logger={record.name} "
            f"request_id={getattr(record, 'request_id', '-')} {record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line
