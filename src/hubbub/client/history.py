"""Typed values for reading history back: messages, message references, search attributes.

The wire formats of IRCv3 ``draft/chathistory`` (``timestamp=...``, ``msgid=...``),
``draft/read-marker`` and soju's ``soju.im/search`` are made and read here, without I/O;
:class:`~hubbub.client.Client` sends the requests and waits for their answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NamedTuple

from hubbub.client.state import ClientState
from hubbub.client.text import parse_ctcp, parse_server_time
from hubbub.protocol import Message, split_source
from hubbub.protocol.tags import escape_value

MESSAGE_COMMANDS = ("PRIVMSG", "NOTICE")


@dataclass(frozen=True)
class HistoryMessage:
    """One line of history (a ``chathistory`` or search batch), as sent at the time.

    ``command`` is ``PRIVMSG`` or ``NOTICE`` (with ``draft/event-playback`` also ``JOIN``,
    ``PART``, ``TOPIC``...: then ``target`` and ``text`` are the line's first and last
    parameters; ``message`` has the rest). ``time`` is the ``server-time`` tag, in UTC
    (``None`` only from a server that sends none). ``text`` of a CTCP ``ACTION`` is its
    argument, with ``action`` set. ``redacted`` is set when the batch carried a ``REDACT``
    of this message after it.
    """

    time: datetime | None
    msgid: str | None
    source: str
    nick: str
    command: str
    target: str
    text: str
    conversation: str
    account: str | None
    tags: Mapping[str, str]
    message: Message
    action: bool = False
    redacted: bool = False

    @property
    def is_message(self) -> bool:
        """True for a ``PRIVMSG`` or ``NOTICE`` (not a replayed event such as a ``JOIN``)."""
        return self.command in MESSAGE_COMMANDS


class HistoryTarget(NamedTuple):
    """A conversation with history (``CHATHISTORY TARGETS``): its name and latest message."""

    name: str
    time: datetime


Ref = datetime | str | HistoryMessage
"""A message reference: a time, a msgid, or a :class:`HistoryMessage` (its msgid when it has
one and the server takes msgids, else its time)."""


def format_time(when: datetime) -> str:
    """``when`` as ``server-time`` writes it: ``2024-01-31T12:00:00.123Z`` (UTC, to the
    millisecond). A naive datetime is refused: its zone would be a guess."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{when!r} has no time zone: use an aware datetime (in UTC)")
    utc = when.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime | None:
    """A ``server-time`` timestamp, bare or as ``timestamp=...``, as a UTC datetime."""
    when = parse_server_time(text.removeprefix("timestamp="))
    if when is None or when.tzinfo is None:
        return None
    return when.astimezone(UTC)


def ref_types(isupport: Mapping[str, str | None]) -> tuple[str, ...]:
    """The reference types the server takes, best first (``MSGREFTYPES``; both when absent)."""
    if "MSGREFTYPES" not in isupport:
        return ("msgid", "timestamp")
    value = isupport["MSGREFTYPES"] or ""
    return tuple(t for t in value.split(",") if t in ("msgid", "timestamp"))


def ref_param(ref: Ref, types: Iterable[str] = ("msgid", "timestamp")) -> str:
    """The ``CHATHISTORY`` parameter for ``ref`` (``msgid=...`` or ``timestamp=...``), using
    only the reference ``types`` the server takes. Raises ValueError when it cannot."""
    allowed = tuple(types)
    if isinstance(ref, HistoryMessage):
        # Its msgid whatever the server prefers: a time is inexact, as several messages may
        # share a millisecond, and paging by it would skip those beside the bound.
        if ref.msgid and "msgid" in allowed:
            return ref_param(ref.msgid, allowed)
        if ref.time is not None and "timestamp" in allowed:
            return ref_param(ref.time, allowed)
        raise ValueError(
            "the message has neither a msgid nor a time the server takes as a reference"
        )
    if isinstance(ref, datetime):
        if "timestamp" not in allowed:
            raise ValueError("the server does not take timestamps as message references")
        return "timestamp=" + format_time(ref)
    if "msgid" not in allowed:
        raise ValueError("the server does not take msgids as message references")
    if not ref or any(c in ref for c in " \0\r\n"):
        raise ValueError(f"invalid msgid {ref!r}")
    return "msgid=" + ref


def search_param(attrs: Iterable[tuple[str, str]]) -> str:
    """The parameter of ``SEARCH``: ``key=value`` pairs joined by ``;``, each value escaped
    as a message-tag value (so ``;``, spaces and backslashes survive)."""
    out = []
    for key, value in attrs:
        if "\0" in value:
            raise ValueError(f"NUL in the search attribute {key!r}")
        out.append(f"{key}={escape_value(value)}")
    if not out:
        raise ValueError("a search needs at least one attribute")
    return ";".join(out)


def history_message(msg: Message, state: ClientState) -> HistoryMessage:
    """The :class:`HistoryMessage` for one line of a history or search batch. ``state`` only
    answers questions (which names are channels, which nick is ours): it is not changed."""
    command = msg.command.upper()
    params = msg.params
    source = msg.source or state.server_name
    nick = split_source(source).nick if source else ""
    target = params[0] if params else ""
    text = params[-1] if len(params) >= 2 else ""
    action = False
    if command in MESSAGE_COMMANDS:
        payload = parse_ctcp(text)
        if payload is not None and payload.command == "ACTION":
            action, text = True, payload.args
    return HistoryMessage(
        time=parse_time(msg.tags.get("time", "")),
        msgid=msg.tags.get("msgid") or None,
        source=source,
        nick=nick,
        command=command,
        target=target,
        text=text,
        conversation=conversation(state, nick, target, command),
        account=msg.tags.get("account") or None,
        tags=msg.tags,
        message=msg,
        action=action,
    )


def conversation(state: ClientState, nick: str, target: str, command: str) -> str:
    """Where a line from ``nick`` to ``target`` belongs: the channel, or for a private one
    the other person (``""`` for an event with no channel, such as a ``QUIT``)."""
    stripped = target.lstrip(state.prefix_symbols)  # STATUSMSG: "@#chan"
    if state.is_channel(stripped):
        chan = state.channel(stripped)
        return chan.name if chan else stripped
    if command not in (*MESSAGE_COMMANDS, "TAGMSG", "REDACT"):
        return ""
    return target if state.is_me(nick) else nick


def history_messages(lines: Iterable[Message], state: ClientState) -> list[HistoryMessage]:
    """The messages of a history batch, in its order. A ``REDACT`` line marks the message it
    names as ``redacted`` instead of being a message itself (one naming a message not in the
    batch is ignored, as the spec asks)."""
    out: list[HistoryMessage] = []
    where: dict[str, int] = {}
    for line in lines:
        if line.command.upper() == "REDACT":
            index = where.get(line.params[1]) if len(line.params) >= 2 else None
            if index is not None:
                out[index] = replace(out[index], redacted=True)
            continue
        item = history_message(line, state)
        if item.msgid:
            where[item.msgid] = len(out)
        out.append(item)
    return out


def history_targets(lines: Iterable[Message]) -> list[HistoryTarget]:
    """The ``CHATHISTORY TARGETS <name> <time>`` lines of a ``draft/chathistory-targets``
    batch (lines of any other shape are skipped)."""
    out = []
    for line in lines:
        p = line.params
        if line.command.upper() == "CHATHISTORY" and len(p) >= 3 and p[0].upper() == "TARGETS":
            when = parse_time(p[2])
            if when is not None:
                out.append(HistoryTarget(p[1], when))
    return out
