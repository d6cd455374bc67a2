from __future__ import annotations

import pytest

from documents.models import Vault


@pytest.fixture
def vault(db) -> Vault:
    return Vault.objects.create(name="Handbook", description="Company handbook")


@pytest.fixture
def ingest(api_client, openai_settings):
    """POST /ingest as JSON; returns the response."""

    def post(**payload):
        return api_client.post("/ingest", payload, format="json")

    return post
