"""`manage.py ingest_folder PATH`: every supported file under a folder, through the same pipeline as POST /ingest."""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from tqdm import tqdm

from documents.models import Vault
from documents.services.chunking import chunker_load
from documents.services.embeddings import EmbeddingProvider, embedding_provider
from documents.services.ingest import (
    IngestBatch,
    IngestRequest,
    IngestResult,
    documents_chunk,
    documents_dry_run,
    documents_plan,
    documents_store,
    documents_vectors_attach,
)
from documents.services.parsing import SUPPORTED_EXTENSIONS, ParsedFile, file_parse
from documents.services.vaults import vault_get_or_create
from documents.services.vector_index import embedding_index_deferred
from ragsite.errors import ServiceError

Parsed = ParsedFile | ServiceError | OSError


class Command(BaseCommand):
    help = (
        "Ingest every supported file (" + ", ".join(SUPPORTED_EXTENSIONS) + ") under PATH, recursively. "
        "Files already stored unchanged cost no embedding call; a changed file updates its document in place."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="folder to ingest")
        parser.add_argument("--vault", metavar="NAME", help="vault to ingest into (created if missing)")
        parser.add_argument(
            "--glob", metavar="PATTERN", default="**/*", help="which files, relative to PATH (default: **/*)"
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=4,
            metavar="N",
            help="files read and parsed in parallel (default: %(default)s)",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=256,
            metavar="N",
            help="files per window, read and stored together; embedding requests span windows (default: 256)",
        )
        parser.add_argument("--dry-run", action="store_true", help="parse and chunk only: no embedding, no writes")

    def handle(
        self, *args: Any, path: str, vault: str | None, glob: str, workers: int, batch: int, dry_run: bool, **_: Any
    ) -> None:
        # Resolved once: sources are absolute paths, and resolving each file would cost a stat per path component.
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise CommandError(f"{path} is not a folder")
        if workers < 1 or batch < 1:
            raise CommandError("--workers and --batch must be at least 1")
        # Django, LlamaIndex and the provider's client (~300,000 objects) live as long as the process. Loaded with the
        # collector off and then frozen, they are left out of the full collections that the run's allocations
        # trigger; each of those walked them all and took ~0.25 s, a fifth of a CISI ingest.
        gc.disable()
        try:
            try:
                chunker_load()
                provider = None if dry_run else embedding_provider()
            finally:
                gc.freeze()
                gc.enable()
            files = sorted(
                file for file in root.glob(glob) if file.is_file() and file.suffix.lower() in SUPPORTED_EXTENSIONS
            )
            run = _FolderRun(
                files=files,
                vault=_vault(vault, dry_run=dry_run),
                provider=provider,
                # The raw stream: Django's OutputWrapper ends every write with a newline, which breaks tqdm's redraws.
                progress=tqdm(
                    total=len(files), unit="file", file=self.stderr._out, disable=not files, dynamic_ncols=True
                ),
            )
            run.ingest(window_size=batch, workers=workers)
        finally:
            gc.unfreeze()

        prefix = "dry run: would be " if dry_run else ""
        self.stdout.write(
            f"{prefix}new: {run.counts['indexed']}, updated: {run.counts['updated']}, "
            f"unchanged: {run.counts['unchanged']}, failed: {len(run.failures)}; chunks: {run.chunks}; "
            f"seconds: {time.monotonic() - run.started:.1f}"
        )
        for file, reason in run.failures:
            self.stderr.write(self.style.ERROR(f"failed: {file}: {reason}"))
        if run.failures:
            raise CommandError(f"{len(run.failures)} of {len(files)} files failed")


@dataclass
class _FolderRun:
    files: list[Path]
    vault: Vault | None
    provider: EmbeddingProvider | None  # None: a dry run
    progress: tqdm
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    chunks: int = 0
    started: float = field(default_factory=time.monotonic)
    # Two storer threads settle windows: the counts, the failures and the progress bar are updated under this lock.
    _settling: threading.Lock = field(default_factory=threading.Lock)

    def ingest(self, *, window_size: int, workers: int) -> None:
        """A pipeline: `workers` threads read the next window while this thread plans and chunks the current one,
        the chunks of the previous ones are embedded (provider requests cut across window boundaries, see
        _Embedder), and the oldest embedded window is stored (see _Storer)."""
        windows = [self.files[start : start + window_size] for start in range(0, len(self.files), window_size)]
        bulk_load = (
            embedding_index_deferred(model=self.provider.model, incoming=len(self.files))
            if self.provider is not None
            else nullcontext(False)
        )
        with bulk_load, ThreadPoolExecutor(workers) as readers:
            # A dry run embeds and stores nothing.
            embedder: _Embedder | None = None
            storer: _Storer | None = None
            if self.provider is not None:
                embedder = _Embedder(self.provider)
                # Enough chunks read ahead to keep every allowed request busy twice over.
                storer = _Storer(self._store, read_ahead=2 * self.provider.concurrency * self.provider.request_size)
            reading = [readers.submit(_parse, file) for file in windows[0]] if windows else []
            # Windows whose chunks are not all sent yet: a window is handed to the storer once they are.
            unsent: deque[tuple[Sequence[Path], list[Parsed], IngestBatch, range]] = deque()
            try:
                for number, window in enumerate(windows):
                    parsed = [future.result() for future in reading]
                    if number + 1 < len(windows):
                        reading = [readers.submit(_parse, file) for file in windows[number + 1]]
                    planned = documents_plan(requests=self._requests(window, parsed))
                    if embedder is None or storer is None:
                        self._settle(window, parsed, documents_dry_run(planned))
                        continue
                    unsent.append((window, parsed, planned, embedder.add(documents_chunk(planned))))
                    if number + 1 == len(windows):
                        embedder.flush()  # the last partial request
                    while unsent and unsent[0][3].stop <= embedder.sent:
                        ready = unsent.popleft()
                        storer.submit(embedder, *ready, chunks=len(ready[3]))
            finally:
                if storer is not None:
                    storer.close()
                if embedder is not None:
                    embedder.close()
        self.progress.close()

    def _requests(self, window: Sequence[Path], parsed: list[Parsed]) -> list[IngestRequest]:
        vault_id = self.vault.pk if self.vault else None
        return [
            IngestRequest(text=result.text, title=result.title, source=str(file), vault_id=vault_id)
            for file, result in zip(window, parsed, strict=True)
            if isinstance(result, ParsedFile)
        ]

    def _store(
        self, embedder: _Embedder, window: Sequence[Path], parsed: list[Parsed], batch: IngestBatch, inputs: range
    ) -> None:
        documents_vectors_attach(batch, embedder.vectors(inputs), model=embedder.provider.model)
        self._settle(window, parsed, documents_store(batch))

    def _settle(self, window: Sequence[Path], parsed: list[Parsed], outcomes: list[Any]) -> None:
        remaining = iter(outcomes)  # one outcome per parsed file, in order
        with self._settling:
            for file, result in zip(window, parsed, strict=True):
                outcome = next(remaining) if isinstance(result, ParsedFile) else result
                if isinstance(outcome, IngestResult):
                    self.counts[outcome.status] += 1
                    self.chunks += outcome.chunk_count if outcome.status != "unchanged" else 0
                else:
                    self.failures.append((file, _reason(outcome)))
            rate = self.chunks / max(time.monotonic() - self.started, 1e-9)
            self.progress.set_postfix_str(f"{rate:.0f} chunks/s", refresh=False)
            self.progress.update(len(window))


class _Storer:
    """Stores embedded windows on two threads, each with its own database connection, so that the database writes
    windows (COPY, the full-text vectors: most of a store's time is PostgreSQL's) while the command's thread reads
    and chunks the next ones. Two, because one left the database a window behind on CISI (0.34 s of stores after
    the last embedding, against 0.17 s).

    submit() waits while more than `read_ahead` chunks wait to be stored, so a large folder is not read into memory
    ahead of the provider and the database. Inside a transaction (tests, a caller's atomic block) another
    connection could not see its uncommitted rows, so windows are stored on the calling thread instead.
    """

    THREADS = 2

    def __init__(self, store: Callable[..., None], *, read_ahead: int) -> None:
        self._store = store
        self._read_ahead = read_ahead
        inline = connection.in_atomic_block
        self._pool = None if inline else ThreadPoolExecutor(self.THREADS, thread_name_prefix="ingest-store")
        self._pending: deque[tuple[Future[None], int]] = deque()  # each window's store and chunk count

    def submit(self, *window: Any, chunks: int) -> None:
        if self._pool is None:
            self._store(*window)
            return
        self._pending.append((self._pool.submit(self._store, *window), chunks))
        while len(self._pending) > 1 and sum(count for _, count in self._pending) > self._read_ahead:
            self._pending.popleft()[0].result()

    def close(self) -> None:
        """Wait for every submitted window; re-raise the first failure."""
        try:
            while self._pending:
                self._pending.popleft()[0].result()
        finally:
            if self._pool is not None:
                # Each thread closes its own connection: the barrier keeps one thread from taking both tasks.
                barrier = threading.Barrier(self.THREADS)
                closing = [self._pool.submit(_connection_close, barrier) for _ in range(self.THREADS)]
                for future in closing:
                    future.result()
                self._pool.shutdown()


class _Embedder:
    """Embeds the chunks of successive windows in provider-sized requests cut across window boundaries.

    Embedding each window on its own ended every window with a small request (515 chunks: 256 + 256 + 3), and a
    request waited until its whole window was read; here a request goes out as soon as `request_size` chunks are
    waiting, at most `concurrency` in flight, and the last partial one when the run ends. Inputs are numbered in
    the order they were added; a window asks for the vectors of its range, once. A request is forgotten (and its
    vectors freed) when every one of its inputs has been asked for, so memory follows the read-ahead, not the folder.
    """

    def __init__(self, provider: EmbeddingProvider) -> None:
        self.provider = provider
        self._pool = ThreadPoolExecutor(max(1, provider.concurrency), thread_name_prefix="ingest-embedding")
        self._waiting: list[str] = []
        self._added = 0
        # Requests not yet fully asked for, in input order: their inputs' numbers, the answer, how many were taken.
        self._requests: list[_Request] = []
        self._lock = threading.Lock()  # the storer threads take vectors while this thread sends requests

    def add(self, inputs: list[str]) -> range:
        """Queue inputs; send every full request. Returns the inputs' numbers."""
        numbers = range(self._added, self._added + len(inputs))
        self._added += len(inputs)
        self._waiting.extend(inputs)
        while len(self._waiting) >= self.provider.request_size:
            self._send(self.provider.request_size)
        return numbers

    def flush(self) -> None:
        if self._waiting:
            self._send(len(self._waiting))

    @property
    def sent(self) -> int:
        """How many inputs have gone out in requests (the numbers below this)."""
        return self._added - len(self._waiting)

    def vectors(self, numbers: range) -> list[Any]:
        """The vectors of these inputs (all sent), in order, waiting for their requests; a failed request's
        ServiceError stands in for each of its inputs. Safe to call from another thread than add()'s."""
        assert numbers.stop <= self.sent, "vectors() of inputs not sent yet"
        with self._lock:
            covering = [
                request
                for request in self._requests
                if request.numbers.start < numbers.stop and numbers.start < request.numbers.stop
            ]
        vectors: list[Any] = []
        for request in covering:
            try:
                answered: list[Any] = request.future.result()
            except ServiceError as error:
                answered = [error] * len(request.numbers)
            first, last = max(numbers.start, request.numbers.start), min(numbers.stop, request.numbers.stop)
            vectors.extend(answered[first - request.numbers.start : last - request.numbers.start])
            with self._lock:
                request.taken += last - first
                if request.taken == len(request.numbers):
                    self._requests.remove(request)
        return vectors

    @property
    def held(self) -> int:
        """Requests whose vectors are still held (not every input asked for yet)."""
        with self._lock:
            return len(self._requests)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _send(self, count: int) -> None:
        inputs, self._waiting = self._waiting[:count], self._waiting[count:]
        start = self._added - len(self._waiting) - count
        request = _Request(range(start, start + count), self._pool.submit(self.provider.embed, inputs))
        with self._lock:
            self._requests.append(request)


@dataclass
class _Request:
    numbers: range
    future: Future[list[Any]]
    taken: int = 0


def _connection_close(barrier: threading.Barrier) -> None:
    barrier.wait()
    connection.close()  # resolved in the calling thread: its own connection


def _vault(name: str | None, *, dry_run: bool) -> Vault | None:
    if not name:
        return None
    if dry_run:
        return Vault.objects.filter(name__iexact=name).first()
    return vault_get_or_create(name=name)


def _parse(file: Path) -> Parsed:
    try:
        return file_parse(name=file.name, data=file.read_bytes())
    except (ServiceError, OSError) as error:
        return error


def _reason(error: ServiceError | OSError) -> str:
    if isinstance(error, OSError):
        return f"cannot read the file ({error.strerror or type(error).__name__})"
    return error.summary()
