"""How the OpenAPI schema (drf-spectacular) describes the service; ragsite/docs.py serves it.

Views carry only what the code cannot tell (`@extend_schema`: request and success shapes, the errors particular to
them). What every endpoint shares is added here, from the same attributes the service acts on: the API key schemes
from the authentication class, the error responses from `required_scopes` (auth, 403, 429), the request body (413,
422) and the path (404), each with the one error envelope of ragsite/errors.py. The schema cannot drift from the
code it describes: tests/ragsite/test_openapi.py and tests/ragsite/test_schemathesis.py hold the service to it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import is_serializer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from ragsite.apikeys.permissions import required_scope
from ragsite.apikeys.throttling import request_budget
from ragsite.serializers import ErrorSerializer

# What each error status means, with the codes it carries (API.md's table).
ERROR_DESCRIPTIONS = {
    401: "`UNAUTHORIZED`: no API key where keys are required, or a wrong or revoked one.",
    403: "`FORBIDDEN`: the key's scope does not allow this request, or the key is bound to another vault.",
    404: "`NOT_FOUND`, or the object's own code (`DOCUMENT_NOT_FOUND`, `SESSION_NOT_FOUND`, `VAULT_NOT_FOUND`, "
    "`AGENT_NOT_FOUND`).",
    409: "`CONFLICT`, `VAULT_EXISTS` or `AGENT_EXISTS`: the name is taken.",
    413: "`REQUEST_TOO_LARGE`: the body is over MAX_REQUEST_SIZE.",
    415: "`UNSUPPORTED_MEDIA_TYPE`: the request's content type, or an uploaded file type that cannot be read.",
    422: "`VALIDATION_ERROR`: invalid JSON, a missing, blank or oversized field, a bad type or range. `detail` maps "
    "each field to its messages.",
    429: "`RATE_LIMITED`: the key's (or the address's) budget for this kind of request is spent; retry after "
    "`Retry-After` seconds.",
    500: "`INTERNAL_ERROR`: a bug, logged with the request id.",
    502: "`LLM_ERROR` or `EMBEDDING_ERROR`: the model provider failed after retries.",
    503: "`DATABASE_UNAVAILABLE`: the database cannot be reached.",
    504: "`UPSTREAM_TIMEOUT`: the model provider did not answer within REQUEST_TIMEOUT.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """`responses={...}` entries for errors particular to an endpoint, in the error envelope."""
    return {status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status]) for status in statuses}


def uuid_path_parameter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.UUID, OpenApiParameter.PATH, description=f"The {what}'s id (anything else is a 404)."
    )


REQUEST_ID_HEADER = OpenApiParameter(
    "X-Request-ID",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=True,
    description="The request's id: the one the client sent if it is plain and short, else a new one. Logs carry it.",
)
RETRY_AFTER_HEADER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until the budget refills.",
)


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema plus what every endpoint shares (see the module docstring)."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        # Added to the finished operation: `@extend_schema` replaces the methods that would otherwise build these.
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for status, response in error_responses(*self._shared_error_statuses()).items():
            responses.setdefault(str(status), self._get_response_for_code(response, str(status)))
        operation["responses"] = dict(sorted(responses.items()))
        if self.view.get_authenticators():
            scope = required_scope(self.view, self.method)
            needs = f"Needs an API key with the `{scope}` scope" + (" (or a wider one)." if scope != "admin" else ".")
            operation["description"] = f"{operation.get('description', '')}\n\n{needs}".strip()
        return operation

    def _shared_error_statuses(self) -> list[int]:
        statuses = []
        if self.view.get_authenticators():
            statuses += [401, 403]
        if self.method in ("POST", "PUT", "PATCH"):
            statuses += [413, 415, 422]
        elif any(
            is_serializer(parameter)
            or (isinstance(parameter, OpenApiParameter) and parameter.location == OpenApiParameter.QUERY)
            for parameter in self.get_override_parameters()
        ):
            statuses.append(422)
        if "{" in self.path:
            statuses.append(404)
        if getattr(self.view, "required_scopes", None):
            if request_budget(self.view, self.method) is not None:
                statuses.append(429)
            statuses += [500, 503]
        return statuses

    def get_override_parameters(self) -> list[Any]:
        parameters = [*super().get_override_parameters(), REQUEST_ID_HEADER]
        if getattr(self.view, "required_scopes", None) and request_budget(self.view, self.method) is not None:
            parameters.append(RETRY_AFTER_HEADER)
        return parameters

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        # drf-spectacular cannot tell a list APIView from a detail one: `documents_list`, not `documents_retrieve_2`.
        if self.view.__class__.__name__.endswith("ListView") and operation_id.endswith("_retrieve"):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def get_auth(self) -> list[dict[str, list[Any]]]:
        auths = super().get_auth()
        if auths and settings.API_AUTH == "optional":
            auths.append({})  # this server also serves requests without a key
        return auths


class APIKeyScheme(OpenApiAuthenticationExtension):
    """ragsite.apikeys.authentication.APIKeyAuthentication: one key, in either of two headers."""

    target_class = "ragsite.apikeys.authentication.APIKeyAuthentication"
    name = ["BearerKey", "HeaderKey"]

    def get_security_requirement(self, auto_schema: openapi.AutoSchema) -> list[dict[str, list[Any]]]:
        return [{"BearerKey": []}, {"HeaderKey": []}]  # either header, not both

    def get_security_definition(self, auto_schema: openapi.AutoSchema) -> list[dict[str, Any]]:
        return [
            {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <API key>`"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "`X-API-Key: <API key>`"},
        ]


class CleanCharFieldSchema(OpenApiSerializerFieldExtension):
    """documents.serializers.CleanCharField drops NUL characters before its blank check: a field that may not be
    blank needs a character that is neither whitespace nor NUL."""

    target_class = "documents.serializers.CleanCharField"

    def map_serializer_field(self, auto_schema: openapi.AutoSchema, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if isinstance(schema.get("type"), list):
            # That call already appended the field's meta ("null" for allow_null); our caller appends it once more.
            kinds = [kind for kind in schema["type"] if kind != "null"]
            schema["type"] = kinds[0] if len(kinds) == 1 else kinds
        if not self.target.allow_blank:
            schema["pattern"] = r"[^\s\x00]"
        return schema


def paths_without_trailing_slash(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """PREPROCESSING_HOOKS: routes are `re_path(r"^documents/?$")` (a trailing slash is tolerated, never
    required); DRF turns the optional slash into a trailing one, but the documented paths have none."""
    return [(path.rstrip("/") or "/", *rest) for path, *rest in endpoints]


# DRF's UUIDField reads the canonical form (and a few others): a pattern, because OpenAPI 3.1's JSON Schema treats
# `format` as a mere annotation, and generated clients and test tools would take any string for a uuid.
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _uuid_patterns(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("format") == "uuid" and "pattern" not in node:
            node["pattern"] = UUID_PATTERN
        for value in node.values():
            _uuid_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _uuid_patterns(value)


def _empty_query_parameters(schema: dict[str, Any]) -> None:
    for item in schema["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and not parameter.get("required"):
                    parameter["schema"] = {"anyOf": [parameter["schema"], {"type": "string", "maxLength": 0}]}
                    parameter["description"] = f"{parameter.get('description', '')} Empty: as if not given.".strip()


# GET / is a plain Django view (ragsite/console: the console's page for browsers, this description for the rest), so
# drf-spectacular cannot see it.
ROOT_OPERATION = {
    "operationId": "root_retrieve",
    "summary": "The service's name, version and links (a browser asking for HTML gets the web console instead)",
    "tags": ["root"],
    "responses": {
        "200": {
            "description": "",
            "headers": {"X-Request-ID": {"schema": {"type": "string"}, "description": REQUEST_ID_HEADER.description}},
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "version": {"type": "string"},
                            "links": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                        "required": ["name", "version", "links"],
                    }
                },
                "text/html": {"schema": {"type": "string"}},
            },
        }
    },
}


def schema_postprocess(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS: GET /, uuid patterns, and optional query parameters that may be empty
    (`?vault_id=&q=`, as API.md writes them; DRF reads an empty query parameter as an absent one)."""
    result["paths"] = {"/": {"get": ROOT_OPERATION}, **result["paths"]}
    _uuid_patterns(result)
    _empty_query_parameters(result)
    return result
