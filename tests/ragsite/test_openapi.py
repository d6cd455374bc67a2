"""GET /openapi.json describes every endpoint of API.md and validates as OpenAPI 3; /docs and /redoc render with
their scripts and styles served by the service itself (no CDN), and none of the three needs a key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from openapi_spec_validator import validate

# Every operation of API.md (its `{id}`s named after what they identify).
API_MD_OPERATIONS = {
    ("get", "/"),
    ("get", "/health"),
    ("get", "/health/live"),
    ("get", "/docs"),
    ("get", "/redoc"),
    ("get", "/openapi.json"),
    ("post", "/ingest"),
    ("get", "/documents"),
    ("get", "/documents/{document_id}"),
    ("delete", "/documents/{document_id}"),
    ("post", "/search"),
    ("post", "/chat"),
    ("get", "/sessions/{session_id}"),
    ("delete", "/sessions/{session_id}"),
    ("post", "/vaults"),
    ("get", "/vaults"),
    ("get", "/vaults/{vault_id}"),
    ("delete", "/vaults/{vault_id}"),
    ("post", "/agents"),
    ("get", "/agents"),
    ("get", "/agents/{agent_id}"),
    ("delete", "/agents/{agent_id}"),
}
PUBLIC_OPERATIONS = {("get", "/"), ("get", "/health"), ("get", "/health/live")} | {
    ("get", path) for path in ("/docs", "/redoc", "/openapi.json")
}


def schema_operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {(method, path): operation for path, item in schema["paths"].items() for method, operation in item.items()}


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_the_schema_validates_as_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_every_operation_of_api_md_is_in_the_schema(schema):
    assert API_MD_OPERATIONS <= set(schema_operations(schema))


def test_every_error_code_of_api_md_is_named_in_the_docs(schema):
    # API.md's table of codes; the README says each is listed at /docs.
    codes = (
        "VALIDATION_ERROR UNAUTHORIZED FORBIDDEN NOT_FOUND DOCUMENT_NOT_FOUND SESSION_NOT_FOUND VAULT_NOT_FOUND "
        "AGENT_NOT_FOUND METHOD_NOT_ALLOWED CONFLICT VAULT_EXISTS REQUEST_TOO_LARGE UNSUPPORTED_MEDIA_TYPE "
        "RATE_LIMITED INTERNAL_ERROR LLM_ERROR EMBEDDING_ERROR DATABASE_UNAVAILABLE UPSTREAM_TIMEOUT"
    ).split()
    text = json.dumps(schema)
    assert [code for code in codes if not re.search(rf"(?<![A-Z_]){code}(?![A-Z_])", text)] == []


def test_every_documented_error_has_the_envelope(schema):
    envelope = {"$ref": "#/components/schemas/Error"}
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"error", "code", "detail"}
    errors = 0
    for (method, path), operation in schema_operations(schema).items():
        for status, response in operation["responses"].items():
            if int(status) >= 400 and (method, path) != ("get", "/health"):
                assert response["content"] == {"application/json": {"schema": envelope}}, (method, path, status)
                errors += 1
    assert errors > 100


def test_api_operations_list_their_errors_and_the_scope_they_need(schema):
    operations = schema_operations(schema)
    assert set(operations[("get", "/documents/{document_id}")]["responses"]) == {
        "200", "401", "403", "404", "429", "500", "503"
    }  # fmt: skip
    assert set(operations[("post", "/chat")]["responses"]) == {
        "200", "401", "403", "404", "413", "415", "422", "429", "500", "502", "503", "504"
    }  # fmt: skip
    assert operations[("post", "/chat")]["responses"]["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert "`write` scope" in operations[("post", "/ingest")]["description"]
    assert "`admin` scope" in operations[("post", "/vaults")]["description"]
    assert "`read` scope" in operations[("post", "/search")]["description"]


def test_api_keys_are_the_auth_schemes_and_public_views_have_none(schema, settings):
    assert schema["components"]["securitySchemes"] == {
        "BearerKey": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <API key>`"},
        "HeaderKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "`X-API-Key: <API key>`"},
    }
    for key, operation in schema_operations(schema).items():
        if key in PUBLIC_OPERATIONS:
            assert "security" not in operation, key
        else:
            # API_AUTH=optional (the tests' setting, as in development) also serves requests without a key.
            assert operation["security"] == [{"BearerKey": []}, {"HeaderKey": []}, {}], key


def test_keys_are_required_in_the_schema_when_the_server_requires_them(client, settings):
    settings.API_AUTH = "required"
    operation = client.get("/openapi.json").json()["paths"]["/search"]["post"]
    assert operation["security"] == [{"BearerKey": []}, {"HeaderKey": []}]


def test_chat_documents_its_json_answer_and_its_event_stream(schema):
    content = schema_operations(schema)[("post", "/chat")]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatOutput"}
    event = schema["components"]["schemas"]["ChatEvent"]["properties"]["data"]
    assert event["contentMediaType"] == "application/json"
    kinds = [variant["properties"]["type"]["const"] for variant in event["contentSchema"]["oneOf"]]
    assert kinds == ["token", "sources", "done", "error"]
    assert content["text/event-stream"]["schema"] == {"$ref": "#/components/schemas/ChatEvent"}


def test_ingest_documents_json_and_multipart_upload(schema):
    body = schema_operations(schema)[("post", "/ingest")]["requestBody"]["content"]
    components = schema["components"]["schemas"]
    text = components[body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    upload = components[body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert text["required"] == ["text"]
    assert upload["required"] == ["file"]
    assert upload["properties"]["file"]["format"] == "binary"
    assert body["multipart/form-data"]["encoding"] == {"metadata": {"contentType": "application/json"}}


def test_documented_paths_have_no_trailing_slash(schema):
    assert [path for path in schema["paths"] if path != "/" and path.endswith("/")] == []


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_docs_need_no_key_even_where_keys_are_required(client, settings, path):
    settings.API_AUTH = "required"
    assert client.get(path).status_code == 200


def test_a_post_to_the_docs_is_a_405_in_the_envelope(client):
    response = client.post("/docs")
    assert response.status_code == 405
    assert response.json() == {"error": 'Method "POST" not allowed.', "code": "METHOD_NOT_ALLOWED", "detail": ""}


@pytest.mark.parametrize("page, title", [("/docs", "ragsite API"), ("/redoc", "ragsite API")])
def test_docs_pages_render_with_local_assets(client, settings, page, title):
    # whitenoise serves static files from the apps (in production: from collectstatic's output, same URLs).
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = client.get(page)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f"<title>{title}</title>" in html
    assert "/openapi.json" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/static/drf_spectacular_sidecar/") for url in assets), assets
    assert "cdn" not in html.lower()
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content) == Path(finders.find(url.removeprefix("/static/"))).read_bytes()


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_options_on_the_docs_is_a_405_in_the_envelope_not_a_500(client, path):
    response = client.options(path)
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.django_db
def test_creating_an_agent_documents_the_404_of_an_unknown_vault(schema, client):
    assert "404" in schema_operations(schema)[("post", "/agents")]["responses"]
    response = client.post(
        "/agents",
        {"name": "a", "vault_id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "system_prompt": "p"},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["code"]) == (404, "VAULT_NOT_FOUND")


def test_uuids_have_a_pattern_and_empty_query_parameters_are_documented(schema):
    search = schema["components"]["schemas"]["SearchInputRequest"]["properties"]
    assert search["vault_id"]["pattern"].startswith("^[0-9a-fA-F]{8}-")
    (vault_id,) = [p for p in schema_operations(schema)[("get", "/documents")]["parameters"] if p["name"] == "vault_id"]
    assert vault_id["schema"]["anyOf"][1] == {"type": "string", "maxLength": 0}


@pytest.mark.django_db
def test_an_empty_query_parameter_is_read_as_absent(client):
    response = client.get("/documents?vault_id=&q=&limit=&offset=")
    assert response.status_code == 200
    assert (response.json()["limit"], response.json()["offset"]) == (20, 0)


@pytest.mark.django_db
def test_text_that_may_not_be_blank_needs_a_character_besides_whitespace_and_nul(schema, client):
    pattern = schema["components"]["schemas"]["SearchInputRequest"]["properties"]["query"]["pattern"]
    assert re.search(pattern, "a") and not re.search(pattern, "\x00 \n\x00")
    response = client.post("/search", {"query": "\x00 \x00"}, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")


def test_the_upload_form_has_no_null_vault(schema):
    upload = schema["components"]["schemas"]["IngestFileInputRequest"]["properties"]["vault_id"]
    assert upload["type"] == "string"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/vaults", {"name": -496, "description": "d"}, "name"),
        ("/vaults", {"name": "v", "description": 73421}, "description"),
        ("/search", {"query": 42}, "query"),
        ("/chat", {"message": "hi", "session_id": 42}, "session_id"),
    ],
)
def test_a_number_where_the_schema_says_string_is_a_422(client, path, body, field):
    response = client.post(path, body, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")
    assert list(response.json()["detail"]) == [field]


@pytest.mark.django_db
def test_an_offset_past_what_postgresql_can_skip_is_a_422_not_a_500(client, schema):
    response = client.get("/documents?offset=5541356161271124197376")
    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")
    assert list(response.json()["detail"]) == ["offset"]
    assert client.get(f"/documents?offset={2**62}").status_code == 200
    (offset,) = [p for p in schema_operations(schema)[("get", "/documents")]["parameters"] if p["name"] == "offset"]
    assert offset["schema"]["anyOf"][0]["maximum"] == 2**62


def test_the_root_is_documented_as_the_service_description_or_the_console(schema, client):
    content = schema["paths"]["/"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/html"}
    body = client.get("/", HTTP_ACCEPT="application/json").json()
    assert set(body) == set(content["application/json"]["schema"]["required"])
    assert body["links"]["docs"] == "/docs" and body["links"]["openapi"] == "/openapi.json"


@pytest.mark.parametrize("path", ["/", "/console"])
def test_an_unknown_method_on_the_console_is_a_405_in_the_envelope_not_a_csrf_page(path):
    response = Client(enforce_csrf_checks=True).generic("QUERY", path)
    assert (response.status_code, response.json()["code"]) == (405, "METHOD_NOT_ALLOWED")
