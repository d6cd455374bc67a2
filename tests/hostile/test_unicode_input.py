"""Unicode edge cases (NUL, lone surrogates sent as JSON \\ud800 escapes, RTL marks, emoji, combining characters) in
every text field of ingest, search, chat, vaults and agents: cleaned the one documented way (NUL removed, a lone
surrogate replaced by U+FFFD) and stored, or refused in the envelope; never a 500. The rest is kept as sent."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from chat.models import Agent, Message
from documents.models import Document, Vault
from documents.services.parsing import text_clean
from tests.ragsite.test_errors import assert_envelope

pytestmark = pytest.mark.django_db

UNICODE = {
    "nul": "before\x00after",
    "lone-high-surrogate": "lone \ud800 high",
    "lone-low-surrogate": "lone \udfff low",
    "reversed-surrogate-pair": "swapped \udfff\ud800 pair",
    "rtl": "\u202eoverride\u202c and \u200fmark: שלום עולם",
    "emoji": "emoji 😀 👩\u200d👩\u200d👧 🏳️\u200d🌈",
    "combining": "e\u0301 a\u0308 Z\u0335\u0321\u0328",
    "bom-and-noncharacters": "\ufeffbom \uffff \U0010ffff",
    "separators": "line\u2028paragraph\u2029end\r\nnext",
}
CASES = pytest.mark.parametrize("value", UNICODE.values(), ids=UNICODE.keys())


def post_json(api_client, path: str, payload: dict):
    # json.dumps writes NUL as \u0000 and lone surrogates as \ud800 escapes, as a JavaScript client does.
    return api_client.post(path, data=json.dumps(payload), content_type="application/json")


def cleaned(value: str, *, trim: bool = True) -> str:
    """What the service stores for a field: text_clean, then DRF's whitespace trimming unless the field keeps it."""
    value = text_clean(value)
    return value.strip() if trim else value


def test_json_escapes_decode_as_json_says():
    # A valid escaped pair is one emoji, not two replacement characters; only lone halves are replaced.
    body = '{"text": "pair \\ud83d\\ude00 lone \\ud83d end", "title": "escapes"}'
    assert cleaned(json.loads(body)["text"]) == "pair 😀 lone \ufffd end"


@CASES
def test_unicode_in_every_ingest_field_is_stored_cleaned(api_client, openai_settings, value):
    payload = {"text": f"Handbook: {value}", "title": value, "source": f"src/{value}", "metadata": {value: [value]}}
    response = post_json(api_client, "/ingest", payload)

    assert response.status_code == 200, response.content
    document = Document.objects.get(pk=response.json()["document_id"])
    assert document.text == cleaned(payload["text"], trim=False)
    assert document.title == " ".join(cleaned(value).split())  # a title is one line
    assert document.source == cleaned(payload["source"])
    assert document.metadata == {text_clean(value): [text_clean(value)]}
    detail = api_client.get(f"/documents/{document.pk}").json()
    assert (detail["text"], detail["title"], detail["metadata"]) == (document.text, document.title, document.metadata)
    assert "".join(chunk["text"] for chunk in detail["chunks"]) == document.text.strip()


@CASES
def test_unicode_in_search_queries_and_filters_is_searched(api_client, openai_settings, value):
    post_json(api_client, "/ingest", {"text": f"Leave rules {value}", "metadata": {"tag": text_clean(value)}})

    for mode in ("hybrid", "vector", "keyword"):
        response = post_json(api_client, "/search", {"query": value, "mode": mode, "filters": {"tag": value}})
        assert response.status_code == 200, response.content
        assert all(hit["snippet"] for hit in response.json()["results"])
    vector = post_json(api_client, "/search", {"query": "leave rules", "mode": "vector", "filters": {"tag": value}})
    assert len(vector.json()["results"]) == 1  # the filter's value matched the stored, cleaned value


@CASES
def test_unicode_in_a_chat_message_is_answered_and_saved_cleaned(api_client, openai_settings, value):
    response = post_json(api_client, "/chat", {"message": f"Question: {value}", "session_id": "unicode"})

    assert response.status_code == 200, response.content
    question, answer = Message.objects.filter(session_id="unicode").order_by("id")
    assert question.content == cleaned(f"Question: {value}")
    assert answer.id == response.json()["message_id"]
    session = api_client.get("/sessions/unicode").json()
    assert session["messages"][0]["content"] == question.content


@CASES
def test_unicode_in_vault_and_agent_names_and_prompts_is_stored_cleaned(api_client, value):
    response = post_json(api_client, "/vaults", {"name": f"Vault {value}", "description": value})
    assert response.status_code == 201, response.content
    vault = Vault.objects.get()
    assert (vault.name, vault.description) == (cleaned(f"Vault {value}"), cleaned(value))
    assert api_client.get(f"/vaults/{vault.pk}").json()["name"] == vault.name
    again = post_json(api_client, "/vaults", {"name": f"Vault {value}"})
    assert_envelope(again, 409, "VAULT_EXISTS")  # the same name, cleaned the same way, is the same vault

    payload = {"name": f"Agent {value}", "vault_id": str(vault.pk), "system_prompt": f"Answer in {value}"}
    response = post_json(api_client, "/agents", payload)
    assert response.status_code == 201, response.content
    agent = Agent.objects.get()
    assert (agent.name, agent.system_prompt) == (cleaned(payload["name"]), cleaned(payload["system_prompt"]))
    assert api_client.get(f"/agents/{agent.pk}").json()["system_prompt"] == agent.system_prompt


@pytest.mark.parametrize("value", ["\x00", "\ud800", "\x00\x00 \x00", " \u200b "[:2]])
def test_a_field_that_is_blank_once_cleaned_is_422(api_client, openai_settings, value):
    for path, field, extra in [
        ("/ingest", "text", {}),
        ("/search", "query", {}),
        ("/chat", "message", {}),
        ("/vaults", "name", {}),
    ]:
        response = post_json(api_client, path, {field: value, **extra})
        if text_clean(value).strip():
            assert response.status_code in (200, 201), (path, response.content)
        else:
            body = assert_envelope(response, 422, "VALIDATION_ERROR")
            assert field in body["detail"]
    assert Document.objects.filter(text="").count() == 0


@pytest.mark.parametrize("raw", ["%00", "%ED%A0%80", "%E2%80%AE", "%F0%9F%98%80", "%FF%FE", "a%2Fb", "%20"])
def test_unicode_and_broken_utf8_in_paths_and_query_parameters_is_never_a_500(api_client, openai_settings, raw):
    for path, code in [
        ("/documents/", "DOCUMENT_NOT_FOUND"),
        ("/vaults/", "VAULT_NOT_FOUND"),
        ("/agents/", "AGENT_NOT_FOUND"),
        ("/sessions/", "SESSION_NOT_FOUND"),
    ]:
        response = api_client.get(path + raw)
        assert_envelope(response, 404, code if "%2F" not in raw else response.json()["code"])
    for query in [f"q={raw}", f"vault_id={raw}", f"limit={raw}", f"offset={raw}"]:
        response = api_client.get(f"/documents?{query}")
        if response.status_code != 200:
            assert_envelope(response, 422, "VALIDATION_ERROR")
    response = api_client.get(f"/agents?vault_id={raw}")
    assert_envelope(response, 422, "VALIDATION_ERROR")


def test_a_session_id_with_unicode_is_422_and_its_url_404(api_client, openai_settings):
    for value in UNICODE.values():
        body = assert_envelope(
            post_json(api_client, "/chat", {"message": "hi", "session_id": value}), 422, "VALIDATION_ERROR"
        )
        assert "session_id" in body["detail"]
        response = api_client.get("/sessions/" + quote(value.encode("utf-8", "surrogatepass"), safe=""))
        assert_envelope(response, 404, "SESSION_NOT_FOUND")
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "path, payload, field",
    [
        ("/search", {"query": "otters", "mode": "\ud800"}, "mode"),
        ("/search", {"query": "otters", "top_k": "\udfff"}, "top_k"),
        ("/search", {"query": "otters", "vault_id": "\ud800"}, "vault_id"),
        ("/chat", {"message": "hi", "agent_id": "\ud800"}, "agent_id"),
        ("/ingest", {"text": "Otters.", "vault_id": "x\udfff"}, "vault_id"),
    ],
)
def test_a_lone_surrogate_echoed_by_a_validation_error_is_a_422_not_a_500(
    api_client, openai_settings, path, payload, field
):
    # The error names the value it refused; a lone surrogate in it would make the response unencodable as UTF-8.
    body = assert_envelope(post_json(api_client, path, payload), 422, "VALIDATION_ERROR")
    assert field in body["detail"]
    assert not Document.objects.exists() and not Message.objects.exists()
