"""Input validation and output shapes of the chat API (API.md)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from documents.serializers import CleanCharField
from ragsite.serializers import SingleValuedQuery

# Session ids travel in URLs (/sessions/{id}): no slashes, no control characters.
SESSION_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,200}$"


class SessionIdField(serializers.RegexField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")  # not 42 for "42": a session id is text
        return super().to_internal_value(data)


class AgentInputSerializer(serializers.Serializer):
    name = CleanCharField(max_length=200)
    vault_id = serializers.UUIDField()
    system_prompt = CleanCharField(max_length=20_000)


class AgentListQuerySerializer(SingleValuedQuery):
    vault_id = serializers.UUIDField(required=False)


class AgentOutputSerializer(serializers.Serializer):
    agent_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    vault_id = serializers.UUIDField()
    system_prompt = serializers.CharField()
    created_at = serializers.DateTimeField()


class ChatConfigSerializer(serializers.Serializer):
    top_k = serializers.IntegerField(required=False, min_value=1, max_value=20)
    temperature = serializers.FloatField(required=False, min_value=0.0, max_value=2.0)


class ChatInputSerializer(serializers.Serializer):
    message = CleanCharField(max_length=32_000)
    session_id = SessionIdField(
        SESSION_ID_PATTERN,
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=200,
        error_messages={"invalid": "Use letters, digits and . _ : @ - only (at most 200)."},
    )
    vault_id = serializers.UUIDField(required=False, allow_null=True)
    agent_id = serializers.UUIDField(required=False, allow_null=True)
    config = ChatConfigSerializer(required=False, allow_null=True)
    stream = serializers.BooleanField(required=False, default=False, allow_null=True)


class SourceOutputSerializer(serializers.Serializer):
    document_id = serializers.UUIDField()
    title = serializers.CharField()
    snippet = serializers.CharField()
    score = serializers.FloatField()
    chunk_id = serializers.IntegerField()


class ChatOutputSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    message_id = serializers.IntegerField()
    answer = serializers.CharField(allow_blank=True)
    sources = SourceOutputSerializer(many=True)
    mode = serializers.ChoiceField(choices=["llm", "extractive"])


class MessageOutputSerializer(serializers.Serializer):
    message_id = serializers.IntegerField(source="id")
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)
    sources = serializers.JSONField()
    created_at = serializers.DateTimeField()


class SessionOutputSerializer(serializers.Serializer):
    session_id = serializers.CharField(source="id")
    created_at = serializers.DateTimeField()
    last_active_at = serializers.DateTimeField()
    messages = MessageOutputSerializer(many=True)


class AgentListOutputSerializer(serializers.Serializer):
    agents = AgentOutputSerializer(many=True)


class AgentDeletedOutputSerializer(serializers.Serializer):
    agent_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["deleted"])


class SessionDeletedOutputSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["deleted"])


def _event(kind: str, **properties: dict) -> dict:
    return {
        "type": "object",
        "properties": {"type": {"const": kind}, **properties},
        "required": ["type", *properties],
    }


# One Server-Sent Event of a streamed answer: its `data:` line holds one of these JSON objects.
CHAT_EVENT_SCHEMA = {
    "oneOf": [
        _event("token", content={"type": "string"}),
        # The same passage object as a plain answer's sources (SourceOutputSerializer's component).
        _event("sources", sources={"type": "array", "items": {"$ref": "#/components/schemas/SourceOutput"}}),
        _event("done", session_id={"type": "string"}, message_id={"type": "integer"}),
        _event("error", code={"type": "string"}, error={"type": "string"}),
    ]
}


@extend_schema_field(
    {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": CHAT_EVENT_SCHEMA,
        "description": "One JSON object: `token`s, then `sources`, then `done`; or an `error` (the session is "
        "left as it was).",
    }
)
class ChatEventDataField(serializers.CharField):
    pass


class ChatEventSerializer(serializers.Serializer):
    """One event of the `text/event-stream` answer to POST /chat with `"stream": true`."""

    data = ChatEventDataField()
