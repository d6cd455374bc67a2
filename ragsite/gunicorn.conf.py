"""gunicorn configuration: `gunicorn -c ragsite/gunicorn.conf.py ragsite.wsgi`.

Everything comes from ragsite.settings (PORT, HOST, WORKERS, REQUEST_TIMEOUT), so a bad variable stops the
master with one line before any worker boots.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")

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
    """Start (or join) the embedded database in the master: it outlives worker restarts and is stopped on exit."""
    if settings.DATABASE_IS_EMBEDDED:
        from ragsite.database import embedded_server_join

        database = settings.DATABASES["default"]
        embedded_server_join(pgdata=Path(database["PGDATA"]), database=database["NAME"])
