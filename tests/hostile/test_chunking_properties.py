"""The chunker loses no text: for any document, its chunks are verbatim slices of it that cover every non-blank
character, in order, each within CHUNK_SIZE tokens, overlapping the previous one by at most CHUNK_OVERLAP tokens.

Exactly what SentenceSplitter (behind text_chunk) guarantees, and no more:
- each chunk is a slice of the text with its surrounding whitespace stripped (so the whitespace between two chunks,
  and around the document, may belong to neither);
- the next chunk starts with up to chunk_overlap tokens of the previous one, then carries on where it ended; it may
  also add nothing but whitespace after that overlap (a trailing " " after a final "."), so ends never go back but
  may stay put;
- no chunk is blank, and a blank document has none.
Chunk positions repeat inside repetitive text, so the test looks for any placement of the chunks that satisfies
all of this, rather than guessing one.
"""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.utils import get_tokenizer

from documents.services.chunking import text_chunk
from documents.services.parsing import text_clean

FRAGMENTS = [
    *["The", "leave", "policy", "Mr.", "U.S.", "e.g.", "3.14", "1234567", "'s", '"', "http://x.test/a?b=1;c=2"],
    *[" ", "  ", "\t", "\n", "\n\n", "\n\n\n", "\r\n"],
    *[".", ",", ";", "!", "?", "...", "。", "？", "！", "—"],
    *["e\u0301", "\u200f", "\u202e", "\u200d", "😀", "👩\u200d👩\u200d👧", "שלום", "中文文本", "\x00", "x" * 40],
]
documents = st.one_of(
    st.text(max_size=3000),  # every code point but lone surrogates (text_clean replaces those before chunking)
    st.lists(st.sampled_from(FRAGMENTS), max_size=1200).map("".join),  # sentence-like, with its awkward corners
)


def occurrences(text: str, piece: str) -> Iterator[tuple[int, int]]:
    start = text.find(piece)
    while start != -1:
        yield start, start + len(piece)
        start = text.find(piece, start + 1)


def next_non_blank(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def chunks_cover(text: str, chunks: list[str], overlap: int) -> bool:
    """Whether the chunks can be placed in the text as the module docstring says (a search over placements)."""
    tokens = get_tokenizer()
    ends: set[int] | None = None  # where the previous chunk may end, over all valid placements so far
    for chunk in chunks:
        reachable = set()
        for start, end in occurrences(text, chunk):
            if ends is None:
                fits = start == next_non_blank(text, 0)
            else:
                fits = any(
                    previous <= end
                    and start <= next_non_blank(text, previous)
                    and (start >= previous or len(tokens(text[start:previous])) <= overlap)
                    for previous in ends
                )
            if fits:
                reachable.add(end)
        if not reachable:
            return False
        ends = reachable
    return ends is not None and any(next_non_blank(text, end) == len(text) for end in ends)


@settings(max_examples=300)
@given(raw=documents, chunk_size=st.integers(32, 96), overlap_share=st.floats(0, 0.5))
def test_chunks_cover_the_whole_document_in_order_within_the_size_limit(raw, chunk_size, overlap_share):
    text = text_clean(raw)  # what ingest chunks: NUL removed, lone surrogates replaced, \n line ends
    overlap = int(chunk_size * overlap_share)  # settings allow 0 <= CHUNK_OVERLAP < CHUNK_SIZE

    chunks = text_chunk(text=text, chunk_size=chunk_size, chunk_overlap=overlap)

    if not text.strip():
        assert chunks == []
        return
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    tokens = get_tokenizer()
    for chunk in chunks:
        assert chunk.text.strip() == chunk.text != ""
        assert chunk.token_count == len(tokens(chunk.text)) <= chunk_size
    assert chunks_cover(text, [chunk.text for chunk in chunks], overlap)


def test_the_coverage_check_itself_catches_lost_reordered_and_overlong_chunks():
    text = "Alpha beta. Gamma delta. Epsilon zeta."
    assert chunks_cover(text, ["Alpha beta.", "Gamma delta.", "Epsilon zeta."], overlap=0)
    assert chunks_cover(text, ["Alpha beta. Gamma", "Gamma delta. Epsilon zeta."], overlap=1)
    assert not chunks_cover(text, ["Alpha beta.", "Epsilon zeta."], overlap=0)  # a sentence lost
    assert not chunks_cover(text, ["Gamma delta.", "Alpha beta.", "Epsilon zeta."], overlap=0)  # out of order
    assert not chunks_cover(text, ["Alpha beta. Gamma delta.", "beta. Gamma delta. Epsilon zeta."], overlap=2)
    assert not chunks_cover(text, ["Alpha beta.", "Gamma delta."], overlap=0)  # the end lost
    assert not chunks_cover(text, ["beta.", "Gamma delta. Epsilon zeta."], overlap=0)  # the start lost
