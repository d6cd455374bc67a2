"""Ingesting a BEIR corpus: `manage.py ingest_folder` against LlamaIndex's standard pipeline.

Both read the same files, split with SentenceSplitter (512/64), embed through the same OpenAI-compatible server
(tests/fakes/openai_server.py, 1536-wide vectors, optionally delayed per request) and write to the same PostgreSQL.
LlamaIndex: SimpleDirectoryReader -> VectorStoreIndex.from_documents(OpenAIEmbedding, PGVectorStore), defaults.

    python bench/ingest_vs_llamaindex.py --data ../shared/data/cisi --runs 3 --delays 0,0.2
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import tempfile
from pathlib import Path

import psycopg
from harness import django_setup, fake_openai, report, timed


def corpus_to_files(data: Path, target: Path, limit: int | None) -> int:
    count = 0
    with open(data / "corpus.jsonl") as lines:
        for line in lines:
            record = json.loads(line)
            (target / f"{record['_id']}.txt").write_text(f"{record['title']}\n\n{record['text']}")
            count += 1
            if limit and count >= limit:
                break
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a BEIR-layout folder (corpus.jsonl)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delays", default="0,0.2", help="seconds the server waits per request, comma-separated")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N documents")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ragsite-bench-corpus-"))
    documents = corpus_to_files(args.data, folder, args.limit)
    print(f"corpus: {documents} files from {args.data}")

    summaries = []
    for delay in [float(value) for value in args.delays.split(",")]:
        with fake_openai(delay=delay) as base_url:
            if not summaries:
                django_setup(
                    OPENAI_API_KEY="sk-bench", OPENAI_API_BASE=base_url, EMBEDDING_MODEL="text-embedding-3-small"
                )
            from django.conf import settings

            settings.OPENAI_API_BASE = base_url
            summaries.append(compare(folder, base_url=base_url, delay=delay, runs=args.runs))
    print(json.dumps({"documents": documents, "results": summaries}))


def compare(folder: Path, *, base_url: str, delay: float, runs: int) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.openai import OpenAIEmbedding
    from llama_index.vector_stores.postgres import PGVectorStore

    from ragsite.database import embedded_server_address

    socket_dir = embedded_server_address(pgdata=Path(connection.settings_dict["PGDATA"]), database=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'bench_llamaindex'")
        if cursor.fetchone() is None:
            cursor.execute("CREATE DATABASE bench_llamaindex")

    def ours() -> None:
        call_command("ingest_folder", str(folder), stdout=io.StringIO(), stderr=io.StringIO())

    def reset_ours() -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE documents_document, documents_chunk")

    def settle() -> None:
        # Flush what the previous run left dirty and analyze what it loaded, so neither side pays for the other's
        # writes, and autovacuum has nothing to do during a timed run.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
            cursor.execute("CHECKPOINT")
        with psycopg.connect(host=str(socket_dir), user="postgres", dbname="bench_llamaindex", autocommit=True) as db:
            db.execute("ANALYZE")

    run_number = iter(range(1000))

    # SimpleDirectoryReader warns once per file that the optional llama-index-readers-file package is missing (it
    # reads .txt without it): 1,460 lines per run that buried the results.
    logging.getLogger("llama_index.core.readers.file.base").setLevel(logging.ERROR)

    def peer(hnsw: bool) -> None:
        store = PGVectorStore.from_params(
            connection_string=f"postgresql+psycopg2://postgres@/bench_llamaindex?host={socket_dir}",
            async_connection_string=f"postgresql+asyncpg://postgres@/bench_llamaindex?host={socket_dir}",
            table_name=f"delay{int(delay * 1000)}_run{next(run_number)}",
            embed_dim=1536,
            # The like-for-like variant keeps an HNSW index up to date during the load, as ragsite does.
            hnsw_kwargs={"hnsw_m": 16, "hnsw_ef_construction": 64, "hnsw_ef_search": 40} if hnsw else None,
        )
        documents = SimpleDirectoryReader(str(folder)).load_data()
        VectorStoreIndex.from_documents(
            documents,
            storage_context=StorageContext.from_defaults(vector_store=store),
            transformations=[SentenceSplitter(chunk_size=512, chunk_overlap=64)],
            embed_model=OpenAIEmbedding(model="text-embedding-3-small", api_key="sk-bench", api_base=base_url),
        )

    # Warm both up once (tokenizer files, imports, first connection, the vector index), untimed.
    ours()
    reset_ours()
    results: dict[str, list[float]] = {
        "ragsite ingest_folder": [],
        "llamaindex from_documents": [],
        "llamaindex + hnsw index": [],
    }
    for _ in range(runs):
        settle()
        results["ragsite ingest_folder"].append(timed(ours))
        reset_ours()
        settle()
        results["llamaindex from_documents"].append(timed(lambda: peer(hnsw=False)))
        settle()
        results["llamaindex + hnsw index"].append(timed(lambda: peer(hnsw=True)))
    title = f"ingest, server delay {delay * 1000:.0f} ms per request"
    summary = report(title, results, ours="ragsite ingest_folder", peer="llamaindex from_documents")
    like_for_like = report(
        title + ", peer keeping an HNSW index as ragsite does",
        results,
        ours="ragsite ingest_folder",
        peer="llamaindex + hnsw index",
    )
    summary["ratio_vs_peer_with_hnsw"] = like_for_like["ratio"]
    return summary


if __name__ == "__main__":
    main()
