"""API_AUTH, the rate limits and REDIS_URL: defaults by environment, one-line refusals of bad values."""

from __future__ import annotations

from tests.live import manage, service_env

_PRINT = (
    "from django.conf import settings as s; "
    "print(s.API_AUTH, s.RATE_LIMIT_CHAT, s.RATE_LIMIT_INGEST, s.RATE_LIMIT_READ, s.NUM_PROXIES, "
    "s.REST_FRAMEWORK['NUM_PROXIES'], s.CACHES['default']['BACKEND'])"
)
_PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "test-only-production-secret-key-0123456789-abcdefghij",
    "ALLOWED_HOSTS": "rag.example.com",
    "DB_URL": "postgresql://app:pw@127.0.0.1:9/rag",
}
_UNSET = {"API_AUTH": "", "RATE_LIMIT_CHAT": "", "RATE_LIMIT_INGEST": "", "RATE_LIMIT_READ": "", "REDIS_URL": ""}


def printed(**env: str) -> list[str]:
    result = manage("shell", "--no-imports", "-c", _PRINT, env=service_env(**{**_UNSET, **env}))
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_keys_are_optional_in_development_and_required_elsewhere_by_default():
    cache = "ragsite.apikeys.cache.DatabaseCache"
    assert printed(ENVIRONMENT="development") == ["optional", "30/min", "60/min", "300/min", "0", "0", cache]
    assert printed(ENVIRONMENT="staging")[0] == "required"
    assert printed(**_PRODUCTION)[0] == "required"
    assert printed(**_PRODUCTION, API_AUTH="optional")[0] == "optional"


def test_rates_proxies_and_redis_come_from_the_environment():
    values = printed(
        RATE_LIMIT_CHAT="5/s", RATE_LIMIT_INGEST="100/hour", RATE_LIMIT_READ="10000/day", NUM_PROXIES="1",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )  # fmt: skip
    assert values == [
        "optional",
        "5/s",
        "100/hour",
        "10000/day",
        "1",
        "1",
        "django.core.cache.backends.redis.RedisCache",
    ]
