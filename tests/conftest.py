"""Shared fixtures: a throwaway embedded PostgreSQL for the whole run, clients, and live gunicorn servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from ragsite.database import embedded_server_leave, embedded_server_running, embedded_server_stop
from tests.fakes.openai_server import FakeOpenAI

# The fake server's embedding width for the configured OpenAI model: small keeps tests fast, and any width works.
FAKE_EMBEDDING_DIMENSIONS = 64


@pytest.fixture(scope="session")
def embedded_pgdata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of this run's own PostgreSQL; never the developer's DATA_DIR."""
    return tmp_path_factory.mktemp("embedded-pg") / "postgres"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(embedded_pgdata: Path) -> None:
    database = settings.DATABASES["default"]
    if settings.DATABASE_IS_EMBEDDED:
        # The backend starts the server on the first connection (ragsite/database/base.py).
        database["PGDATA"] = str(embedded_pgdata)


@pytest.fixture(scope="session", autouse=True)
def _stop_embedded_database(embedded_pgdata: Path):
    yield
    # Leaving stops the server when no other process uses it; stopping it anyway covers a child process that was
    # killed before it could leave, so no postmaster outlives the run.
    embedded_server_leave(pgdata=embedded_pgdata)
    if embedded_server_running(pgdata=embedded_pgdata):
        embedded_server_stop(pgdata=embedded_pgdata)


@pytest.fixture(autouse=True)
def _vector_search_connections_closed():
    """Hybrid search outside a transaction queries on a pool thread's connection; a test database with a session
    still connected cannot be dropped, so those connections are closed after each test."""
    yield
    from documents.services.search import vector_half_connections_close

    vector_half_connections_close()


@pytest.fixture(autouse=True)
def _plain_static_storage(settings) -> None:
    # The manifest storage needs collectstatic; pages rendered in tests only need the plain storage.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _open_api(settings) -> None:
    """Keys are optional and budgets generous unless a test says otherwise (tests/ragsite/test_api_keys.py and
    test_rate_limits.py do), so tests of other behaviour need no key and never run out of requests."""
    settings.API_AUTH = "optional"
    settings.RATE_LIMIT_CHAT = settings.RATE_LIMIT_INGEST = settings.RATE_LIMIT_READ = "100000/min"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient(raise_request_exception=False)


@pytest.fixture
def make_api_key(db):
    """make_api_key(scope="read", vault=None) → (APIKey, secret): a real key, stored hashed as in production."""
    from ragsite.apikeys.services import api_key_create

    def make(scope: str = "read", vault=None, name: str = "test key"):
        return api_key_create(name=name, scope=scope, vault=vault)

    return make


@pytest.fixture
def keyed_client(make_api_key):
    """keyed_client(scope="read", vault=None) → an APIClient that sends a fresh key of that scope as a Bearer."""

    def client(scope: str = "read", vault=None) -> APIClient:
        _, secret = make_api_key(scope=scope, vault=vault)
        authorised = APIClient(raise_request_exception=False)
        authorised.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return authorised

    return client


@pytest.fixture(scope="session")
def _fake_openai_server() -> FakeOpenAI:
    with FakeOpenAI(dimensions=FAKE_EMBEDDING_DIMENSIONS) as server:
        yield server


@pytest.fixture
def fake_openai(_fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    """The local OpenAI-speaking server, with no faults, no delay and an empty request log."""
    _fake_openai_server.reset()
    _fake_openai_server.delay = 0.0
    yield _fake_openai_server
    _fake_openai_server.reset()
    _fake_openai_server.delay = 0.0


@pytest.fixture
def openai_settings(settings, fake_openai: FakeOpenAI):
    """The production configuration: an OpenAI-compatible provider (the fake server) for embeddings and chat."""
    settings.OPENAI_API_KEY = "sk-test-key"
    settings.OPENAI_API_BASE = fake_openai.base_url
    settings.EMBEDDING_PROVIDER = "openai"
    settings.EMBEDDING_MODEL = "text-embedding-3-small"
    settings.CHAT_MODEL = "gpt-4.1-mini"
    settings.PROVIDER_MAX_RETRIES = 2
    settings.REQUEST_TIMEOUT = 5.0
    return settings


@pytest.fixture(autouse=True)
def _fresh_search_statistics():
    # BM25's collection statistics are cached per process; each test has its own documents.
    from documents.selectors import search_statistics_forget

    search_statistics_forget()
