"""Configuration: every variable of API.md with the old service's defaults; bad values stop start-up in one line."""

from __future__ import annotations

from pathlib import Path

import environ
import pytest

from ragsite.config import ConfigError, ConfigReader
from tests.live import BASE_DIR, BIN, manage, service_env


def reader(**values: str) -> ConfigReader:
    env = environ.Env()
    env.ENVIRON = {name: value for name, value in values.items() if value.strip() != ""}
    return ConfigReader(env)


def test_defaults_match_the_old_service(settings):
    # Read from a clean environment in a child process, so the developer's variables cannot interfere.
    result = manage(
        "shell", "--no-imports", "-c", _PRINT_DEFAULTS, env=service_env(**{name: "" for name in _API_VARIABLES})
    )
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    assert values == {
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "INFO",
        "EMBEDDING_MODEL": "all-MiniLM-L6-v2",
        "CHAT_MODEL": "None",
        "MAX_HISTORY_MESSAGES": "10",
        "TOP_K_DEFAULT": "5",
        "DEFAULT_TEMPERATURE": "0.3",
        "MAX_REQUEST_SIZE": "10485760",
        "REQUEST_TIMEOUT": "60.0",
        "HOST": "0.0.0.0",
        "PORT": "8000",
        "CHUNK_SIZE": "512",
        "CHUNK_OVERLAP": "64",
        "CORS_ORIGINS": "[]",
        "DATABASE_IS_EMBEDDED": "True",
        "DATA_DIR": str(BASE_DIR / ".data"),
    }


_API_VARIABLES = [
    "OPENAI_API_KEY",
    "OPENAI_API_BASE",
    "DB_URL",
    "DATABASE_URL",
    "ENVIRONMENT",
    "LOG_LEVEL",
    "WORKERS",
    "EMBEDDING_MODEL",
    "CHAT_MODEL",
    "MAX_HISTORY_MESSAGES",
    "TOP_K_DEFAULT",
    "DEFAULT_TEMPERATURE",
    "CORS_ORIGINS",
    "MAX_REQUEST_SIZE",
    "REQUEST_TIMEOUT",
    "HOST",
    "PORT",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATA_DIR",
    "CHUNK_SIZE",
    "CHUNK_OVERLAP",
    "DEBUG",
    "EMBEDDING_PROVIDER",
]
_PRINT_DEFAULTS = """
from django.conf import settings as s
for name in ["ENVIRONMENT", "LOG_LEVEL", "EMBEDDING_MODEL", "CHAT_MODEL", "MAX_HISTORY_MESSAGES", "TOP_K_DEFAULT",
             "DEFAULT_TEMPERATURE", "MAX_REQUEST_SIZE", "REQUEST_TIMEOUT", "HOST", "PORT", "CHUNK_SIZE",
             "CHUNK_OVERLAP", "CORS_ORIGINS", "DATABASE_IS_EMBEDDED", "DATA_DIR"]:
    print(f"{name}={getattr(s, name)}")
"""


def test_with_an_api_key_the_openai_models_are_the_defaults():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.EMBEDDING_MODEL, s.CHAT_MODEL, s.OPENAI_API_BASE)",
        env=service_env(
            OPENAI_API_KEY="sk-test", OPENAI_API_BASE="http://127.0.0.1:9/", EMBEDDING_MODEL="", CHAT_MODEL=""
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["text-embedding-3-small", "gpt-4.1-mini", "http://127.0.0.1:9/v1"]


_RATE_UNITS = "(requests per s, sec, min, hour or day)"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TOP_K_DEFAULT", "abc", "TOP_K_DEFAULT='abc' must be an integer from 1 to 50"),
        ("ENVIRONMENT", "prod", "ENVIRONMENT='prod' must be one of development, staging, production"),
        ("DEFAULT_TEMPERATURE", "hot", "DEFAULT_TEMPERATURE='hot' must be a number from 0.0 to 2.0"),
        ("PORT", "70000", "PORT='70000' must be an integer from 1 to 65535"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' must be one of keyvalue, json"),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 16 characters"),
        ("OPENAI_API_BASE", "api.openai.com", "OPENAI_API_BASE='api.openai.com' must be an http:// or https:// URL"),
        ("API_AUTH", "yes", "API_AUTH='yes' must be one of required, optional"),
        ("RATE_LIMIT_CHAT", "30", "RATE_LIMIT_CHAT='30' must be a rate such as 30/min " + _RATE_UNITS),
        ("RATE_LIMIT_READ", "0/min", "RATE_LIMIT_READ='0/min' must be a rate such as 30/min " + _RATE_UNITS),
        ("RATE_LIMIT_INGEST", "5/week", "RATE_LIMIT_INGEST='5/week' must be a rate such as 30/min " + _RATE_UNITS),
        ("NUM_PROXIES", "-1", "NUM_PROXIES='-1' must be an integer from 0 to 10"),
        # The URL's password is not repeated back.
        ("REDIS_URL", "http://:s3cret@cache:6379", "REDIS_URL must be a redis://, rediss:// or unix:// URL"),
    ],
)
def test_an_invalid_value_stops_manage_py_with_one_line_naming_the_variable(variable, value, expected):
    result = manage("check", env=service_env(**{variable: value}))
    assert result.returncode == 2
    assert result.stderr == f"ragsite: invalid configuration: {expected}\n"
    assert "Traceback" not in result.stderr


def test_an_invalid_value_stops_gunicorn_with_one_line(tmp_path: Path):
    import subprocess

    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "ragsite/gunicorn.conf.py", "--check-config"],
        cwd=BASE_DIR,
        env=service_env(WORKERS="many", DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ragsite: invalid configuration: WORKERS='many' must be an integer from 1 to 64" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_database_url_is_named_without_echoing_the_password():
    result = manage("check", env=service_env(DB_URL="mysql://root:s3cret-pw@db/ragsite"))
    assert result.returncode == 2
    assert "DB_URL must be a postgresql:// URL" in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_empty_strings_count_as_unset():
    config = reader(TOP_K_DEFAULT="", ENVIRONMENT="  ", DEBUG="")
    assert config.integer("TOP_K_DEFAULT", default=5, minimum=1, maximum=50) == 5
    assert config.choice("ENVIRONMENT", default="development", choices=("development", "production")) == "development"
    assert config.boolean("DEBUG", default=False) is False


def test_empty_variables_from_docker_compose_do_not_stop_start_up():
    result = manage("check", env=service_env(TOP_K_DEFAULT="", PORT="", DB_URL="", DATABASE_URL="", CORS_ORIGINS=""))
    assert result.returncode == 0, result.stderr


def test_booleans_are_strict():
    with pytest.raises(ConfigError, match="DEBUG='maybe' must be one of true, false"):
        reader(DEBUG="maybe").boolean("DEBUG", default=False)


def test_db_url_wins_over_database_url_and_asyncpg_urls_are_accepted():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; d = s.DATABASES['default']; "
        "print(d['ENGINE'], d['HOST'], d['PORT'], d['NAME'], d['USER'])",
        env=service_env(DB_URL="postgresql+asyncpg://app:pw@db.example:5433/rag", DATABASE_URL="postgres://x@y/z"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "db.example", "5433", "rag", "app"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must list"),
        ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS must list exact origins"),
        ({"DB_URL": ""}, "DB_URL or DATABASE_URL must be set"),
    ],
)
def test_production_refuses_unsafe_configuration(overrides, expected):
    safe = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": "test-only-production-secret-key-0123456789-abcdefghij",
        "ALLOWED_HOSTS": "rag.example.com",
        "CORS_ORIGINS": "https://app.example.com",
        "DB_URL": "postgresql://app:pw@127.0.0.1:9/rag",
    }
    result = manage("check", env=service_env(**{**safe, **overrides}))
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
