"""An empty database on the test run's PostgreSQL, for child processes that migrate or serve as production does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from django.db import connection
from psycopg import sql


@dataclass(frozen=True)
class ScratchDatabase:
    name: str
    url: str

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(dbname=self.name, **server_params())


def server_params() -> dict[str, str]:
    """How to reach the test run's PostgreSQL (embedded or external), without a database name."""
    params = connection.get_connection_params()
    return {key: params[key] for key in ("host", "port", "user", "password") if params.get(key)}


@contextmanager
def scratch_database() -> Iterator[ScratchDatabase]:
    """Create an empty database next to the test database and yield it with its DB_URL; drop it afterwards."""
    server = server_params()
    name = f"ragsite_scratch_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield ScratchDatabase(name=name, url=_url(server, name))
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _url(server: dict, name: str) -> str:
    credentials = quote(server["user"], safe="")
    if server.get("password"):
        credentials += ":" + quote(server["password"], safe="")
    host = server.get("host", "localhost")
    port = server.get("port")
    if host.startswith("/"):
        # A Unix socket directory (the embedded server): django-environ reads it from an encoded path.
        url = f"postgresql://{credentials}@/{quote(host, safe='')}/{name}"
        return f"{url}?port={port}" if port else url
    return f"postgresql://{credentials}@{host}{f':{port}' if port else ''}/{name}"
