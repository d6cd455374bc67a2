"""POST /search (hybrid) against the bare SQL it runs, on a large synthetic collection.

Fills a fresh embedded PostgreSQL with N synthetic chunks (default 100,000; 384-wide vectors from the fake
OpenAI server's bag-of-words), then times, alternating per query: the whole request through Django's test client
(middleware, validation, the query's embedding call, both searches, fusion, serialisation) and the two SQL
statements of the search issued with psycopg directly (with the query's vector already known). Reports medians,
p95 and the ratio; prints the EXPLAIN of the vector query.

    python bench/search_latency.py --chunks 100000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from harness import django_setup, fake_openai

WORDS = (
    "library catalogue index search retrieval document archive record citation journal article abstract thesis "
    "classification subject keyword author title query relevance ranking collection metadata digital print "
    "reference loan circulation acquisition budget staff user patron reader scholar science medicine law history "
    "music art engineering physics chemistry biology economics policy data network system computer online access"
).split()


# A Zipf-distributed vocabulary, as in real text: a few words everywhere, most words rare.
VOCABULARY = WORDS + [f"term{index}" for index in range(20_000)]
ZIPF_WEIGHTS = [1.0 / (rank + 1) for rank in range(len(VOCABULARY))]


def synthetic_text(rng: random.Random, words: int | None = None) -> str:
    count = words or rng.randint(30, 80)
    return " ".join(rng.choices(VOCABULARY, weights=ZIPF_WEIGHTS, k=count)) + "."


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)

    with fake_openai(dimensions=384) as base_url:
        django_setup(OPENAI_API_KEY="sk-bench", OPENAI_API_BASE=base_url, EMBEDDING_MODEL="bench-384")
        from django.db import connection
        from django.test import Client

        from documents.selectors import chunk_vector_explain, vector_statement
        from documents.services.embeddings import embedding_provider
        from documents.services.ingest import IngestRequest, documents_ingest
        from documents.services.vector_index import embedding_index_deferred, vector_connection

        started = time.monotonic()
        with embedding_index_deferred(model="bench-384", incoming=args.chunks):
            for start in range(0, args.chunks, 2000):
                documents_ingest(
                    requests=[
                        IngestRequest(text=synthetic_text(rng), title=f"doc {start + i}")
                        for i in range(min(2000, args.chunks - start))
                    ]
                )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE documents_chunk")
            cursor.execute("VACUUM ANALYZE documents_document")
        print(f"{args.chunks} chunks stored and indexed in {time.monotonic() - started:.0f} s")

        client = Client()
        provider = embedding_provider()
        queries = [synthetic_text(rng, rng.randint(3, 8)) for _ in range(args.queries)]
        vectors = provider.embed(queries)

        print("EXPLAIN of the vector query:\n" + chunk_vector_explain(query_vector=vectors[0], model="bench-384", k=20))

        from documents import selectors

        raw = vector_connection()  # psycopg's connection, with pgvector's types as the endpoint uses them

        def bare_sql(query: str, vector) -> None:
            # The statements /search runs, with their parameters, straight through psycopg: the BM25 keyword query
            # (its statistics from the same cache the endpoint uses) and the vector query in its transaction with
            # its scan settings, each returning its chunks' passages.
            statement = selectors.keyword_statement(query=query, k=20)
            if statement is not None:
                raw.execute(statement.sql, statement.params).fetchall()
            vector = vector_statement(query_vector=vector, model="bench-384", k=20)
            with raw.transaction():
                raw.execute(*vector.configure)
                raw.execute(vector.sql, vector.params, prepare=False).fetchall()

        def endpoint(query: str) -> None:
            response = client.post("/search", {"query": query, "top_k": 5}, content_type="application/json")
            assert response.status_code == 200, response.content

        for query, vector in zip(queries[:10], vectors[:10], strict=True):  # warm caches on both sides
            endpoint(query)
            bare_sql(query, vector)
        timings: dict[str, list[float]] = {"POST /search (hybrid)": [], "bare SQL (psycopg)": []}
        for query, vector in zip(queries, vectors, strict=True):
            t = time.perf_counter()
            endpoint(query)
            timings["POST /search (hybrid)"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            bare_sql(query, vector)
            timings["bare SQL (psycopg)"].append((time.perf_counter() - t) * 1000)

    print(f"\n## search latency, {args.chunks} chunks, {args.queries} queries (ms)")
    for name, values in timings.items():
        print(f"  {name:<24} median {statistics.median(values):7.2f}  p95 {percentile(values, 0.95):7.2f}")
    ratio = statistics.median(timings["POST /search (hybrid)"]) / statistics.median(timings["bare SQL (psycopg)"])
    print(f"  endpoint / bare SQL (median): {ratio:.2f}x")
    print(
        json.dumps(
            {
                "chunks": args.chunks,
                "queries": args.queries,
                "median_ms": {k: statistics.median(v) for k, v in timings.items()},
                "p95_ms": {k: percentile(v, 0.95) for k, v in timings.items()},
                "ratio": ratio,
            }
        )
    )


if __name__ == "__main__":
    main()
