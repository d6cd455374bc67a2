"""`manage.py reembed`: move stored documents to the configured embedding model."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Exists, OuterRef
from tqdm import tqdm

from documents.models import Chunk, Document
from documents.services.documents import documents_reembed
from ragsite.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Re-chunk and re-embed stored documents with the configured embedding model. Without options: the "
        "documents not on it yet. Each document stays searchable until its new chunks replace the old ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--all", dest="every", action="store_true", help="every document, even those on the configured model"
        )
        which.add_argument("--model", metavar="OLD", help="only documents embedded with model OLD")
        parser.add_argument("--batch", type=int, default=32, metavar="N", help="documents per embedding round")

    def handle(self, *args: Any, every: bool, model: str | None, batch: int, **options: Any) -> None:
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        target = settings.EMBEDDING_MODEL
        documents = Document.objects.order_by("created_at")
        if model:
            documents = documents.filter(Exists(Chunk.objects.filter(document=OuterRef("pk"), embedding_model=model)))
        elif not every:
            documents = documents.filter(
                Exists(Chunk.objects.filter(document=OuterRef("pk")).exclude(embedding_model=target))
            )
        ids = list(documents.values_list("pk", flat=True))
        swapped = 0
        with tqdm(total=len(ids), unit="doc", file=self.stderr._out, disable=not ids) as progress:
            for start in range(0, len(ids), batch):
                window = list(Document.objects.filter(pk__in=ids[start : start + batch]))
                try:
                    swapped += documents_reembed(documents=window)
                except ServiceError as error:
                    raise CommandError(f"stopped after {swapped} documents: {error.summary()}") from None
                progress.update(len(window))
        self.stdout.write(f"re-embedded {swapped} of {len(ids)} documents with {target}")
