"""IRCv3 message-tags: escaping of values, and the tag section of a line.

See https://ircv3.net/specs/extensions/message-tags: values escape ``;`` as ``\\:``,
space as ``\\s``, ``\\`` as ``\\\\``, CR as ``\\r`` and LF as ``\\n``. An unknown escape
drops its backslash, and a trailing lone backslash is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hubbub.protocol.errors import ProtocolError

_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE_TABLE = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


def escape_value(value: str) -> str:
    """Escape a tag value for the wire."""
    return value.translate(_ESCAPE_TABLE)


def unescape_value(raw: str) -> str:
    """Undo :func:`escape_value`, character by character, as the spec requires."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    it = iter(raw)
    for ch in it:
        if ch == "\\":
            nxt = next(it, "")
            out.append(_ESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def parse_tags(section: str) -> dict[str, str]:
    """Parse the text after ``@`` and before the first space. Later duplicates win.

    A tag without a value and a tag with an empty value both map to ``""``.
    """
    tags: dict[str, str] = {}
    for item in section.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if key:
            tags[key] = unescape_value(value)
    return tags


# A key is never escaped, so these would split or cut the section; NUL is never allowed.
_BAD_KEY_CHARS = frozenset(" ;=\0\r\n")


def serialize_tags(tags: dict[str, str]) -> str:
    """The tag section without its leading ``@``; empty values are sent without ``=``.

    Raises :class:`ProtocolError` for an empty key, a key with a space, ``;``, ``=``, CR, LF
    or NUL, or a value with a NUL: none of those has a wire form.
    """
    parts: list[str] = []
    for key, value in tags.items():
        if not key or not _BAD_KEY_CHARS.isdisjoint(key):
            raise ProtocolError(f"invalid tag key {key!r}")
        if not value:
            parts.append(key)
        elif "\0" in value:
            raise ProtocolError(f"NUL in the value of tag {key!r}")
        else:
            parts.append(f"{key}={escape_value(value)}")
    return ";".join(parts)


def is_client_tag(key: str) -> bool:
    """Client-only tags start with ``+`` and are relayed, not interpreted, by servers."""
    return key.startswith("+")


_CLIENT_TAG_KEY = re.compile(r"\+(?:[A-Za-z0-9][A-Za-z0-9.-]*/)?[A-Za-z0-9-]+")
"""A client-only tag's key as the message-tags grammar has it: ``+``, an optional vendor (a
host name) and ``/``, then letters, digits and hyphens."""


def client_tags(tags: Mapping[str, str] | None) -> dict[str, str] | None:
    """The client-only tags of ``tags`` whose keys follow the grammar (others are dropped,
    not relayed: a key like ``+`` or ``+a!b`` may break another client's parser); None when
    there are none."""
    if not tags:
        return None
    found = {k: v for k, v in tags.items() if _CLIENT_TAG_KEY.fullmatch(k)}
    return found or None
