"""IRC messages: parsing and serialising lines (Modern IRC + IRCv3 message-tags).

A line is ``[@tags ][:source ]COMMAND[ params...][ :trailing]``. Limits, in bytes, from
modern.ircdocs.horse and ircv3.net/specs/extensions/message-tags:

* the part of a line after its tags may be at most 512 bytes including CR LF,
* the tag section a client sends may be at most 4094 bytes (4096 with ``@`` and the space),
* the tag section a server sends may be at most 8191 bytes.

Incoming bytes that are not valid UTF-8 are decoded as Latin-1 instead (every byte maps to
one character, so nothing is lost and nothing raises); :func:`decode` says which happened so a
server that advertises ``UTF8ONLY`` can refuse such lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from hubbub.protocol.errors import LineTooLong, MalformedMessage, ProtocolError, TagsTooLong
from hubbub.protocol.tags import parse_tags, serialize_tags

MAX_LINE_BYTES = 512
"""The longest line, CR LF included, tags excluded."""
MAX_CLIENT_TAG_BYTES = 4096
"""The longest tag section a client may send, ``@`` and the trailing space included."""
MAX_SERVER_TAG_BYTES = 8191
"""The longest tag section a server may send."""
MAX_INPUT_BYTES = MAX_SERVER_TAG_BYTES + MAX_LINE_BYTES
"""What a reader buffers for one line before it gives up on it."""
MAX_BODY_BYTES = MAX_LINE_BYTES - 2
"""The longest line without its tags and without CR LF."""

log = logging.getLogger("hubbub.protocol")

_EMPTY_TAGS: Mapping[str, str] = MappingProxyType({})
_FORBIDDEN = ("\0", "\r", "\n")
TEXT_COMMANDS = frozenset({"PRIVMSG", "NOTICE"})
"""Commands whose last parameter is free text: it is always sent with its ``:``, as most
servers do, so a naive client that looks for `` :`` finds it, and so a relay can forward a
client's line without re-wrapping its text."""


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message. ``params`` holds every parameter, the trailing one included."""

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY_TAGS)

    def serialize(self) -> str:
        """The line without CR LF. Raises :class:`ProtocolError` for a message that has no
        valid wire form (a middle parameter with a space, a CR, LF or NUL anywhere)."""
        body = self.serialize_without_tags()
        if self.tags:
            return "@" + serialize_tags(dict(self.tags)) + " " + body
        return body

    def serialize_without_tags(self) -> str:
        """The line without its tags and without CR LF (see :meth:`serialize`)."""
        parts: list[str] = []
        if self.source:
            if " " in self.source:
                raise ProtocolError(f"invalid source {self.source!r}")
            parts.append(":" + self.source)
        # A leading ':' or '@' would read back as a source or tags.
        if not self.command or " " in self.command or self.command[0] in ":@":
            raise ProtocolError(f"invalid command {self.command!r}")
        parts.append(self.command)
        params = self.params
        if params:
            for p in params[:-1]:
                if not p or " " in p or p[0] == ":":
                    raise ProtocolError(f"invalid middle parameter {p!r}")
                parts.append(p)
            last = params[-1]
            if not last or " " in last or last[0] == ":" or self.command in TEXT_COMMANDS:
                parts.append(":" + last)
            else:
                parts.append(last)
        line = " ".join(parts)
        for ch in _FORBIDDEN:
            if ch in line:
                raise ProtocolError(f"{ch!r} is not allowed in a message")
        return line

    def to_bytes(self) -> bytes:
        """The line as UTF-8 with CR LF, ready for the wire."""
        return (self.serialize() + "\r\n").encode("utf-8", "replace")

    def with_tags(self, tags: Mapping[str, str]) -> Message:
        """A copy with these tags instead."""
        return Message(self.command, self.params, self.source, tags)

    def __str__(self) -> str:
        return self.serialize()


def parse(line: str) -> Message:
    """Parse one line (without CR LF). Runs of spaces separate atoms, as in RFC 1459.

    Raises :class:`MalformedMessage` for an empty line, a missing command or a NUL, CR or LF.
    """
    for ch in _FORBIDDEN:
        if ch in line:
            raise MalformedMessage(f"{ch!r} is not allowed in a message")
    rest = line.lstrip(" ")
    tags: Mapping[str, str] = _EMPTY_TAGS
    if rest.startswith("@"):
        section, _, rest = rest[1:].partition(" ")
        tags = parse_tags(section)
        rest = rest.lstrip(" ")
    source: str | None = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
        if not source:
            raise MalformedMessage("empty source")
    command, _, rest = rest.partition(" ")
    if not command:
        raise MalformedMessage("no command")
    if command[0] in ":@":  # could never be written back (a FAIL or 421 repeats it)
        raise MalformedMessage(f"invalid command {command!r}")
    params: list[str] = []
    while rest:
        rest = rest.lstrip(" ")
        if not rest:
            break
        if rest[0] == ":":
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
    return Message(command, tuple(params), source, tags)


def cut_utf8(data: bytes, size: int) -> bytes:
    """The longest start of UTF-8 ``data`` that is at most ``size`` bytes and does not end
    in the middle of a character."""
    if len(data) <= size:
        return data
    end = max(size, 0)
    while end > 0 and data[end] & 0xC0 == 0x80:  # data[end] continues a character: drop it
        end -= 1
    return data[:end]


def fit_body(msg: Message) -> bytes:
    """``msg`` without tags and CR LF, as UTF-8, in at most :data:`MAX_BODY_BYTES`.

    Modern IRC: a line is at most 512 bytes with its CR LF, tags excluded; a client may cut
    or drop a longer one. A message that is too long loses the end of its last parameter
    (the free text: a topic, a reason, a real name) at a character boundary. When that is
    not enough (a middle parameter echoing a long client parameter), the longest parameters
    are cut, each keeping a character. Lists are split by their senders before this: see
    ``Response.numeric_items``. Only a source too long for any line is cut anywhere, with
    a warning (a misconfigured limit, never a client's doing at the defaults).
    """
    body = msg.serialize_without_tags().encode("utf-8", "replace")
    params = list(msg.params)
    for _ in range(len(params) + 1):
        excess = len(body) - MAX_BODY_BYTES
        if excess <= 0:
            return body
        if not params:
            break
        sizes = [len(p.encode("utf-8", "replace")) for p in params]
        index = len(params) - 1
        if sizes[index] < excess:
            index = max(range(len(params)), key=sizes.__getitem__)
        data = params[index].encode("utf-8", "replace")
        cut = cut_utf8(data, len(data) - excess).decode()
        if not cut and index < len(params) - 1:
            cut = params[index][:1]  # a middle parameter cannot be empty
        if cut == params[index]:
            break
        params[index] = cut
        line = Message(msg.command, tuple(params), msg.source).serialize_without_tags()
        body = line.encode("utf-8", "replace")
    if len(body) > MAX_BODY_BYTES:
        log.warning("a %s line of %d bytes was cut to fit in 512", msg.command, len(body) + 2)
        body = cut_utf8(body, MAX_BODY_BYTES)
    return body


class Decoded(NamedTuple):
    """A line's text and whether its bytes were valid UTF-8."""

    text: str
    utf8: bool


def decode(raw: bytes) -> Decoded:
    """Decode a line's bytes: UTF-8 when valid, otherwise Latin-1 (never raises)."""
    try:
        return Decoded(raw.decode("utf-8"), True)
    except UnicodeDecodeError:
        return Decoded(raw.decode("latin-1"), False)


def check_length(raw: bytes, max_tag_bytes: int = MAX_CLIENT_TAG_BYTES) -> None:
    """Enforce the byte limits on a line received without its CR LF.

    Raises :class:`TagsTooLong` or :class:`LineTooLong`.
    """
    body = raw
    if raw.startswith(b"@"):
        space = raw.find(b" ")
        tag_len = (space if space >= 0 else len(raw)) + 1
        if tag_len > max_tag_bytes:
            raise TagsTooLong(f"tags are {tag_len} bytes, over {max_tag_bytes}")
        body = raw[tag_len:] if space >= 0 else b""
    if len(body) + 2 > MAX_LINE_BYTES:
        raise LineTooLong(f"line is {len(body) + 2} bytes, over {MAX_LINE_BYTES}")


def parse_bytes(raw: bytes, max_tag_bytes: int = MAX_CLIENT_TAG_BYTES) -> Message:
    """Check limits, decode and parse a line received without its CR LF."""
    check_length(raw, max_tag_bytes)
    return parse(decode(raw).text)


class Hostmask(NamedTuple):
    """The parts of a ``nick!user@host`` source; missing parts are empty strings."""

    nick: str
    user: str
    host: str


def split_source(source: str) -> Hostmask:
    """Split ``nick!user@host`` (any part may be missing)."""
    nick, _, host = source.partition("@")
    nick, _, user = nick.partition("!")
    return Hostmask(nick, user, host)
