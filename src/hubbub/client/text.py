"""Small pure helpers: splitting long text, CTCP, server-time, nicks and addresses.

:func:`strip_formatting` lives in :mod:`hubbub.client.formatting` and is importable here too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

from hubbub.client.formatting import strip_formatting as strip_formatting
from hubbub.protocol import MAX_LINE_BYTES, is_valid_nick
from hubbub.protocol.numbers import parse_number

CTCP_DELIM = "\x01"


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes each, at a space when
    one is near the end of a piece, never inside a character. Line breaks start a new piece;
    empty pieces are dropped."""
    max_bytes = max(max_bytes, 4)
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        rest = line
        while len(rest.encode("utf-8")) > max_bytes:
            cut = _cut(rest, max_bytes)
            space = rest.rfind(" ", 0, cut)
            if space > cut // 2:
                out.append(rest[:space])
                rest = rest[space + 1 :]
            else:
                out.append(rest[:cut])
                rest = rest[cut:]
        if rest:
            out.append(rest)
    return out


def _cut(text: str, max_bytes: int) -> int:
    # The longest prefix, in characters, whose encoding fits in max_bytes.
    size = 0
    for i, ch in enumerate(text):
        size += len(ch.encode("utf-8"))
        if size > max_bytes:
            return max(i, 1)
    return len(text)


def text_budget(nick: str, target: str, command: str = "PRIVMSG", user_host: int = 74) -> int:
    """Bytes of text that fit in one ``command`` to ``target`` once the server has prefixed our
    ``:nick!user@host`` (``user_host`` bytes for ``user@host``, a safe guess by default)."""
    overhead = len(f":{nick}! {command} {target} :\r\n".encode()) + user_host
    return MAX_LINE_BYTES - overhead


def ctcp(command: str, args: str = "") -> str:
    """A CTCP payload, e.g. ``ctcp("ACTION", "waves")``."""
    return f"{CTCP_DELIM}{command} {args}{CTCP_DELIM}" if args else f"{CTCP_DELIM}{command}\x01"


class CtcpPayload(NamedTuple):
    """A CTCP request or reply: its command (upper case) and arguments."""

    command: str
    args: str


def parse_ctcp(text: str) -> CtcpPayload | None:
    """The CTCP inside ``text``, or ``None`` when it is ordinary text. The closing ``\\x01``
    is optional, as many clients drop it."""
    if len(text) < 2 or not text.startswith(CTCP_DELIM):
        return None
    body = text[1:]
    if body.endswith(CTCP_DELIM):
        body = body[:-1]
    command, _, args = body.partition(" ")
    if not command:
        return None
    return CtcpPayload(command.upper(), args)


def parse_server_time(value: str | None) -> datetime | None:
    """The ``time`` tag (``2024-01-31T12:00:00.000Z``) as an aware datetime, or ``None``."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


_NICK_BAD = re.compile(r"[^A-Za-z0-9\[\]\\`_^{|}-]")


def sanitize_nick(name: str, max_len: int = 30, fallback: str = "hubbub") -> str:
    """Make a valid nickname out of ``name`` (such as a login name): drop the characters a
    nick cannot hold, avoid a leading digit or dash, and keep to ``max_len``."""
    nick = _NICK_BAD.sub("", name.replace(" ", "_").replace(".", "_"))
    if nick and (nick[0].isdigit() or nick[0] == "-"):
        nick = "_" + nick
    nick = nick[:max_len]
    return nick if is_valid_nick(nick, max_len) else fallback


def alternative_nick(nick: str, max_len: int = 30) -> str:
    """The nick to try when ``nick`` is taken: ``nick_``, or when that is too long, the nick
    with its last character replaced by a digit that moves on each time."""
    if len(nick) < max_len:
        return nick + "_"
    last = nick[-1]
    value = parse_number(last)
    digit = str((value + 1) % 10) if value is not None else "1"
    return nick[: max_len - 1] + digit


class Address(NamedTuple):
    """Where to connect: ``host`` and ``port``, or a Unix socket ``path`` (``host`` empty)."""

    host: str
    port: int
    tls: bool
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


DEFAULT_PORT = 6667
DEFAULT_TLS_PORT = 6697


def parse_address(text: str, tls: bool = False) -> Address:
    """Parse ``HOST[:PORT]``, ``[IPv6]:PORT``, ``unix:/path`` or ``irc(s)://host[:port]``.

    The port defaults to 6667, or 6697 with TLS (``ircs://`` turns TLS on). Raises
    :class:`ValueError` with a readable message for anything else.
    """
    text = text.strip()
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ValueError("unix: needs a socket path")
        return Address("", 0, tls, path)
    if text.startswith("ircs://"):
        tls, text = True, text[7:]
    elif text.startswith("irc://"):
        text = text[6:]
    text = text.rstrip("/")
    port_text = ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text  # a bare host name, or an IPv6 address without a port
    if not host:
        raise ValueError(f"bad address {text!r}: no host")
    default = DEFAULT_TLS_PORT if tls else DEFAULT_PORT
    if not port_text:
        return Address(host, default, tls)
    if port_text.startswith("+"):  # the old "host:+6697" convention for TLS
        tls, port_text = True, port_text[1:]
    port = parse_number(port_text, lo=1, hi=65535)
    if port is None:
        raise ValueError(f"bad port {port_text!r} in {text!r}")
    return Address(host, port, tls)
