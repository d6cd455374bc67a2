"""`manage.py ingest_folder PATH`: every supported file under a folder, through the same pipeline as POST /ingest."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from documents.models import Vault
from documents.services.embeddings import embedding_provider
from documents.services.ingest import (
    IngestBatch,
    IngestRequest,
    IngestResult,
    documents_dry_run,
    documents_embed,
    documents_plan,
    documents_store,
)
from documents.services.parsing import SUPPORTED_EXTENSIONS, ParsedFile, file_parse
from documents.services.vaults import vault_get_or_create
from documents.services.vector_index import embedding_index_deferred
from ragsite.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Ingest every supported file (" + ", ".join(SUPPORTED_EXTENSIONS) + ") under PATH, recursively. "
        "Files already stored unchanged cost no embedding call; a changed file updates its document in place."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="folder to ingest")
        parser.add_argument("--vault", metavar="NAME", help="vault to ingest into (created if missing)")
        parser.add_argument(
            "--glob",
            metavar="PATTERN",
            default="**/*",
            help="which files, relative to PATH (default: **/*, i.e. everything)",
        )
        parser.add_argument("--workers", type=int, default=4, metavar="N", help="files read and parsed in parallel")
        parser.add_argument(
            "--batch",
            type=int,
            default=512,
            metavar="N",
            help="files per window: their chunks are embedded together, then stored together (default: 512)",
        )
        parser.add_argument("--dry-run", action="store_true", help="parse and chunk only: no embedding, no writes")

    def handle(
        self,
        *args: Any,
        path: str,
        vault: str | None,
        glob: str,
        workers: int,
        batch: int,
        dry_run: bool,
        **options: Any,
    ) -> None:
        # Resolved once: sources are absolute paths, and resolving each file would cost a stat per path component.
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise CommandError(f"{path} is not a folder")
        if workers < 1 or batch < 1:
            raise CommandError("--workers and --batch must be at least 1")
        files = _files(root, glob)
        target = _vault(vault, dry_run=dry_run)
        counts: Counter[str] = Counter()
        failures: list[tuple[Path, str]] = []
        chunks = 0
        started = time.monotonic()
        progress = tqdm(total=len(files), unit="file", file=self.stderr, disable=not files, dynamic_ncols=True)
        provider = None if dry_run else embedding_provider()

        def settle(window: Sequence[Path], parsed: list[ParsedFile | Exception], outcomes: list[Any]) -> None:
            nonlocal chunks
            remaining = iter(outcomes)
            for file, result in zip(window, parsed, strict=True):
                outcome = next(remaining) if isinstance(result, ParsedFile) else result
                if isinstance(outcome, IngestResult):
                    counts[outcome.status] += 1
                    chunks += outcome.chunk_count if outcome.status != "unchanged" else 0
                else:
                    failures.append((file, _reason(outcome)))
                    progress.write(f"failed: {file}: {_reason(outcome)}")
            progress.update(len(window))
            progress.set_postfix_str(f"{chunks / max(time.monotonic() - started, 1e-9):.0f} chunks/s", refresh=False)

        # A pipeline of two stages: while one window is embedded (provider calls, in a thread, no database), the
        # window before it is stored (database, in this thread). Reading and parsing use `workers` threads.
        bulk_load = (
            embedding_index_deferred(model=provider.model, incoming=len(files)) if provider else nullcontext(False)
        )
        with bulk_load, ThreadPoolExecutor(max_workers=workers) as readers, ThreadPoolExecutor(1) as embedder:
            in_flight: tuple[Sequence[Path], list, IngestBatch, Future] | None = None
            windows = list(_windows(files, batch))
            reading = [readers.submit(_parse, file) for file in windows[0]] if windows else []
            for number, window in enumerate([*windows, None]):
                next_in_flight = None
                if window is not None:
                    parsed = [future.result() for future in reading]
                    if number + 1 < len(windows):  # read the next window while this one is embedded and stored
                        reading = [readers.submit(_parse, file) for file in windows[number + 1]]
                    requests = [
                        IngestRequest(
                            text=result.text,
                            title=result.title,
                            source=str(root / file.relative_to(root)),
                            vault_id=target.pk if target else None,
                        )
                        for file, result in zip(window, parsed, strict=True)
                        if isinstance(result, ParsedFile)
                    ]
                    planned = documents_plan(requests=requests)
                    if dry_run:
                        settle(window, parsed, documents_dry_run(planned))
                    else:
                        embedded = embedder.submit(documents_embed, planned, provider=provider)
                        next_in_flight = (window, parsed, planned, embedded)
                if in_flight is not None:
                    done_window, done_parsed, done_batch, done_embedding = in_flight
                    done_embedding.result()
                    settle(done_window, done_parsed, documents_store(done_batch))
                in_flight = next_in_flight
        progress.close()
        seconds = time.monotonic() - started

        prefix = "dry run: would be " if dry_run else ""
        self.stdout.write(
            f"{prefix}new: {counts['indexed']}, updated: {counts['updated']}, unchanged: {counts['unchanged']}, "
            f"failed: {len(failures)}; chunks: {chunks}; seconds: {seconds:.1f}"
        )
        for file, reason in failures:
            self.stderr.write(self.style.ERROR(f"failed: {file}: {reason}"))
        if failures:
            raise CommandError(f"{len(failures)} of {len(files)} files failed")


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(file for file in root.glob(pattern) if file.is_file() and file.suffix.lower() in SUPPORTED_EXTENSIONS)


def _vault(name: str | None, *, dry_run: bool) -> Vault | None:
    if not name:
        return None
    if dry_run:
        return Vault.objects.filter(name__iexact=name).first()
    return vault_get_or_create(name=name)


def _windows(files: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for start in range(0, len(files), size):
        yield files[start : start + size]


def _parse(file: Path) -> ParsedFile | ServiceError | OSError:
    try:
        return file_parse(name=file.name, data=file.read_bytes())
    except (ServiceError, OSError) as error:
        return error


def _reason(error: ServiceError | OSError) -> str:
    if isinstance(error, OSError):
        return f"cannot read the file ({error.strerror or type(error).__name__})"
    detail = error.detail
    if isinstance(detail, dict):
        detail = "; ".join(message for messages in detail.values() for message in messages)
    return f"{error.message}: {detail}" if detail else error.message
