"""Chunking: LlamaIndex's SentenceSplitter, sized in tokens, with a fast path for texts that fit one chunk."""

from __future__ import annotations

from llama_index.core.node_parser import SentenceSplitter

from documents.services.chunking import text_chunk


def test_a_text_that_fits_one_chunk_is_chunked_exactly_as_sentence_splitter_does():
    splitter = SentenceSplitter(chunk_size=64, chunk_overlap=8)
    for text in ["  Short text.  \n", "One. Two! Three?", "A" * 40, "Line\n\nbreaks\n\n\nkept"]:
        chunks = text_chunk(text=text, chunk_size=64, chunk_overlap=8)
        assert [chunk.text for chunk in chunks] == splitter.split_text(text)


def test_a_long_text_is_split_in_order_within_the_chunk_size():
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(400))
    chunks = text_chunk(text=text, chunk_size=64, chunk_overlap=8)
    assert len(chunks) > 10
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert all(chunk.token_count <= 64 for chunk in chunks)
    assert chunks[0].text.startswith("Sentence number 0 ")
    assert "Sentence number 399 " in chunks[-1].text


def test_blank_text_has_no_chunks():
    assert text_chunk(text=" \n\t ", chunk_size=64, chunk_overlap=8) == []
