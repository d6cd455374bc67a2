"""gunicorn configuration: `gunicorn -c ragsite/gunicorn.conf.py ragsite.wsgi`.

Everything comes from ragsite.settings (PORT, HOST, WORKERS, REQUEST_TIMEOUT), so a bad variable stops the
master with one line before any worker boots.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")

# prometheus_client's multiprocess mode: each worker writes its samples to files in this directory and /metrics adds
# them up. It must be in the environment before anything imports prometheus_client, in the master (which workers
# are forked from) as in the workers. An operator's own directory is kept; otherwise a fresh one per server, removed
# on exit. A reload (SIGHUP) reads this file again and finds the variable set, so it keeps the directory.
_METRICS_DIR_PREFIX = "ragsite-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_METRICS_DIR_PREFIX)

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

try:
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - loads and validates the settings
except ImproperlyConfigured as exc:
    sys.stderr.write(f"ragsite: {exc}\n")
    sys.exit(2)

wsgi_app = "ragsite.wsgi:application"
bind = [f"[{settings.HOST}]:{settings.PORT}" if ":" in settings.HOST else f"{settings.HOST}:{settings.PORT}"]
workers = settings.WORKERS
# Threads let one worker hold a slow provider call or an SSE stream without blocking its other requests.
worker_class = "gthread"
threads = 4
# Above REQUEST_TIMEOUT, so the service answers 504 itself before gunicorn kills the worker.
timeout = int(settings.REQUEST_TIMEOUT) + 30
# On SIGTERM (a redeploy, `docker stop`) gunicorn stops accepting and lets in-flight requests and SSE streams run
# this long; the platform's own grace period (Railway's drainingSeconds, compose's stop_grace_period) must be longer.
graceful_timeout = int(settings.REQUEST_TIMEOUT) + 5
keepalive = 5
# Workers signal they are alive by touching a file; on a container's overlay filesystem that can stall for seconds.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn 27's runtime control socket sits at one path per user: several instances on a machine would collide.
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = settings.LOG_LEVEL.lower()


def on_starting(server: object) -> None:
    """Start (or join) the embedded database in the master: it outlives worker restarts and is stopped on exit.
    Empty the metrics directory: samples of an earlier server's workers would be added to this one's."""
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    if settings.DATABASE_IS_EMBEDDED:
        from ragsite.database import embedded_server_join

        database = settings.DATABASES["default"]
        embedded_server_join(pgdata=Path(database["PGDATA"]), database=database["NAME"])


def child_exit(server: object, worker: Any) -> None:
    """A dead worker's counters and histograms still count; its live gauges must not (prometheus_client's rule)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: object) -> None:
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if metrics_dir.name.startswith(_METRICS_DIR_PREFIX) and metrics_dir.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(metrics_dir, ignore_errors=True)
