"""The C block scan (:mod:`hubbub._speedups`) answers exactly as its Python twin
(:func:`hubbub.server.fastpath.scan_block_py`), for blocks that are plain and blocks that
are not."""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hubbub.server import fastpath
from tests.server import twins

HEAD = b"PRIVMSG bob :"
NEW_HEAD = b":alice!a@host PRIVMSG Bob :"


def test_the_c_twin_is_built_and_used() -> None:
    if os.environ.get("HUBBUB_PURE_PYTHON"):
        assert fastpath.scan_block is fastpath.scan_block_py
        return
    c = twins.scan_block("c")  # fails here, rather than skipping, when it was not built
    assert fastpath.scan_block is c


def test_a_plain_block_is_rewritten_line_by_line() -> None:
    data = HEAD + b"hello\r\n" + HEAD + b"two words\n" + HEAD + b":colon\r\n"
    expected = (
        NEW_HEAD + b"hello\r\n" + NEW_HEAD + b"two words\r\n" + NEW_HEAD + b":colon\r\n",
        3,
    )
    for which in twins.TWINS:
        assert twins.scan_block(which)(data, len(HEAD), NEW_HEAD, 400) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        HEAD + b"no end",
        HEAD + b"\n",  # an empty text
        HEAD + b"\r\n",
        HEAD + b"a\r\r\n",  # a CR in a text
        HEAD + b"a\rb\n",
        HEAD + b"caf\xc3\xa9\n",  # not ASCII
        HEAD + b"nul\x00\n",
        HEAD + b"a\nPRIVMSG carol :b\n",  # another target
        HEAD + b"a\nNOTICE bob :b\n",
        HEAD + b"a\n\n",  # an empty line
        HEAD + b"a\nPRIVMSG bob \n",
        HEAD + b"x" * 500 + b"\n",  # too long
    ],
)
def test_blocks_that_are_not_plain_are_refused(data: bytes) -> None:
    for which in twins.TWINS:
        assert twins.scan_block(which)(data, len(HEAD), NEW_HEAD, 400) is None


def test_a_head_with_a_line_end_or_beyond_ascii_is_refused() -> None:
    for data in (b"PRIVMSG a\nPRIVMSG b :x\n", b"PRIVMSG \xc3\xa9 :x\n", b"PRIVMSG a\r :x\r\n"):
        head_len = data.index(b" :") + 2
        for which in twins.TWINS:
            assert twins.scan_block(which)(data, head_len, NEW_HEAD, 400) is None


def assert_twins_agree(data: bytes, head_len: int, new_head: bytes, room: int) -> None:
    """Every build's scan gives the same answer for these arguments."""
    answers = {
        which: twins.scan_block(which)(data, head_len, new_head, room) for which in twins.TWINS
    }
    assert len(set(answers.values())) == 1, answers


PIECES = [HEAD, b"PRIVMSG carol :", b"NOTICE bob :", b"hi", b"two words", b":", b"x" * 40]
PIECES += [b"\r\n", b"\n", b"\r", b"\x00", b"\xc3\xa9", b" ", b"\t", b"\x7f", b"\x01"]


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([HEAD, HEAD, HEAD, b"PRIVMSG carol :", b"PRIVMSG bob", b""]),
            st.lists(st.sampled_from(PIECES[3:]), max_size=4),
            st.sampled_from([b"\r\n", b"\n", b"\r\n", b"", b"\r"]),
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(min_value=-2, max_value=80),
    st.sampled_from([0, len(HEAD), len(HEAD) - 2, len(HEAD) + 1, 200]),
    st.binary(max_size=30),
)
@example([(HEAD, [b"hi"], b"\n")], 20, len(HEAD), NEW_HEAD)
@example([(HEAD, [b"hi"], b"\r\n")], 16, len(HEAD), NEW_HEAD)
def test_both_twins_agree(
    lines: list[tuple[bytes, list[bytes], bytes]], room: int, head_len: int, new_head: bytes
) -> None:
    data = b"".join(head + b"".join(text) + end for head, text, end in lines)
    assert_twins_agree(data, head_len, new_head, room)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200), st.integers(-5, 210), st.binary(max_size=20), st.integers(-5, 300))
def test_both_twins_agree_on_any_bytes(
    data: bytes, head_len: int, new_head: bytes, room: int
) -> None:
    assert_twins_agree(data, head_len, new_head, room)


@pytest.mark.parametrize(
    ("head_len", "room"),
    [(2**63, 400), (2**100, 400), (-(2**63) - 1, 400), (len(HEAD), 2**64), (len(HEAD), -(2**70))],
)
def test_arguments_past_the_range_of_a_c_size_are_compared_not_refused(
    head_len: int, room: int
) -> None:
    # (the C twin once raised OverflowError here where the Python one answers)
    assert_twins_agree(HEAD + b"hi\r\n", head_len, NEW_HEAD, room)
    assert_twins_agree(b"", head_len, b"", room)


def test_non_integer_sizes_are_a_type_error_in_c() -> None:
    if "c" not in twins.TWINS:
        return
    c = twins.scan_block("c")
    with pytest.raises(TypeError):
        c(HEAD + b"hi\n", 13.0, NEW_HEAD, 400)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c(HEAD + b"hi\n", len(HEAD), NEW_HEAD, "400")  # type: ignore[arg-type]
