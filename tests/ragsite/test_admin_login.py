"""The admin login locks out after repeated failures (django-axes), by address and by username."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def staff(django_user_model, db):
    return django_user_model.objects.create_superuser(username="ops", password=PASSWORD, email="ops@example.com")


def login(client, password: str, username: str = "ops", address: str = "10.1.1.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_right_password_logs_in(client, staff):
    response = login(client, PASSWORD)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_five_failures_lock_the_login_even_for_the_right_password(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "wrong").status_code == 200  # the form again, with its error
    assert login(client, "wrong").status_code == 429
    locked = login(client, PASSWORD)
    assert locked.status_code == 429
    assert "locked" in locked.content.decode().lower()
    assert client.get("/admin/").status_code == 302  # still not logged in
    assert AccessAttempt.objects.filter(username="ops").exists()


def test_a_username_tried_from_many_addresses_is_locked(client, staff, settings):
    for index in range(settings.AXES_FAILURE_LIMIT):
        login(client, "wrong", address=f"10.2.0.{index}")
    assert login(client, PASSWORD, address="10.9.9.9").status_code == 429


def test_failures_for_one_username_do_not_lock_out_another_from_elsewhere(client, staff, django_user_model, settings):
    django_user_model.objects.create_superuser(username="lead", password=PASSWORD, email="lead@example.com")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "wrong", address="10.3.3.3")
    assert login(client, PASSWORD, username="lead", address="10.4.4.4").status_code == 302
