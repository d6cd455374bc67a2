"""One live gunicorn (2 workers, its own embedded PostgreSQL) and one fake model provider for the whole package:
starting a server costs an initdb and the migrations, so the slow tests share it and keep to their own data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.live import gunicorn_server, service_env
from tests.reliability.live_service import OTHER_EMBEDDING_MODEL, SERVICE_SETTINGS, Live


@pytest.fixture(scope="package")
def _provider() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(dimensions=64, model_dimensions={OTHER_EMBEDDING_MODEL: 96}) as fake:
        yield fake


@pytest.fixture(scope="package")
def _live(tmp_path_factory: pytest.TempPathFactory, _provider: FakeOpenAI) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("reliability")
    settings = {**SERVICE_SETTINGS, "OPENAI_API_BASE": _provider.base_url}
    with gunicorn_server(data_dir=data_dir, workers=2, **settings) as server:
        yield Live(server=server, provider=_provider, env=service_env(DATA_DIR=str(data_dir), **settings))


@pytest.fixture
def live(_live: Live) -> Iterator[Live]:
    """The shared server with a well-behaved provider (no faults, no delay, an empty request log)."""
    _live.provider.reset()
    _live.provider.delay = _live.provider.token_delay = 0.0
    yield _live
    _live.provider.reset()
    _live.provider.delay = _live.provider.token_delay = 0.0
