"""SQL-ish strings in every field and query parameter, vault_id included (the old service built SQL from it): each
is data, stored and matched literally, or refused in the envelope; never a 500. Afterwards every table is still
there and holds exactly what was written."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest
from django.db import connection

from chat.models import Agent, Message, Session
from documents.models import Chunk, Document, Vault
from tests.ragsite.test_errors import assert_envelope

pytestmark = pytest.mark.django_db

SQLISH = [
    "'; DROP TABLE documents_document; --",
    '"; DROP TABLE chat_message; --',
    "' OR '1'='1",
    "1 OR 1=1",
    "1; SELECT pg_sleep(30)--",
    "%s",
    "%(text)s",
    "%",
    "_",
    "$1",
    "$$ || $$",
    ":name",
    "?",
    "\\x00",
    "\\",
    "\\'",
    "*/ --",
    "E'\\\\'",
]
TABLES = {"documents_document", "documents_chunk", "documents_vault", "chat_agent", "chat_session", "chat_message"}


def post_json(api_client, path: str, payload: dict):
    return api_client.post(path, data=json.dumps(payload), content_type="application/json")


def assert_ok_or_422(response) -> None:
    if response.status_code >= 300:
        assert_envelope(response, 422, "VALIDATION_ERROR")


@pytest.fixture
def written(api_client, openai_settings) -> dict[str, dict[str, str]]:
    """One document, vault and agent per SQL-ish string, each carrying it in every field; their ids by string."""
    ids: dict[str, dict[str, str]] = {}
    for number, value in enumerate(SQLISH):
        vault = post_json(api_client, "/vaults", {"name": value, "description": value})
        assert vault.status_code == 201, (value, vault.content)
        vault_id = vault.json()["vault_id"]
        agent = post_json(api_client, "/agents", {"name": value, "vault_id": vault_id, "system_prompt": value})
        assert agent.status_code == 201, (value, agent.content)
        payload = {
            "text": f"Note {number} quotes {value} verbatim.",
            "title": value,
            "source": f"sql/{number}/{value}",
            "metadata": {value: value, "number": number},
            "vault_id": vault_id,
        }
        document = post_json(api_client, "/ingest", payload)
        assert document.status_code == 200, (value, document.content)
        ids[value] = {"vault": vault_id, "agent": agent.json()["agent_id"], "document": document.json()["document_id"]}
    return ids


def assert_data_intact(*, documents: int, sessions: int) -> None:
    assert TABLES <= set(connection.introspection.table_names())
    assert Document.objects.count() == documents
    assert Vault.objects.count() == Agent.objects.count() == len(SQLISH)
    assert Chunk.objects.count() == documents  # each note fits one chunk
    assert Session.objects.count() == sessions
    assert Message.objects.count() == 2 * sessions


def test_sqlish_strings_are_stored_verbatim_in_every_field(api_client, written):
    for number, value in enumerate(SQLISH):
        document = api_client.get(f"/documents/{written[value]['document']}").json()
        assert (document["title"], document["source"]) == (value, f"sql/{number}/{value}")
        assert document["metadata"] == {value: value, "number": number}
        assert document["text"] == f"Note {number} quotes {value} verbatim."
        assert api_client.get(f"/vaults/{written[value]['vault']}").json()["name"] == value
        assert api_client.get(f"/agents/{written[value]['agent']}").json()["system_prompt"] == value
    assert_data_intact(documents=len(SQLISH), sessions=0)


def test_listing_with_sqlish_q_matches_titles_and_sources_literally(api_client, written):
    for value in SQLISH:
        response = api_client.get("/documents", {"q": value, "limit": 100})
        assert response.status_code == 200, (value, response.content)
        found = {item["document_id"] for item in response.json()["documents"]}
        # "%" and "_" are characters to find, not LIKE wildcards: only the documents that contain them match.
        expected = {
            written[other]["document"]
            for number, other in enumerate(SQLISH)
            if value.lower() in other.lower() or value.lower() in f"sql/{number}/{other}".lower()
        }
        assert found == expected, value
        assert response.json()["total"] == len(expected)


def test_searching_for_sqlish_strings_finds_them_as_text(api_client, written):
    for value in SQLISH:
        for mode in ("hybrid", "vector", "keyword"):
            response = post_json(api_client, "/search", {"query": value, "mode": mode, "top_k": 50})
            assert response.status_code == 200, (value, mode, response.content)
        # A metadata filter with the string as key and value matches its one document, whatever the string holds.
        response = post_json(api_client, "/search", {"query": "note", "mode": "vector", "filters": {value: value}})
        assert [hit["document_id"] for hit in response.json()["results"]] == [written[value]["document"]], value
    assert_data_intact(documents=len(SQLISH), sessions=0)


def test_sqlish_strings_in_chat_messages_and_session_ids(api_client, written):
    sessions = 0
    for value in SQLISH:
        answered = post_json(api_client, "/chat", {"message": value, "agent_id": written[value]["agent"]})
        assert answered.status_code == 200, (value, answered.content)
        sessions += 1
        session_id = answered.json()["session_id"]
        assert api_client.get(f"/sessions/{session_id}").json()["messages"][0]["content"] == value

        chosen = post_json(api_client, "/chat", {"message": "leave?", "session_id": value})
        assert_ok_or_422(chosen)  # ":name" is a valid session id; the others are not
        if chosen.status_code == 200:
            sessions += 1
            assert api_client.get(f"/sessions/{value}").json()["session_id"] == value
    assert_data_intact(documents=len(SQLISH), sessions=sessions)


def test_a_sqlish_vault_id_is_422_or_404_everywhere_and_changes_nothing(api_client, written):
    for value in [*SQLISH, "1", "NULL", "null", "00000000-0000-0000-0000-00000000000g"]:
        assert_no_vault_id_accepted(api_client, value)
    assert_data_intact(documents=len(SQLISH), sessions=0)


def assert_no_vault_id_accepted(api_client, value: str) -> None:
    body_requests = [
        ("/ingest", {"text": "Injected note", "vault_id": value}),
        ("/search", {"query": "note", "vault_id": value}),
        ("/chat", {"message": "note?", "vault_id": value}),
        ("/chat", {"message": "note?", "agent_id": value}),
        ("/agents", {"name": "Injected", "system_prompt": "p", "vault_id": value}),
    ]
    for path, payload in body_requests:
        body = assert_envelope(post_json(api_client, path, payload), 422, "VALIDATION_ERROR")
        assert set(body["detail"]) & {"vault_id", "agent_id"}, (path, body)
    for path in ("/documents", "/agents"):
        assert_envelope(api_client.get(path, {"vault_id": value}), 422, "VALIDATION_ERROR")
    for parameter in ("limit", "offset"):
        if not value.isdigit():
            assert_envelope(api_client.get("/documents", {parameter: value}), 422, "VALIDATION_ERROR")
    for path, code in [
        ("vaults", "VAULT_NOT_FOUND"),
        ("documents", "DOCUMENT_NOT_FOUND"),
        ("agents", "AGENT_NOT_FOUND"),
    ]:
        url = f"/{path}/{quote(value, safe='')}"
        # A "/" (even as %2F) ends the path segment: no route matches, so it is the generic 404.
        expected = "NOT_FOUND" if "/" in value else code
        assert_envelope(api_client.get(url), 404, expected)
        assert_envelope(api_client.delete(url), 404, expected)


def test_an_unknown_but_valid_vault_id_is_404_with_nothing_written(api_client, written):
    unknown = str(uuid.uuid4())
    assert_envelope(post_json(api_client, "/ingest", {"text": "x", "vault_id": unknown}), 404, "VAULT_NOT_FOUND")
    assert_envelope(post_json(api_client, "/search", {"query": "x", "vault_id": unknown}), 404, "VAULT_NOT_FOUND")
    assert api_client.get("/documents", {"vault_id": unknown}).json()["total"] == 0
    assert_data_intact(documents=len(SQLISH), sessions=0)


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_a_sqlish_or_hostile_api_key_is_401_in_the_envelope(api_client, written, header):
    for value in [*SQLISH, "\x00", "é" * 3, "k" * 100_000]:
        presented = f"Bearer {value}" if header == "HTTP_AUTHORIZATION" else value
        assert_envelope(api_client.get("/documents", **{header: presented}), 401, "UNAUTHORIZED")
    assert_data_intact(documents=len(SQLISH), sessions=0)
