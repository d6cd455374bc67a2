"""HTTPS in production: `check --deploy` is clean, HTTP is redirected and HSTS sent behind Railway's proxy, and the
health checks (plain HTTP from inside the network) still answer 200."""

from __future__ import annotations

import pytest

from tests.live import manage, service_env

PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "test-only-production-secret-key-0123456789-abcdefghij",
    "ALLOWED_HOSTS": "rag.example.com",
    "CORS_ORIGINS": "https://app.example.com",
    "DB_URL": "postgresql://app:pw@127.0.0.1:9/rag",
    "OPENAI_API_KEY": "sk-test",
}


def test_check_deploy_is_clean_with_a_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=service_env(**PRODUCTION))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_check_deploy_names_what_a_development_environment_lacks():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=service_env(ENVIRONMENT="development"))
    assert result.returncode == 1
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016"):
        assert warning in result.stderr


@pytest.mark.parametrize(
    ("secret_key", "why"),
    [
        ("x" * 49, "too short"),
        ("ab" * 40, "fewer than 5 distinct characters"),
        ("django-insecure-" + "0123456789abcdefghij" * 3, "Django's insecure prefix"),
    ],
)
def test_production_refuses_a_weak_secret_key(secret_key, why):
    result = manage("check", env=service_env(**{**PRODUCTION, "SECRET_KEY": secret_key}))
    assert result.returncode == 2, why
    assert result.stderr.startswith("ragsite: SECRET_KEY must be set to a random value of 50+ characters")
    assert secret_key not in result.stderr


def test_production_settings_trust_the_proxy_and_allow_railways_health_check_only_on_railway():
    show = (
        "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.ALLOWED_HOSTS, sep='|')"
    )
    elsewhere = manage("shell", "--no-imports", "-c", show, env=service_env(**PRODUCTION))
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert elsewhere.stdout.strip().split("|") == [
        "('HTTP_X_FORWARDED_PROTO', 'https')",
        "True",
        "31536000",
        "True",
        "True",
        "['rag.example.com']",
    ]
    on_railway = manage("shell", "--no-imports", "-c", show, env=service_env(**PRODUCTION, RAILWAY_SERVICE_ID="svc"))
    assert on_railway.stdout.strip().split("|")[-1] == "['rag.example.com', 'healthcheck.railway.app']"


def test_on_railway_production_still_refuses_empty_allowed_hosts():
    result = manage("check", env=service_env(**{**PRODUCTION, "ALLOWED_HOSTS": ""}, RAILWAY_SERVICE_ID="svc"))
    assert result.returncode == 2
    assert "ALLOWED_HOSTS must list" in result.stderr


@pytest.fixture
def https_settings(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.ALLOWED_HOSTS = ["rag.example.com"]
    return settings


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(https_settings, client):
    response = client.get("/documents?limit=1", headers={"host": "rag.example.com"})
    assert response.status_code == 301
    assert response["Location"] == "https://rag.example.com/documents?limit=1"


@pytest.mark.django_db
def test_https_through_the_proxy_is_served_with_hsts(https_settings, client):
    response = client.get("/documents", headers={"host": "rag.example.com", "x-forwarded-proto": "https"})
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health", "/health/", "/health/live"])
def test_health_checks_answer_over_plain_http(https_settings, client, path):
    response = client.get(path, headers={"host": "rag.example.com"})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "Strict-Transport-Security" not in response


@pytest.mark.django_db
def test_a_path_that_merely_starts_with_health_is_still_redirected(https_settings, client):
    response = client.get("/healthz", headers={"host": "rag.example.com"})
    assert response.status_code == 301
