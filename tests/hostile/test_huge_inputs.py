"""Huge inputs over HTTP: a 10 MiB text, a 1,000-page PDF, a 100,000-token chat history and JSON nested 10,000
levels deep are each handled within the limits, or refused in the envelope, in bounded time; never a 500."""

from __future__ import annotations

import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from llama_index.core.utils import get_tokenizer

from chat.models import Message, Session
from documents.models import Chunk, Document
from tests.documents.files import pdf_bytes
from tests.ragsite.test_errors import assert_envelope

pytestmark = pytest.mark.django_db

SENTENCE = "Employees get twenty five days of paid leave per year, and unused days carry over until March. "
MIB = 1024 * 1024


def json_ingest_body(size: int) -> tuple[bytes, str]:
    """A JSON /ingest body of exactly `size` bytes, and the text it carries."""
    head, tail = b'{"text": "', b'", "title": "Huge"}'
    room = size - len(head) - len(tail)
    text = SENTENCE * (room // len(SENTENCE))
    text += "z" * (room - len(text))
    return head + text.encode() + tail, text


@pytest.mark.slow
def test_a_10_mib_body_at_the_limit_is_ingested_whole_and_one_byte_more_is_413(
    api_client, openai_settings, fake_openai, settings
):
    assert settings.MAX_REQUEST_SIZE == 10 * MIB  # the default of API.md
    over, _ = json_ingest_body(10 * MIB + 1)
    response = api_client.post("/ingest", data=over, content_type="application/json")
    body = assert_envelope(response, 413, "REQUEST_TOO_LARGE")
    assert str(10 * MIB) in body["detail"]
    assert Document.objects.count() == 0
    assert fake_openai.embedding_requests() == []

    at_limit, text = json_ingest_body(10 * MIB)
    started = time.monotonic()
    response = api_client.post("/ingest", data=at_limit, content_type="application/json")
    seconds = time.monotonic() - started

    assert response.status_code == 200, response.content[:500]
    assert seconds < 120
    result = response.json()
    document = Document.objects.get()
    assert (str(document.id), result["status"]) == (result["document_id"], "indexed")
    assert document.text == text  # not a byte lost or changed
    chunks = list(Chunk.objects.filter(document=document).order_by("position").values_list("position", "text"))
    assert len(chunks) == result["chunk_count"] > 1000
    assert [position for position, _ in chunks] == list(range(len(chunks)))
    assert text.startswith(chunks[0][1]) and text.endswith(chunks[-1][1])
    assert all(len(get_tokenizer()(chunk)) <= settings.CHUNK_SIZE for _, chunk in chunks[:50])


def test_an_upload_exactly_at_the_limit_is_read_and_one_byte_over_is_413(api_client, openai_settings, settings):
    settings.MAX_REQUEST_SIZE = 64 * 1024

    def post(size: int):
        # The test client encodes the multipart body itself; measure it, then pad the file to hit `size` exactly.
        from django.test.client import BOUNDARY, encode_multipart

        probe = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("big.txt", b"")})
        data = (SENTENCE.encode() * (size // len(SENTENCE)))[: size - len(probe)]
        data += b"z" * (size - len(probe) - len(data))
        return api_client.post("/ingest", {"file": SimpleUploadedFile("big.txt", data)}, format="multipart"), data

    response, _ = post(64 * 1024 + 1)
    assert_envelope(response, 413, "REQUEST_TOO_LARGE")
    assert Document.objects.count() == 0

    response, data = post(64 * 1024)
    assert response.status_code == 200, response.content
    assert Document.objects.get().text == data.decode()


def test_a_1000_page_pdf_is_ingested_page_by_page_in_bounded_time(api_client, openai_settings, fake_openai):
    pages = [f"Page {number} of the handbook sets rule {number} for team {number % 17}." for number in range(1, 1001)]
    upload = SimpleUploadedFile("handbook.pdf", pdf_bytes(*pages))

    started = time.monotonic()
    response = api_client.post("/ingest", {"file": upload, "title": "Handbook"}, format="multipart")
    seconds = time.monotonic() - started

    assert response.status_code == 200, response.content
    assert seconds < 60
    document = Document.objects.get()
    assert document.title == "Handbook"
    assert document.text.split("\n\n") == pages  # every page, in order
    assert Chunk.objects.filter(document=document).count() == response.json()["chunk_count"] > 1


@pytest.fixture
def long_history(db) -> list[str]:
    """A session of 40 messages of 2,500 tokens each: 100,000 tokens of history, oldest first."""
    session = Session.objects.create(id="long-history")
    contents = []
    for number in range(40):
        words = " ".join(f"topic{number}word{index}" for index in range(700))
        contents.append(f"Message {number} opens here. {words}")
    Message.objects.bulk_create(
        Message(session=session, role="user" if number % 2 == 0 else "assistant", content=content)
        for number, content in enumerate(contents)
    )
    assert sum(len(get_tokenizer()(content)) for content in contents) >= 100_000
    return contents


def test_a_100000_token_history_is_fitted_to_the_window_dropping_the_oldest_turns(
    api_client, openai_settings, fake_openai, settings, long_history
):
    settings.CHAT_CONTEXT_WINDOW = 32_000  # history three times the window
    settings.MAX_HISTORY_MESSAGES = 100  # all 40 messages are read; the tokens, not the count, must decide

    payload = {"message": "What was the last topic?", "session_id": "long-history"}
    response = api_client.post("/chat", payload, format="json")

    assert response.status_code == 200, response.content
    assert Message.objects.filter(session_id="long-history").count() == 42
    tokens = get_tokenizer()
    for request in fake_openai.chat_requests():  # the question's rewrite, then the answer
        messages = request.body["messages"]
        sent = sum(len(tokens(message["content"])) for message in messages)
        assert sent <= 32_000 - settings.CHAT_MAX_ANSWER_TOKENS
        prompt = json.dumps(messages)
        assert "Message 39 opens here" in prompt  # the newest turn is kept
        assert "Message 0 opens here" not in prompt  # the oldest went first
    answer = fake_openai.chat_requests()[-1].body["messages"]
    kept = [message["content"] for message in answer[1:-1]]
    assert 0 < len(kept) < len(long_history)
    assert kept == long_history[-len(kept) :]  # a contiguous tail of the history, in order


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_json_nested_10000_levels_deep_is_422_in_every_json_field(api_client, openai_settings, depth):
    nested = "[" * depth + "]" * depth
    bodies = {
        "/ingest": f'{{"text": "leave", "metadata": {{"deep": {nested}}}}}',
        "/search": f'{{"query": "leave", "filters": {{"deep": {nested}}}}}',
        "/chat": f'{{"message": "leave?", "config": {nested}}}',
        "/vaults": f'{{"name": "Deep", "description": {nested}}}',
        "/agents": f'{{"name": "Deep", "system_prompt": "p", "vault_id": {nested}}}',
    }
    for path, body in bodies.items():
        response = api_client.post(path, data=body, content_type="application/json")
        assert_envelope(response, 422, "VALIDATION_ERROR")
    # As an ignored field it is either refused or ignored; a field nobody reads must not break a request either.
    response = api_client.post(
        "/vaults", data=f'{{"name": "Deep", "extra": {nested}}}', content_type="application/json"
    )
    assert response.status_code in (201, 422)
    if response.status_code == 422:
        assert_envelope(response, 422, "VALIDATION_ERROR")
    assert Document.objects.count() == 0


def test_metadata_nested_10000_levels_deep_in_a_form_field_is_422(api_client, openai_settings):
    nested = '{"a": ' * 10_000 + "1" + "}" * 10_000
    upload = SimpleUploadedFile("leave.txt", b"Employees get 25 days of leave.")
    response = api_client.post("/ingest", {"file": upload, "metadata": nested}, format="multipart")
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert "metadata" in body["detail"]
    assert Document.objects.count() == 0
    with connection.cursor() as cursor:  # the connection is still usable
        cursor.execute("SELECT 1")
