"""parse_number: ASCII digits only, bounded, in range."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from hubbub.protocol.numbers import MAX_DIGITS, parse_number


def test_plain_numbers() -> None:
    assert parse_number("0") == 0
    assert parse_number("42") == 42
    assert parse_number("007") == 7
    assert parse_number("5", lo=1, hi=5) == 5


def test_refused() -> None:
    for text in ["", "²", "١٢", "1²", "-1", "+1", " 1", "1 ", "1_000", "0x10", "1.0", "٣"]:
        assert parse_number(text) is None, text
    assert parse_number("0", lo=1) is None
    assert parse_number("6", hi=5) is None


def test_long_input_is_not_converted() -> None:
    assert parse_number("9" * 5000) is None
    assert parse_number("9" * MAX_DIGITS) == int("9" * MAX_DIGITS)
    assert parse_number("0" * 5000 + "12") == 12


@given(st.text(max_size=30), st.integers(0, 100), st.one_of(st.none(), st.integers(0, 10**20)))
def test_only_ascii_digits_in_range_parse(text: str, lo: int, hi: int | None) -> None:
    value = parse_number(text, lo, hi)
    ascii_digits = bool(text) and all(c in string.digits for c in text)
    if value is not None:
        assert ascii_digits
        assert value == int(text)
        assert lo <= value
        assert hi is None or value <= hi
    elif ascii_digits and len(text.lstrip("0")) <= MAX_DIGITS:
        assert int(text) < lo or (hi is not None and int(text) > hi)


@given(st.integers(0, 10**MAX_DIGITS - 1))
def test_every_number_round_trips(value: int) -> None:
    assert parse_number(str(value)) == value
    assert parse_number(str(value), lo=value, hi=value) == value
