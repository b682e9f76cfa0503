"""ISUPPORT (``005``) tokens: building them and splitting them across lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_HEX = frozenset("0123456789abcdefABCDEF")

TOKENS_PER_LINE = 13
"""Modern IRC: at most 13 tokens in one RPL_ISUPPORT line keeps it under 512 bytes."""


def _escape_isupport(value: str) -> str:
    # Modern IRC escapes space, backslash and '=' in ISUPPORT values as \xHH.
    return "".join(f"\\x{ord(c):02X}" if c in " \\=" else c for c in value)


def format_tokens(tokens: Mapping[str, str | int | None]) -> list[str]:
    """``{"NICKLEN": 30, "SAFELIST": None}`` -> ``["NICKLEN=30", "SAFELIST"]``."""
    out = []
    for key, value in tokens.items():
        if value is None or value == "":
            out.append(key)
        else:
            out.append(f"{key}={_escape_isupport(str(value))}")
    return out


def chunk(tokens: Iterable[str], size: int = TOKENS_PER_LINE) -> list[list[str]]:
    """Split tokens into groups of at most ``size`` for separate ``005`` lines."""
    items = list(tokens)
    return [items[i : i + size] for i in range(0, len(items), size)]


def parse_tokens(params: Iterable[str]) -> dict[str, str | None]:
    """Parse the tokens of a received ``005`` (the client side). ``-KEY`` removes a key,
    which appears here with the value ``None`` under ``-KEY``."""
    out: dict[str, str | None] = {}
    for token in params:
        key, sep, value = token.partition("=")
        out[key] = _unescape_isupport(value) if sep else None
    return out


def _unescape_isupport(value: str) -> str:
    if "\\x" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        digits = value[i + 2 : i + 4]
        # Two ASCII hex digits exactly (int() alone would also take " 1", "+1" or "١٢").
        if value.startswith("\\x", i) and len(digits) == 2 and _HEX.issuperset(digits):
            out.append(chr(int(digits, 16)))
            i += 4
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


__all__ = ["TOKENS_PER_LINE", "chunk", "format_tokens", "parse_tokens"]
