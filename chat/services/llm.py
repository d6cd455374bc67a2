"""The chat model behind one small interface: any OpenAI-compatible server, through LlamaIndex's OpenAILike.

OpenAILike (not OpenAI) because LlamaIndex's OpenAI class refuses model names it does not know
("Unknown model 'my-local-llama'"): CHAT_MODEL is always the model actually called, with CHAT_CONTEXT_WINDOW.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from ragsite.errors import LLMFailed, UpstreamTimeout

logger = logging.getLogger(__name__)


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

    def complete(self, messages: Sequence[ChatMessage], *, temperature: float) -> str:
        """The whole answer. Raises LLMFailed (502) or UpstreamTimeout (504)."""
        with _provider_errors(self.name):
            response = self._llm.chat(list(messages), temperature=temperature)
        return response.message.content or ""

    def stream(self, messages: Sequence[ChatMessage], *, temperature: float) -> Iterator[str]:
        """The answer piece by piece, as the server sends it. Raises as complete() does, possibly midway."""
        with _provider_errors(self.name):
            for chunk in self._llm.stream_chat(list(messages), temperature=temperature):
                if chunk.delta:
                    yield chunk.delta


class _provider_errors:
    """Provider exceptions as the service's errors; nothing of the provider's message (or key) reaches clients."""

    def __init__(self, model: str) -> None:
        self.model = model

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> bool:
        if exc is None or isinstance(exc, GeneratorExit):
            return False
        import httpx
        import openai

        # A read timeout in the middle of a stream reaches us from httpx, not wrapped by the SDK.
        if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
            logger.warning("event=llm_timeout model=%s", self.model)
            raise UpstreamTimeout(detail="the language model did not answer in time") from None
        if isinstance(exc, openai.APIStatusError):
            logger.warning("event=llm_failed model=%s status=%s", self.model, exc.status_code)
            raise LLMFailed(detail=f"the language model provider answered HTTP {exc.status_code}") from None
        if isinstance(exc, openai.APIConnectionError):
            logger.warning("event=llm_failed model=%s reason=connection", self.model)
            raise LLMFailed(detail="the language model provider cannot be reached") from None
        if isinstance(exc, Exception):
            logger.exception("event=llm_failed model=%s reason=%s", self.model, type(exc).__name__)
            raise LLMFailed(detail="the language model provider sent an invalid response") from None
        return False


_models: dict[tuple[Any, ...], ChatModel] = {}
_models_lock = threading.Lock()


def chat_model() -> ChatModel | None:
    """The configured chat model, or None when there is none (no OPENAI_API_KEY): answers are then extractive."""
    if not settings.CHAT_MODEL:
        return None
    key = (
        settings.CHAT_MODEL,
        settings.OPENAI_API_KEY,
        settings.OPENAI_API_BASE,
        settings.REQUEST_TIMEOUT,
        settings.PROVIDER_MAX_RETRIES,
        settings.CHAT_CONTEXT_WINDOW,
        settings.CHAT_MAX_ANSWER_TOKENS,
    )
    with _models_lock:
        model = _models.get(key)
        if model is None:
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
            model = _models[key] = ChatModel(
                name=settings.CHAT_MODEL, context_window=settings.CHAT_CONTEXT_WINDOW, _llm=llm
            )
        return model
