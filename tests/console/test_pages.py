"""The console's pages and the service description at `/`, through Django's test client (no browser)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def test_a_browser_asking_for_the_root_gets_the_chat_page(client, settings):
    settings.API_AUTH = "required"  # the page itself needs no key: its scripts ask for one when the API does

    response = client.get("/", HTTP_ACCEPT=BROWSER_ACCEPT)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Accept" in response["Vary"]
    html = response.content.decode()
    assert 'id="ask-form"' in html
    assert 'src="/static/console/chat.js"' in html
    assert 'href="/static/console/console.css"' in html


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
def test_api_clients_asking_for_the_root_get_the_service_description(client, settings, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = client.get("/", **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "Accept" in response["Vary"]
    body = response.json()
    assert body["name"] == "ragsite"
    assert body["version"] == settings.VERSION
    assert body["links"]["health"] == "/health"
    assert body["links"]["chat"] == "/chat"
    assert body["links"]["console"] == "/console"


def test_console_pages_forbid_inline_and_foreign_scripts(client):
    for path in ("/", "/console", "/console/documents"):
        response = client.get(path, HTTP_ACCEPT="text/html")

        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "default-src 'none'" in policy
        assert "connect-src 'self'" in policy
        assert "unsafe-inline" not in policy
        # No inline script at all, so the policy costs the page nothing.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.content.decode()), path


def test_the_documents_page_has_an_upload_picker_and_a_list(client):
    response = client.get("/console/documents")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="file-input"' in html
    assert "multiple" in html
    assert 'id="documents"' in html
    assert 'src="/static/console/documents.js"' in html


def test_the_chat_page_labels_extractive_mode_without_a_chat_model(client, settings):
    settings.CHAT_MODEL = None
    assert 'id="mode-label"' in client.get("/console").content.decode()

    settings.CHAT_MODEL = "gpt-4.1-mini"
    assert 'id="mode-label"' not in client.get("/console").content.decode()


def test_posting_to_the_root_is_405_in_the_envelope(client):
    response = client.post("/", data={}, HTTP_ACCEPT="text/html")

    assert response.status_code == 405
    body = response.json()
    assert body["code"] == "METHOD_NOT_ALLOWED"
    assert set(body) == {"error", "code", "detail"}
