"""`manage.py evaluate_retrieval DATASET_DIR`: retrieval quality on a BEIR-layout dataset, per search mode."""

from __future__ import annotations

import csv
import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents.models import Document
from documents.services.ingest import IngestRequest, documents_ingest
from documents.services.search import MODES, chunks_search
from documents.services.vaults import vault_delete, vault_get_or_create
from ragsite.errors import ServiceError

INGEST_BATCH = 512


class Command(BaseCommand):
    help = (
        "Ingest a BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels/test.tsv) into a scratch vault, run every "
        "judged query through the search of POST /search, rank documents by their best chunk, and report nDCG@k, "
        "recall@k and MRR@k per mode. The vault is kept (a rerun re-embeds nothing) unless --drop is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", help="folder with corpus.jsonl, queries.jsonl and qrels/test.tsv")
        parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: hybrid, vector, keyword")
        parser.add_argument("--top-k", type=int, default=10, metavar="K", help="cut-off of the metrics (default 10)")
        parser.add_argument("--drop", action="store_true", help="delete the scratch vault afterwards")

    def handle(self, *args: Any, dataset: str, modes: str, top_k: int, drop: bool, **options: Any) -> None:
        root = Path(dataset)
        for required in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
            if not (root / required).is_file():
                raise CommandError(f"{root / required} is missing: not a BEIR-layout dataset")
        chosen = [mode.strip() for mode in modes.split(",") if mode.strip()]
        if unknown := set(chosen) - set(MODES):
            raise CommandError(f"unknown modes: {', '.join(sorted(unknown))}")
        if not 1 <= top_k <= 50:
            raise CommandError("--top-k must be between 1 and 50")

        vault = vault_get_or_create(name=f"evaluation: {root.resolve().name}")
        started = time.monotonic()
        self._ingest(root / "corpus.jsonl", vault_id=vault.pk)
        self.stderr.write(f"corpus ready in vault {vault.name!r} ({time.monotonic() - started:.1f} s)")

        qrels = _qrels(root / "qrels" / "test.tsv")
        queries = {qid: text for qid, text in _jsonl_queries(root / "queries.jsonl") if qid in qrels}
        corpus_id_of = dict(Document.objects.filter(vault=vault).values_list("id", "source"))
        results: dict[str, dict[str, float]] = {}
        for mode in chosen:
            totals: dict[str, float] = defaultdict(float)
            for qid, text in queries.items():
                ranked = self._ranked(text, mode=mode, top_k=top_k, vault_id=vault.pk, ids=corpus_id_of)
                for name, value in _metrics(ranked, qrels[qid], top_k).items():
                    totals[name] += value
            results[mode] = {name: round(value / len(queries), 4) for name, value in totals.items()}

        self.stdout.write(f"{len(queries)} judged queries, cut-off {top_k}")
        self.stdout.write(
            f"{'mode':<8} {'nDCG@' + str(top_k):>9} {'recall@' + str(top_k):>10} {'MRR@' + str(top_k):>8}"
        )
        for mode, values in results.items():
            self.stdout.write(f"{mode:<8} {values['ndcg']:>9.4f} {values['recall']:>10.4f} {values['mrr']:>8.4f}")
        self.stdout.write(json.dumps({"dataset": str(root), "queries": len(queries), "k": top_k, "results": results}))
        if drop:
            vault_delete(vault_id=vault.pk)

    def _ingest(self, corpus: Path, *, vault_id: Any) -> None:
        batch: list[IngestRequest] = []
        failed = 0
        with corpus.open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                batch.append(
                    IngestRequest(
                        text=record.get("text") or record.get("title") or "",
                        title=record.get("title", ""),
                        source=str(record["_id"]),
                        vault_id=vault_id,
                    )
                )
                if len(batch) == INGEST_BATCH:
                    failed += _failures(documents_ingest(requests=batch))
                    batch = []
        if batch:
            failed += _failures(documents_ingest(requests=batch))
        if failed:
            self.stderr.write(f"{failed} corpus documents could not be ingested")

    def _ranked(self, query: str, *, mode: str, top_k: int, vault_id: Any, ids: dict) -> list[str]:
        """Corpus ids ranked by their best chunk; more chunks are fetched than needed, as documents repeat."""
        hits = chunks_search(query=query, top_k=min(50, top_k * 3), mode=mode, vault_id=vault_id)
        ranked: list[str] = []
        for hit in hits:
            corpus_id = ids.get(hit.document_id)
            if corpus_id is not None and corpus_id not in ranked:
                ranked.append(corpus_id)
        return ranked[:top_k]


def _failures(outcomes: list[Any]) -> int:
    return sum(1 for outcome in outcomes if isinstance(outcome, ServiceError))


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    with path.open(encoding="utf-8") as rows:
        reader = csv.reader(rows, delimiter="\t")
        next(reader, None)  # header
        for query_id, corpus_id, score in reader:
            if int(score) > 0:
                judged[query_id][corpus_id] = int(score)
    return dict(judged)


def _jsonl_queries(path: Path):
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            yield str(record["_id"]), record["text"]


def _metrics(ranked: list[str], relevant: dict[str, int], k: int) -> dict[str, float]:
    gains = [relevant.get(corpus_id, 0) for corpus_id in ranked[:k]]
    dcg = sum(gain / math.log2(position + 2) for position, gain in enumerate(gains))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(position + 2) for position, gain in enumerate(ideal))
    first = next((position for position, gain in enumerate(gains) if gain > 0), None)
    return {
        "ndcg": dcg / idcg if idcg else 0.0,
        "recall": sum(1 for gain in gains if gain > 0) / len(relevant),
        "mrr": 1.0 / (first + 1) if first is not None else 0.0,
    }
