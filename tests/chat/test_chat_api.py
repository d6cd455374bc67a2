"""POST /chat and sessions: retrieval, prompts, citations, extractive mode, streaming, failures that change nothing."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Agent, Message, Session
from documents.models import Vault
from documents.services.ingest import document_ingest
from tests.ragsite.test_errors import assert_envelope

pytestmark = pytest.mark.django_db

LEAVE = "Employees get 25 days of paid leave per year. Unused days carry over until March."
TRAVEL = "Travel expenses are reimbursed within 30 days when receipts are attached."


@pytest.fixture
def handbook(openai_settings):
    return {
        "leave": document_ingest(text=LEAVE, title="Leave policy").document_id,
        "travel": document_ingest(text=TRAVEL, title="Travel policy").document_id,
    }


def chat(api_client, **payload):
    return api_client.post("/chat", payload, format="json")


def last_chat_body(fake_openai) -> dict:
    return fake_openai.chat_requests()[-1].body


def test_a_question_is_answered_with_cited_sources_and_saved(api_client, handbook, fake_openai):
    response = chat(api_client, message="How many days of paid leave do employees get?", session_id="s-1")

    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "llm"
    assert body["session_id"] == "s-1"
    assert "[1]" in body["answer"]
    (source,) = body["sources"]  # the fake cites [1] only
    assert source["document_id"] == str(handbook["leave"])
    assert set(source) == {"document_id", "title", "snippet", "score", "chunk_id"}
    assert 0 <= source["score"] <= 1
    user, assistant = Message.objects.filter(session_id="s-1").order_by("id")
    assert (user.role, user.content) == ("user", "How many days of paid leave do employees get?")
    assert (assistant.id, assistant.content, assistant.sources) == (body["message_id"], body["answer"], body["sources"])


def test_the_prompt_carries_numbered_passages_and_the_question_once(api_client, handbook, fake_openai):
    question = "How many days of paid leave do employees get?"
    chat(api_client, message=question)

    messages = last_chat_body(fake_openai)["messages"]
    assert messages[0]["role"] == "system"
    assert "[1] Leave policy" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": question}
    assert sum(json.dumps(m).count(question) for m in messages) == 1


def test_a_session_id_is_generated_when_absent(api_client, handbook):
    body = chat(api_client, message="leave?").json()
    assert len(body["session_id"]) == 32
    assert Session.objects.filter(pk=body["session_id"]).exists()


def test_a_generated_session_id_reads_no_session(api_client, handbook):
    # A client-chosen id may name a session with history; a generated one cannot, so its turn reads none.
    chat(api_client, message="leave?")  # the search's word statistics are read and cached once
    with CaptureQueriesContext(connection) as generated:
        chat(api_client, message="leave?")
    with CaptureQueriesContext(connection) as chosen:
        chat(api_client, message="leave?", session_id="s-new")
    assert not any("chat_message" in query["sql"] and query["sql"].lstrip().startswith("SELECT") for query in generated)
    assert any("chat_message" in query["sql"] and query["sql"].lstrip().startswith("SELECT") for query in chosen)
    assert len(generated) == len(chosen) - 1


def test_a_follow_up_is_rewritten_for_retrieval_and_sees_the_history(api_client, handbook, fake_openai, settings):
    chat(api_client, message="How many days of paid leave do employees get?", session_id="s-2")
    fake_openai.reset()
    fake_openai.reply = lambda messages: (
        "How are travel expenses reimbursed?"
        if "Standalone question" in messages[-1]["content"]
        else "Within 30 days [1]."
    )

    body = chat(api_client, message="And what about travel?", session_id="s-2").json()

    condense, answer = fake_openai.chat_requests()
    assert "And what about travel?" in condense.body["messages"][0]["content"]
    assert [m["role"] for m in answer.body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["sources"][0]["document_id"] == str(handbook["travel"])
    assert Message.objects.filter(session_id="s-2").count() == 4


def test_a_rewrite_holding_what_postgresql_refuses_is_cleaned_before_the_search(api_client, handbook, fake_openai):
    chat(api_client, message="How many days of paid leave do employees get?", session_id="s-nul")
    fake_openai.reply = lambda messages: (
        "How are travel\x00 expenses reimbursed?"
        if "Standalone question" in messages[-1]["content"]
        else "Within 30 days [1]."
    )

    response = chat(api_client, message="And what about travel?", session_id="s-nul")

    assert response.status_code == 200, response.content
    assert response.json()["sources"][0]["document_id"] == str(handbook["travel"])
    assert Message.objects.filter(session_id="s-nul").count() == 4


def test_only_the_last_max_history_messages_are_sent(api_client, handbook, fake_openai, settings):
    for index in range(3):
        chat(api_client, message=f"question {index}", session_id="s-3")
    settings.MAX_HISTORY_MESSAGES = 2
    fake_openai.reset()

    chat(api_client, message="question 3", session_id="s-3")

    roles = [m["role"] for m in last_chat_body(fake_openai)["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert last_chat_body(fake_openai)["messages"][1]["content"] == "question 2"


def test_invalid_citation_markers_are_dropped_and_the_rest_renumbered(api_client, handbook, fake_openai):
    fake_openai.reply = lambda messages: "Leave is 25 days [2], see also [9] and [1, 7]."

    body = chat(api_client, message="leave travel policy days", config={"top_k": 2}).json()

    assert body["answer"] == "Leave is 25 days [1], see also  and [2]."
    system = last_chat_body(fake_openai)["messages"][0]["content"]
    second_in_prompt = system.split("\n[2] ")[1].split("\n")[0]
    # [2] was cited first, so it is the first source; [1] the second.
    assert [source["title"] for source in body["sources"]] == [
        second_in_prompt,
        ({"Leave policy", "Travel policy"} - {second_in_prompt}).pop(),
    ]


def test_config_applies_top_k_and_temperature_per_request(api_client, handbook, fake_openai, settings):
    settings.DEFAULT_TEMPERATURE = 0.3
    chat(api_client, message="leave travel days", config={"top_k": 1, "temperature": 1.5})
    body = last_chat_body(fake_openai)
    assert body["temperature"] == 1.5
    assert "\n[1] " in body["messages"][0]["content"]
    assert "\n[2] " not in body["messages"][0]["content"]
    chat(api_client, message="leave travel days")
    assert last_chat_body(fake_openai)["temperature"] == 0.3


def test_any_model_name_is_the_model_called(api_client, handbook, fake_openai, settings):
    settings.CHAT_MODEL = "my-local-llama"
    assert chat(api_client, message="leave?").status_code == 200
    assert last_chat_body(fake_openai)["model"] == "my-local-llama"


def test_an_agent_supplies_its_system_prompt_and_vault(api_client, openai_settings, fake_openai):
    vault = Vault.objects.create(name="Legal")
    inside = document_ingest(text="Contracts need two signatures.", title="Contracts", vault=vault).document_id
    document_ingest(text="Contracts are stored in the archive room.", title="Archive")
    agent = Agent.objects.create(name="Lawyer", vault=vault, system_prompt="You are the legal team's assistant.")

    body = chat(api_client, message="What do contracts need?", agent_id=str(agent.pk)).json()

    assert last_chat_body(fake_openai)["messages"][0]["content"].startswith("You are the legal team's assistant.")
    assert [source["document_id"] for source in body["sources"]] == [str(inside)]
    assert Session.objects.get(pk=body["session_id"]).agent_id == agent.pk


def test_without_a_chat_model_the_answer_is_extractive(api_client, handbook, settings, fake_openai):
    settings.CHAT_MODEL = None
    body = chat(api_client, message="How many days of paid leave?").json()

    assert body["mode"] == "extractive"
    assert body["answer"].startswith("No language model is configured")
    assert "[1] Leave policy:" in body["answer"]
    assert body["sources"][0]["document_id"] == str(handbook["leave"])
    assert fake_openai.chat_requests() == []
    assert Message.objects.count() == 2


@pytest.mark.parametrize(("fault", "status", "code"), [("fail", 502, "LLM_ERROR"), ("hang", 504, "UPSTREAM_TIMEOUT")])
def test_a_failing_provider_leaves_the_session_as_it_was(
    api_client, handbook, fake_openai, settings, fault, status, code
):
    chat(api_client, message="first question", session_id="s-4")
    settings.REQUEST_TIMEOUT = 0.5
    if fault == "fail":
        fake_openai.fail_always(status=500, endpoint="chat", retry_after=0.01)
    else:
        fake_openai.hang_next(count=20, seconds=2, endpoint="chat")

    assert_envelope(chat(api_client, message="second question", session_id="s-4"), status, code)
    assert_envelope(chat(api_client, message="brand new", session_id="s-new"), status, code)

    assert list(Message.objects.filter(session_id="s-4").values_list("content", flat=True).order_by("id")) == [
        "first question",
        Message.objects.filter(session_id="s-4", role="assistant").get().content,
    ]
    assert not Session.objects.filter(pk="s-new").exists()


def stream(api_client, **payload) -> list[dict]:
    response = api_client.post("/chat", {**payload, "stream": True}, format="json")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    raw = b"".join(response.streaming_content).decode()
    return [json.loads(line[len("data: ") :]) for line in raw.split("\n\n") if line.startswith("data: ")]


def test_streaming_sends_tokens_then_sources_then_done_and_saves_the_answer(api_client, handbook):
    events = stream(api_client, message="How many days of paid leave?", session_id="s-5")

    kinds = [event["type"] for event in events]
    assert kinds[-2:] == ["sources", "done"] and set(kinds[:-2]) == {"token"} and len(kinds) > 4
    answer = "".join(event["content"] for event in events if event["type"] == "token")
    done = events[-1]
    saved = Message.objects.get(pk=done["message_id"])
    assert (done["session_id"], saved.content, saved.sources) == ("s-5", answer, events[-2]["sources"])


def test_a_stream_that_fails_midway_ends_with_an_error_event_and_saves_nothing(api_client, handbook, fake_openai):
    fake_openai.disconnect_next(count=10, endpoint="chat")
    events = stream(api_client, message="leave?", session_id="s-6")
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "LLM_ERROR"
    assert not Session.objects.filter(pk="s-6").exists()


def test_streaming_in_extractive_mode(api_client, handbook, settings):
    settings.CHAT_MODEL = None
    events = stream(api_client, message="travel expenses")
    assert events[0]["content"].startswith("No language model is configured")
    assert [event["type"] for event in events][-2:] == ["sources", "done"]


def test_a_long_document_and_a_long_history_fit_a_small_context_window(
    api_client, openai_settings, fake_openai, settings
):
    document_ingest(text="Leave rules. " * 3000, title="Huge handbook")
    for index in range(4):
        chat(api_client, message=f"leave question {index} " + "padding " * 300, session_id="s-7")
    settings.CHAT_CONTEXT_WINDOW = 2048

    response = chat(api_client, message="What are the leave rules?", session_id="s-7")

    assert response.status_code == 200
    from chat.services.prompts import tokens

    sent = sum(tokens(m["content"]) for m in last_chat_body(fake_openai)["messages"])
    assert sent <= 2048 - settings.CHAT_MAX_ANSWER_TOKENS


def test_sessions_can_be_read_and_deleted(api_client, handbook):
    chat(api_client, message="leave?", session_id="s-8")

    body = api_client.get("/sessions/s-8").json()
    assert body["session_id"] == "s-8"
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert set(body["messages"][0]) == {"message_id", "role", "content", "sources", "created_at"}
    assert api_client.delete("/sessions/s-8").json() == {"session_id": "s-8", "status": "deleted"}
    assert not Message.objects.exists()
    assert_envelope(api_client.get("/sessions/s-8"), 404, "SESSION_NOT_FOUND")
    assert_envelope(api_client.delete("/sessions/s-8"), 404, "SESSION_NOT_FOUND")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "  "}, "message"),
        ({}, "message"),
        ({"message": "hi", "config": {"top_k": 21}}, "config.top_k"),
        ({"message": "hi", "config": {"temperature": 2.5}}, "config.temperature"),
        ({"message": "hi", "vault_id": "x"}, "vault_id"),
        ({"message": "hi", "agent_id": "x"}, "agent_id"),
    ],
)
def test_bad_chat_input_is_422(api_client, openai_settings, payload, field):
    body = assert_envelope(chat(api_client, **payload), 422, "VALIDATION_ERROR")
    assert field in body["detail"]
    assert not Session.objects.exists()


def test_unknown_agent_or_vault_is_404(api_client, openai_settings):
    assert_envelope(chat(api_client, message="hi", agent_id=str(uuid.uuid4())), 404, "AGENT_NOT_FOUND")
    assert_envelope(chat(api_client, message="hi", vault_id=str(uuid.uuid4())), 404, "VAULT_NOT_FOUND")


@pytest.mark.django_db(transaction=True)
def test_first_messages_to_one_new_session_at_the_same_moment_make_one_session(api_client, handbook, fake_openai):
    fake_openai.delay = 0.2
    barrier = threading.Barrier(3)

    def ask(index: int) -> int:
        from rest_framework.test import APIClient

        barrier.wait()
        try:
            return (
                APIClient()
                .post("/chat", {"message": f"leave {index}", "session_id": "race"}, format="json")
                .status_code
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(ask, range(3)))

    assert statuses == [200, 200, 200]
    assert Session.objects.filter(pk="race").count() == 1
    assert Message.objects.filter(session_id="race").count() == 6


def test_code_in_an_answer_is_not_taken_for_citations(api_client, handbook, fake_openai):
    fake_openai.reply = lambda messages: "Use array[0] and x[12] as in [1]."
    body = chat(api_client, message="leave days").json()
    assert body["answer"] == "Use array[0] and x[12] as in [1]."


def test_an_answer_that_cites_nothing_has_no_sources(api_client, handbook, fake_openai):
    fake_openai.reply = lambda messages: "I do not know."
    body = chat(api_client, message="leave days").json()
    assert (body["answer"], body["sources"]) == ("I do not know.", [])


def test_a_long_marker_split_across_stream_pieces_is_still_checked():
    from chat.services.answer import Citations
    from documents.services.search import SearchHit

    hits = [SearchHit(i, uuid.uuid4(), f"t{i}", "", "text", "text", 0.5) for i in range(1, 6)]
    citations = Citations(hits)
    text = citations.feed("See [1] then [5, 4, 3, 2") + citations.feed(", 1, 99]") + citations.flush()
    assert text == "See [1] then [2][3][4][5][1]"


def test_a_session_cannot_move_to_another_agent(api_client, openai_settings):
    vault = Vault.objects.create(name="Legal")
    first = Agent.objects.create(name="A", vault=vault, system_prompt="p")
    second = Agent.objects.create(name="B", vault=vault, system_prompt="p")
    chat(api_client, message="hello", session_id="agents", agent_id=str(first.pk))

    body = assert_envelope(
        chat(api_client, message="again", session_id="agents", agent_id=str(second.pk)), 422, "VALIDATION_ERROR"
    )
    assert "agent_id" in body["detail"]
    assert Message.objects.filter(session_id="agents").count() == 2


@pytest.mark.parametrize("session_id", ["a/b", "with space", "x" * 201, "nul\x00"])
def test_a_session_id_unfit_for_urls_is_422(api_client, openai_settings, session_id):
    body = assert_envelope(chat(api_client, message="hi", session_id=session_id), 422, "VALIDATION_ERROR")
    assert "session_id" in body["detail"]


def test_null_optional_fields_are_accepted_as_absent(api_client, handbook):
    response = chat(
        api_client, message="leave?", session_id=None, vault_id=None, agent_id=None, config=None, stream=None
    )
    assert response.status_code == 200
    assert len(response.json()["session_id"]) == 32


def test_a_message_of_nul_bytes_is_blank(api_client, openai_settings):
    response = api_client.post("/chat", data='{"message": "\\u0000\\u0000"}', content_type="application/json")
    assert "message" in assert_envelope(response, 422, "VALIDATION_ERROR")["detail"]
    assert not Session.objects.exists()


def test_a_session_path_no_session_could_have_is_404(api_client, openai_settings):
    assert_envelope(api_client.get("/sessions/nul%00byte"), 404, "SESSION_NOT_FOUND")


def test_a_tiny_context_window_with_a_long_agent_prompt_still_fits(api_client, openai_settings, fake_openai, settings):
    vault = Vault.objects.create(name="Tiny")
    document_ingest(text="Leave rules. " * 500, title="Long", vault=vault)
    agent = Agent.objects.create(name="Verbose", vault=vault, system_prompt="Be helpful. " * 2000)
    settings.CHAT_CONTEXT_WINDOW = 1024
    settings.CHAT_MAX_ANSWER_TOKENS = 256

    assert chat(api_client, message="leave rules? " * 200, agent_id=str(agent.pk)).status_code == 200

    from chat.services.prompts import tokens

    sent = sum(tokens(m["content"]) + 8 for m in last_chat_body(fake_openai)["messages"])
    assert sent + 256 <= 1024
