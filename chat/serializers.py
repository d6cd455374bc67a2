"""Input validation and output shapes of the chat API (API.md)."""

from __future__ import annotations

from rest_framework import serializers

from documents.serializers import CleanCharField


class AgentInputSerializer(serializers.Serializer):
    name = CleanCharField(max_length=200)
    vault_id = serializers.UUIDField()
    system_prompt = CleanCharField(max_length=20_000)


class AgentListQuerySerializer(serializers.Serializer):
    vault_id = serializers.UUIDField(required=False)


class AgentOutputSerializer(serializers.Serializer):
    agent_id = serializers.UUIDField(source="id")
    name = serializers.CharField()
    vault_id = serializers.UUIDField()
    system_prompt = serializers.CharField()
    created_at = serializers.DateTimeField()
