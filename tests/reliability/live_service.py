"""The live service the slow reliability tests share: its server, its provider, and its worker processes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fakes.openai_server import FakeOpenAI
from tests.live import LiveServer

# Wider vectors for a second model, so a re-embed really changes the embedding space.
OTHER_EMBEDDING_MODEL = "text-embedding-3-large"
SERVICE_SETTINGS = {
    "OPENAI_API_KEY": "sk-test",
    "EMBEDDING_MODEL": "text-embedding-3-small",
    "CHAT_MODEL": "gpt-4.1-mini",
    "PROVIDER_MAX_RETRIES": "1",
    "REQUEST_TIMEOUT": "5",
    # Every test client is 127.0.0.1: the budgets of one client must not turn the load of many into 429s.
    "RATE_LIMIT_CHAT": "100000/min",
    "RATE_LIMIT_INGEST": "100000/min",
    "RATE_LIMIT_READ": "100000/min",
}


@dataclass
class Live:
    """The shared server, its provider, and the environment a management command needs to share its database."""

    server: LiveServer
    provider: FakeOpenAI
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pgdata(self) -> Path:
        return self.server.pgdata

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=timeout)


def worker_pids(server: LiveServer) -> set[int]:
    """The gunicorn master's worker processes (Linux: the kernel lists a process's children under /proc)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}
