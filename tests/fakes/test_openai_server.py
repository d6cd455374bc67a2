"""The fake OpenAI server, driven by the real openai SDK over real HTTP: shapes, determinism, streaming and faults."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI, default_reply, fake_embedding

QUESTION = "What does the contract say about termination notice periods for either party in the agreement?"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def make_client(
    fake: FakeOpenAI, *, max_retries: int = 0, timeout: float = 2.0, api_key: str = "test"
) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key=api_key, max_retries=max_retries, timeout=timeout)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def ask(client: openai.OpenAI, question: str = QUESTION, **kwargs):
    return client.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": question}], **kwargs)


# -- embeddings


def test_embeddings_in_the_sdk_default_base64_encoding_decode_to_fake_embedding(fake):
    response = make_client(fake).embeddings.create(input=["hello world", "goodbye moon"], model="fake-embed")

    assert fake.embedding_requests()[0].body["encoding_format"] == "base64"
    assert [d.index for d in response.data] == [0, 1]
    assert response.data[0].embedding == fake_embedding("hello world", 64)
    assert response.data[1].embedding == fake_embedding("goodbye moon", 64)
    assert response.model == "fake-embed"
    assert response.usage.prompt_tokens == response.usage.total_tokens == 4


def test_embeddings_in_float_encoding_are_the_same_values(fake):
    client = make_client(fake)
    floats = client.embeddings.create(input="hello world", model="m", encoding_format="float").data[0].embedding
    packed = client.embeddings.create(input="hello world", model="m").data[0].embedding

    assert floats == packed == fake_embedding("hello world", 64)
    assert math.isclose(math.fsum(v * v for v in floats), 1.0, rel_tol=1e-6)


def test_the_same_text_always_gives_the_same_vector_and_empty_text_a_unit_vector(fake):
    client = make_client(fake)
    first = client.embeddings.create(input="The Quick brown fox", model="m").data[0].embedding
    again = client.embeddings.create(input=["the quick BROWN fox!"], model="m").data[0].embedding
    empty = client.embeddings.create(input="", model="m").data[0].embedding

    assert first == again
    assert math.isclose(math.fsum(v * v for v in empty), 1.0, rel_tol=1e-6)


def test_texts_sharing_words_are_more_similar_than_unrelated_texts(fake):
    texts = [
        "the tenant must give sixty days written notice before terminating the lease",
        "written notice of sixty days is required for the tenant to terminate the lease",
        "photosynthesis converts sunlight water and carbon dioxide into glucose",
    ]
    lease, paraphrase, biology = (d.embedding for d in make_client(fake).embeddings.create(input=texts, model="m").data)

    assert cosine(lease, paraphrase) > 0.5
    assert cosine(lease, biology) < 0.2 and cosine(paraphrase, biology) < 0.2


def test_width_per_model_dimensions_parameter_and_token_lists():
    with FakeOpenAI(model_dimensions={"text-embedding-3-small": 1536}) as fake:
        client = make_client(fake)
        wide = client.embeddings.create(input="hi", model="text-embedding-3-small").data[0].embedding
        short = client.embeddings.create(input="hi", model="text-embedding-3-small", dimensions=256).data[0].embedding
        tokens = client.embeddings.create(input=[[1, 2, 3]], model="other").data[0].embedding

    assert len(wide) == 1536
    assert short == fake_embedding("hi", 1536, shorten_to=256)
    assert tokens == fake_embedding(str([1, 2, 3]), 64)


def test_numpy_and_pure_python_give_the_same_bits(monkeypatch):
    texts = ["hello world", "", "a b c " * 40, "Ünïcode wörds, numbers 42 and_underscores"]
    with_numpy = [fake_embedding(t, 64) for t in texts] + [fake_embedding(texts[0], 64, shorten_to=8)]
    monkeypatch.setattr(openai_server, "_np", None)
    without = [fake_embedding(t, 64) for t in texts] + [fake_embedding(texts[0], 64, shorten_to=8)]

    assert with_numpy == without


# -- chat


def test_chat_answers_with_the_default_reply_and_echoes_the_model(fake):
    completion = ask(make_client(fake))

    assert completion.object == "chat.completion"
    assert completion.model == "fake-chat"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    content = completion.choices[0].message.content
    assert content == default_reply([{"role": "user", "content": QUESTION}])
    assert content == "Based on the context [1]: " + " ".join(QUESTION.split()[:12])
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert fake.chat_requests()[0].body["messages"][0]["content"] == QUESTION


def test_a_custom_reply_sees_the_messages(fake):
    fake.reply = lambda messages: f"{len(messages)} messages, last from {messages[-1]['role']}"
    assert ask(make_client(fake)).choices[0].message.content == "1 messages, last from user"


def test_streaming_concatenates_to_the_non_streamed_reply_and_reports_usage(fake):
    client = make_client(fake)
    whole = ask(client).choices[0].message.content
    chunks = list(ask(client, stream=True, stream_options={"include_usage": True}))

    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(content) == whole
    assert len(content) > 5
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_streamed_tokens_arrive_as_they_are_sent():
    with FakeOpenAI(token_delay=0.02) as fake:
        started = time.monotonic()
        arrivals = [time.monotonic() - started for c in ask(make_client(fake), stream=True) if c.choices]

    # The first word is on the wire before the remaining ~12 have been "generated" (20 ms apart): a buffered stream
    # would deliver them all at once. Relative, not absolute: a loaded machine delays the first word too.
    first_word = arrivals[1]
    assert arrivals[-1] - first_word > 0.2


def test_models_lists_the_models_seen(fake):
    ask(make_client(fake))
    assert {"fake-chat", "gpt-4o-mini"} <= {m.id for m in make_client(fake).models.list()}


# -- faults


def test_429_with_retry_after_is_retried_by_the_sdk_after_waiting(fake):
    fake.fail_next(status=429, retry_after=0.3)
    started = time.monotonic()
    completion = ask(make_client(fake, max_retries=2))
    elapsed = time.monotonic() - started

    assert completion.choices[0].message.content
    first, second = fake.requests
    assert elapsed >= 0.3 and second.timestamp - first.timestamp >= 0.3


def test_fail_always_exhausts_the_sdk_retries(fake):
    fake.fail_always(status=500, retry_after=0.01)
    with pytest.raises(openai.InternalServerError) as caught:
        make_client(fake, max_retries=2).embeddings.create(input="x", model="m")

    assert caught.value.status_code == 500
    assert caught.value.body["type"] == "server_error"
    assert len(fake.requests) == 3
    fake.clear_faults()
    assert make_client(fake).embeddings.create(input="x", model="m").data


def test_a_garbage_body_is_an_error_not_a_result(fake):
    fake.garbage_next()
    with pytest.raises(Exception) as caught:  # noqa: B017 - whatever the SDK raises, it must not parse
        make_client(fake).embeddings.create(input="x", model="m")
    assert not isinstance(caught.value, AssertionError)


def test_a_hung_request_times_out_and_does_not_hold_up_shutdown():
    fake = FakeOpenAI().start()
    try:
        fake.hang_next(seconds=30)
        with pytest.raises(openai.APITimeoutError):
            make_client(fake, timeout=0.5).embeddings.create(input="x", model="m")
    finally:
        stopping = time.monotonic()
        fake.stop()
    assert time.monotonic() - stopping < 1


def test_a_dropped_connection_is_a_connection_error_and_is_retried(fake):
    fake.disconnect_next()
    with pytest.raises(openai.APIConnectionError):
        make_client(fake).embeddings.create(input="x", model="m")

    fake.disconnect_next()
    assert make_client(fake, max_retries=1).embeddings.create(input="x", model="m").data
    assert len(fake.requests) == 3


def test_faults_can_be_limited_to_one_endpoint(fake):
    fake.fail_next(status=503, endpoint="chat")
    client = make_client(fake)
    assert client.embeddings.create(input="x", model="m").data
    with pytest.raises(openai.InternalServerError):
        ask(client)
    assert ask(client).choices


def test_faults_can_be_limited_to_requests_containing_a_text(fake):
    fake.fail_always(status=500, endpoint="embeddings", containing="poison")
    client = make_client(fake)
    assert client.embeddings.create(input=["healthy", "fine"], model="m").data
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(input=["healthy", "poisoned text"], model="m")
    fake.clear_faults()
    fake.hang_next(seconds=5, containing="slow")
    assert client.embeddings.create(input="quick", model="m").data
    with pytest.raises(openai.APITimeoutError):
        make_client(fake, timeout=0.3).embeddings.create(input="slow one", model="m")


def test_a_wrong_api_key_is_rejected():
    with FakeOpenAI(api_key="sk-right") as fake:
        with pytest.raises(openai.AuthenticationError) as caught:
            make_client(fake, api_key="sk-wrong").embeddings.create(input="x", model="m")
        assert caught.value.code == "invalid_api_key"
        assert make_client(fake, api_key="sk-right").embeddings.create(input="x", model="m").data


def test_unknown_paths_are_404_in_the_openai_error_shape(fake):
    response = httpx.post(f"{fake.base_url}/nope", json={})
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_reset_forgets_requests_and_faults(fake):
    fake.fail_always()
    httpx.get(f"{fake.base_url}/models")
    fake.reset()
    assert fake.requests == []
    assert httpx.get(f"{fake.base_url}/models").status_code == 200


# -- command line


def test_the_command_line_serves_without_django():
    root = Path(__file__).resolve().parents[2]
    imports = "import sys, tests.fakes.openai_server; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", imports], cwd=root, check=True, timeout=30)

    command = [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--dimensions", "8"]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=2)
        assert client.embeddings.create(input="hi", model="m").data[0].embedding == fake_embedding("hi", 8)
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
