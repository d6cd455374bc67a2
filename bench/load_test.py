"""A bounded load test: mixed traffic against gunicorn on 127.0.0.1, as `make run` serves it, then it stops.

Starts the fake OpenAI-compatible server (answering at once) and `gunicorn -c ragsite/gunicorn.conf.py` on a fresh
embedded PostgreSQL with the default number of workers, ingests a corpus, then sends a fixed number of requests
from several client threads: search 60%, chat 30%, ingest 10% (new documents). Reports requests/s, p50/p95/p99
per endpoint, the error count (every non-2xx answer or failed connection), and the workers' resident memory
before the load, at every fifth of it, and after: it must level off, not keep growing. Then the memory of an idle
worker with the OpenAI-compatible configuration (torch never imported) and with the local model (after it has
embedded one query).

    python bench/load_test.py --data ../shared/data/cisi --requests 10000 --clients 8
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from harness import ROOT, fake_openai

sys.path.insert(0, str(ROOT))

from tests.live import gunicorn_server  # noqa: E402 - after the project is on the path


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def workers_rss(master: int) -> list[float]:
    return [round(rss_mib(pid), 1) for pid in worker_pids(master)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def budgets() -> dict[str, str]:
    # One machine plays every client: budgets high enough never to refuse a request (each is still counted).
    return {f"RATE_LIMIT_{name}": "1000000/min" for name in ("CHAT", "INGEST", "READ")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a BEIR-layout folder (corpus.jsonl, queries.jsonl)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--documents", type=int, default=500, help="corpus documents ingested before the load")
    parser.add_argument("--skip-local-model", action="store_true", help="do not measure the local model's worker")
    args = parser.parse_args()

    corpus = [json.loads(line) for line in open(args.data / "corpus.jsonl")][: args.documents]
    queries = [json.loads(line)["text"] for line in open(args.data / "queries.jsonl")]
    results: dict = {"requests": args.requests, "clients": args.clients}

    with fake_openai(delay=0) as base_url:
        data_dir = Path(tempfile.mkdtemp(prefix="ragsite-load-"))
        env = {"OPENAI_API_KEY": "sk-load", "OPENAI_API_BASE": base_url, "LOG_LEVEL": "WARNING", **budgets()}
        workers = min(2 * (__import__("os").cpu_count() or 1) + 1, 4)  # the configuration's default for this setup
        with gunicorn_server(data_dir=data_dir, workers=workers, **env) as server:
            master = server.process.pid
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for start in range(0, len(corpus), 50):
                    for document in corpus[start : start + 50]:
                        response = client.post(
                            "/ingest", json={"text": document["text"] or document["title"], "title": document["title"]}
                        )
                        assert response.status_code == 200, response.text
                idle = workers_rss(master)
                for query in queries[:20]:  # warm every worker a little (imports, first connections)
                    client.post("/search", json={"query": query})
            results["workers"] = workers
            results["idle_worker_rss_mib_openai"] = idle
            results.update(load(server.url, master, queries, args.requests, args.clients))
            results["torch_loaded_in_workers"] = any(
                "torch" in Path(f"/proc/{pid}/maps").read_text() for pid in worker_pids(master)
            )

    if not args.skip_local_model:
        data_dir = Path(tempfile.mkdtemp(prefix="ragsite-load-local-"))
        with gunicorn_server(data_dir=data_dir, workers=1, LOG_LEVEL="WARNING", **budgets()) as server:
            master = server.process.pid
            started = workers_rss(master)
            with httpx.Client(base_url=server.url, timeout=300) as client:
                assert client.post("/ingest", json={"text": "Otters hold hands."}).status_code == 200
                assert client.post("/search", json={"query": "otters"}).status_code == 200
            results["local_model_worker_rss_mib"] = {"started": started, "after_first_embedding": workers_rss(master)}

    print(json.dumps(results, indent=2))


def load(url: str, master: int, queries: list[str], total: int, clients: int) -> dict:
    rng = random.Random(7)
    plan = rng.choices(["search", "chat", "ingest"], weights=[60, 30, 10], k=total)
    latencies: dict[str, list[float]] = {"search": [], "chat": [], "ingest": []}
    errors: list[str] = []
    memory = [("before", workers_rss(master))]
    checkpoints = {total * step // 5 for step in range(1, 5)}
    lock = threading.Lock()
    next_index = iter(range(total))

    def client_thread() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                kind = plan[index]
                query = queries[index % len(queries)]
                if kind == "search":
                    request = ("/search", {"query": query, "top_k": 5})
                elif kind == "chat":
                    request = ("/chat", {"message": query, "session_id": uuid.uuid4().hex})
                else:
                    request = ("/ingest", {"text": f"Load test note {index}: {query}", "title": f"note {index}"})
                started = time.perf_counter()
                try:
                    response = client.post(request[0], json=request[1])
                    failed = None if response.status_code < 300 else f"{kind} {response.status_code}"
                except httpx.HTTPError as exc:
                    failed = f"{kind} {type(exc).__name__}"
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies[kind].append(elapsed)
                    if failed:
                        errors.append(failed)
                    if index in checkpoints:
                        memory.append((f"after {index}", workers_rss(master)))

    started = time.monotonic()
    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    memory.append((f"after {total}", workers_rss(master)))

    report = {
        "seconds": round(seconds, 1),
        "requests_per_second": round(total / seconds, 1),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:10],
        "latency_ms": {
            kind: {
                "count": len(values),
                "p50": round(statistics.median(values), 1),
                "p95": round(percentile(values, 0.95), 1),
                "p99": round(percentile(values, 0.99), 1),
            }
            for kind, values in latencies.items()
            if values
        },
        "workers_rss_mib": memory,
    }
    print(json.dumps(report, indent=2), flush=True)
    return report


if __name__ == "__main__":
    main()
