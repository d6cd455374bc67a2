"""The chat API: agents (sessions and chat follow)."""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors, serializers
from chat.services.agents import agent_create, agent_delete
from documents.selectors import vault_get
from documents.views import path_uuid
from ragsite.errors import AgentNotFound


class AgentListView(APIView):
    def get(self, request: Request) -> Response:
        query = serializers.AgentListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        agents = selectors.agent_list(vault_id=query.validated_data.get("vault_id"))
        return Response({"agents": serializers.AgentOutputSerializer(agents, many=True).data})

    def post(self, request: Request) -> Response:
        payload = serializers.AgentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        agent = agent_create(
            name=data["name"], vault=vault_get(vault_id=data["vault_id"]), system_prompt=data["system_prompt"]
        )
        return Response(serializers.AgentOutputSerializer(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailView(APIView):
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(agent_id=path_uuid(agent_id, AgentNotFound))
        return Response(serializers.AgentOutputSerializer(agent).data)

    def delete(self, request: Request, agent_id: str) -> Response:
        agent_id_ = path_uuid(agent_id, AgentNotFound)
        agent_delete(agent_id=agent_id_)
        return Response({"agent_id": str(agent_id_), "status": "deleted"})
