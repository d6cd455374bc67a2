"""Input validation and output shapes of the documents API (API.md)."""

from __future__ import annotations

import json
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from documents.models import Document
from documents.services.parsing import text_clean
from ragsite.parsers import json_loads_strict
from ragsite.serializers import NullMeansAbsent, SingleValuedQuery

METADATA_MAX_DEPTH = 16
METADATA_MAX_BYTES = 64 * 1024


class CleanCharField(serializers.CharField):
    """A CharField that cleans NUL bytes and lone surrogates away instead of rejecting or choking on them, and takes
    only strings."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")  # DRF's CharField would take 42 for "42"; a number where text belongs is a bad type
        if self.max_length is not None and len(data) > self.max_length:
            # The limit is on what was sent, as the schema's maxLength says: DRF checks it after trimming (and this
            # field after cleaning), so 10,000 NULs or spaces around one letter passed as one character.
            self.fail("max_length", max_length=self.max_length, length=len(data))
        value = super().to_internal_value(text_clean(data))
        if not self.allow_blank and not value.strip():
            self.fail("blank")  # "\x00\x00" passed DRF's blank check and only became blank here
        return value


def metadata_clean(value: Any, depth: int = 0) -> Any:
    """Metadata as PostgreSQL's jsonb takes it (no NUL in strings), no deeper than METADATA_MAX_DEPTH."""
    if depth > METADATA_MAX_DEPTH:
        raise serializers.ValidationError(f"Metadata may be nested at most {METADATA_MAX_DEPTH} levels deep.")
    if isinstance(value, str):
        return text_clean(value)
    if isinstance(value, dict):
        return {text_clean(str(key)): metadata_clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [metadata_clean(item, depth + 1) for item in value]
    return value


@extend_schema_field({"type": "object", "additionalProperties": True})
class MetadataField(serializers.Field):
    """A JSON object, given as an object (JSON bodies) or as a JSON string (multipart form fields)."""

    default_error_messages = {
        "not_object": "Metadata must be a JSON object.",
        "invalid_json": "Metadata must be a JSON object (in a form field: the object as JSON text).",
        "too_large": f"Metadata may take at most {METADATA_MAX_BYTES} bytes as JSON.",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            try:
                data = json_loads_strict(data)
            except (ValueError, RecursionError):
                self.fail("invalid_json")
        if not isinstance(data, dict):
            self.fail("not_object")
        cleaned = metadata_clean(data)
        if len(json.dumps(cleaned, ensure_ascii=False).encode()) > METADATA_MAX_BYTES:
            self.fail("too_large")
        return cleaned

    def to_representation(self, value: Any) -> Any:
        return value


def _document_text_field(name: str, *, allow_null: bool) -> CleanCharField:
    return CleanCharField(
        required=False, allow_blank=True, allow_null=allow_null, max_length=Document._meta.get_field(name).max_length
    )


class IngestFieldsSerializer(NullMeansAbsent):
    """What comes with the text or the file of an ingest."""

    title = _document_text_field("title", allow_null=True)
    source = _document_text_field("source", allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)
    vault_id = serializers.UUIDField(required=False, allow_null=True)


class IngestInputSerializer(IngestFieldsSerializer):
    text = CleanCharField(required=False, allow_blank=True, trim_whitespace=False)
    file = serializers.FileField(required=False, allow_empty_file=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_file = attrs.get("file") is not None
        if has_file and attrs.get("text"):
            raise serializers.ValidationError({"text": ["Send either text or a file, not both."]})
        if not has_file and not (attrs.get("text") or "").strip():
            raise serializers.ValidationError({"text": ["This field is required and may not be blank."]})
        return attrs


class IngestTextInputSerializer(IngestFieldsSerializer):
    """The JSON form of POST /ingest, for the schema (IngestInputSerializer validates both forms)."""

    text = CleanCharField(trim_whitespace=False, help_text="The document's text; not blank.")


class IngestFileInputSerializer(IngestFieldsSerializer):
    """The multipart form of POST /ingest, for the schema."""

    file = serializers.FileField(help_text="A txt, md, html, pdf or docx file; the type comes from its name.")
    # A form field has no null: leave it out.
    title = _document_text_field("title", allow_null=False)
    source = _document_text_field("source", allow_null=False)
    metadata = MetadataField(required=False)
    vault_id = serializers.UUIDField(required=False)


class IngestOutputSerializer(serializers.Serializer):
    document_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["indexed", "updated", "unchanged"])
    chunk_count = serializers.IntegerField()
    vault_id = serializers.UUIDField(allow_null=True)


class DocumentListQuerySerializer(SingleValuedQuery):
    vault_id = serializers.UUIDField(required=False)
    q = CleanCharField(required=False, allow_blank=True, max_length=200)
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=100)
    # PostgreSQL's OFFSET is a bigint: a larger one was a database error (500) instead of a 422.
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**62)


class DocumentOutputSerializer(serializers.Serializer):
    document_id = serializers.UUIDField(source="id")
    title = serializers.CharField()
    source = serializers.CharField()
    vault_id = serializers.UUIDField(allow_null=True)
    metadata = serializers.JSONField()
    chunk_count = serializers.IntegerField()
    embedding_model = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChunkOutputSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField(source="id")
    position = serializers.IntegerField()
    text = serializers.CharField()


class DocumentDetailOutputSerializer(DocumentOutputSerializer):
    text = serializers.CharField()
    chunks = ChunkOutputSerializer(many=True)


class DocumentListOutputSerializer(serializers.Serializer):
    documents = DocumentOutputSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class VaultInputSerializer(serializers.Serializer):
    name = CleanCharField(max_length=200)
    description = CleanCharField(required=False, allow_blank=True, default="", max_length=10_000)


class VaultOutputSerializer(serializers.Serializer):
    vault_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    document_count = serializers.IntegerField()


class VaultListOutputSerializer(serializers.Serializer):
    vaults = VaultOutputSerializer(many=True)


class VaultDeletedOutputSerializer(serializers.Serializer):
    vault_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["deleted"])


class DocumentDeletedOutputSerializer(serializers.Serializer):
    document_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["deleted"])


class SearchInputSerializer(NullMeansAbsent):
    query = CleanCharField(max_length=4000)
    top_k = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=50)
    vault_id = serializers.UUIDField(required=False, allow_null=True)
    mode = serializers.ChoiceField(
        choices=["hybrid", "vector", "keyword"], required=False, allow_null=True, default="hybrid"
    )
    filters = MetadataField(required=False, allow_null=True)


class SearchHitOutputSerializer(serializers.Serializer):
    document_id = serializers.UUIDField()
    chunk_id = serializers.IntegerField()
    title = serializers.CharField()
    source = serializers.CharField()
    snippet = serializers.CharField()
    score = serializers.FloatField()


class SearchOutputSerializer(serializers.Serializer):
    results = SearchHitOutputSerializer(many=True)
    mode = serializers.ChoiceField(choices=["hybrid", "vector", "keyword"])
