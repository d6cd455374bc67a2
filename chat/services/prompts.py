"""Prompts, with LlamaIndex's prompt templates, fitted to the chat model's context window by counting tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.prompts import PromptTemplate
from llama_index.core.utils import get_tokenizer

from documents.services.search import SearchHit

DEFAULT_SYSTEM_PROMPT = "You are a careful assistant that answers questions about the user's documents."

ANSWER_SYSTEM_TEMPLATE = PromptTemplate(
    "{system_prompt}\n\n"
    "Answer the user's question using only the numbered passages below. Cite every passage you use with its "
    "number in square brackets, like [1] or [2][3]. If the passages do not contain the answer, say that you do not "
    "know rather than guessing.\n\n"
    "Passages:\n{passages}"
)
PASSAGE_TEMPLATE = PromptTemplate("[{number}] {title}\n{text}")
NO_PASSAGES = "(no passage matched the question)"

CONDENSE_TEMPLATE = PromptTemplate(
    "Rewrite the follow-up question as a standalone question that can be understood without the conversation. "
    "Keep its language. Reply with the question only.\n\n"
    "Conversation:\n{history}\n\n"
    "Follow-up question: {question}\n\n"
    "Standalone question:"
)

# What the chat format adds around each message, in tokens (role markers and separators).
MESSAGE_OVERHEAD_TOKENS = 8
# Tokens are counted with cl100k; the served model may tokenize differently (local models often do), so a tenth
# of the window stays unused.
WINDOW_SPARE = 0.1


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


def tokens(text: str) -> int:
    return len(get_tokenizer()(text))


def tokens_at_most(text: str) -> int:
    """A bound on tokens(text) without tokenizing, which is the slow part of building a prompt (a millisecond for
    five passages): every cl100k token is at least one byte of UTF-8 (a lone surrogate, which the tokenizer
    accepts, counts as the three bytes it would take)."""
    return len(text.encode("utf-8", "surrogatepass"))


def truncate_tokens(text: str, budget: int) -> str:
    """The longest prefix of text within `budget` tokens."""
    if budget <= 0:
        return ""
    if tokens_at_most(text) <= budget:
        return text
    tokenizer = get_tokenizer()
    encoded = tokenizer(text)
    if len(encoded) <= budget:
        return text
    import tiktoken

    # A cut inside a character (an emoji is several tokens) leaves bytes that decode to nothing: drop them, so the
    # result is a prefix of the text rather than one ending in U+FFFD.
    return tiktoken.get_encoding("cl100k_base").decode(encoded[:budget], errors="ignore")


def answer_messages(
    *,
    system_prompt: str | None,
    passages: Sequence[SearchHit],
    history: Sequence[Turn],
    question: str,
    context_window: int,
    answer_tokens: int,
) -> tuple[list[ChatMessage], list[SearchHit]]:
    """The messages for the answer and the passages they carry (numbered 1..n in that order).

    Everything is fitted into the window less answer_tokens and a tenth to spare: the oldest history goes first,
    then the weakest passages (they come best first); a lone passage, the system prompt or the question too long
    for the window is cut short. A long document can therefore never make a chat fail.
    """
    budget = _budget(context_window, answer_tokens) - MESSAGE_OVERHEAD_TOKENS * 2
    # An agent's prompt or a pasted question may be long; each keeps at most a quarter of the budget.
    system = truncate_tokens(system_prompt or DEFAULT_SYSTEM_PROMPT, budget // 4)
    question = truncate_tokens(question, budget // 4)
    passage_texts = [_passage(number, hit) for number, hit in enumerate(passages, start=1)]
    kept_passages, kept_history = list(passages), list(history)
    content = _system_content(system, passage_texts)
    bound = tokens_at_most(content) + tokens_at_most(question)
    bound += sum(tokens_at_most(turn.content) + MESSAGE_OVERHEAD_TOKENS for turn in history)
    if bound > budget:  # rarely: the usual prompt fits by its bytes alone, and nothing needs counting exactly
        budget -= tokens(ANSWER_SYSTEM_TEMPLATE.format(system_prompt=system, passages="")) + tokens(question)
        kept_passages, passage_texts, kept_history = _fitted(passages, passage_texts, history, budget)
        content = _system_content(system, passage_texts)

    messages = [ChatMessage(role=MessageRole.SYSTEM, content=content)]
    messages += [ChatMessage(role=MessageRole(turn.role), content=turn.content) for turn in kept_history]
    messages.append(ChatMessage(role=MessageRole.USER, content=question))
    return messages, kept_passages


def _fitted(
    passages: Sequence[SearchHit], passage_texts: list[str], history: Sequence[Turn], budget: int
) -> tuple[list[SearchHit], list[str], list[Turn]]:
    """The passages (with their texts) and the history that fit `budget` tokens: the oldest history goes first,
    then the weakest passages; a lone passage too long is cut short, or dropped when there is no room at all."""
    kept_passages = list(passages)
    passage_texts = list(passage_texts)
    passage_cost = [tokens(text) for text in passage_texts]
    history_cost = [tokens(turn.content) + MESSAGE_OVERHEAD_TOKENS for turn in history]
    kept_history = list(history)
    while kept_history and sum(history_cost) + sum(passage_cost) > budget:
        kept_history.pop(0)
        history_cost.pop(0)
    while len(kept_passages) > 1 and sum(passage_cost) > budget:
        kept_passages.pop()
        passage_texts.pop()
        passage_cost.pop()
    if kept_passages and passage_cost[0] > budget:
        passage_texts = [truncate_tokens(passage_texts[0], budget)] if budget > 32 else []
        if not passage_texts:  # no room at all: the model sees no passage, so none may be cited
            kept_passages = []
    return kept_passages, passage_texts, kept_history


def _system_content(system: str, passage_texts: list[str]) -> str:
    return ANSWER_SYSTEM_TEMPLATE.format(system_prompt=system, passages="\n\n".join(passage_texts) or NO_PASSAGES)


def _passage(number: int, hit: SearchHit) -> str:
    return PASSAGE_TEMPLATE.format(number=number, title=hit.title, text=hit.text)


def _exceeds(text: str, budget: int) -> bool:
    return tokens_at_most(text) > budget and tokens(text) > budget


def _budget(context_window: int, answer_tokens: int) -> int:
    return int(context_window * (1 - WINDOW_SPARE)) - answer_tokens


def condense_messages(
    *, history: Sequence[Turn], question: str, context_window: int, answer_tokens: int
) -> list[ChatMessage]:
    """The one message that asks the model for a standalone version of a follow-up question."""
    budget = _budget(context_window, answer_tokens) - tokens(CONDENSE_TEMPLATE.format(history="", question=""))
    question = truncate_tokens(question, budget // 3)
    budget -= tokens(question)
    lines = [f"{turn.role}: {turn.content}" for turn in history]
    while len(lines) > 1 and _exceeds("\n".join(lines), budget):
        lines.pop(0)
    conversation = truncate_tokens("\n".join(lines), budget)
    prompt = CONDENSE_TEMPLATE.format(history=conversation, question=question)
    return [ChatMessage(role=MessageRole.USER, content=prompt)]
