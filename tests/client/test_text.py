"""Pure helpers: text splitting, CTCP, server-time, nicks, addresses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.client.text import (
    Address,
    alternative_nick,
    ctcp,
    parse_address,
    parse_ctcp,
    parse_server_time,
    sanitize_nick,
    split_text,
    strip_formatting,
    text_budget,
)
from hubbub.protocol import MAX_LINE_BYTES, Message, is_valid_nick


@given(st.text(min_size=0, max_size=2000), st.integers(min_value=4, max_value=600))
def test_split_text_pieces_fit_and_keep_the_text(text: str, budget: int) -> None:
    pieces = split_text(text, budget)
    for piece in pieces:
        assert 0 < len(piece.encode("utf-8")) <= budget
        assert "\n" not in piece
        assert "\r" not in piece
    # Nothing but separators (line breaks, or the spaces split at) goes missing.
    squash = "".join(text.split())
    assert "".join("".join(pieces).split()) == squash


def test_split_text_prefers_spaces() -> None:
    assert split_text("hello there world", 12) == ["hello there", "world"]
    assert split_text("one\ntwo\r\n\nthree", 100) == ["one", "two", "three"]
    assert split_text("ééééé", 4) == ["éé", "éé", "é"]


def test_text_budget_leaves_room_for_the_prefix() -> None:
    budget = text_budget("nick", "#chan")
    line = Message("PRIVMSG", ("#chan", "x" * budget), "nick!" + "u" * 10 + "@" + "h" * 63)
    assert len(line.to_bytes()) <= MAX_LINE_BYTES


def test_ctcp_round_trip() -> None:
    assert ctcp("ACTION", "waves") == "\x01ACTION waves\x01"
    assert parse_ctcp("\x01ACTION waves\x01") == ("ACTION", "waves")
    assert parse_ctcp("\x01version") == ("VERSION", "")
    assert parse_ctcp("plain text") is None
    assert parse_ctcp("\x01") is None


def test_parse_server_time() -> None:
    assert parse_server_time("2024-01-31T12:00:00.000Z") == datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert parse_server_time(None) is None
    assert parse_server_time("yesterday") is None


@pytest.mark.parametrize(
    ("login", "nick"),
    [
        ("alice", "alice"),
        ("john.doe", "john_doe"),
        ("1337", "_1337"),
        ("-x", "_-x"),
        ("名前", "hubbub"),
        ("a" * 40, "a" * 30),
        ("o'brien", "obrien"),
    ],
)
def test_sanitize_nick(login: str, nick: str) -> None:
    assert sanitize_nick(login) == nick
    assert is_valid_nick(sanitize_nick(login))


def test_alternative_nick() -> None:
    assert alternative_nick("ann") == "ann_"
    assert alternative_nick("abcd", max_len=4) == "abc1"
    assert alternative_nick("abc1", max_len=4) == "abc2"


@pytest.mark.parametrize(
    ("text", "tls", "expected"),
    [
        ("127.0.0.1", False, Address("127.0.0.1", 6667, False)),
        ("irc.example.org:7000", False, Address("irc.example.org", 7000, False)),
        ("irc.example.org", True, Address("irc.example.org", 6697, True)),
        ("ircs://irc.example.org", False, Address("irc.example.org", 6697, True)),
        ("irc://irc.example.org:6668/", False, Address("irc.example.org", 6668, False)),
        ("[::1]:6697", True, Address("::1", 6697, True)),
        ("[::1]", False, Address("::1", 6667, False)),
        ("::1", False, Address("::1", 6667, False)),
        ("host:+6697", False, Address("host", 6697, True)),
        ("unix:/run/hubbub.sock", False, Address("", 0, False, "/run/hubbub.sock")),
    ],
)
def test_parse_address(text: str, tls: bool, expected: Address) -> None:
    assert parse_address(text, tls) == expected


@pytest.mark.parametrize("text", ["", ":6667", "host:port", "host:70000", "[::1", "unix:"])
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_address(text)


def test_address_str() -> None:
    assert str(parse_address("[::1]:7")) == "[::1]:7"
    assert str(parse_address("unix:/x")) == "unix:/x"
    assert str(parse_address("h")) == "h:6667"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x02bold\x02 \x0304,12red on blue\x03 plain", "bold red on blue plain"),
        (
            "\x1fu\x1f\x1di\x1d\x0freset \x16rev\x16 \x11mono\x11 \x1estrike",
            "uireset rev mono strike",
        ),
        ("\x04ff0000hex\x04", "hex"),
        ("evil\x1b[2J\x1b]0;title\x07 text", "evil[2J]0;title text"),
        ("tab\there\r\n", "tab here"),
        ("\x9bC1 control", "C1 control"),
        ("ünïcödé ✓", "ünïcödé ✓"),
    ],
)
def test_strip_formatting(raw: str, clean: str) -> None:
    assert strip_formatting(raw) == clean


@given(st.text())
def test_strip_formatting_leaves_no_control_characters(text: str) -> None:
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in strip_formatting(text))
