"""Any JSON body to any endpoint (hypothesis): a success, or an error in the one envelope with a 4xx status, never a
500. The fields the endpoints know get values of every JSON type, hostile strings included; unknown fields too."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ragsite.test_errors import assert_envelope

pytestmark = pytest.mark.django_db

HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "\u202e",
        "👩\u200d👩\u200d👧",
        "e\u0301",
        "'; DROP TABLE documents_document; --",
        "%s",
        "$1",
        "\\",
        "00000000-0000-0000-0000-000000000000",
        "hybrid",
        "keyword",
        "x" * 5000,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    HOSTILE_STRINGS,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = {
    "/ingest": ["text", "title", "source", "metadata", "vault_id"],
    "/search": ["query", "top_k", "vault_id", "mode", "filters"],
    "/chat": ["message", "session_id", "vault_id", "agent_id", "config", "stream"],
    "/vaults": ["name", "description"],
    "/agents": ["name", "vault_id", "system_prompt"],
}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, object]:
    path = draw(st.sampled_from(sorted(FIELDS)))
    known = draw(st.dictionaries(st.sampled_from(FIELDS[path]), JSON_VALUES, max_size=len(FIELDS[path])))
    # Mostly objects with the endpoint's fields; sometimes any JSON value at all as the whole body.
    body = draw(
        st.one_of(
            st.just(known),
            st.builds(lambda extra: {**known, **extra}, st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2)),
            JSON_VALUES,
        )
    )
    return path, body


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests())
def test_any_json_body_is_answered_or_refused_in_the_envelope(api_client, openai_settings, request):
    path, body = request
    response = api_client.post(path, data=json.dumps(body), content_type="application/json")

    assert response.status_code < 500, (path, body, response.content[:300])
    if response.status_code >= 400:
        assert_envelope(response, response.status_code, response.json()["code"])
        assert response.status_code in (404, 409, 422), (path, body, response.json())
    elif response["Content-Type"].startswith("application/json"):
        assert isinstance(response.json(), dict)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=st.binary(max_size=200), path=st.sampled_from(sorted(FIELDS)))
def test_any_bytes_as_a_json_body_are_answered_or_refused_in_the_envelope(api_client, openai_settings, raw, path):
    response = api_client.post(path, data=raw, content_type="application/json")

    assert response.status_code < 500, (path, raw, response.content[:300])
    if response.status_code >= 400:
        assert_envelope(response, response.status_code, response.json()["code"])
