"""AUTHENTICATE framing (hubbub.protocol.sasl): chunking and bounded reassembly."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.protocol.errors import ProtocolError
from hubbub.protocol.sasl import (
    CHUNK,
    ChunkTooLong,
    PayloadError,
    PayloadTooLarge,
    Reassembler,
    chunk,
)


def test_chunk_splits_and_terminates() -> None:
    assert chunk(b"") == ["+"]
    assert chunk(b"abc") == ["YWJj"]
    exact = b"x" * 300  # 400 base64 characters: needs a "+" after it
    assert chunk(exact) == [base64.b64encode(exact).decode(), "+"]
    longer = b"y" * 500
    chunks = chunk(longer)
    assert [len(c) for c in chunks] == [CHUNK, len(base64.b64encode(longer)) - CHUNK]
    assert base64.b64decode("".join(chunks)) == longer


@given(st.binary(max_size=2000))
def test_chunk_and_reassemble_round_trip(data: bytes) -> None:
    chunks = chunk(data)
    assert all(0 < len(c) <= CHUNK for c in chunks)
    reader = Reassembler(4096)
    results = [reader.feed(c) for c in chunks]
    assert results[-1] == data
    assert results[:-1] == [None] * (len(chunks) - 1)


def test_a_lone_plus_is_an_empty_payload() -> None:
    assert Reassembler(CHUNK).feed("+") == b""


def test_a_line_over_the_chunk_size_is_refused() -> None:
    reader = Reassembler(4096)
    assert reader.feed("A" * CHUNK) is None
    with pytest.raises(ChunkTooLong):
        reader.feed("A" * (CHUNK + 1))
    assert reader.feed("YWJj") == b"abc"  # the partial payload was forgotten


def test_the_total_is_bounded() -> None:
    reader = Reassembler(3 * CHUNK)
    for _ in range(3):
        assert reader.feed("A" * CHUNK) is None
    with pytest.raises(PayloadTooLarge, match="1200"):
        reader.feed("A" * CHUNK)
    assert reader.feed("+") == b""  # cleared: a new payload starts


def test_exactly_the_bound_is_accepted() -> None:
    data = b"z" * 600  # 800 base64 characters
    reader = Reassembler(800)
    assert [reader.feed(c) for c in chunk(data)] == [None, None, data]


@pytest.mark.parametrize("param", ["not base64!", "YWJ", "caf\u00e9", "YW=j"])
def test_bad_base64_is_a_payload_error(param: str) -> None:
    with pytest.raises(PayloadError):
        Reassembler(CHUNK).feed(param)


def test_errors_are_protocol_errors() -> None:
    assert issubclass(PayloadError, ProtocolError)
    assert issubclass(ChunkTooLong, PayloadError)
    assert issubclass(PayloadTooLarge, PayloadError)
    assert not issubclass(PayloadTooLarge, ChunkTooLong)  # the server answers 904, not 905


def test_the_bound_holds_at_least_one_chunk() -> None:
    with pytest.raises(ValueError, match="at least one chunk"):
        Reassembler(CHUNK - 1)
