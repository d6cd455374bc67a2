"""The chat API: chat turns (JSON or Server-Sent Events), sessions and agents."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors, serializers
from chat.services.agents import agent_create, agent_delete
from chat.services.answer import chat_answer, chat_answer_events, chat_turn_prepare
from chat.services.sessions import session_delete
from documents.selectors import vault_get
from documents.views import path_uuid
from ragsite.apikeys.permissions import ADMIN, READ, WRITE
from ragsite.apikeys.scoping import request_vault_id, request_vault_scope
from ragsite.errors import AgentNotFound, SessionNotFound
from ragsite.openapi import error_responses, uuid_path_parameter


class AgentListView(APIView):
    required_scopes = {"GET": READ, "POST": ADMIN}

    @extend_schema(
        summary="List agents",
        parameters=[serializers.AgentListQuerySerializer],
        responses={200: serializers.AgentListOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        query = serializers.AgentListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        agents = selectors.agent_list(vault_id=request_vault_id(request, query.validated_data.get("vault_id")))
        return Response({"agents": serializers.AgentOutputSerializer(agents, many=True).data})

    @extend_schema(
        summary="Create an agent: a system prompt bound to a vault",
        request=serializers.AgentInputSerializer,
        responses={201: serializers.AgentOutputSerializer, **error_responses(404, 409)},
    )
    def post(self, request: Request) -> Response:
        payload = serializers.AgentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        vault = vault_get(vault_id=request_vault_id(request, data["vault_id"]))
        agent = agent_create(name=data["name"], vault=vault, system_prompt=data["system_prompt"])
        return Response(serializers.AgentOutputSerializer(agent).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[uuid_path_parameter("agent_id", "agent")])
class AgentDetailView(APIView):
    required_scopes = {"GET": READ, "DELETE": ADMIN}

    @extend_schema(summary="An agent", responses={200: serializers.AgentOutputSerializer})
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(
            agent_id=path_uuid(agent_id, AgentNotFound), vault_scope=request_vault_scope(request)
        )
        return Response(serializers.AgentOutputSerializer(agent).data)

    @extend_schema(summary="Delete an agent", responses={200: serializers.AgentDeletedOutputSerializer})
    def delete(self, request: Request, agent_id: str) -> Response:
        agent_id_ = path_uuid(agent_id, AgentNotFound)
        agent_delete(agent_id=agent_id_, vault_scope=request_vault_scope(request))
        return Response({"agent_id": str(agent_id_), "status": "deleted"})


class ChatView(APIView):
    required_scopes = {"POST": READ}
    rate_budget = "chat"

    @extend_schema(
        summary="Ask a question; the answer cites the passages it used",
        description=(
            "Answers use the last MAX_HISTORY_MESSAGES messages of the session; an agent supplies its system prompt "
            "and its vault. Without a chat model the answer is extractive. A failed generation leaves the session "
            'as it was. With `"stream": true` the answer comes as Server-Sent Events (`text/event-stream`), one '
            "JSON object per `data:` line."
        ),
        request=serializers.ChatInputSerializer,
        responses={
            (200, "application/json"): serializers.ChatOutputSerializer,
            (200, "text/event-stream"): serializers.ChatEventSerializer,
            **error_responses(404, 502, 504),
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        payload = serializers.ChatInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        config = data.get("config") or {}
        turn = chat_turn_prepare(
            message=data["message"],
            session_id=data.get("session_id") or None,
            vault_id=request_vault_id(request, data.get("vault_id")),
            agent_id=data.get("agent_id"),
            top_k=config.get("top_k"),
            temperature=config.get("temperature"),
            vault_scope=request_vault_scope(request),
        )
        if data.get("stream"):
            response = StreamingHttpResponse(
                server_sent_events(chat_answer_events(turn)), content_type="text/event-stream"
            )
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"  # proxies (nginx) must pass tokens on as they come
            return response
        return Response(serializers.ChatOutputSerializer(chat_answer(turn)).data)


def server_sent_events(events: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


@extend_schema(
    parameters=[
        OpenApiParameter(
            "session_id",
            str,
            OpenApiParameter.PATH,
            pattern=serializers.SESSION_ID_PATTERN,
            description="The session's id (anything else is a 404).",
        )
    ]
)
class SessionDetailView(APIView):
    required_scopes = {"GET": READ, "DELETE": WRITE}

    @extend_schema(summary="A session with its messages", responses={200: serializers.SessionOutputSerializer})
    def get(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get(session_id=_session_id(session_id), vault_scope=request_vault_scope(request))
        return Response(serializers.SessionOutputSerializer(session).data)

    @extend_schema(
        summary="Delete a session and its messages", responses={200: serializers.SessionDeletedOutputSerializer}
    )
    def delete(self, request: Request, session_id: str) -> Response:
        session_delete(session_id=_session_id(session_id), vault_scope=request_vault_scope(request))
        return Response({"session_id": session_id, "status": "deleted"})


def _session_id(value: str) -> str:
    """An id from the URL; one no session could have (a NUL, say) names no session: 404, not a database error."""
    if not re.fullmatch(serializers.SESSION_ID_PATTERN, value):
        raise SessionNotFound(detail="no session with this id")
    return value
