"""Per-key (per-address without a key) budgets for chat, ingest and reads: 429 RATE_LIMITED with Retry-After, counted
in the shared cache. (Across two gunicorn workers: test_rate_limits_live.py.)"""

from __future__ import annotations

import threading

import pytest
from django.core.cache import cache
from django.db import connections

from ragsite.apikeys.throttling import budget_count
from tests.ragsite.test_errors import assert_envelope

# Hour windows: a test never straddles the end of one (a minute window might, and reset the count mid-test).


def test_the_read_budget_runs_out_with_429_and_retry_after(settings, api_client, world):
    settings.RATE_LIMIT_READ = "2/hour"
    assert api_client.get("/documents").status_code == 200
    assert api_client.post("/search", {"query": "leave"}, format="json").status_code == 200
    response = api_client.get("/vaults")
    body = assert_envelope(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert "throttled" in body["error"]


def test_budgets_are_separate_for_chat_ingest_and_reads(settings, api_client, world):
    settings.RATE_LIMIT_CHAT = settings.RATE_LIMIT_INGEST = settings.RATE_LIMIT_READ = "1/hour"
    assert api_client.post("/chat", {"message": "Leave?"}, format="json").status_code == 200
    assert_envelope(api_client.post("/chat", {"message": "Leave?"}, format="json"), 429, "RATE_LIMITED")
    assert api_client.post("/ingest", {"text": "Lunch is at noon."}, format="json").status_code == 200
    # Deletes and other writes share the ingest budget.
    assert_envelope(api_client.delete(f"/documents/{world.loose_doc.pk}"), 429, "RATE_LIMITED")
    assert api_client.get("/documents").status_code == 200
    assert_envelope(api_client.get("/documents"), 429, "RATE_LIMITED")


def test_each_key_has_its_own_budget_and_requests_without_one_count_per_address(
    settings, keyed_client, api_client, world
):
    settings.RATE_LIMIT_READ = "1/hour"
    first, second = keyed_client("read"), keyed_client("read")
    assert first.get("/vaults").status_code == 200
    assert first.get("/vaults").status_code == 429
    assert second.get("/vaults").status_code == 200
    assert api_client.get("/vaults", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert api_client.get("/vaults", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert api_client.get("/vaults", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(settings, api_client, world):
    settings.RATE_LIMIT_READ = "1/hour"
    assert api_client.get("/vaults", HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 200
    # A client cannot buy a fresh budget by writing a new address into the header.
    assert api_client.get("/vaults", HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # Behind one proxy, the address it appended is the client's; what the client wrote before it is not.
    assert api_client.get("/vaults", HTTP_X_FORWARDED_FOR="9.9.9.9, 3.3.3.3").status_code == 200
    assert api_client.get("/vaults", HTTP_X_FORWARDED_FOR="8.8.8.8, 3.3.3.3").status_code == 429
    assert api_client.get("/vaults", HTTP_X_FORWARDED_FOR="9.9.9.9, 4.4.4.4").status_code == 200


def test_health_is_never_rate_limited(settings, api_client, db):
    settings.RATE_LIMIT_READ = "1/hour"
    assert [api_client.get("/health/live").status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_in_the_database_cache_all_count():
    """Django's own incr reads then writes; here 8 threads (8 connections) adding 25 each count 1..200, once each."""
    key = "ratelimit:test-concurrency"
    cache.delete(key)
    barrier = threading.Barrier(8)
    seen: list[int] = []

    def hammer() -> None:
        barrier.wait()
        try:
            for _ in range(25):
                seen.append(budget_count(key, window=3600))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(seen) == list(range(1, 201))
    finally:
        cache.delete(key)


def test_a_counter_starts_again_once_it_expired(db):
    key = "ratelimit:test-expiry"
    cache.delete(key)
    assert [cache.count(key, lifetime=3600) for _ in range(3)] == [1, 2, 3]
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "UPDATE ragsite_cache SET expires = now() - interval '1 second' WHERE cache_key LIKE %s", [f"%{key}"]
        )
    assert cache.count(key, lifetime=3600) == 1


def test_with_redis_unreachable_requests_are_served_and_the_outage_logged(settings, api_client, world, caplog):
    settings.RATE_LIMIT_READ = "1/hour"
    # A real Redis client against a closed port: connection refused, as when Redis is down.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    assert [api_client.get("/vaults").status_code for _ in range(2)] == [200, 200]
    assert "event=rate_limit_unavailable budget=read error=ConnectionError" in caplog.text


def test_the_counters_table_is_unlogged_so_counting_a_request_waits_for_no_disk_write(db):
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'ragsite_cache'")
        assert cursor.fetchone() == ("u",)


def test_a_new_window_sweeps_expired_counters_out_of_the_table(db):
    from ragsite.apikeys.cache import DatabaseCache

    cache.count("ratelimit:old-window", lifetime=3600)
    with connections["default"].cursor() as cursor:
        cursor.execute("UPDATE ragsite_cache SET expires = now() - interval '1 s'")
    DatabaseCache._swept_at = 0.0  # the last sweep was long ago

    assert cache.count("ratelimit:new-window", lifetime=3600) == 1

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT cache_key FROM ragsite_cache")
        keys = [row[0] for row in cursor.fetchall()]
    assert not any(key.endswith("old-window") for key in keys)
    assert any(key.endswith("new-window") for key in keys)
