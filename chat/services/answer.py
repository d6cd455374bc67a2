"""A chat turn: retrieve, prompt, answer (or excerpt), check the citations, and save the exchange.

Nothing is written until the answer exists: a provider failure, a timeout or a client that leaves mid-stream
leaves the session exactly as it was (the old service kept an orphan user message).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from chat.models import Agent
from chat.selectors import SessionState, agent_get, session_state
from chat.services.llm import ChatModel, chat_model
from chat.services.prompts import answer_messages, condense_messages, truncate_tokens
from documents.selectors import vault_get
from documents.services.search import SearchHit, chunks_search
from ragsite.errors import Forbidden, ValidationFailed, exception_to_error

logger = logging.getLogger(__name__)

EXTRACTIVE_PREAMBLE = "No language model is configured, so here are the most relevant excerpts from your documents:"
NOTHING_FOUND = "No passage of your documents matches this question."
RETRIEVAL_QUERY_TOKENS = 512


@dataclass
class ChatTurn:
    """Everything a turn needs before the answer is generated."""

    session_id: str
    agent: Agent | None
    vault_id: uuid.UUID | None
    question: str
    passages: list[SearchHit]
    model: ChatModel | None
    temperature: float
    messages: list[Any] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "llm" if self.model is not None else "extractive"


@dataclass(frozen=True)
class ChatResult:
    session_id: str
    message_id: int
    answer: str
    sources: list[dict[str, Any]]
    mode: str


def chat_turn_prepare(
    *,
    message: str,
    session_id: str | None = None,
    vault_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    top_k: int | None = None,
    temperature: float | None = None,
    vault_scope: uuid.UUID | None = None,
) -> ChatTurn:
    """Resolve the agent and vault, read the history, retrieve passages and build the prompt. With `vault_scope`
    (an API key bound to that vault), agents and sessions of other vaults are out of reach.

    Side effects: with history and a chat model, one model call that rewrites the question for retrieval; one
    embedding call for the search. No writes.
    """
    agent = agent_get(agent_id=agent_id, vault_scope=vault_scope) if agent_id else None
    if agent is not None:
        if vault_id is not None and vault_id != agent.vault_id:
            raise ValidationFailed(detail={"vault_id": ["The agent answers from its own vault; leave vault_id out."]})
        vault_id = agent.vault_id
    elif vault_id is not None:
        vault_get(vault_id=vault_id)
    if session_id:
        state = session_state(session_id=session_id, limit=settings.MAX_HISTORY_MESSAGES)
    else:
        # An id generated now names no session yet: there is nothing to read (a round trip less for a first turn).
        session_id = uuid.uuid4().hex
        state = SessionState(exists=False, agent_id=None, vault_id=None, history=[])
    if state.exists and vault_scope is not None and state.vault_id != vault_scope:
        # Session ids are chosen by clients, so an id in use elsewhere cannot be hidden; its history can.
        raise Forbidden(detail="this session id is in use outside this API key's vault; choose another")
    if state.agent_id is not None and (agent is None or agent.pk != state.agent_id):
        # Its history comes from another agent's vault; continuing it elsewhere would leak that conversation.
        raise ValidationFailed(detail={"agent_id": ["This session belongs to another agent; start a new session."]})
    history = state.history
    model = chat_model()

    query = message
    if history and model is not None:
        # A follow-up ("and in 2024?") retrieves nothing on its own: search with a standalone rewrite of it.
        condensed = condense_messages(
            history=history,
            question=message,
            context_window=model.context_window,
            answer_tokens=settings.CHAT_MAX_ANSWER_TOKENS,
        )
        rewritten = model.complete(condensed, temperature=0).strip()
        query = rewritten or message
    # A pasted page is a fine question but a poor search query, and embedding models take a few thousand tokens.
    query = truncate_tokens(query, RETRIEVAL_QUERY_TOKENS)
    passages = chunks_search(query=query, top_k=top_k or settings.TOP_K_DEFAULT, mode="hybrid", vault_id=vault_id)

    turn = ChatTurn(
        session_id=session_id,
        agent=agent,
        vault_id=vault_id,
        question=message,
        passages=passages,
        model=model,
        temperature=settings.DEFAULT_TEMPERATURE if temperature is None else temperature,
    )
    if model is not None:
        turn.messages, turn.passages = answer_messages(
            system_prompt=agent.system_prompt if agent else None,
            passages=passages,
            history=history,
            question=message,
            context_window=model.context_window,
            answer_tokens=settings.CHAT_MAX_ANSWER_TOKENS,
        )
    return turn


def chat_answer(turn: ChatTurn) -> ChatResult:
    """Generate the whole answer and save the exchange. Side effects: one model call; one transaction."""
    citations = Citations(turn.passages)
    if turn.model is None:
        answer = extractive_answer(turn.passages)
    else:
        generated = turn.model.complete(turn.messages, temperature=turn.temperature)
        answer = citations.feed(generated) + citations.flush()
    sources = _sources(turn, citations)
    message_id = exchange_save(turn=turn, answer=answer, sources=sources)
    return ChatResult(turn.session_id, message_id, answer, sources, turn.mode)


def chat_answer_events(turn: ChatTurn) -> Iterator[dict[str, Any]]:
    """The answer as events (token…, sources, done); the exchange is saved only when the stream completes.

    A provider failure midway ends the stream with an error event and saves nothing. A client that disconnects
    closes this generator (GeneratorExit), which likewise saves nothing.
    """
    citations = Citations(turn.passages)
    parts: list[str] = []
    try:
        if turn.model is None:
            pieces: Iterator[str] = iter([extractive_answer(turn.passages)])
        else:
            pieces = turn.model.stream(turn.messages, temperature=turn.temperature)
        for piece in pieces:
            text = citations.feed(piece) if turn.model is not None else piece
            if text:
                parts.append(text)
                yield {"type": "token", "content": text}
        tail = citations.flush()
        if tail:
            parts.append(tail)
            yield {"type": "token", "content": tail}
        sources = _sources(turn, citations)
        yield {"type": "sources", "sources": sources}
        message_id = exchange_save(turn=turn, answer="".join(parts), sources=sources)
    except Exception as exc:  # headers are sent: the only way left to say so is an error event
        error = exception_to_error(exc)
        yield {"type": "error", "code": error.code, "error": error.message}
        return
    yield {"type": "done", "session_id": turn.session_id, "message_id": message_id}


def _sources(turn: ChatTurn, citations: Citations) -> list[dict[str, Any]]:
    # An extractive answer quotes every passage; a model's answer is held to the passages it cites.
    return citations.sources() if turn.model is not None else [source_of(hit) for hit in turn.passages]


def extractive_answer(passages: Sequence[SearchHit]) -> str:
    if not passages:
        return NOTHING_FOUND
    excerpts = [f"[{number}] {hit.title}: {hit.snippet}" for number, hit in enumerate(passages, start=1)]
    return "\n\n".join([EXTRACTIVE_PREAMBLE, *excerpts])


def source_of(hit: SearchHit) -> dict[str, Any]:
    return {
        "document_id": str(hit.document_id),
        "chunk_id": hit.chunk_id,
        "title": hit.title,
        "snippet": hit.snippet,
        "score": hit.score,
    }


# "[2]", "[1, 3]"; not "array[0]" (a word character right before it), so code in answers survives.
_MARKER = re.compile(r"(?<!\w)\[(\d{1,3}(?:\s*,\s*\d{1,3}){0,15})\]")
# A marker still being streamed ("[", "[1", "[1, 2"…): held back until it closes, whatever its length.
_OPEN_MARKER = re.compile(r"(?<!\w)\[[\d,\s]{0,80}$")


class Citations:
    """Checks the answer's citation markers against the passages it was given, as the text streams by.

    Markers naming a passage that exists are renumbered in order of first citation ([3] cited first becomes [1]),
    so that they index `sources()`; markers naming no passage are dropped.
    """

    def __init__(self, passages: Sequence[SearchHit]) -> None:
        self.passages = list(passages)
        self.order: list[int] = []  # passage numbers (1-based) in order of first citation
        self._pending = ""

    def feed(self, text: str) -> str:
        self._pending += text
        held = _OPEN_MARKER.search(self._pending)
        ready, self._pending = (
            (self._pending[: held.start()], self._pending[held.start() :]) if held else (self._pending, "")
        )
        return _MARKER.sub(self._renumber, ready)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return _MARKER.sub(self._renumber, rest)

    def _renumber(self, match: re.Match[str]) -> str:
        numbers = [int(part) for part in match.group(1).split(",")]
        valid = [number for number in numbers if 1 <= number <= len(self.passages)]
        for number in valid:
            if number not in self.order:
                self.order.append(number)
        return "".join(f"[{self.order.index(number) + 1}]" for number in dict.fromkeys(valid))

    def sources(self) -> list[dict[str, Any]]:
        """The cited passages, in the order of the answer's (renumbered) markers; none when it cites none."""
        return [source_of(self.passages[number - 1]) for number in self.order]


# One statement, so atomic without a transaction around it (one round trip and one commit per turn). The session
# row comes first (INSERT … ON CONFLICT: two first messages to one new session at the same moment make one session;
# the agent and vault by subquery: one deleted during a long generation becomes NULL, not a failed save), then the
# question and the answer, in that order. Foreign keys are checked at the end of the statement, when the session
# exists. A session that searched another vault than before keeps no vault: its history now quotes both, so only
# API keys that span every vault may read it.
_EXCHANGE_SQL = """
WITH session AS (
    INSERT INTO chat_session (id, agent_id, vault_id, created_at, last_active_at)
    VALUES (
        %(session_id)s,
        (SELECT id FROM chat_agent WHERE id = %(agent_id)s),
        (SELECT id FROM documents_vault WHERE id = %(vault_id)s),
        %(now)s,
        %(now)s
    )
    ON CONFLICT (id) DO UPDATE SET
        last_active_at = EXCLUDED.last_active_at,
        vault_id = CASE WHEN chat_session.vault_id = EXCLUDED.vault_id THEN chat_session.vault_id END
    RETURNING id
)
INSERT INTO chat_message (session_id, role, content, sources, created_at)
SELECT session.id, m.role, m.content, m.sources, %(now)s
FROM session, (VALUES (1, 'user', %(question)s, '[]'::jsonb), (2, 'assistant', %(answer)s, %(sources)s::jsonb))
    AS m(position, role, content, sources)
ORDER BY m.position
RETURNING id
"""


def exchange_save(*, turn: ChatTurn, answer: str, sources: list[dict[str, Any]]) -> int:
    """Save the question and the answer, creating the session on first use. Returns the answer's message id.

    Side effects: one statement (atomic on its own).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _EXCHANGE_SQL,
            {
                "session_id": turn.session_id,
                "agent_id": turn.agent.pk if turn.agent else None,
                "vault_id": turn.vault_id,
                "now": timezone.now(),
                "question": turn.question,
                "answer": answer,
                "sources": Jsonb(sources),
            },
        )
        reply_id = max(row[0] for row in cursor.fetchall())
    logger.info(
        "event=chat_answered session_id=%s message_id=%s mode=%s sources=%s",
        turn.session_id,
        reply_id,
        turn.mode,
        len(sources),
    )
    return reply_id
