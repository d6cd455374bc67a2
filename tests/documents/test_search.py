"""Search: vector, keyword and hybrid modes, filters that still return top_k, scores and snippets."""

from __future__ import annotations

import uuid

import pytest
from django.test.utils import CaptureQueriesContext

from documents.models import Vault
from documents.services.ingest import IngestRequest, document_ingest, documents_ingest
from documents.services.search import chunks_search, snippet_make
from tests.ragsite.test_errors import assert_envelope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("openai_settings")]

ANIMALS = {
    "otters": "Sea otters hold hands while they sleep so they do not drift apart.",
    "beavers": "Beavers build dams of branches and mud across rivers and streams.",
    "owls": "Owls can turn their heads far around because their necks have many bones.",
    "foxes": "Red foxes hunt small rodents at dusk and pounce on them in the snow.",
}


@pytest.fixture
def animals() -> dict[str, uuid.UUID]:
    return {name: document_ingest(text=text, title=name.title()).document_id for name, text in ANIMALS.items()}


def search(api_client, **payload):
    return api_client.post("/search", payload, format="json")


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_each_mode_finds_the_matching_document_first_with_scores_in_0_1_best_first(api_client, animals, mode):
    response = search(api_client, query="Where do beavers build dams?", mode=mode)

    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == mode
    results = body["results"]
    assert results[0]["document_id"] == str(animals["beavers"])
    assert results[0]["title"] == "Beavers"
    assert set(results[0]) == {"document_id", "chunk_id", "title", "source", "snippet", "score"}
    scores = [result["score"] for result in results]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_a_keyword_search_reads_its_passages_with_its_ranking(animals):
    from django.db import connection

    chunks_search(query="beavers dams", top_k=2, mode="keyword")  # the collection statistics, cached
    with CaptureQueriesContext(connection) as queries:
        hits = chunks_search(query="beavers dams", top_k=2, mode="keyword")

    # The query's words, then BM25 returning each ranked chunk with its text: no query for the passages.
    assert len(queries.captured_queries) == 2
    assert hits[0].title == "Beavers"
    assert hits[0].text == ANIMALS["beavers"]


def test_hybrid_is_the_default_mode(api_client, animals):
    assert search(api_client, query="owls").json()["mode"] == "hybrid"


def test_keyword_search_matches_any_word_and_ranks_by_how_many(api_client, animals):
    results = search(api_client, query="dams rivers otters", mode="keyword").json()["results"]
    assert [r["document_id"] for r in results] == [str(animals["beavers"]), str(animals["otters"])]


def test_keyword_search_keeps_phrases_and_exclusions(api_client, animals):
    phrase = search(api_client, query='"hold hands"', mode="keyword").json()["results"]
    assert [r["document_id"] for r in phrase] == [str(animals["otters"])]
    excluded = search(api_client, query="their -owls", mode="keyword").json()["results"]
    assert str(animals["owls"]) not in [r["document_id"] for r in excluded]


def test_null_optional_fields_mean_absent_as_for_clients_of_the_old_service(api_client, animals, settings):
    body = {"query": "owls", "top_k": None, "mode": None, "vault_id": None, "filters": None}
    response = api_client.post("/search", body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["mode"] == "hybrid"  # the default
    assert 0 < len(response.json()["results"]) <= settings.TOP_K_DEFAULT


def test_keyword_search_calls_no_embedding_provider(api_client, animals, fake_openai):
    fake_openai.reset()
    assert search(api_client, query="foxes", mode="keyword").status_code == 200
    assert fake_openai.embedding_requests() == []


def test_top_k_limits_the_results_and_defaults_to_the_setting(api_client, animals, settings):
    assert len(search(api_client, query="their", mode="vector", top_k=2).json()["results"]) == 2
    settings.TOP_K_DEFAULT = 3
    assert len(search(api_client, query="their", mode="vector").json()["results"]) == 3


def test_a_vault_filter_returns_only_that_vaults_chunks(api_client, animals):
    vault = Vault.objects.create(name="Birds")
    inside = document_ingest(text="Owls hoot at night in the forest.", title="Owl notes", vault=vault).document_id

    results = search(api_client, query="owls at night", vault_id=str(vault.pk)).json()["results"]

    assert [r["document_id"] for r in results] == [str(inside)]


def test_metadata_filters_keep_matching_documents_only(api_client):
    kept = document_ingest(text="Quarterly revenue grew.", title="Q1", metadata={"team": "finance", "year": 2026})
    document_ingest(text="Quarterly revenue fell.", title="Q2", metadata={"team": "sales", "year": 2026})

    results = search(api_client, query="quarterly revenue", filters={"team": "finance"}).json()["results"]

    assert [r["document_id"] for r in results] == [str(kept.document_id)]


def test_a_filtered_vector_search_returns_top_k_whenever_that_many_chunks_match(api_client, fake_openai):
    small = Vault.objects.create(name="Small")
    documents_ingest(requests=[IngestRequest(text=f"common words and filler text number {i}") for i in range(600)])
    documents_ingest(
        requests=[IngestRequest(text=f"rare vault entry {i} about comets", vault_id=small.pk) for i in range(12)]
    )

    results = search(api_client, query="common words filler", mode="vector", top_k=10, vault_id=str(small.pk))

    # The query resembles the 600 outside the vault, not the 12 inside: a plain HNSW scan (ef_search 40) followed
    # by the vault filter would keep only a few of them.
    assert len(results.json()["results"]) == 10


def test_vector_search_compares_only_chunks_of_the_active_model(api_client, animals, settings):
    settings.EMBEDDING_MODEL = "another-model"
    newer = document_ingest(text="Sea otters crack shells on their bellies.", title="Otters 2").document_id

    results = search(api_client, query="sea otters", mode="vector", top_k=10).json()["results"]

    assert [r["document_id"] for r in results] == [str(newer)]


def test_snippets_are_the_matching_passage_cut_at_word_boundaries():
    text = " ".join(["filler"] * 200) + " the beaver dam holds water " + " ".join(["padding"] * 200)
    snippet = snippet_make(text, "beaver dam")
    assert "beaver dam" in snippet
    assert len(snippet) <= 302
    assert snippet.startswith("…") and snippet.endswith("…")
    words = snippet.strip("…").split()
    assert set(words) <= {"filler", "padding", "the", "beaver", "dam", "holds", "water"}


def test_a_short_chunk_is_its_own_snippet(animals):
    (hit,) = chunks_search(query="owls", top_k=1, mode="keyword")
    assert hit.snippet == ANIMALS["owls"]


def test_an_unknown_vault_is_404(api_client, animals):
    assert_envelope(search(api_client, query="owls", vault_id=str(uuid.uuid4())), 404, "VAULT_NOT_FOUND")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({}, "query"),
        ({"query": "owls", "top_k": 0}, "top_k"),
        ({"query": "owls", "top_k": 51}, "top_k"),
        ({"query": "owls", "mode": "semantic"}, "mode"),
        ({"query": "owls", "filters": ["team"]}, "filters"),
        ({"query": "owls", "vault_id": "1 OR 1=1"}, "vault_id"),
    ],
)
def test_bad_search_input_is_422_naming_the_field(api_client, payload, field):
    body = assert_envelope(search(api_client, **payload), 422, "VALIDATION_ERROR")
    assert field in body["detail"]


def test_a_provider_failure_is_502_in_vector_mode(api_client, animals, fake_openai):
    fake_openai.fail_always(status=500, endpoint="embeddings", retry_after=0.01)
    assert_envelope(search(api_client, query="owls", mode="vector"), 502, "EMBEDDING_ERROR")


def test_sql_in_the_query_is_just_text(api_client, animals):
    response = search(api_client, query="'; DROP TABLE documents_chunk; --", mode="hybrid")
    assert response.status_code == 200
    assert search(api_client, query="owls", mode="keyword").json()["results"]


def test_keyword_ranking_weighs_rare_words_above_common_ones(api_client):
    common = "library " * 3
    document_ingest(text=f"{common} catalogue of the library holdings", title="A")
    document_ingest(text=f"{common} the Dewey decimal system", title="B")
    for i in range(20):
        document_ingest(text=f"library news item {i}", title=f"N{i}")

    results = search(api_client, query="library Dewey", mode="keyword").json()["results"]

    assert results[0]["title"] == "B"  # "Dewey" is rare, so it outweighs yet another "library"


def test_keyword_scores_stay_in_0_1_when_statistics_predate_new_documents(api_client, animals):
    from documents.selectors import chunk_keyword_search

    assert chunk_keyword_search(query="comets", k=5) == []  # caches the collection statistics
    for index in range(10):
        document_ingest(text=f"comets and more comets {index}", title=f"C{index}")
    hits = chunk_keyword_search(query="comets", k=20)
    assert len(hits) == 10
    assert all(0.0 <= score <= 1.0 for _, score in hits)


def test_a_query_of_exclusions_only_finds_nothing(api_client, animals):
    assert search(api_client, query="-owls -foxes", mode="keyword").json()["results"] == []


def test_a_query_of_nul_bytes_is_blank(api_client):
    response = api_client.post("/search", data='{"query": "\\u0000"}', content_type="application/json")
    assert "query" in assert_envelope(response, 422, "VALIDATION_ERROR")["detail"]


def test_keyword_candidates_are_bounded_by_the_rarest_words(api_client, settings):
    from documents import selectors

    for index in range(30):
        document_ingest(text=f"library news item {index}", title=f"N{index}")
    rare = document_ingest(text="the Dewey decimal library system", title="Dewey").document_id
    settings.SEARCH_KEYWORD_CANDIDATES = 5

    hits = selectors.chunk_keyword_search(query="library Dewey", k=10)

    # Only the chunk with the rare word is scored: the thirty "library" chunks would rank below it anyway.
    assert [passage.document_id for passage, _ in hits] == [rare]


@pytest.fixture
def common_words(settings) -> dict[str, set[uuid.UUID]]:
    """Twenty chunks with both "alpha" and "beta", twenty with only one each; the candidate bound is five."""
    groups: dict[str, set[uuid.UUID]] = {"both": set(), "alpha": set(), "beta": set()}
    for index in range(20):
        groups["both"].add(document_ingest(text=f"alpha beta item {index}", title=f"AB{index}").document_id)
        groups["alpha"].add(document_ingest(text=f"alpha only item {index}", title=f"A{index}").document_id)
        groups["beta"].add(document_ingest(text=f"beta only item {index}", title=f"B{index}").document_id)
    settings.SEARCH_KEYWORD_CANDIDATES = 5
    return groups


def test_a_query_of_common_words_only_scores_the_chunks_holding_all_of_them(common_words):
    from documents import selectors

    statement = selectors.keyword_statement(query="alpha beta", k=10)
    hits = selectors.chunk_keyword_search(query="alpha beta", k=10)

    assert statement.narrowed
    assert statement.params["candidates"] == "'alpha' & 'beta'"
    assert len(hits) == 10
    assert {passage.document_id for passage, _ in hits} <= common_words["both"]


def test_too_few_chunks_holding_all_common_words_widens_the_candidates_to_top_k(common_words):
    from documents import selectors

    hits = selectors.chunk_keyword_search(query="alpha beta", k=30)

    documents = [passage.document_id for passage, _ in hits]
    assert len(documents) == 30
    assert set(documents[:20]) == common_words["both"]  # both words outscore one


def test_a_common_words_count_comes_from_analyze_statistics_past_the_bound(common_words, settings):
    from django.db import connection

    from documents import selectors

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE documents_chunk")
    selectors.search_statistics_forget()
    with CaptureQueriesContext(connection) as queries:
        frequencies = selectors._document_frequencies(["alpha", "item"], total=60)

    # ANALYZE read all 60 chunks here, so its frequencies are exact; no full count was needed.
    assert frequencies == [40, 60]
    assert not any("LIMIT" not in query["sql"] and "count(*)" in query["sql"] for query in queries.captured_queries)


def test_a_common_word_unknown_to_the_statistics_is_counted_exactly(common_words):
    from documents import selectors

    selectors.search_statistics_forget()
    selectors._cache_put("common", {})  # as before the first ANALYZE

    assert selectors._document_frequencies(["beta", "zzz"], total=60) == [40, 0]


FILLER = " ".join(f"word{index}" for index in range(70))  # 70 distinct lexemes, more than MAX_QUERY_TERMS


def test_a_long_query_is_searched_by_its_first_distinct_words(api_client):
    from documents import selectors

    rare = document_ingest(text="a zygote divides", title="Zygote").document_id
    document_ingest(text=f"{FILLER} filler page", title="F")

    # "zygote" opens the query and comes last in the alphabet; "aardvark" closes it and comes first.
    statement = selectors.keyword_statement(query=f"zygote {FILLER} aardvark", k=5)
    hits = selectors.chunk_keyword_search(query=f"zygote {FILLER} aardvark", k=5)

    assert statement.params["terms"] == ["zygot"] + [f"word{index}" for index in range(selectors.MAX_QUERY_TERMS - 1)]
    assert rare in {passage.document_id for passage, _ in hits}


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_vector_half_runs_on_its_own_connection(animals, monkeypatch):
    import threading

    from django.db import connection

    from documents.services import search as search_service

    # Which thread and connection ran the vector query (the real one: the vector query goes through psycopg
    # directly, so Django's query capture does not see it).
    ran_on: list[tuple[str, object]] = []
    vector_search = search_service.chunk_vector_search

    def recorded(**kwargs):
        ran_on.append((threading.current_thread().name, connection.connection))
        return vector_search(**kwargs)

    monkeypatch.setattr(search_service, "chunk_vector_search", recorded)
    with CaptureQueriesContext(connection) as here:
        results = chunks_search(query="Where do beavers build dams?", top_k=2)

    assert results[0].title == "Beavers"
    assert any("ts_filter" in query["sql"] for query in here.captured_queries)  # the keyword half, here
    ((thread, vector_connection),) = ran_on
    assert thread.startswith("vector-search")
    assert vector_connection is not connection.connection
