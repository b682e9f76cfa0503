"""ISUPPORT (005) tokens: formatting, chunking, parsing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.protocol.isupport import TOKENS_PER_LINE, chunk, format_tokens, parse_tokens


def test_format_tokens() -> None:
    tokens: dict[str, str | int | None] = {
        "NICKLEN": 30,
        "SAFELIST": None,
        "EXCEPTS": "",
        "CHANTYPES": "#&",
        "NETWORK": "Example Net",
    }
    assert format_tokens(tokens) == [
        "NICKLEN=30",
        "SAFELIST",
        "EXCEPTS",
        "CHANTYPES=#&",
        "NETWORK=Example\\x20Net",
    ]


def test_format_escapes_space_backslash_and_equals() -> None:
    assert format_tokens({"X": "a b\\c=d"}) == ["X=a\\x20b\\x5Cc\\x3Dd"]


def test_format_keeps_zero() -> None:
    assert format_tokens({"MAXTARGETS": 0}) == ["MAXTARGETS=0"]


def test_chunk_into_lines_of_thirteen() -> None:
    tokens = [f"T{i}" for i in range(30)]
    lines = chunk(tokens)
    assert TOKENS_PER_LINE == 13
    assert [len(line) for line in lines] == [13, 13, 4]
    assert [t for line in lines for t in line] == tokens


def test_chunk_edge_sizes() -> None:
    assert chunk([]) == []
    assert chunk(["A"] * 13) == [["A"] * 13]
    assert chunk(["A"] * 14) == [["A"] * 13, ["A"]]
    assert chunk(iter(["A", "B", "C"]), size=2) == [["A", "B"], ["C"]]


def test_parse_tokens() -> None:
    parsed = parse_tokens(
        ["NETWORK=Example\\x20Net", "SAFELIST", "-KEY", "CHANTYPES=#", "EXCEPTS=", "NICKLEN=30"]
    )
    assert parsed == {
        "NETWORK": "Example Net",
        "SAFELIST": None,
        "-KEY": None,
        "CHANTYPES": "#",
        "EXCEPTS": "",
        "NICKLEN": "30",
    }


def test_parse_escapes_in_either_case() -> None:
    assert parse_tokens(["X=a\\x20b\\x5cc\\x3Dd"]) == {"X": "a b\\c=d"}


def test_parse_keeps_broken_escapes_literally() -> None:
    assert parse_tokens(["X=\\xZZ"]) == {"X": "\\xZZ"}
    assert parse_tokens(["X=a\\x2"]) == {"X": "a\\x2"}
    assert parse_tokens(["X=\\x"]) == {"X": "\\x"}
    assert parse_tokens(["X=\\x 1"]) == {"X": "\\x 1"}
    assert parse_tokens(["X=\\x+1"]) == {"X": "\\x+1"}
    assert parse_tokens(["X=\\x-1"]) == {"X": "\\x-1"}
    assert parse_tokens(["X=\\x1_"]) == {"X": "\\x1_"}
    assert parse_tokens(["X=\\x١٢"]) == {"X": "\\x١٢"}  # non-ASCII digits are not hex


def test_later_tokens_win() -> None:
    assert parse_tokens(["A=1", "A=2"]) == {"A": "2"}


_keys = st.from_regex(r"\A[A-Z][A-Z0-9]{0,11}\Z", fullmatch=True)
_values = st.none() | st.text(min_size=1, max_size=20) | st.integers(min_value=0)


@given(st.dictionaries(_keys, _values, max_size=20))
def test_format_parse_round_trip(tokens: dict[str, str | int | None]) -> None:
    formatted = format_tokens(tokens)
    for token in formatted:
        assert " " not in token
        _, _, value = token.partition("=")
        assert "=" not in value
    expected = {k: None if v is None else str(v) for k, v in tokens.items()}
    assert parse_tokens(formatted) == expected
