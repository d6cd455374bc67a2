"""Hostile input: hypothesis profiles, and the small fixtures these tests share."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Property tests parse files and split texts, which takes milliseconds, not microseconds: no per-example deadline,
# and example counts are set per test to keep this package well under a minute. In CI (which sets CI=true) the
# examples are derived from the test itself, so a run never fails on an input no one can reproduce; locally they
# are random, and failures are kept in .hypothesis/ for the next run.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, database=None)
settings.load_profile("ci" if os.environ.get("CI") else "default")
