"""A chat turn: POST /chat against LlamaIndex's ContextChatEngine over PGVectorStore, same model server.

Both answer the same questions (BEIR queries) from the same corpus, with the same OpenAI-compatible server
(tests/fakes/openai_server.py, answering at once), the same PostgreSQL, top 5 passages, one model call per turn
(a fresh conversation each time, so neither side rewrites a follow-up). ragsite's turn includes the HTTP layer
(Django test client), hybrid retrieval and saving the exchange; LlamaIndex's is `chat_engine.chat()`.

    python bench/chat_vs_llamaindex.py --data ../shared/data/cisi --documents 500 --questions 50
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path

import psycopg
from harness import django_setup, fake_openai, report, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args()

    corpus = [json.loads(line) for line in open(args.data / "corpus.jsonl")][: args.documents]
    questions = [json.loads(line)["text"] for line in open(args.data / "queries.jsonl")][: args.questions]

    with fake_openai(delay=0) as base_url:
        django_setup(OPENAI_API_KEY="sk-bench", OPENAI_API_BASE=base_url, CHAT_MODEL="bench-chat")
        from django.db import connection
        from django.test import Client
        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.embeddings.openai import OpenAIEmbedding
        from llama_index.llms.openai_like import OpenAILike
        from llama_index.vector_stores.postgres import PGVectorStore

        from documents.services.ingest import IngestRequest, documents_ingest
        from ragsite.database import embedded_server_address

        documents_ingest(requests=[IngestRequest(text=d["text"] or d["title"], title=d["title"]) for d in corpus])
        socket_dir = embedded_server_address(pgdata=Path(connection.settings_dict["PGDATA"]), database=None)
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE bench_chat")
        store = PGVectorStore.from_params(
            connection_string=f"postgresql+psycopg2://postgres@/bench_chat?host={socket_dir}",
            async_connection_string=f"postgresql+asyncpg://postgres@/bench_chat?host={socket_dir}",
            table_name="chat_corpus",
            embed_dim=1536,
        )
        embed_model = OpenAIEmbedding(model="text-embedding-3-small", api_key="sk-bench", api_base=base_url)
        index = VectorStoreIndex.from_documents(
            [Document(text=d["text"] or d["title"], metadata={"title": d["title"]}) for d in corpus],
            storage_context=StorageContext.from_defaults(vector_store=store),
            transformations=[SentenceSplitter(chunk_size=512, chunk_overlap=64)],
            embed_model=embed_model,
        )
        # Measure the steady state, as after autovacuum's first pass over the new rows (within a minute of a load),
        # not the first seconds after it: ragsite's keyword search reads word frequencies from the statistics.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        with psycopg.connect(host=str(socket_dir), user="postgres", dbname="bench_chat", autocommit=True) as peer_db:
            peer_db.execute("ANALYZE")
        llm = OpenAILike(
            model="bench-chat", api_key="sk-bench", api_base=base_url, is_chat_model=True, context_window=128000
        )

        client = Client()

        def ours(question: str) -> None:
            body = {"message": question, "session_id": uuid.uuid4().hex, "config": {"top_k": 5}}
            response = client.post("/chat", body, content_type="application/json")
            assert response.status_code == 200, response.content

        def peer(question: str) -> None:
            engine = index.as_chat_engine(chat_mode="context", llm=llm, similarity_top_k=5)
            assert engine.chat(question).response

        for question in questions[:5]:  # warm up both
            ours(question)
            peer(question)
        results: dict[str, list[float]] = {"ragsite POST /chat": [], "llamaindex ContextChatEngine": []}
        for question in questions:
            results["ragsite POST /chat"].append(timed(lambda q=question: ours(q)) * 1000)
            results["llamaindex ContextChatEngine"].append(timed(lambda q=question: peer(q)) * 1000)
    report(
        f"chat turn, {len(corpus)} documents, {len(questions)} questions",
        results,
        ours="ragsite POST /chat",
        peer="llamaindex ContextChatEngine",
        unit="ms",
    )


if __name__ == "__main__":
    main()
