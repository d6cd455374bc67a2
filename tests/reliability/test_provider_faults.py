"""A misbehaving model provider (down, slow, rate limiting, failing, talking garbage) costs a bounded number of
retries and a 502/504 in the envelope, and leaves nothing half-written: no partial document, no orphan message.

The single-fault cases of ingest and chat live in tests/documents and tests/chat; these are the ones they miss.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from chat.models import Message, Session
from documents.models import Chunk, Document
from documents.services.ingest import document_ingest
from tests.ragsite.test_errors import assert_envelope
from tests.reliability.invariants import assert_database_invariants

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("openai_settings")]

LEAVE = "Employees get 25 days of paid leave per year. Unused days carry over until March."
# Nothing listens on port 9 (discard) on 127.0.0.1: connections are refused at once.
UNREACHABLE = "http://127.0.0.1:9/v1"


def assert_invariants() -> None:
    with connection.cursor() as cursor:
        assert_database_invariants(cursor)


def chat(api_client, **payload):
    return api_client.post("/chat", payload, format="json")


@pytest.fixture
def leave_policy():
    return document_ingest(text=LEAVE, title="Leave policy", source="hr/leave.md")


# -- provider down


def test_an_unreachable_provider_fails_ingest_and_chat_with_502_and_writes_nothing(
    api_client, settings, leave_policy, fake_openai
):
    settings.OPENAI_API_BASE = UNREACHABLE

    body = assert_envelope(api_client.post("/ingest", {"text": "Otters sleep."}, format="json"), 502, "EMBEDDING_ERROR")
    assert body["detail"] == "the embedding provider cannot be reached"
    body = assert_envelope(chat(api_client, message="How much leave?", session_id="down"), 502, "EMBEDDING_ERROR")
    assert "127.0.0.1" not in body["detail"]

    assert list(Document.objects.values_list("pk", flat=True)) == [leave_policy.document_id]
    assert not Session.objects.exists()
    assert not Message.objects.exists()
    assert_invariants()


# -- retries: bounded, spaced, and honouring Retry-After


def test_a_provider_that_keeps_failing_is_tried_max_retries_plus_one_times_with_backoff(
    api_client, leave_policy, fake_openai
):
    fake_openai.fail_always(status=503, endpoint="chat")  # no Retry-After: the SDK's own exponential backoff

    assert_envelope(chat(api_client, message="How much leave?", session_id="retry"), 502, "LLM_ERROR")

    attempts = fake_openai.chat_requests()
    assert len(attempts) == 3  # the first try and PROVIDER_MAX_RETRIES=2 retries, then it gives up
    gaps = [later.timestamp - earlier.timestamp for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert all(gap >= 0.3 for gap in gaps), gaps  # backed off, not hammered
    assert not Session.objects.exists()


def test_a_rate_limited_chat_model_is_retried_after_retry_after_and_answers(api_client, leave_policy, fake_openai):
    fake_openai.fail_next(count=2, status=429, retry_after=0.2, endpoint="chat")

    response = chat(api_client, message="How much leave?", session_id="rate-limited")

    assert response.status_code == 200, response.json()
    first, second, third = fake_openai.chat_requests()
    assert second.timestamp - first.timestamp >= 0.2
    assert third.timestamp - second.timestamp >= 0.2
    assert Message.objects.filter(session_id="rate-limited").count() == 2


# -- failures that must leave no trace


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("garbage", 502, "LLM_ERROR"), ("rate limited", 502, "LLM_ERROR"), ("slow", 504, "UPSTREAM_TIMEOUT")],
)
def test_a_chat_model_failure_keeps_no_question_without_its_answer(
    api_client, leave_policy, fake_openai, settings, fault, status, code
):
    chat(api_client, message="How much leave?", session_id="kept")
    settings.REQUEST_TIMEOUT = 0.5
    if fault == "garbage":
        fake_openai.garbage_next(count=20, endpoint="chat")
    elif fault == "rate limited":
        fake_openai.fail_always(status=429, retry_after=0.05, endpoint="chat")
    else:
        settings.PROVIDER_MAX_RETRIES = 0  # each timeout costs REQUEST_TIMEOUT; retries are counted above
        fake_openai.hang_next(count=20, seconds=3, endpoint="chat")

    # A follow-up fails at its first model call (the rewrite for retrieval), before any stream starts.
    assert_envelope(chat(api_client, message="And carry-over?", session_id="kept"), status, code)
    assert_envelope(chat(api_client, message="And carry-over?", session_id="kept", stream=True), status, code)
    assert_envelope(chat(api_client, message="Hello?", session_id="new"), status, code)
    # A first message streams straight away: its status is already 200, so the failure is the last event.
    streamed = chat(api_client, message="Hello?", session_id="new", stream=True)
    assert streamed.status_code == 200
    last = b"".join(streamed.streaming_content).decode().strip().split("\n\n")[-1]
    assert last.startswith("data: {") and json.loads(last[6:]).get("code") == code, last

    assert Message.objects.filter(session_id="kept").count() == 2  # the first exchange only
    assert not Session.objects.filter(pk="new").exists()
    assert_invariants()


def test_an_embedding_failure_during_chat_retrieval_is_502_and_saves_nothing(api_client, leave_policy, fake_openai):
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)
    assert_envelope(chat(api_client, message="How much leave?", session_id="no-retrieval"), 502, "EMBEDDING_ERROR")
    assert fake_openai.chat_requests() == []
    assert not Session.objects.exists()


@pytest.mark.parametrize("fault", ["fail", "garbage", "slow"])
def test_a_failed_update_keeps_the_previous_version_whole(api_client, leave_policy, fake_openai, settings, fault):
    before = list(Chunk.objects.filter(document_id=leave_policy.document_id).values_list("text", "embedding_model"))
    settings.REQUEST_TIMEOUT = 0.5
    if fault == "fail":
        fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)
    elif fault == "garbage":
        fake_openai.garbage_next(count=20, endpoint="embeddings")
    else:
        fake_openai.hang_next(count=20, seconds=3, endpoint="embeddings")

    response = api_client.post(
        "/ingest", {"text": "Employees now get 30 days.", "source": "hr/leave.md"}, format="multipart"
    )

    assert response.status_code in (502, 504)
    document = Document.objects.get()
    assert (document.pk, document.text) == (leave_policy.document_id, LEAVE)
    assert list(Chunk.objects.filter(document=document).values_list("text", "embedding_model")) == before
    assert_invariants()


# -- ingest_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, text in [
        ("1-otters.txt", "Otters hold hands while sleeping."),
        ("2-beavers.txt", "Beavers build dams. POISON"),
        ("3-owls.txt", "Owls turn their heads."),
        ("4-foxes.txt", "Foxes hunt at dusk. SLOW"),
        ("5-badgers.txt", "Badgers dig setts."),
    ]:
        (tmp_path / name).write_text(text)
    return tmp_path


def test_ingest_folder_carries_on_past_files_the_provider_fails_and_reports_them(folder, fake_openai, settings):
    settings.REQUEST_TIMEOUT = 0.5
    # One chunk per request, so a provider failure is one file's (a failed request fails the documents it held).
    settings.EMBEDDING_BATCH_SIZE = 1
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01, containing="POISON")
    fake_openai.hang_next(count=3, seconds=3, endpoint="embeddings", containing="SLOW")
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="2 of 5 files failed"):
        call_command("ingest_folder", str(folder), "--batch", "1", stdout=out, stderr=err)

    assert "new: 3, updated: 0, unchanged: 0, failed: 2" in out.getvalue()
    assert (
        f"failed: {folder / '2-beavers.txt'}: The embedding provider failed: the embedding provider answered HTTP 500"
        in (err.getvalue())
    )
    assert f"failed: {folder / '4-foxes.txt'}: The model provider did not answer in time" in err.getvalue()
    assert sorted(Document.objects.values_list("title", flat=True)) == ["1-otters.txt", "3-owls.txt", "5-badgers.txt"]
    assert_invariants()

    # Once the provider is well again, a second run picks up exactly the files that failed.
    fake_openai.clear_faults()
    fake_openai.reset()
    out = StringIO()
    call_command("ingest_folder", str(folder), "--batch", "1", stdout=out, stderr=StringIO())
    assert "new: 2, updated: 0, unchanged: 3, failed: 0" in out.getvalue()
    assert Document.objects.count() == 5
    assert_invariants()
