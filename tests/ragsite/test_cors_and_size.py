"""CORS_ORIGINS applied exactly: a preflight from a listed origin is allowed (with the key headers), any other gets
no CORS headers at all. And MAX_REQUEST_SIZE holds for every endpoint and method that takes a body."""

from __future__ import annotations

import pytest

from tests.ragsite.test_errors import assert_envelope

ALLOWED = "https://app.example.com"


@pytest.fixture
def cors(settings):
    settings.API_AUTH = "required"  # preflights carry no key and must pass anyway
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]
    settings.CORS_ALLOW_ALL_ORIGINS = False


def preflight(client, origin: str, headers: str = "authorization, content-type"):
    return client.options(
        "/search",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


def test_a_preflight_from_an_allowed_origin_is_allowed_with_the_key_headers(cors, api_client, db):
    response = preflight(api_client, ALLOWED, "authorization, x-api-key, content-type")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    allowed_headers = response["Access-Control-Allow-Headers"]
    assert "authorization" in allowed_headers and "x-api-key" in allowed_headers
    assert "POST" in response["Access-Control-Allow-Methods"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example.com", "https://app.example.com.evil.net", "http://app.example.com", "null"]
)
def test_a_preflight_from_any_other_origin_gets_no_cors_headers(cors, api_client, db, origin):
    response = preflight(api_client, origin)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Headers" not in response


def test_an_actual_request_from_an_allowed_origin_exposes_the_request_id_and_retry_after(cors, keyed_client, db):
    response = keyed_client("read").get("/vaults", HTTP_ORIGIN=ALLOWED)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert {"x-request-id", "retry-after"} <= {
        h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")
    }


def test_cors_origins_from_the_environment_become_exactly_the_allowed_origins():
    from tests.live import manage, service_env

    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.CORS_ALLOWED_ORIGINS, s.CORS_ALLOW_ALL_ORIGINS)",
        env=service_env(CORS_ORIGINS="https://a.example.com, https://b.example.com"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['https://a.example.com', 'https://b.example.com'] False"


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/search"), ("post", "/chat"), ("post", "/vaults"), ("post", "/agents"), ("post", "/ingest")],
)
def test_every_body_over_max_request_size_is_413(settings, api_client, db, method, path):
    settings.MAX_REQUEST_SIZE = 2048
    response = getattr(api_client, method)(path, {"query": "q" * 5000, "message": "m" * 5000}, format="json")
    body = assert_envelope(response, 413, "REQUEST_TOO_LARGE")
    assert "the limit is 2048" in body["detail"]
