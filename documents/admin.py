"""Staff browse, upload, re-embed and delete documents here, through the same services as the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Min, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from documents.models import Chunk, Document, EmbeddingSpace, Vault
from documents.services.documents import document_delete, documents_delete, documents_reembed
from documents.services.ingest import document_ingest
from documents.services.parsing import SUPPORTED_EXTENSIONS, file_parse
from documents.services.vaults import vault_delete
from ragsite.errors import ServiceError


@admin.register(Vault)
class VaultAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]

    def delete_model(self, request: HttpRequest, obj: Vault) -> None:
        vault_delete(vault_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Vault]) -> None:
        for vault in queryset:
            vault_delete(vault_id=vault.pk)


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ["position", "text", "token_count", "embedding_model"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Chunk]:
        return super().get_queryset(request).defer("embedding").order_by("position")


class EmbeddingModelFilter(admin.SimpleListFilter):
    title = "embedding model"
    parameter_name = "embedding_model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(model, model) for model in EmbeddingSpace.objects.values_list("model", flat=True)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> QuerySet[Document]:
        if self.value():
            # A subquery, not a join: a join would multiply the chunk count annotated on the same rows.
            return queryset.filter(Exists(Chunk.objects.filter(document=OuterRef("pk"), embedding_model=self.value())))
        return queryset


class DocumentAddForm(forms.Form):
    """Upload a file or paste text; either goes through the ingest pipeline."""

    vault = forms.ModelChoiceField(queryset=Vault.objects.all(), required=False)
    file = forms.FileField(required=False, help_text="Supported: " + ", ".join(SUPPORTED_EXTENSIONS))
    text = forms.CharField(required=False, widget=forms.Textarea, strip=False, help_text="Or paste the text.")
    title = forms.CharField(required=False, max_length=500, help_text="Defaults to the file name.")
    source = forms.CharField(required=False, max_length=2000, help_text="Same source again later: an update.")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload, text = cleaned.get("file"), cleaned.get("text") or ""
        if upload is None and not text.strip():
            raise forms.ValidationError("Upload a file or paste some text.")
        if upload is not None:
            try:
                parsed = file_parse(name=upload.name, data=upload.read())
            except ServiceError as error:
                raise forms.ValidationError(error.summary()) from None
            cleaned["text"] = parsed.text
            cleaned["title"] = cleaned.get("title") or parsed.title
        return cleaned


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "vault", "source", "chunk_count", "embedding_model", "updated_at"]
    list_filter = ["vault", EmbeddingModelFilter, "updated_at"]
    search_fields = ["title", "source"]
    fields = ["vault", "title", "source", "metadata", "text", "content_hash", "created_at", "updated_at"]
    inlines = [ChunkInline]
    actions = ["reembed_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return (
            super()
            .get_queryset(request)
            .defer("text")
            .annotate(chunks_total=Count("chunks"), embedding_model_name=Min("chunks__embedding_model"))
        )

    @admin.display(description="chunks", ordering="chunks_total")
    def chunk_count(self, document: Document) -> int:
        return document.chunks_total

    @admin.display(description="embedding model", ordering="embedding_model_name")
    def embedding_model(self, document: Document) -> str:
        return document.embedding_model_name or "-"

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        # Not the stock add view: that one runs inside a transaction, and ingestion must call the embedding
        # provider outside any transaction.
        if not self.has_add_permission(request):
            raise PermissionDenied
        bound = request.method == "POST"
        form = DocumentAddForm(request.POST if bound else None, request.FILES if bound else None)
        if bound and form.is_valid():
            data = form.cleaned_data
            try:
                result = document_ingest(
                    text=data["text"], title=data["title"], source=data["source"], vault=data["vault"]
                )
            except ServiceError as error:
                form.add_error(None, error.summary())
            else:
                self.message_user(request, f"Document {result.status}: {result.chunk_count} chunks.", messages.SUCCESS)
                return redirect(reverse("admin:documents_document_change", args=[result.document_id]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Add document",
            "form": form,
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/documents/document/add.html", context)

    def has_change_permission(self, request: HttpRequest, obj: Document | None = None) -> bool:
        # Stored documents change through ingestion (same source, new text), never by editing rows here.
        return False

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        document_delete(document_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        documents_delete(document_ids=queryset.values_list("pk", flat=True))

    @admin.action(description="Re-embed selected documents")
    def reembed_selected(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        try:
            swapped = documents_reembed(documents=Document.objects.filter(pk__in=queryset.values("pk")))
        except ServiceError as error:
            self.message_user(request, f"Re-embedding failed: {error.summary()}", messages.ERROR)
            return
        self.message_user(request, f"Re-embedded {swapped} documents.", messages.SUCCESS)


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ["model", "dimensions", "index_name", "created_at"]
    readonly_fields = ["model", "dimensions", "index_name", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
