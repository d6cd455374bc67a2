"""Prompt fitting: the byte bound that spares tokenizing in the usual case never undercounts, and when it says
"maybe too long" the exact count decides, so passages that fit in tokens are all kept."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from chat.services.prompts import (
    MESSAGE_OVERHEAD_TOKENS,
    Turn,
    answer_messages,
    tokens,
    tokens_at_most,
    truncate_tokens,
)
from documents.services.search import SearchHit

# A lone surrogate too: a model's rewrite of a question is the one text that reaches here uncleaned.
PIECES = ["leave", " ", "\n", "policy.", "😀", "中文文本", "<|endoftext|>", "e\u0301", "1234567", "\x00", "\ud800"]


def hit(number: int, text: str) -> SearchHit:
    return SearchHit(
        chunk_id=number, document_id=uuid.uuid4(), title=f"Doc {number}", source="", text=text, snippet="", score=0.5
    )


@given(st.one_of(st.text(max_size=2000), st.lists(st.sampled_from(PIECES), max_size=400).map("".join)))
def test_the_byte_bound_is_never_below_the_token_count(text):
    assert tokens(text) <= tokens_at_most(text)


@given(st.text(max_size=600), st.integers(min_value=1, max_value=300))
def test_truncation_keeps_a_text_within_its_budget(text, budget):
    kept = truncate_tokens(text, budget)
    assert text.startswith(kept)
    assert tokens(kept) <= budget
    if tokens(text) <= budget:
        assert kept == text


def test_passages_whose_bytes_exceed_the_window_but_whose_tokens_fit_are_all_kept():
    # "leave " is one token of six bytes: 5 passages of 300 are ~1,500 tokens but ~9,000 bytes.
    passages = [hit(number, "leave " * 300) for number in range(1, 6)]
    window, answer = 4000, 500
    assert sum(tokens_at_most(p.text) for p in passages) > window

    messages, kept = answer_messages(
        system_prompt=None,
        passages=passages,
        history=[],
        question="leave?",
        context_window=window,
        answer_tokens=answer,
    )

    assert kept == passages
    assert all(f"[{number}] Doc {number}" in messages[0].content for number in range(1, 6))
    sent = sum(tokens(message.content) + MESSAGE_OVERHEAD_TOKENS for message in messages)
    assert sent <= window * 0.9 - answer


def test_passages_that_do_not_fit_in_tokens_are_dropped_weakest_first():
    passages = [hit(number, "leave " * 900) for number in range(1, 6)]  # ~900 tokens each

    messages, kept = answer_messages(
        system_prompt=None, passages=passages, history=[], question="leave?", context_window=4000, answer_tokens=500
    )

    assert [p.chunk_id for p in kept] == [1, 2, 3]
    assert "[3] Doc 3" in messages[0].content and "[4] Doc 4" not in messages[0].content


def test_when_everything_fits_by_its_bytes_every_passage_and_turn_is_sent_as_is():
    passages = [hit(number, f"Passage {number}: " + "leave policy " * 50) for number in range(1, 6)]
    history = [Turn("user", "How many days?"), Turn("assistant", "Twenty-five [1].")]

    messages, kept = answer_messages(
        system_prompt="Be brief.",
        passages=passages,
        history=history,
        question="And sick leave?",
        context_window=128_000,
        answer_tokens=1024,
    )

    assert kept == passages
    assert [m.content for m in messages[1:]] == ["How many days?", "Twenty-five [1].", "And sick leave?"]
    system = messages[0].content
    assert system.startswith("Be brief.")
    positions = [system.index(f"[{number}] Doc {number}\nPassage {number}:") for number in range(1, 6)]
    assert positions == sorted(positions)
