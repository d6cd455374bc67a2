from django.contrib import admin

from documents.models import Chunk, Document, EmbeddingSpace, Vault


@admin.register(Vault)
class VaultAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ["position", "text", "token_count", "embedding_model"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "vault", "source", "updated_at"]
    list_filter = ["vault"]
    search_fields = ["title", "source"]
    readonly_fields = ["content_hash", "created_at", "updated_at"]
    inlines = [ChunkInline]


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ["model", "dimensions", "index_name", "created_at"]
    readonly_fields = ["model", "dimensions", "index_name", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False
