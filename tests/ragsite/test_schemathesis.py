"""schemathesis against GET /openapi.json, over every operation: generated requests, valid and invalid, never get a
500, and every answer keeps to the schema (a documented status, the documented content type, a body that matches,
the documented headers).

The service is a real gunicorn on its own embedded PostgreSQL, configured as in production where it matters here:
API keys required, an OpenAI-compatible provider (the fake server). Requests carry an admin key, so they reach every
endpoint; schemathesis also sends them without it and checks the 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from django.test import Client, override_settings
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation

from tests.fakes.openai_server import FakeOpenAI
from tests.live import gunicorn_server, manage, service_env

pytestmark = pytest.mark.slow

# Examples per operation and generation mode (valid, invalid): enough to reach each field's edge cases, few enough
# that the whole run stays around a minute.
EXAMPLES = 30

# What an upload holds is beyond a schema: a file of a type the service cannot read (known by its name) is a 415, a
# readable one without text (a PDF of images, say) a 422.
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-path": "/ingest",
                "include-method": "POST",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "403", "404", "409", "415", "422", "429"]
                    }
                },
            }
        ]
    }
)


def served_schema() -> dict:
    """The schema as the service serves it with keys required (it needs no database, so it is read at collection:
    schemathesis makes one test per operation from it)."""
    with override_settings(API_AUTH="required"):
        response = Client().get("/openapi.json")
    assert response.status_code == 200
    return response.json()


SCHEMA = served_schema()
schema = schemathesis.openapi.from_dict(SCHEMA, config=CONFIG)

# Ids of objects the service holds (filled by the `service` fixture): half the generated requests name them instead
# of random ids, so the answers about existing objects are checked too, not only the 404s.
SEEDED: dict[str, str] = {}


@schema.hook
def flatmap_case(context, case):
    return st.booleans().map(lambda seeded: with_seeded_ids(case) if seeded else case)


@schema.hook
def filter_failure(context, failure, case, response) -> bool:
    # gunicorn refuses a request line over 4094 bytes (limit_request_line) with its own 414 page, before the service
    # sees the request; only invalid requests (a `q` far over its 200 characters) are that long.
    if response.status_code == 414:
        return False
    if isinstance(failure, AcceptedNegativeData) and not negative_as_sent(case):
        return False
    return True


def negative_as_sent(case) -> bool:
    """Whether the request that went out is still invalid, not only the one generated. Its only headers in the
    schema are the API key ones, which this test replaces with its own valid key; and an invalid query value may go
    out valid (a null is sent as an empty value, which every query parameter here accepts). So a case invalid only
    in those places is not held to a rejection; tests/documents/test_documents_api.py checks bad query values."""
    if case.meta is None:  # an explicit example: sent as written
        return True
    return any(
        case.meta.is_negative_at(location)
        for location in (ParameterLocation.PATH, ParameterLocation.BODY, ParameterLocation.COOKIE)
    )


def with_seeded_ids(case):
    """The case with the seeded ids in its path and body, where those were generated valid (an invalid id must stay
    invalid: the case expects a rejection)."""
    if case.path_parameters and not case.meta.is_negative_at(ParameterLocation.PATH):
        case.path_parameters = {name: SEEDED.get(name, value) for name, value in case.path_parameters.items()}
    if isinstance(case.body, dict) and not case.meta.is_negative_at(ParameterLocation.BODY):
        case.body = {
            name: SEEDED[name] if name in SEEDED and isinstance(value, str) else value
            for name, value in case.body.items()
        }
    return case


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, auth headers) of a live service with an admin key."""
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    # As `make run` and the Dockerfile do before starting gunicorn: the docs pages link their collected assets.
    collected = manage("collectstatic", "--noinput", "--verbosity", "0", env=service_env(DATA_DIR=str(data_dir)))
    assert collected.returncode == 0, collected.stderr
    with (
        FakeOpenAI(dimensions=64) as fake,
        gunicorn_server(
            data_dir=data_dir,
            OPENAI_API_KEY="sk-test-key",
            OPENAI_API_BASE=fake.base_url,
            API_AUTH="required",
            RATE_LIMIT_CHAT="100000/min",
            RATE_LIMIT_INGEST="100000/min",
            RATE_LIMIT_READ="100000/min",
            REQUEST_TIMEOUT="10",
        ) as server,
    ):
        created = manage("create_api_key", "schemathesis", "--scope", "admin", env=service_env(DATA_DIR=str(data_dir)))
        assert created.returncode == 0, created.stderr
        auth = {"Authorization": f"Bearer {created.stdout.strip()}"}
        SEEDED.update(seed(server.url, auth))
        yield server.url, auth


def seed(url: str, auth: dict[str, str]) -> dict[str, str]:
    """A vault with a document and an agent, and a session: their ids."""
    with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
        vault = client.post("/vaults", json={"name": "seeded"}).json()["vault_id"]
        text = "Quokkas negotiate the Vortigern merger under clause ninety-seven."
        document = client.post("/ingest", json={"text": text, "vault_id": vault}).json()["document_id"]
        agent = client.post("/agents", json={"name": "seeded", "vault_id": vault, "system_prompt": "Be brief."})
        session = client.post("/chat", json={"message": "Who negotiates?", "vault_id": vault}).json()["session_id"]
    return {
        "vault_id": vault,
        "document_id": document,
        "agent_id": agent.json()["agent_id"],
        "session_id": session,
    }


def test_the_live_service_serves_the_schema_under_test(service):
    url, auth = service
    assert httpx.get(f"{url}/openapi.json", timeout=30).json() == SCHEMA


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_the_api_keeps_to_its_schema(case, service):
    url, auth = service
    case.call_and_validate(base_url=url, headers=auth, timeout=30)
