"""The embedding providers: batching, concurrency and retries against a real HTTP server; the bundled local model."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from documents.services.embeddings import LocalEmbeddings, OpenAIEmbeddings, embedding_provider
from ragsite.errors import EmbeddingFailed, UpstreamTimeout
from tests.fakes.openai_server import fake_embedding
from tests.live import BASE_DIR, service_env


def provider(fake_openai, **overrides) -> OpenAIEmbeddings:
    options = dict(
        model="text-embedding-3-small",
        api_key="sk-test",
        base_url=fake_openai.base_url,
        timeout=5,
        max_retries=2,
        batch_size=4,
        concurrency=4,
    )
    return OpenAIEmbeddings(**{**options, **overrides})


def texts(count: int) -> list[str]:
    return [f"text number {index} about topic {index % 3}" for index in range(count)]


def test_vectors_come_back_one_per_text_in_order(fake_openai):
    vectors = provider(fake_openai).embed(texts(10))
    assert [list(v) for v in vectors] == [pytest.approx(fake_embedding(t, 64)) for t in texts(10)]


def test_inputs_are_sent_in_batches_of_the_configured_size(fake_openai):
    provider(fake_openai, batch_size=4).embed(texts(10))
    assert sorted(len(request.body["input"]) for request in fake_openai.embedding_requests()) == [2, 4, 4]


def test_batches_are_in_flight_at_the_same_time(fake_openai):
    fake_openai.delay = 0.3
    started = time.monotonic()
    provider(fake_openai, batch_size=1, concurrency=4).embed(texts(4))
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 * 4 * 0.6  # one after another would take 1.2 s
    stamps = sorted(request.timestamp for request in fake_openai.embedding_requests())
    assert stamps[-1] - stamps[0] < 0.25


def test_only_the_failed_batch_is_retried(fake_openai):
    fake_openai.fail_next(count=1, status=503, retry_after=0.05, endpoint="embeddings")
    vectors = provider(fake_openai, batch_size=4, concurrency=1).embed(texts(12))
    assert len(vectors) == 12
    requests = fake_openai.embedding_requests()
    assert len(requests) == 4  # three batches, one of them twice
    inputs = [tuple(request.body["input"]) for request in requests]
    assert inputs[0] == inputs[1]  # the failed first batch, repeated
    assert len(set(inputs)) == 3


def test_retry_after_is_honoured(fake_openai):
    fake_openai.fail_next(count=1, status=429, retry_after=0.4, endpoint="embeddings")
    started = time.monotonic()
    provider(fake_openai).embed(["one text"])
    assert time.monotonic() - started >= 0.4


def test_a_provider_failing_after_all_retries_raises_embedding_failed(fake_openai):
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)
    with pytest.raises(EmbeddingFailed) as caught:
        provider(fake_openai, max_retries=1).embed(["one"])
    assert caught.value.status == 502
    assert "500" in caught.value.detail
    assert "sk-test" not in str(caught.value.detail)
    assert len(fake_openai.embedding_requests()) == 2


def test_an_unreachable_provider_raises_embedding_failed(fake_openai):
    unreachable = OpenAIEmbeddings(
        model="m", api_key="k", base_url="http://127.0.0.1:9/v1", timeout=2, max_retries=0, batch_size=4, concurrency=1
    )
    with pytest.raises(EmbeddingFailed, match="provider failed"):
        unreachable.embed(["one"])


def test_a_slow_provider_raises_upstream_timeout(fake_openai):
    fake_openai.hang_next(count=5, seconds=5, endpoint="embeddings")
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        provider(fake_openai, timeout=0.3, max_retries=0).embed(["one"])
    assert time.monotonic() - started < 2


def test_a_garbage_response_raises_embedding_failed(fake_openai):
    fake_openai.garbage_next(count=3, endpoint="embeddings")
    with pytest.raises(EmbeddingFailed):
        provider(fake_openai).embed(["one"])


def test_the_configured_provider_follows_the_settings(openai_settings):
    chosen = embedding_provider()
    assert isinstance(chosen, OpenAIEmbeddings)
    assert chosen.model == "text-embedding-3-small"
    openai_settings.EMBEDDING_PROVIDER = "local"
    assert isinstance(embedding_provider(), LocalEmbeddings)


@pytest.mark.slow
def test_the_local_model_embeds_offline_from_the_bundled_weights():
    local = LocalEmbeddings(batch_size=8)
    cat, kitten, invoice = local.embed(["A cat sleeps on the sofa.", "A kitten naps on the couch.", "Invoice #42"])
    assert local.model == "all-MiniLM-L6-v2"
    assert cat.shape == (384,)
    assert float(cat @ cat) == pytest.approx(1.0, abs=1e-5)  # normalised
    assert float(cat @ kitten) > float(cat @ invoice) + 0.3


def test_torch_is_not_imported_when_the_provider_is_openai_compatible(fake_openai):
    script = (
        "import sys\n"
        "from documents.services.embeddings import embedding_provider\n"
        "vectors = embedding_provider().embed(['hello'])\n"
        "assert len(vectors) == 1\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    env = service_env(OPENAI_API_KEY="sk-test", OPENAI_API_BASE=fake_openai.base_url)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def _answer(embeddings: list) -> dict:
    data = [{"object": "embedding", "index": index, "embedding": vector} for index, vector in embeddings]
    return {"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": 2, "total_tokens": 2}}


def test_a_server_that_ignores_base64_and_sends_numbers_still_works(fake_openai):
    # Out of order as well: vectors are matched to inputs by "index".
    fake_openai.answer_next(_answer([(1, [0.0, 1.0]), (0, [1.0, 0.0])]), endpoint="embeddings")
    first, second = provider(fake_openai).embed(["one", "two"])
    assert first.tolist() == [1.0, 0.0] and second.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "embeddings",
    [[[1.0, 0.0], [1.0]], [[float("nan"), 0.0], [1.0, 0.0]], [[1.0, 0.0]], [[1.0, 0.0], "not base64!"]],
    ids=["inconsistent-width", "not-finite", "too-few", "bad-base64"],
)
def test_malformed_vectors_are_an_embedding_failure(fake_openai, embeddings):
    fake_openai.answer_next(_answer(list(enumerate(embeddings))), endpoint="embeddings")
    with pytest.raises(EmbeddingFailed):
        provider(fake_openai).embed(["one", "two"])


@pytest.mark.parametrize("body", [{"data": "nope"}, {"object": "list"}, [1, 2], {"data": [{"embedding": [1.0]}]}])
def test_an_answer_not_in_the_openai_shape_is_an_invalid_response(fake_openai, body):
    fake_openai.answer_next(body, endpoint="embeddings")
    with pytest.raises(EmbeddingFailed) as failed:
        provider(fake_openai).embed(["one"])
    assert failed.value.detail == "the embedding provider sent an invalid response"
