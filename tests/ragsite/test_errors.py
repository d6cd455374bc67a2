"""Every non-2xx answer is the envelope of API.md, and every response carries X-Request-ID."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError
from rest_framework.exceptions import ParseError, ValidationError

from ragsite.errors import exception_to_error
from tests.ragsite.urls_for_errors import SECRET_IN_EXCEPTION


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "code", "detail"}
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str | dict)
    return body


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_path_is_404_not_found_in_the_envelope(api_client, method):
    response = getattr(api_client, method)("/nope")
    body = assert_envelope(response, 404, "NOT_FOUND")
    assert "/nope" in body["detail"]


def test_wrong_method_on_an_api_view_is_405_in_the_envelope(api_client):
    response = api_client.post("/health", {}, format="json")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response["Allow"]


@pytest.mark.urls("tests.ragsite.urls_for_errors")
def test_wrong_method_on_a_plain_django_view_is_405_in_the_envelope(api_client):
    response = api_client.get("/post-only")
    body = assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in body["detail"]
    assert response["Allow"] == "POST"


@pytest.mark.urls("tests.ragsite.urls_for_errors")
@pytest.mark.parametrize("path", ["/boom/django", "/boom/api"])
def test_a_crash_is_500_internal_error_and_leaks_nothing(api_client, caplog, path):
    with caplog.at_level(logging.ERROR):
        response = api_client.get(path, HTTP_X_REQUEST_ID="req-500-test")
    body = assert_envelope(response, 500, "INTERNAL_ERROR")
    assert SECRET_IN_EXCEPTION not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    assert body["detail"] == ""
    # The crash is logged, with the request id, for the operator.
    assert response["X-Request-ID"] == "req-500-test"
    assert any(record.levelno >= logging.ERROR for record in caplog.records)


def test_unparseable_json_maps_to_422_validation_error():
    error = exception_to_error(ParseError("JSON parse error - Expecting value"))
    assert (error.status, error.code) == (422, "VALIDATION_ERROR")


def test_validation_detail_becomes_field_to_messages():
    error = exception_to_error(
        ValidationError({"text": ["This field may not be blank."], "config": {"top_k": ["Too big."]}})
    )
    assert (error.status, error.code) == (422, "VALIDATION_ERROR")
    assert error.detail == {"text": ["This field may not be blank."], "config.top_k": ["Too big."]}


def test_a_database_outage_maps_to_503_database_unavailable():
    error = exception_to_error(OperationalError("connection refused"))
    assert (error.status, error.code) == (503, "DATABASE_UNAVAILABLE")
    assert "refused" not in error.message


def test_every_response_carries_a_request_id(api_client):
    response = api_client.get("/health/live")
    assert response.status_code == 200
    assert len(response["X-Request-ID"]) == 32


def test_a_valid_incoming_request_id_is_echoed(api_client):
    response = api_client.get("/nope", HTTP_X_REQUEST_ID="client-abc.123")
    assert response["X-Request-ID"] == "client-abc.123"


def test_an_unsafe_incoming_request_id_is_replaced(api_client):
    response = api_client.get("/health/live", HTTP_X_REQUEST_ID="evil\r\nSet-Cookie: x=1" + "a" * 200)
    assert response["X-Request-ID"] != "evil"
    assert len(response["X-Request-ID"]) == 32
    assert "\n" not in response["X-Request-ID"]


def test_a_trailing_slash_is_served_not_redirected(api_client):
    response = api_client.get("/health/live/")
    assert response.status_code == 200
