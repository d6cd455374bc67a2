"""Shared set-up for benchmarks: a fresh embedded PostgreSQL, the fake OpenAI server as a separate process,
medians and ratios. Benchmarks run side by side with their peer in one process, alternating, on one machine."""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def django_setup(**env: str) -> None:
    """Configure ragsite from `env` (plus a throwaway DATA_DIR) and migrate a fresh embedded database."""
    data_dir = tempfile.mkdtemp(prefix="ragsite-bench-")
    for name in ("DB_URL", "DATABASE_URL"):
        os.environ.pop(name, None)
    # One client sends thousands of requests a minute here: budgets high enough never to refuse one (each request
    # is still counted against its budget, as in production).
    budgets = {f"RATE_LIMIT_{name}": "1000000/min" for name in ("CHAT", "INGEST", "READ")}
    os.environ.update({"DATA_DIR": data_dir, "LOG_LEVEL": "WARNING", **budgets, **env})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@contextmanager
def fake_openai(*, delay: float = 0.0, dimensions: int = 1536) -> Iterator[str]:
    """The OpenAI-speaking test server in its own process (so it does not compete for this one's GIL)."""
    command = [
        sys.executable,
        "-m",
        "tests.fakes.openai_server",
        "--port",
        "0",
        "--delay",
        str(delay),
        "--dimensions",
        str(dimensions),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def timed(action: Callable[[], object]) -> float:
    # A full collection first, untimed: otherwise one side pays for the garbage the other left behind.
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def report(
    title: str,
    results: dict[str, list[float]],
    *,
    ours: str,
    peer: str,
    unit: str = "s",
    higher_is_better: bool = False,
) -> dict:
    median_ours, median_peer = statistics.median(results[ours]), statistics.median(results[peer])
    ratio = median_ours / median_peer if higher_is_better else median_peer / median_ours
    print(f"\n## {title}")
    for name, values in results.items():
        shown = ", ".join(f"{value:.3f}" for value in values)
        print(f"  {name:<28} median {statistics.median(values):9.3f} {unit}   runs: {shown}")
    print(f"  ratio ({ours} vs {peer}, >1 means ours is better): {ratio:.2f}x")
    summary = {
        "benchmark": title,
        "median": {k: statistics.median(v) for k, v in results.items()},
        "runs": results,
        "ratio": ratio,
    }
    print(json.dumps(summary))
    return summary
