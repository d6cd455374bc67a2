"""Django's database cache with an atomic counter: the rate-limit counters of every worker meet in one table."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import connections, router
from django.utils import timezone

# How often one process sweeps expired counters out of the table (counters of past windows are never read again).
_SWEEP_SECONDS = 60.0


class DatabaseCache(DjangoDatabaseCache):
    """Django's database cache, plus `count`: one INSERT … ON CONFLICT … RETURNING per request, atomic across
    workers (Django's incr reads the value and writes it back in two steps, so two workers incrementing together
    count one; a locked read-modify-write in a transaction costs four round trips). Counters are stored as plain
    integers, not Django's pickles: read them with `count`, not `get`."""

    _swept_at = 0.0
    _sweep_lock = threading.Lock()

    def count(self, key: str, *, lifetime: int) -> int:
        """Add one to the counter `key` (created at 1, living `lifetime` seconds) and return its new value."""
        key = self.make_and_validate_key(key)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        table = connection.ops.quote_name(self._table)
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS c (cache_key, value, expires) VALUES (%s, '1', %s) "
                "ON CONFLICT (cache_key) DO UPDATE SET "
                "value = CASE WHEN c.expires < %s THEN '1' ELSE (c.value::bigint + 1)::text END, "
                "expires = CASE WHEN c.expires < %s THEN EXCLUDED.expires ELSE c.expires END "
                "RETURNING value::bigint",
                [key, now + timedelta(seconds=lifetime), now, now],
            )
            value = int(cursor.fetchone()[0])
            if value == 1:
                self._sweep(cursor, now)
        return value

    def _sweep(self, cursor: object, now: object) -> None:
        # A new counter means a new window began: time to drop the expired ones, at most once a minute per process.
        with self._sweep_lock:
            if time.monotonic() - DatabaseCache._swept_at < _SWEEP_SECONDS:
                return
            DatabaseCache._swept_at = time.monotonic()
        table = connections[router.db_for_write(self.cache_model_class)].ops.quote_name(self._table)
        cursor.execute(f"DELETE FROM {table} WHERE expires < %s", [now])  # type: ignore[attr-defined]
