"""The documents API: ingest, documents and vaults (API.md). Views validate, call one service or selector, and
shape the output; errors are raised as ServiceErrors and rendered by ragsite.errors."""

from __future__ import annotations

import uuid

from django.conf import settings
from drf_spectacular.utils import OpenApiRequest, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from documents import selectors, serializers
from documents.services.documents import document_delete
from documents.services.ingest import document_ingest
from documents.services.parsing import file_parse
from documents.services.search import chunks_search
from documents.services.vaults import vault_create, vault_delete
from ragsite.apikeys.permissions import ADMIN, READ, WRITE
from ragsite.apikeys.scoping import request_unbound, request_vault_id, request_vault_scope
from ragsite.errors import DocumentNotFound, ServiceError, VaultNotFound
from ragsite.openapi import error_responses, uuid_path_parameter


def path_uuid(value: str, not_found: type[ServiceError]) -> uuid.UUID:
    """An id from the URL; anything that is not a UUID names no object, so it is a 404 like a missing one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found(detail=f"no such id: {value[:64]}") from None


class IngestView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        summary="Ingest a document: its text as JSON, or a file as multipart",
        description=(
            "The same text in the same vault is `unchanged` (same id, no embedding call); the same `source` with "
            "new text is `updated` (same id, swapped atomically)."
        ),
        request={
            "application/json": serializers.IngestTextInputSerializer,
            "multipart/form-data": OpenApiRequest(
                serializers.IngestFileInputSerializer, encoding={"metadata": {"contentType": "application/json"}}
            ),
        },
        responses={200: serializers.IngestOutputSerializer, **error_responses(404, 502, 504)},
    )
    def post(self, request: Request) -> Response:
        payload = serializers.IngestInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        vault_id = request_vault_id(request, data.get("vault_id"))
        vault = selectors.vault_get(vault_id=vault_id) if vault_id else None
        title, text = data.get("title", ""), data.get("text", "")
        upload = data.get("file")
        if upload is not None:
            parsed = file_parse(name=upload.name or "upload", data=upload.read())
            title, text = title or parsed.title, parsed.text
        result = document_ingest(
            text=text, title=title, source=data.get("source", ""), metadata=data.get("metadata"), vault=vault
        )
        return Response(serializers.IngestOutputSerializer(result).data)


class SearchView(APIView):
    required_scopes = {"POST": READ}

    @extend_schema(
        summary="Search the chunks of the documents, best first",
        request=serializers.SearchInputSerializer,
        responses={200: serializers.SearchOutputSerializer, **error_responses(404, 502, 504)},
    )
    def post(self, request: Request) -> Response:
        payload = serializers.SearchInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        vault_id = request_vault_id(request, data.get("vault_id"))
        vault_id = selectors.vault_get(vault_id=vault_id).pk if vault_id else None
        hits = chunks_search(
            query=data["query"],
            top_k=data.get("top_k") or settings.TOP_K_DEFAULT,
            mode=data["mode"],
            vault_id=vault_id,
            filters=data.get("filters"),
        )
        return Response(serializers.SearchOutputSerializer({"results": hits, "mode": data["mode"]}).data)


class DocumentListView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        summary="List documents, newest first",
        parameters=[serializers.DocumentListQuerySerializer],
        responses={200: serializers.DocumentListOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        query = serializers.DocumentListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        documents = selectors.document_list(
            vault_id=request_vault_id(request, params.get("vault_id")), q=params.get("q")
        )
        page = documents[params["offset"] : params["offset"] + params["limit"]]
        body = {"documents": page, "total": documents.count(), "limit": params["limit"], "offset": params["offset"]}
        return Response(serializers.DocumentListOutputSerializer(body).data)


@extend_schema(parameters=[uuid_path_parameter("document_id", "document")])
class DocumentDetailView(APIView):
    required_scopes = {"GET": READ, "DELETE": WRITE}

    @extend_schema(
        summary="A document with its text and chunks", responses={200: serializers.DocumentDetailOutputSerializer}
    )
    def get(self, request: Request, document_id: str) -> Response:
        document = selectors.document_get(
            document_id=path_uuid(document_id, DocumentNotFound), vault_scope=request_vault_scope(request)
        )
        return Response(serializers.DocumentDetailOutputSerializer(document).data)

    @extend_schema(
        summary="Delete a document and its chunks", responses={200: serializers.DocumentDeletedOutputSerializer}
    )
    def delete(self, request: Request, document_id: str) -> Response:
        document_id_ = path_uuid(document_id, DocumentNotFound)
        document_delete(document_id=document_id_, vault_scope=request_vault_scope(request))
        return Response({"document_id": str(document_id_), "status": "deleted"})


class VaultListView(APIView):
    required_scopes = {"GET": READ, "POST": ADMIN}

    @extend_schema(summary="List vaults", responses={200: serializers.VaultListOutputSerializer})
    def get(self, request: Request) -> Response:
        vaults = selectors.vault_list(vault_scope=request_vault_scope(request))
        return Response({"vaults": serializers.VaultOutputSerializer(vaults, many=True).data})

    @extend_schema(
        summary="Create a vault",
        request=serializers.VaultInputSerializer,
        responses={201: serializers.VaultOutputSerializer, **error_responses(409)},
    )
    def post(self, request: Request) -> Response:
        request_unbound(request)
        payload = serializers.VaultInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        vault = vault_create(**payload.validated_data)
        vault = selectors.vault_get(vault_id=vault.pk, with_document_count=True)
        return Response(serializers.VaultOutputSerializer(vault).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[uuid_path_parameter("vault_id", "vault")])
class VaultDetailView(APIView):
    required_scopes = {"GET": READ, "DELETE": ADMIN}

    @extend_schema(summary="A vault", responses={200: serializers.VaultOutputSerializer})
    def get(self, request: Request, vault_id: str) -> Response:
        vault = selectors.vault_get(
            vault_id=path_uuid(vault_id, VaultNotFound),
            with_document_count=True,
            vault_scope=request_vault_scope(request),
        )
        return Response(serializers.VaultOutputSerializer(vault).data)

    @extend_schema(
        summary="Delete a vault with its documents, chunks and agents",
        responses={200: serializers.VaultDeletedOutputSerializer},
    )
    def delete(self, request: Request, vault_id: str) -> Response:
        request_unbound(request)
        vault_id_ = path_uuid(vault_id, VaultNotFound)
        vault_delete(vault_id=vault_id_)
        return Response({"vault_id": str(vault_id_), "status": "deleted"})
