"""Case folding and name validation."""

from __future__ import annotations

import pytest

from hubbub.protocol import (
    Casemapping,
    fold,
    folder,
    is_channel_name,
    is_valid_channel,
    is_valid_hostname,
    is_valid_nick,
)

# --- casemapping --------------------------------------------------------------------------------


def test_rfc1459_folds_brackets_backslash_and_tilde() -> None:
    assert fold("Nick[]\\~", Casemapping.RFC1459) == "nick{}|^"
    assert fold("[]\\~") == "{}|^"  # rfc1459 is the default


def test_ascii_folds_letters_only() -> None:
    assert fold("Nick[]\\~", Casemapping.ASCII) == "nick[]\\~"


def test_strict_rfc1459_leaves_tilde() -> None:
    assert fold("Nick[]\\~", Casemapping.STRICT_RFC1459) == "nick{}|~"


@pytest.mark.parametrize("mapping", list(Casemapping))
def test_folding_is_ascii_only_and_idempotent(mapping: Casemapping) -> None:
    name = "ÀÉÎ-Straße-ΣIGMA-İ"
    folded = fold(name, mapping)
    assert folded == "ÀÉÎ-straße-Σigma-İ"
    assert fold(folded, mapping) == folded


@pytest.mark.parametrize("mapping", list(Casemapping))
def test_folder_agrees_with_fold(mapping: Casemapping) -> None:
    fast = folder(mapping)
    for name in ("Alice", "[Bot]", "~x^", "#Chan\\Name", ""):
        assert fast(name) == fold(name, mapping)


def test_folded_names_compare_equal() -> None:
    assert fold("[Away]Bob") == fold("{away}BOB")
    assert fold("[Away]Bob", Casemapping.ASCII) != fold("{away}BOB", Casemapping.ASCII)


def test_casemapping_values_are_the_isupport_tokens() -> None:
    assert {m.value for m in Casemapping} == {"ascii", "rfc1459", "strict-rfc1459"}
    assert Casemapping("rfc1459") is Casemapping.RFC1459


# --- nicknames ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nick", ["alice", "Alice", "[bot]", "a-b", "_x", "`", "x^y", "a{b}|c", "n1", "\\o"]
)
def test_valid_nicks(nick: str) -> None:
    assert is_valid_nick(nick)


@pytest.mark.parametrize(
    "nick",
    [
        "",
        "1abc",
        "-abc",
        "a b",
        "a!b",
        "a@b",
        "a,b",
        "a:b",
        "#chan",
        ":x",
        "a.b",
        "a*",
        "a?",
        "café",
        "nick\n",
        "nick\r",
        "a\0",
    ],
)
def test_invalid_nicks(nick: str) -> None:
    assert not is_valid_nick(nick)


def test_nick_length_limit() -> None:
    assert is_valid_nick("a" * 30)
    assert not is_valid_nick("a" * 31)
    assert is_valid_nick("a" * 9, max_len=9)
    assert not is_valid_nick("a" * 10, max_len=9)


# --- channels -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["#c", "#chan", "#Chan-Name_1", "##", "#café", "#a.b", "#[x]"])
def test_valid_channels(name: str) -> None:
    assert is_valid_channel(name)
    assert is_channel_name(name)


@pytest.mark.parametrize(
    "name",
    [
        *("", "#", "chan", "&chan", "#a b", "#a,b", "#a:b", "#a\x07b", "#a\0", "#a\r", "#a\n"),
        *("#a\x02b", "#a\x034b", "#a\x1fb", "#a\x7fb", "#\u202e01laer#", "#real\u200b"),
        *("#a\u200db", "#a\u2067b", "#\ufeffa", "#a\u061cb", "#a\u200eb"),
    ],
)
def test_invalid_channels(name: str) -> None:
    assert not is_valid_channel(name)


def test_channel_length_limit() -> None:
    assert is_valid_channel("#" + "a" * 63)
    assert not is_valid_channel("#" + "a" * 64)
    assert is_valid_channel("#abc", max_len=4)
    assert not is_valid_channel("#abcd", max_len=4)


def test_chantypes() -> None:
    assert is_valid_channel("&local", chantypes="#&")
    assert is_channel_name("&local", chantypes="#&")
    assert not is_channel_name("&local")
    assert not is_channel_name("")
    assert not is_channel_name("nick")


# --- host names (beyond the shared vectors) -----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "valid"),
    [
        ("a.b", True),
        ("a-b.c", True),
        ("A1.example.", True),
        ("x" * 63 + ".net", True),
        ("x" * 64 + ".net", False),
        (".example.org", False),
        ("example..org", False),
        ("example.org..", False),
        ("exa_mple.org", False),
        ("example-.org", False),
        ("bücher.ch", False),
        ("example.org\n", False),
        ("1.2.3.4", True),
        ("a." * 126 + "b", True),
        ("a." * 127 + "b", False),
    ],
)
def test_hostnames(host: str, valid: bool) -> None:
    assert is_valid_hostname(host) is valid, host


def test_channel_length_is_in_bytes() -> None:
    assert is_valid_channel("#" + "é" * 31)  # 63 bytes
    assert is_valid_channel("#" + "é" * 31 + "a")  # 64 bytes
    assert not is_valid_channel("#" + "é" * 32)  # 65 bytes, 33 characters
    assert not is_valid_channel("#" + "😀" * 16)  # 65 bytes, 17 characters
