"""The chat model behind one small interface: any OpenAI-compatible server, through LlamaIndex's OpenAILike.

OpenAILike (not OpenAI) because LlamaIndex's OpenAI class refuses model names it does not know
("Unknown model 'my-local-llama'"): CHAT_MODEL is always the model actually called, with CHAT_CONTEXT_WINDOW.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from documents.services.parsing import text_clean
from ragsite.errors import LLMFailed
from ragsite.providers import built_per_settings, provider_errors


class _OpenAICompatible(OpenAILike):
    """OpenAILike whose retries are the SDK's (which honour Retry-After), not LlamaIndex's second layer on top."""

    sdk_max_retries: int = 3

    def _get_credential_kwargs(self, is_async: bool = False) -> dict[str, Any]:
        return {**super()._get_credential_kwargs(is_async), "max_retries": self.sdk_max_retries}


@dataclass(frozen=True)
class ChatModel:
    name: str
    context_window: int
    _llm: _OpenAICompatible

    def _failures(self) -> provider_errors:
        return provider_errors(kind="llm", subject="language model provider", model=self.name, failure=LLMFailed)

    def complete(self, messages: Sequence[ChatMessage], *, temperature: float) -> str:
        """The whole answer, cleaned (text_clean). Raises LLMFailed (502) or UpstreamTimeout (504)."""
        with self._failures():
            response = self._llm.chat(list(messages), temperature=temperature)
        return text_clean(response.message.content or "")

    def stream(self, messages: Sequence[ChatMessage], *, temperature: float) -> Iterator[str]:
        """The answer piece by piece, as the server sends it, each cleaned. Raises as complete() does, possibly
        midway.

        Cleaned here, where the text enters the service: a model's text may hold what PostgreSQL refuses (NUL,
        lone surrogates), whether it becomes an answer or a search query."""
        with self._failures():
            received = False
            for chunk in self._llm.stream_chat(list(messages), temperature=temperature):
                received = True
                if chunk.delta:
                    yield text_clean(chunk.delta)
            if not received:
                # Every real stream sends at least its role and finish chunks. A body that is no event stream at all
                # (a proxy's page, truncated JSON) parses as zero events: without this it would be an empty answer,
                # saved as if the model had said nothing.
                raise ValueError("the stream had no events")


@built_per_settings(
    "CHAT_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_API_BASE",
    "REQUEST_TIMEOUT",
    "PROVIDER_MAX_RETRIES",
    "CHAT_CONTEXT_WINDOW",
    "CHAT_MAX_ANSWER_TOKENS",
)
def chat_model() -> ChatModel | None:
    """The configured chat model, or None when there is none (no OPENAI_API_KEY): answers are then extractive."""
    if not settings.CHAT_MODEL:
        return None
    llm = _OpenAICompatible(
        model=settings.CHAT_MODEL,
        api_key=settings.OPENAI_API_KEY,
        api_base=settings.OPENAI_API_BASE,
        is_chat_model=True,
        context_window=settings.CHAT_CONTEXT_WINDOW,
        max_tokens=settings.CHAT_MAX_ANSWER_TOKENS,
        timeout=settings.REQUEST_TIMEOUT,
        max_retries=0,
        sdk_max_retries=settings.PROVIDER_MAX_RETRIES,
    )
    return ChatModel(name=settings.CHAT_MODEL, context_window=settings.CHAT_CONTEXT_WINDOW, _llm=llm)
