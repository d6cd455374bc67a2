"""GET /metrics: request latency per route, provider calls and failures, ingestion counts, active sessions; a token."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from chat.models import Session
from documents.models import Document
from ragsite.metrics import route_label
from tests.ragsite.test_errors import assert_envelope

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(api_client, **headers) -> dict[str, float]:
    response = api_client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def test_requests_are_counted_and_timed_per_route_pattern_not_per_path(api_client):
    missing = uuid.uuid4()
    before = sample("ragsite_http_requests_total", method="GET", route="/documents/{document_id}", status="404")

    api_client.get(f"/documents/{missing}")
    api_client.get(f"/documents/{uuid.uuid4()}")

    labels = {"method": "GET", "route": "/documents/{document_id}"}
    assert sample("ragsite_http_requests_total", **labels, status="404") == before + 2
    assert sample("ragsite_http_request_duration_seconds_count", **labels) >= 2
    exposition = api_client.get("/metrics").content.decode()
    assert 'route="/documents/{document_id}"' in exposition
    assert str(missing) not in exposition


def test_paths_that_match_no_route_share_one_label(api_client):
    before = sample("ragsite_http_requests_total", method="GET", route="<unmatched>", status="404")

    api_client.get("/wp-admin/install.php")
    api_client.get(f"/{uuid.uuid4()}")

    assert sample("ragsite_http_requests_total", method="GET", route="<unmatched>", status="404") == before + 2


def test_route_labels_read_like_the_api_paths():
    assert route_label("^documents/(?P<document_id>[^/]+)/?$") == "/documents/{document_id}"
    assert route_label("^health/live/?$") == "/health/live"
    assert route_label("admin/documents/document/<path:object_id>/change/") == (
        "/admin/documents/document/{object_id}/change/"
    )
    assert route_label(None) == "<unmatched>"


def test_ingesting_counts_documents_by_outcome_and_their_chunks(api_client, openai_settings, fake_openai):
    indexed, unchanged = (
        sample("ragsite_documents_ingested_total", status="indexed"),
        sample("ragsite_documents_ingested_total", status="unchanged"),
    )
    chunks = sample("ragsite_chunks_ingested_total")
    embedding_calls = sample(
        "ragsite_provider_request_duration_seconds_count", provider="embeddings", model="text-embedding-3-small"
    )

    first = api_client.post("/ingest", {"text": "Employees get 25 days of paid leave."}, format="json")
    again = api_client.post("/ingest", {"text": "Employees get 25 days of paid leave."}, format="json")

    assert (first.json()["status"], again.json()["status"]) == ("indexed", "unchanged")
    assert sample("ragsite_documents_ingested_total", status="indexed") == indexed + 1
    assert sample("ragsite_documents_ingested_total", status="unchanged") == unchanged + 1
    stored_chunks = Document.objects.get(pk=first.json()["document_id"]).chunks.count()
    assert stored_chunks >= 1
    assert sample("ragsite_chunks_ingested_total") == chunks + stored_chunks
    assert len(fake_openai.embedding_requests()) == 1
    assert (
        sample("ragsite_provider_request_duration_seconds_count", provider="embeddings", model="text-embedding-3-small")
        == embedding_calls + 1
    )


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "rate_limited"), (500, "server_error"), (401, "unauthorized"), (400, "client_error")]
)
def test_provider_failures_are_counted_by_kind(api_client, openai_settings, fake_openai, status, kind):
    openai_settings.PROVIDER_MAX_RETRIES = 0
    before = sample("ragsite_provider_errors_total", provider="embeddings", kind=kind)
    fake_openai.fail_next(status=status, endpoint="embeddings")

    response = api_client.post("/ingest", {"text": "A document the provider refuses."}, format="json")

    assert_envelope(response, 502, "EMBEDDING_ERROR")
    assert not Document.objects.exists()
    assert sample("ragsite_provider_errors_total", provider="embeddings", kind=kind) == before + 1


def test_provider_timeouts_and_invalid_answers_are_counted(api_client, openai_settings, fake_openai):
    openai_settings.PROVIDER_MAX_RETRIES = 0
    openai_settings.REQUEST_TIMEOUT = 1.0
    timeouts = sample("ragsite_provider_errors_total", provider="embeddings", kind="timeout")
    invalid = sample("ragsite_provider_errors_total", provider="embeddings", kind="invalid_response")

    fake_openai.hang_next(seconds=3, endpoint="embeddings")
    assert_envelope(api_client.post("/ingest", {"text": "one"}, format="json"), 504, "UPSTREAM_TIMEOUT")
    fake_openai.garbage_next(endpoint="embeddings")
    assert_envelope(api_client.post("/ingest", {"text": "two"}, format="json"), 502, "EMBEDDING_ERROR")

    assert sample("ragsite_provider_errors_total", provider="embeddings", kind="timeout") == timeouts + 1
    assert sample("ragsite_provider_errors_total", provider="embeddings", kind="invalid_response") == invalid + 1


def test_chat_model_calls_are_timed_and_their_failures_counted(api_client, openai_settings, fake_openai):
    api_client.post("/ingest", {"text": "Employees get 25 days of paid leave."}, format="json")
    calls = sample("ragsite_provider_request_duration_seconds_count", provider="chat", model="gpt-4.1-mini")
    failures = sample("ragsite_provider_errors_total", provider="chat", kind="server_error")

    assert api_client.post("/chat", {"message": "How much leave?"}, format="json").status_code == 200
    openai_settings.PROVIDER_MAX_RETRIES = 0
    fake_openai.fail_next(status=503, endpoint="chat")
    assert_envelope(api_client.post("/chat", {"message": "How much leave?"}, format="json"), 502, "LLM_ERROR")

    assert sample("ragsite_provider_request_duration_seconds_count", provider="chat", model="gpt-4.1-mini") >= calls + 2
    assert sample("ragsite_provider_errors_total", provider="chat", kind="server_error") == failures + 1


def test_active_sessions_are_those_with_a_recent_message(api_client, settings):
    settings.METRICS_ACTIVE_SESSION_MINUTES = 15
    Session.objects.create(id="recent")
    old = Session.objects.create(id="old")
    Session.objects.filter(pk=old.pk).update(last_active_at=timezone.now() - timedelta(minutes=16))

    assert scrape(api_client)["ragsite_chat_sessions_active[]"] == 1


def test_a_configured_token_is_required(api_client, settings):
    settings.METRICS_TOKEN = TOKEN

    missing = assert_envelope(api_client.get("/metrics"), 401, "UNAUTHORIZED")
    wrong = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token-at-all")
    other_scheme = api_client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")

    assert missing["detail"] == "send Authorization: Bearer <METRICS_TOKEN>"
    assert TOKEN not in str(missing)
    assert_envelope(wrong, 401, "UNAUTHORIZED")
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert_envelope(other_scheme, 401, "UNAUTHORIZED")
    assert "ragsite_http_requests_total" in str(scrape(api_client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"))


def test_production_without_a_token_keeps_metrics_closed(api_client, settings):
    settings.IS_PRODUCTION = True
    settings.METRICS_TOKEN = None

    assert_envelope(api_client.get("/metrics"), 401, "UNAUTHORIZED")
    assert_envelope(api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer "), 401, "UNAUTHORIZED")


def test_development_without_a_token_is_open(api_client, settings):
    settings.IS_PRODUCTION = False
    settings.METRICS_TOKEN = None

    assert "ragsite_chat_sessions_active[]" in scrape(api_client)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_only_get_is_allowed(method):
    from rest_framework.test import APIClient

    # With CSRF checks on, as for a real client: an unsafe method met the CSRF middleware's HTML 403 before.
    client = APIClient(enforce_csrf_checks=True, raise_request_exception=False)
    response = getattr(client, method)("/metrics")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "GET"


def test_an_admin_key_spanning_every_vault_may_read_metrics_in_production(api_client, settings, make_api_key):
    from documents.models import Vault

    settings.IS_PRODUCTION = True
    settings.METRICS_TOKEN = TOKEN
    admin_key, admin_secret = make_api_key(scope="admin")
    _, write_secret = make_api_key(scope="write")
    _, bound_secret = make_api_key(scope="admin", vault=Vault.objects.create(name="HR"))

    response = api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {admin_secret}")
    assert response.status_code == 200
    assert response.wsgi_request.api_key_prefix == admin_key.prefix
    for secret in (write_secret, bound_secret):
        assert_envelope(api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {secret}"), 401, "UNAUTHORIZED")
    admin_key.revoked_at = timezone.now()
    admin_key.save()
    assert_envelope(api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {admin_secret}"), 401, "UNAUTHORIZED")
