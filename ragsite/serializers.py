"""Shapes of the service's own responses (the error envelope, health), for the OpenAPI schema, and what input
serializers share."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class NullMeansAbsent(serializers.Serializer):
    """A JSON body's `null` for an optional field means the field was left out, defaults included: clients of the
    old service (pydantic's `Optional[...] = None`) send it for every field they do not set. Declare such fields
    `allow_null=True` too, so the schema says so."""

    def to_internal_value(self, data: Any) -> Any:
        if type(data) is dict:  # a JSON object; form data (a QueryDict) has no null
            optional = {name for name, field in self.fields.items() if not field.required}
            data = {key: value for key, value in data.items() if value is not None or key not in optional}
        return super().to_internal_value(data)


class SingleValuedQuery(serializers.Serializer):
    """Query parameters given once: `?vault_id=a&vault_id=b` is a 422, where DRF would quietly take the last one
    (the schema declares one value each)."""

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "getlist"):
            repeated = {name: ["Give this parameter once."] for name in self.fields if len(data.getlist(name)) > 1}
            if repeated:
                raise serializers.ValidationError(repeated)
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        ],
        "description": "More about the error: a string, or for validation errors each field's messages.",
    }
)
class ErrorDetailField(serializers.Field):
    def to_representation(self, value: Any) -> Any:
        return value


class ErrorSerializer(serializers.Serializer):
    """The one shape of every non-2xx answer (ragsite/errors.py)."""

    error = serializers.CharField(help_text="What went wrong, safe to show to a user.")
    code = serializers.CharField(help_text="A stable code, e.g. VALIDATION_ERROR or DOCUMENT_NOT_FOUND.")
    detail = ErrorDetailField()

    class Meta:
        ref_name = "Error"


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    version = serializers.CharField()
    database = serializers.ChoiceField(choices=["ok"])
    pgvector = serializers.CharField(help_text="The pgvector extension's version.")
    embedding_model = serializers.CharField()
    chat_model = serializers.CharField(allow_null=True, help_text="null: answers are extractive.")


class HealthUnavailableSerializer(ErrorSerializer):
    """503 from GET /health: the health fields and the error envelope in one object."""

    status = serializers.ChoiceField(choices=["unavailable"])
    version = serializers.CharField()
    database = serializers.ChoiceField(choices=["ok", "unavailable"])
    pgvector = serializers.CharField(allow_null=True)
    embedding_model = serializers.CharField()
    chat_model = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "HealthUnavailable"


class LiveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    version = serializers.CharField()
