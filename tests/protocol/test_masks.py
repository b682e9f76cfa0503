"""Wildcard masks and ban-mask normalisation."""

from __future__ import annotations

import pytest

from hubbub.protocol import Casemapping, mask_matches, normalize_ban_mask


@pytest.mark.parametrize(
    ("mask", "subject", "expected"),
    [
        ("*", "", True),
        ("*", "anything!at@all", True),
        ("?", "", False),
        ("?", "x", True),
        ("??", "x", False),
        ("a*b", "ab", True),
        ("a*b", "axxb", True),
        ("a*b", "axxbc", False),
        ("*!*@*.example.org", "n!u@host.example.org", True),
        ("*!*@*.example.org", "n!u@example.org", False),
        ("n!u@h", "N!U@H", True),
        ("a.b", "axb", False),
        ("a+b", "aab", False),
        ("(a)", "(a)", True),
        ("a\\b", "a\\b", True),
        ("*", "line\nbreak", True),
        ("a?c", "a\nc", True),
    ],
)
def test_mask_matches(mask: str, subject: str, expected: bool) -> None:
    assert mask_matches(mask, subject) is expected


def test_mask_matching_follows_the_casemapping() -> None:
    assert mask_matches("[foo]*", "{FOO}bar")
    assert mask_matches("[foo]*", "{FOO}bar", Casemapping.RFC1459)
    assert not mask_matches("[foo]*", "{FOO}bar", Casemapping.ASCII)
    assert mask_matches("[FOO]*", "[foo]bar", Casemapping.ASCII)
    assert mask_matches("~x", "^X", Casemapping.RFC1459)
    assert not mask_matches("~x", "^X", Casemapping.STRICT_RFC1459)


@pytest.mark.parametrize(
    ("mask", "normal"),
    [
        ("nick", "nick!*@*"),
        ("*", "*!*@*"),
        ("user@host", "*!user@host"),
        ("nick!user", "nick!user@*"),
        ("nick!user@host", "nick!user@host"),
        ("host.example.org", "*!*@host.example.org"),
        ("2001:db8::1", "*!*@2001:db8::1"),
        ("*!*@*", "*!*@*"),
        ("!u@h", "*!u@h"),
        ("n!@h", "n!*@h"),
        ("n!u@", "n!u@*"),
        ("nick!", "nick!*@*"),
        ("user@", "*!user@*"),
        ("@host", "*!*@host"),
        ("!", "*!*@*"),
        ("@", "*!*@*"),
        ("", "*!*@*"),
    ],
)
def test_normalize_ban_mask(mask: str, normal: str) -> None:
    assert normalize_ban_mask(mask) == normal
