"""What must hold in the database after any fault or race, as SQL: each query returns the rows that break it.

One helper for every reliability test, in-process (Django's connection) or against a live server's database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

INVARIANTS: dict[str, str] = {
    # The unique constraints say so too; checked anyway, since a dropped or deferred constraint would hide here.
    "one document per content and vault": """
        SELECT vault_id, content_hash, count(*) FROM documents_document
        GROUP BY vault_id, content_hash HAVING count(*) > 1
    """,
    "one document per source and vault": """
        SELECT vault_id, source, count(*) FROM documents_document WHERE source <> ''
        GROUP BY vault_id, source HAVING count(*) > 1
    """,
    "every document has chunks": """
        SELECT d.id FROM documents_document d
        WHERE NOT EXISTS (SELECT 1 FROM documents_chunk c WHERE c.document_id = d.id)
    """,
    "chunk positions are 0..n-1": """
        SELECT document_id, min(position), max(position), count(*), count(DISTINCT position)
        FROM documents_chunk GROUP BY document_id
        HAVING min(position) <> 0 OR max(position) <> count(*) - 1 OR count(DISTINCT position) <> count(*)
    """,
    "every chunk has a document": """
        SELECT c.id FROM documents_chunk c
        WHERE NOT EXISTS (SELECT 1 FROM documents_document d WHERE d.id = c.document_id)
    """,
    # A document is swapped to a new model in one transaction: a mix would mean half a re-embed was kept.
    "every document's chunks are on one model": """
        SELECT document_id FROM documents_chunk GROUP BY document_id HAVING count(DISTINCT embedding_model) > 1
    """,
    "every chunk has a vector of a known model": """
        SELECT c.id FROM documents_chunk c
        WHERE c.embedding IS NULL
           OR NOT EXISTS (SELECT 1 FROM documents_embeddingspace s WHERE s.model = c.embedding_model)
    """,
    "every document's vault exists": """
        SELECT d.id FROM documents_document d
        WHERE d.vault_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM documents_vault v WHERE v.id = d.vault_id)
    """,
    "every agent's vault exists": """
        SELECT a.id FROM chat_agent a WHERE NOT EXISTS (SELECT 1 FROM documents_vault v WHERE v.id = a.vault_id)
    """,
    "every message is in a session": """
        SELECT m.id FROM chat_message m WHERE NOT EXISTS (SELECT 1 FROM chat_session s WHERE s.id = m.session_id)
    """,
    # Sessions are written with their first exchange; an empty one is the trace of a turn that failed half-way.
    "every session has messages": """
        SELECT s.id FROM chat_session s WHERE NOT EXISTS (SELECT 1 FROM chat_message m WHERE m.session_id = s.id)
    """,
    # A turn saves the question and its answer together, or neither: no orphan question, no answer without one.
    "every question has its answer": """
        SELECT session_id, count(*) FILTER (WHERE role = 'user'), count(*) FILTER (WHERE role = 'assistant')
        FROM chat_message GROUP BY session_id
        HAVING count(*) FILTER (WHERE role = 'user') <> count(*) FILTER (WHERE role = 'assistant')
    """,
}


def invariant_violations(cursor: Any) -> dict[str, list[tuple]]:
    """The invariants that do not hold, each with (up to 5 of) the rows breaking it; empty when all hold."""
    broken: dict[str, list[tuple]] = {}
    for name, query in INVARIANTS.items():
        cursor.execute(query)
        rows = cursor.fetchmany(5)
        if rows:
            broken[name] = [tuple(row) for row in rows]
    return broken


def assert_database_invariants(cursor: Any) -> None:
    broken = invariant_violations(cursor)
    assert not broken, f"database invariants broken: {broken}"


@contextmanager
def live_database(pgdata: Path, database: str = "ragsite") -> Iterator[psycopg.Connection]:
    """An autocommit connection to a live server's embedded PostgreSQL, wherever it listens now.

    Read from postmaster.pid (line 4: port, line 5: socket directory) rather than joined like the service does: a
    test process that joined would count as one of the server's users.
    """
    lines = (Path(pgdata) / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3].strip(), lines[4].strip()
    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname=database, autocommit=True) as conn:
        yield conn


def assert_live_invariants(pgdata: Path) -> None:
    with live_database(pgdata) as conn, conn.cursor() as cursor:
        assert_database_invariants(cursor)
