"""The embedded PostgreSQL, the schema the migrations build, and the vector index per embedding model."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from chat.models import Agent, Message, Session
from documents.models import Chunk, Document, EmbeddingSpace, Vault
from documents.selectors import chunk_vector_explain, chunk_vector_search
from documents.services.vector_index import embedding_space_ensure

pytestmark = pytest.mark.django_db


def query(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall() if cursor.description else []


def unit(dimensions: int, hot: int) -> list[float]:
    vector = [0.0] * dimensions
    vector[hot] = 1.0
    return vector


def test_tests_run_on_a_throwaway_embedded_postgresql_18(settings, embedded_pgdata):
    assert settings.DATABASES["default"]["PGDATA"] == str(embedded_pgdata)
    assert query("SHOW server_version")[0][0].startswith("18.")
    assert connection.settings_dict["NAME"].startswith("test_")


def test_the_first_migration_creates_the_vector_extension():
    (version,) = query("SELECT extversion FROM pg_extension WHERE extname = 'vector'")[0]
    assert version.startswith("0.8.")


@pytest.mark.parametrize(
    ("table", "column", "action"),
    [
        ("documents_document", "vault_id", "c"),
        ("documents_chunk", "document_id", "c"),
        ("chat_agent", "vault_id", "c"),
        ("chat_session", "agent_id", "n"),
        ("chat_message", "session_id", "c"),
    ],
)
def test_foreign_keys_cascade_in_the_database(table, column, action):
    rows = query(
        """
        SELECT c.confdeltype FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND a.attname = %s
        """,
        [table, column],
    )
    assert rows == [(action,)]


def test_deleting_a_vault_removes_everything_under_it_in_one_statement():
    vault = Vault.objects.create(name="Handbook")
    document = Document.objects.create(vault=vault, title="Leave", text="Leave policy", content_hash="a" * 64)
    Chunk.objects.create(document=document, position=0, text="Leave policy", token_count=2, embedding_model="m")
    agent = Agent.objects.create(name="HR", vault=vault, system_prompt="Answer HR questions.")
    session = Session.objects.create(id="s-1", agent=agent)
    Message.objects.create(session=session, role="user", content="How many days?")

    deletes: list[str] = []

    def record_deletes(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("DELETE"):
            deletes.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record_deletes):
        Vault.objects.filter(pk=vault.pk).delete()

    assert not Document.objects.exists()
    assert not Chunk.objects.exists()
    assert not Agent.objects.exists()
    session.refresh_from_db()
    assert session.agent_id is None  # the conversation outlives its agent
    assert Message.objects.filter(session=session).count() == 1
    assert len(deletes) == 1


def test_vault_names_are_unique_regardless_of_case():
    Vault.objects.create(name="Research")
    with pytest.raises(IntegrityError), transaction.atomic():
        Vault.objects.create(name="RESEARCH")
    assert Vault.objects.count() == 1


def test_agent_names_are_unique_within_a_vault_only():
    first, second = Vault.objects.create(name="One"), Vault.objects.create(name="Two")
    Agent.objects.create(name="Helper", vault=first, system_prompt="p")
    Agent.objects.create(name="Helper", vault=second, system_prompt="p")
    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.create(name="helper", vault=first, system_prompt="p")
    assert Agent.objects.count() == 2


def test_the_same_content_twice_in_one_vault_is_refused_also_outside_any_vault():
    Document.objects.create(title="a", text="same", content_hash="f" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        Document.objects.create(title="b", text="same", content_hash="f" * 64)
    Document.objects.create(vault=Vault.objects.create(name="V"), title="c", text="same", content_hash="f" * 64)
    assert Document.objects.count() == 2


def test_a_source_names_one_document_per_vault_but_blank_sources_repeat():
    Document.objects.create(title="a", text="one", source="s3://a.txt", content_hash="1" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        Document.objects.create(title="a", text="two", source="s3://a.txt", content_hash="2" * 64)
    Document.objects.create(title="b", text="three", content_hash="3" * 64)
    Document.objects.create(title="c", text="four", content_hash="4" * 64)
    assert Document.objects.count() == 3


def test_timestamps_are_timezone_aware():
    vault = Vault.objects.create(name="TZ")
    assert vault.created_at.tzinfo is not None
    assert query(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'documents_vault' "
        "AND column_name = 'created_at'"
    ) == [("timestamp with time zone",)]


def test_messages_keep_their_insertion_order_within_a_session():
    session = Session.objects.create(id="order")
    with transaction.atomic():  # one transaction: identical created_at
        for index in range(5):
            Message.objects.create(session=session, role="user" if index % 2 == 0 else "assistant", content=str(index))
    assert [m.content for m in session.messages.all()] == ["0", "1", "2", "3", "4"]


def test_chunk_text_gets_a_generated_tsvector_for_full_text_search():
    document = Document.objects.create(title="t", text="x", content_hash="9" * 64)
    Chunk.objects.create(
        document=document, position=0, text="The running foxes jumped", token_count=4, embedding_model="m"
    )
    rows = query("SELECT id FROM documents_chunk WHERE search_vector @@ websearch_to_tsquery('english', 'run fox')")
    assert len(rows) == 1


def test_similarity_search_uses_the_models_hnsw_index():
    embedding_space_ensure(model="test/model-8", dimensions=8)
    document = Document.objects.create(title="t", text="x", content_hash="8" * 64)
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            position=i,
            text=f"chunk {i}",
            token_count=2,
            embedding=unit(8, i % 8),
            embedding_model="test/model-8",
        )
        for i in range(64)
    )
    # On 64 rows the planner would rather sort them all; the search's own settings make it walk the index, which
    # also shows the query's expression and predicate match the index (otherwise PostgreSQL would sort anyway).
    plan = chunk_vector_explain(query_vector=unit(8, 3), model="test/model-8", k=5)
    vault_plan = chunk_vector_explain(query_vector=unit(8, 3), model="test/model-8", k=5, vault_id=uuid.uuid4())
    space = EmbeddingSpace.objects.get(model="test/model-8")
    assert f"Index Scan using {space.index_name}" in plan
    assert f"Index Scan using {space.index_name}" in vault_plan
    nearest = chunk_vector_search(query_vector=unit(8, 3), model="test/model-8", k=5)
    assert len(nearest) == 5
    positions = Chunk.objects.in_bulk([passage.chunk_id for passage, _ in nearest])
    assert all(positions[passage.chunk_id].position % 8 == 3 for passage, _ in nearest)
    assert nearest[0][1] == pytest.approx(0.0)


def test_two_embedding_models_of_different_widths_coexist_each_with_its_own_index():
    embedding_space_ensure(model="local-384", dimensions=384)
    embedding_space_ensure(model="openai-1536", dimensions=1536)
    document = Document.objects.create(title="t", text="x", content_hash="7" * 64)
    Chunk.objects.create(
        document=document, position=0, text="small", token_count=1, embedding=unit(384, 0), embedding_model="local-384"
    )
    Chunk.objects.create(
        document=document,
        position=1,
        text="large",
        token_count=1,
        embedding=unit(1536, 0),
        embedding_model="openai-1536",
    )

    small = chunk_vector_search(query_vector=unit(384, 0), model="local-384", k=10)
    large = chunk_vector_search(query_vector=unit(1536, 0), model="openai-1536", k=10)

    assert [passage.text for passage, _ in small] == ["small"]
    assert [passage.text for passage, _ in large] == ["large"]
    indexes = dict(
        query(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'documents_chunk' "
            "AND indexdef LIKE '%%hnsw%%'"
        )
    )
    assert len(indexes) == 2
    assert any("vector(384)" in d and "'local-384'" in d for d in indexes.values())
    assert any("vector(1536)" in d and "'openai-1536'" in d for d in indexes.values())


def test_a_query_vector_of_the_wrong_width_finds_nothing_instead_of_failing():
    embedding_space_ensure(model="local-384", dimensions=384)
    assert chunk_vector_search(query_vector=unit(8, 0), model="local-384", k=3) == []


def test_models_wider_than_2000_dimensions_are_indexed_at_half_precision():
    space = embedding_space_ensure(model="openai-3072", dimensions=3072)
    (definition,) = query("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [space.index_name])[0]
    assert "halfvec(3072)" in definition and "halfvec_cosine_ops" in definition


def test_a_model_name_cannot_inject_sql_into_the_index_definition():
    model = "evil'); DROP TABLE documents_chunk; --"
    space = embedding_space_ensure(model=model, dimensions=4)
    assert query("SELECT to_regclass('documents_chunk') IS NOT NULL") == [(True,)]
    (definition,) = query("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [space.index_name])[0]
    assert "'evil''); DROP TABLE documents_chunk; --'" in definition


def test_the_services_connections_plan_without_parallel_workers():
    assert query("SHOW max_parallel_workers_per_gather") == [("0",)]


def test_the_embedded_server_is_sized_for_a_service_not_for_postgresqls_defaults():
    assert query("SHOW shared_buffers") == [("1GB",)]


def test_the_servers_settings_reach_a_data_directory_made_by_an_older_version(tmp_path):
    from ragsite.database import _SERVER_SETTINGS, _server_settings_write

    old_block = "# ragsite: settings for a service\nshared_buffers = '1GB'\nmaintenance_work_mem = '512MB'\n"
    (tmp_path / "postgresql.conf").write_text("max_connections = 100\n" + old_block)

    _server_settings_write(tmp_path)
    _server_settings_write(tmp_path)  # every start: the include is added once

    conf = (tmp_path / "postgresql.conf").read_text()
    assert conf.startswith("max_connections = 100\n" + old_block)
    assert conf.count("include_if_exists = 'ragsite.conf'") == 1
    assert conf.rstrip().endswith("include_if_exists = 'ragsite.conf'")  # last: it wins over the old block
    written = (tmp_path / "ragsite.conf").read_text()
    assert all(f"{name} = '{value}'" in written for name, value in _SERVER_SETTINGS.items())


def test_the_embedded_server_builds_indexes_with_at_most_one_process_per_core():
    import os

    (workers,) = query("SHOW max_parallel_maintenance_workers")[0]
    assert int(workers) == min(2, max(0, (os.cpu_count() or 1) - 1))
