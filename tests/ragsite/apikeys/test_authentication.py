"""API keys on every endpoint: 401 without one where required, 401 for a wrong or revoked one always, 403 for a
scope that does not reach, and what a key is (hashed, prefixed, last used)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from documents.models import Document, Vault
from ragsite.apikeys.models import APIKey
from tests.ragsite.test_errors import assert_envelope


def endpoints(world) -> list[tuple[str, str, dict | None]]:
    """(method, path, JSON body) of every API endpoint, with the scope each needs (see permissions.py)."""
    return [
        ("post", "/search", {"query": "annual leave"}),
        ("post", "/chat", {"message": "How much leave?"}),
        ("get", "/documents", None),
        ("get", f"/documents/{world.hr_doc.pk}", None),
        ("get", "/sessions/hr-session", None),
        ("get", "/vaults", None),
        ("get", f"/vaults/{world.hr.pk}", None),
        ("get", "/agents", None),
        ("get", f"/agents/{world.hr_agent.pk}", None),
        ("post", "/ingest", {"text": "Parking is free on Fridays."}),
        ("delete", f"/documents/{world.loose_doc.pk}", None),
        ("delete", "/sessions/open-session", None),
        ("post", "/vaults", {"name": "Finance"}),
        ("delete", f"/vaults/{world.zoo.pk}", None),
        ("post", "/agents", {"name": "Helper", "vault_id": str(world.hr.pk), "system_prompt": "Be brief."}),
        ("delete", f"/agents/{world.hr_agent.pk}", None),
    ]


READS = 9  # the first nine endpoints above need `read`
WRITES = 12  # then `write` up to the twelfth; the rest need `admin`


def call(client: APIClient, method: str, path: str, body: dict | None):
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


def test_without_a_key_every_endpoint_is_401_when_keys_are_required(settings, api_client, world):
    settings.API_AUTH = "required"
    for method, path, body in endpoints(world):
        response = call(api_client, method, path, body)
        assert_envelope(response, 401, "UNAUTHORIZED")
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert Document.objects.count() == 3
    assert Vault.objects.count() == 2


def test_without_a_key_everything_is_served_when_keys_are_optional(api_client, world):
    assert api_client.post("/search", {"query": "annual leave"}, format="json").status_code == 200
    assert api_client.post("/vaults", {"name": "Finance"}, format="json").status_code == 201


@pytest.mark.parametrize("auth", ["required", "optional"])
def test_a_wrong_key_is_401_even_when_keys_are_optional(settings, api_client, world, auth):
    settings.API_AUTH = auth
    api_client.credentials(HTTP_AUTHORIZATION="Bearer rsk_not-a-key-anyone-was-given")
    body = assert_envelope(api_client.get("/documents"), 401, "UNAUTHORIZED")
    assert body["error"] == "Invalid API key"
    assert "rsk_not" not in str(body)


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_a_key_is_accepted_as_bearer_or_x_api_key(settings, api_client, make_api_key, world, header):
    settings.API_AUTH = "required"
    api_key, secret = make_api_key()
    api_client.credentials(**{header: f"Bearer {secret}" if header == "HTTP_AUTHORIZATION" else secret})
    response = api_client.get("/documents")
    assert response.status_code == 200
    assert response.json()["total"] == 3
    assert response.wsgi_request.api_key_prefix == api_key.prefix  # for the request log
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_a_bearer_header_without_a_key_is_401(api_client, world):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer   ")
    assert_envelope(api_client.get("/documents"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(("scope", "allowed"), [("read", READS), ("write", WRITES), ("admin", 16)])
def test_each_scope_reaches_exactly_its_endpoints(settings, keyed_client, world, scope, allowed):
    settings.API_AUTH = "required"
    client = keyed_client(scope)
    for index, (method, path, body) in enumerate(endpoints(world)):
        response = call(client, method, path, body)
        if index < allowed:
            assert response.status_code in (200, 201), (method, path, response.content)
        else:
            body_ = assert_envelope(response, 403, "FORBIDDEN")
            assert f"has the {scope} scope" in body_["error"]
    # Nothing a refused request would have written was written.
    assert Vault.objects.filter(name="Finance").exists() is (scope == "admin")
    assert Document.objects.filter(pk=world.loose_doc.pk).exists() is (scope == "read")


def test_a_revoked_key_is_401(settings, api_client, make_api_key, world):
    api_key, secret = make_api_key(scope="admin")
    api_key.revoked_at = timezone.now()
    api_key.save()
    api_client.credentials(HTTP_X_API_KEY=secret)
    body = assert_envelope(api_client.get("/documents"), 401, "UNAUTHORIZED")
    assert body["error"] == "This API key has been revoked"


def test_a_key_is_stored_as_its_hash_with_a_visible_prefix(make_api_key):
    api_key, secret = make_api_key(scope="write")
    assert secret.startswith("rsk_") and len(secret) >= 40
    stored = APIKey.objects.filter(pk=api_key.pk).values().get()
    assert stored["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert stored["prefix"] == secret[:12]
    assert not any(secret in str(value) for value in stored.values())
    assert make_api_key()[1] != secret


def test_last_used_is_written_at_most_once_a_minute(api_client, make_api_key, world):
    api_key, secret = make_api_key()
    api_client.credentials(HTTP_X_API_KEY=secret)
    api_client.get("/vaults")
    api_key.refresh_from_db()
    first_use = api_key.last_used_at
    with CaptureQueriesContext(connection) as queries:
        api_client.get("/vaults")
    assert not any("UPDATE" in query["sql"] and "apikeys_apikey" in query["sql"] for query in queries)
    api_key.refresh_from_db()
    assert api_key.last_used_at == first_use

    APIKey.objects.filter(pk=api_key.pk).update(last_used_at=first_use - timedelta(minutes=2))
    api_client.get("/vaults")
    api_key.refresh_from_db()
    assert api_key.last_used_at > first_use - timedelta(seconds=1)


@pytest.mark.parametrize("path", ["/health", "/health/live"])
def test_health_needs_no_key_and_ignores_a_wrong_one(settings, api_client, path, db):
    settings.API_AUTH = "required"
    assert api_client.get(path).status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    assert api_client.get(path).status_code == 200


def test_deleting_a_vault_deletes_the_keys_bound_to_it_rather_than_unbinding_them(keyed_client, make_api_key, world):
    bound, _ = make_api_key(scope="admin", vault=world.zoo)
    response = keyed_client("admin").delete(f"/vaults/{world.zoo.pk}")
    assert response.status_code == 200
    assert not APIKey.objects.filter(pk=bound.pk).exists()
