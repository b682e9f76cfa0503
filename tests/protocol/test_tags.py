"""IRCv3 message-tags escaping and the tag section."""

from __future__ import annotations

import pytest

from hubbub.protocol.tags import (
    escape_value,
    is_client_tag,
    parse_tags,
    serialize_tags,
    unescape_value,
)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("", ""),
        ("plain", "plain"),
        ("a;b", "a\\:b"),
        ("a b", "a\\sb"),
        ("a\\b", "a\\\\b"),
        ("a\rb", "a\\rb"),
        ("a\nb", "a\\nb"),
        ("\\s", "\\\\s"),
        ("; \\\r\n", "\\:\\s\\\\\\r\\n"),
    ],
)
def test_escape(value: str, escaped: str) -> None:
    assert escape_value(value) == escaped
    assert unescape_value(escaped) == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a\\b", "ab"),  # unknown escape: drop the backslash
        ("a\\", "a"),  # trailing lone backslash: dropped
        ("\\", ""),
        ("\\\\n", "\\n"),  # char by char, not replace-all
        ("\\:\\s", "; "),
    ],
)
def test_unescape_edge_cases(raw: str, value: str) -> None:
    assert unescape_value(raw) == value


def test_parse_tags() -> None:
    assert parse_tags("a=1;b;c=;d=x\\sy") == {"a": "1", "b": "", "c": "", "d": "x y"}
    assert parse_tags("") == {}
    assert parse_tags(";;a=1;") == {"a": "1"}
    assert parse_tags("=x;a=1") == {"a": "1"}
    assert parse_tags("a=1;a=2") == {"a": "2"}
    assert parse_tags("a=b=c") == {"a": "b=c"}


def test_serialize_tags() -> None:
    assert serialize_tags({"a": "1", "b": "", "c": "x y"}) == "a=1;b;c=x\\sy"
    assert serialize_tags({}) == ""


def test_client_tags() -> None:
    assert is_client_tag("+typing")
    assert is_client_tag("+example.com/x")
    assert not is_client_tag("time")
    assert not is_client_tag("")
