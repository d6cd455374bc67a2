"""A live console for browser tests and screenshots: gunicorn with collected static files, keys required, the fake
OpenAI server streaming its answers, and Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI
from tests.live import LiveServer, gunicorn_server, manage, service_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Tokens a little apart, so a test can see an answer half-written.
TOKEN_DELAY = 0.08


@dataclass
class Console:
    server: LiveServer
    model: FakeOpenAI
    api_key: str

    @property
    def url(self) -> str:
        return self.server.url


def chromium_missing_message() -> str | None:
    if not Path(CHROMIUM).exists():
        return (
            f"{CHROMIUM} is missing: the console's browser tests need Debian's chromium "
            "(apt-get install -y chromium chromium-driver; .ci/run installs it)"
        )
    return None


def launch_chromium(playwright):  # -> playwright.sync_api.Browser
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@contextmanager
def console_server(*, data_dir: Path, reply: Callable[[list[dict]], str] | None = None) -> Iterator[Console]:
    """gunicorn as deployed (static files collected, API keys required), with an admin key made for the browser.

    ``reply`` writes the model's answers (the fake server's default cites [1] and repeats the question)."""
    with FakeOpenAI(token_delay=TOKEN_DELAY, reply=reply) as model:
        env = {
            "API_AUTH": "required",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_API_BASE": model.base_url,
            # A failing model fails at once, so an error test need not wait out retries and their backoff.
            "PROVIDER_MAX_RETRIES": "0",
            "RATE_LIMIT_CHAT": "1000/min",
            "RATE_LIMIT_INGEST": "1000/min",
            "RATE_LIMIT_READ": "10000/min",
        }
        # whitenoise serves what collectstatic wrote, under hashed names, as `make run` and the Dockerfile do.
        collected = manage("collectstatic", "--noinput", "--verbosity", "0", env=service_env(DATA_DIR=str(data_dir)))
        assert collected.returncode == 0, collected.stderr
        with gunicorn_server(data_dir=data_dir, **env) as server:
            created = manage(
                "create_api_key", "console tests", "--scope", "admin", env=service_env(DATA_DIR=str(data_dir), **env)
            )
            assert created.returncode == 0, created.stderr
            yield Console(server=server, model=model, api_key=created.stdout.strip())
