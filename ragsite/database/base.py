"""Django database backend for the embedded PostgreSQL: the PostgreSQL backend plus start-on-first-connect.

Only the first connection of a process starts (or joins) the server. Later connections just look up where it
listens: if an operator stops the database, requests fail fast with 503 and recover once it is back, rather than
the service silently starting a second server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.backends.postgresql import base as postgresql

from ragsite.database import embedded_server_address


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        socket_dir = embedded_server_address(
            pgdata=Path(self.settings_dict["PGDATA"]), database=self.settings_dict["NAME"]
        )
        self.settings_dict["HOST"] = str(socket_dir)
        return super().get_connection_params()
