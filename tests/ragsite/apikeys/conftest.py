"""Two vaults with a document each, a document in no vault, and an agent and a session per vault."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chat.models import Agent, Session
from documents.models import Document, Vault
from documents.services.ingest import document_ingest


@dataclass
class World:
    hr: Vault
    zoo: Vault
    hr_doc: Document
    zoo_doc: Document
    loose_doc: Document
    hr_agent: Agent
    zoo_agent: Agent
    hr_session: Session
    zoo_session: Session
    open_session: Session


@pytest.fixture
def world(db, openai_settings) -> World:
    hr, zoo = Vault.objects.create(name="HR"), Vault.objects.create(name="Zoo")
    hr_doc = document_ingest(text="Employees get 25 days of annual leave.", title="Leave", vault=hr)
    zoo_doc = document_ingest(text="The zoo keeps red pandas and annual leave records.", title="Pandas", vault=zoo)
    loose_doc = document_ingest(text="Annual leave for contractors is unpaid.", title="Contractors")
    return World(
        hr=hr,
        zoo=zoo,
        hr_doc=Document.objects.get(pk=hr_doc.document_id),
        zoo_doc=Document.objects.get(pk=zoo_doc.document_id),
        loose_doc=Document.objects.get(pk=loose_doc.document_id),
        hr_agent=Agent.objects.create(name="HR bot", vault=hr, system_prompt="Answer about HR."),
        zoo_agent=Agent.objects.create(name="Zoo bot", vault=zoo, system_prompt="Answer about the zoo."),
        hr_session=Session.objects.create(pk="hr-session", vault=hr),
        zoo_session=Session.objects.create(pk="zoo-session", vault=zoo),
        open_session=Session.objects.create(pk="open-session"),
    )
