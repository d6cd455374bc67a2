"""Keys are made with `create_api_key` or in the admin (shown once, stored hashed) and revoked with
`revoke_api_key` or an admin action."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from ragsite.apikeys.models import APIKey
from tests.ragsite.test_errors import assert_envelope

ADD = "/admin/apikeys/apikey/add/"
CHANGELIST = "/admin/apikeys/apikey/"


def create(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue().strip(), stderr.getvalue()


def client_with(secret: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_create_api_key_prints_the_key_once_and_stores_its_hash(settings, world):
    settings.API_AUTH = "required"
    secret, note = create("ci pipeline", "--scope", "write", "--vault", "hr")
    api_key = APIKey.objects.get(name="ci pipeline")
    assert (api_key.scope, api_key.vault_id, api_key.prefix) == ("write", world.hr.pk, secret[:12])
    assert api_key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in note and api_key.prefix in note
    response = client_with(secret).post("/ingest", {"text": "Lunch is at noon."}, format="json")
    assert response.status_code == 200
    assert response.json()["vault_id"] == str(world.hr.pk)


def test_create_api_key_takes_a_vault_id_and_defaults_to_read(world):
    secret, _ = create("reader", "--vault", str(world.zoo.pk))
    api_key = APIKey.objects.get(name="reader")
    assert (api_key.scope, api_key.vault_id) == ("read", world.zoo.pk)
    assert client_with(secret).post("/ingest", {"text": "x"}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--vault", "Nowhere"], "no vault with id or name 'Nowhere'"),
        (["x", "--scope", "root"], "invalid choice: 'root'"),
        (["  "], "the name must not be blank"),
    ],
)
def test_create_api_key_refuses_bad_arguments(db, args, message):
    with pytest.raises(CommandError, match=message):
        create(*args)
    assert not APIKey.objects.exists()


def test_revoke_api_key_makes_the_key_401_from_the_next_request(world):
    secret, _ = create("old laptop")
    assert client_with(secret).get("/documents").status_code == 200
    stdout = StringIO()
    call_command("revoke_api_key", secret[:12], stdout=stdout)
    assert "Revoked 1 API key" in stdout.getvalue()
    assert APIKey.objects.get(name="old laptop").revoked_at is not None
    assert_envelope(client_with(secret).get("/documents"), 401, "UNAUTHORIZED")
    with pytest.raises(CommandError, match="no API key with prefix"):
        call_command("revoke_api_key", "rsk_nothing", stdout=StringIO())
    again = StringIO()
    call_command("revoke_api_key", secret[:12], stdout=again)
    assert "revoked already" in again.getvalue()  # not "Revoked 0 API key(s)"


def test_the_admin_shows_a_new_key_once_and_stores_only_its_hash(admin_client, world):
    response = admin_client.post(ADD, {"name": "dashboard", "scope": "read", "vault": str(world.zoo.pk)})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    api_key = APIKey.objects.get(name="dashboard")
    page = response.content.decode()
    secret = page.split('<code id="api-key"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert secret.startswith(api_key.prefix)
    assert api_key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (api_key.scope, api_key.vault_id) == ("read", world.zoo.pk)
    # Never again: not on the list, not on the key's own page.
    assert secret not in admin_client.get(CHANGELIST).content.decode()
    change_page = admin_client.get(f"{CHANGELIST}{api_key.pk}/change/").content.decode()
    assert secret not in change_page and api_key.prefix in change_page
    assert client_with(secret).get("/documents").json()["total"] == 1


def test_the_admin_revoke_action_revokes_the_selected_keys(admin_client, make_api_key):
    (first, first_secret), (second, _) = make_api_key(), make_api_key()
    response = admin_client.post(CHANGELIST, {"action": "revoke", "_selected_action": [first.pk]}, follow=True)
    assert "Revoked 1 API key(s)." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.revoked_at is not None and second.revoked_at is None
    assert_envelope(client_with(first_secret).get("/vaults"), 401, "UNAUTHORIZED")


def test_the_admin_is_for_staff_only(client, django_user_model, db):
    user = django_user_model.objects.create_user(username="visitor", password="a-long-password-1")
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
