"""Typed, validated reads of environment variables for settings.py.

Every failure is a ConfigError whose message is one line naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_RATE = re.compile(r"[1-9][0-9]{0,8}/(s|sec|second|m|min|minute|h|hour|d|day)")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ImproperlyConfigured):
    """An environment variable has a value the service cannot start with."""


class ConfigReader:
    """Reads variables from one environ.Env, where empty values have already been dropped."""

    def __init__(self, env: environ.Env) -> None:
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.ENVIRON.get(name)
        return None if value is None else value.strip()

    def _fail(self, name: str, raw: str, expected: str) -> ConfigError:
        # Only non-secret variables are parsed here, so echoing the value helps and leaks nothing.
        return ConfigError(f"invalid configuration: {name}={raw!r} must be {expected}")

    def string(self, name: str, *, default: T) -> str | T:
        raw = self._raw(name)
        return default if raw is None else raw

    def integer(self, name: str, *, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self._fail(name, raw, f"an integer{_range(minimum, maximum)}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self._fail(name, raw, f"an integer{_range(minimum, maximum)}")
        return value

    def number(self, name: str, *, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self._fail(name, raw, f"a number{_range(minimum, maximum)}") from None
        if value != value or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self._fail(name, raw, f"a number{_range(minimum, maximum)}")
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self._fail(name, raw, "one of true, false, 1, 0, yes, no, on, off")

    def choice(self, name: str, *, default: str, choices: Sequence[str], upper: bool = False) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw
        if value not in choices:
            raise self._fail(name, raw, "one of " + ", ".join(choices))
        return value

    def csv(self, name: str, *, default: list[str]) -> list[str]:
        raw = self._raw(name)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def url(self, name: str, *, default: T) -> str | T:
        raw = self._raw(name)
        if raw is None:
            return default
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self._fail(name, raw, "an http:// or https:// URL")
        return raw.rstrip("/")

    def rate(self, name: str, *, default: str) -> str:
        """A request rate in Django REST framework's form: `30/min`, `5/s`, `1000/hour`, `10000/day`."""
        raw = self._raw(name)
        if raw is None:
            return default
        if not _RATE.fullmatch(raw):
            raise self._fail(name, raw, "a rate such as 30/min (requests per s, sec, min, hour or day)")
        return raw

    def path(self, name: str, *, default: Path, base: Path) -> Path:
        raw = self._raw(name)
        if raw is None:
            return default
        path = Path(raw).expanduser()
        return path if path.is_absolute() else (base / path).resolve()


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" of at least {minimum}"
    if maximum is not None:
        return f" of at most {maximum}"
    return ""
