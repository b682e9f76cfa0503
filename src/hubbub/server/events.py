"""What the network layer tells its subscribers: one typed, immutable event per change.

Every change of the network's state (see :mod:`hubbub.server.network`) is applied whole and
then emitted, in order, to each subscriber: local delivery to this process's connections
first, then whoever else listens (metrics, plugins, and later message history and the cluster
bus). A subscriber is a callable taking an :data:`Event`; it must not raise (the network logs
and contains what it raises) and must not change the network's state from inside the call
(it may ask for changes later, or for what it hears from another source, like a plugin's
service user answering a message after the relay is done).

Events are ``NamedTuple`` records rather than frozen dataclasses: both are typed and
immutable, and a relayed message is made for every PRIVMSG, where a NamedTuple is built in a
third of the time (0.45 µs against 1.27 µs for nine fields, Python 3.11).

Events name users and channels by their objects, which change later (a nick, a topic):
what a subscriber keeps for later it copies when it hears the event. Each event carries what
changed and what was there before, so no subscriber needs to have seen the state before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeAlias, get_args

if TYPE_CHECKING:
    from hubbub.server.channel import Channel
    from hubbub.server.user import User

NO_TAGS: Mapping[str, str] = {}
"""The tags of an event that has none beyond what :class:`Stamp` holds."""


class Stamp(NamedTuple):
    """The server tags of a change: when it happened and its message id (IRCv3
    ``server-time`` and ``msgid``); every event that is shown to clients has one."""

    time: float
    msgid: str


class Registered(NamedTuple):
    """A user completed registration: it is on the network under its nick."""

    user: User


class NickChanged(NamedTuple):
    """A registered user took a new nick (``user.nick`` is the new one)."""

    user: User
    old_nick: str
    old_prefix: str
    stamp: Stamp


class Quit(NamedTuple):
    """A user left the network. ``channels`` are those it was in (it is no longer a member
    of any), ``peers`` the users who shared one with it."""

    user: User
    reason: str
    channels: tuple[Channel, ...]
    peers: frozenset[User]
    stamp: Stamp


class Joined(NamedTuple):
    """A user joined a channel (``created``: the channel did not exist before)."""

    user: User
    channel: Channel
    created: bool
    stamp: Stamp


class Parted(NamedTuple):
    """A user left a channel. ``channel`` may have ceased to exist (it is empty)."""

    user: User
    channel: Channel
    reason: str
    stamp: Stamp


class Kicked(NamedTuple):
    """``by`` removed ``target`` from a channel (``by`` is None for the server itself)."""

    by: User | None
    channel: Channel
    target: User
    reason: str
    stamp: Stamp


ModeChange: TypeAlias = tuple[str, str, str | None]
"""One applied channel mode change: sign (``+``/``-``), letter, parameter."""


class ChannelModesChanged(NamedTuple):
    """Channel modes changed, membership modes (o, v) and lists (b, e, I) included."""

    by: User | None
    channel: Channel
    changes: tuple[ModeChange, ...]
    stamp: Stamp


class UserModesChanged(NamedTuple):
    """A user's modes changed (``added`` and ``removed`` letters)."""

    user: User
    added: str
    removed: str


class TopicChanged(NamedTuple):
    """A channel's topic changed (``by`` is None when the server or an admin set it)."""

    by: User | None
    channel: Channel
    topic: str
    setter: str
    stamp: Stamp


class AwayChanged(NamedTuple):
    """A user set (``away`` is the text) or cleared (None) its away message."""

    user: User
    away: str | None
    stamp: Stamp


class RealnameChanged(NamedTuple):
    """A user changed its real name (IRCv3 ``setname``)."""

    user: User
    realname: str
    stamp: Stamp


class HostChanged(NamedTuple):
    """A user's user name or host changed (IRCv3 ``chghost``)."""

    user: User
    old_prefix: str
    stamp: Stamp


class AccountChanged(NamedTuple):
    """A user logged in to an account (``account``) or out of one (None)."""

    user: User
    account: str | None
    stamp: Stamp


class Redacted(NamedTuple):
    """``by`` removed the message ``msgid`` it (or someone it may moderate) sent to
    ``target`` (IRCv3 ``draft/message-redaction``)."""

    by: User
    target: Channel | User
    msgid: str
    reason: str
    stamp: Stamp


class Invited(NamedTuple):
    """``by`` invited ``target`` to a channel."""

    by: User
    target: User
    channel: Channel
    stamp: Stamp


class Relayed(NamedTuple):
    """PRIVMSG, NOTICE or TAGMSG relayed from a user to a channel or a user: one event for
    one message, or for a block of lines to one target that arrived together (each line
    with its own msgid, all with one time).

    ``wire`` holds the lines as a client that takes no tags receives them
    (``:nick!user@host PRIVMSG #chan :text`` CR LF each); local delivery adds the tags each
    client may see. ``shown`` is the target as written on the wire (``@#chan`` for a
    message to the channel's operators: ``status`` then holds ``@``).

    The msgids of the lines are ``id_prefix`` followed by the numbers ``first``,
    ``first + 1``... in hex (:attr:`msgids` spells them out): they are given when the
    message is relayed and written out only for whoever reads them.
    """

    source: User
    command: str
    target: Channel | User
    shown: str
    status: str
    id_prefix: str
    first: int
    lines: int
    time: float
    tags: Mapping[str, str]
    """The message's client-only tags (``+typing``...) and the sender's account and bot
    tags, as every line has them."""
    wire: bytes

    @property
    def msgids(self) -> tuple[str, ...]:
        """The msgid of each line."""
        prefix, first = self.id_prefix, self.first
        return tuple([f"{prefix}{i:x}" for i in range(first, first + self.lines)])

    @property
    def texts(self) -> list[str]:
        """The text of each line (empty strings for TAGMSG)."""
        if self.command == "TAGMSG":
            return ["" for _ in range(self.lines)]
        head = len(self.wire.split(b" :", 1)[0]) + 2
        return [line[head:].decode() for line in self.wire.split(b"\r\n")[:-1]]


class MultilineRelayed(NamedTuple):
    """A PRIVMSG or NOTICE of several lines sent as one IRCv3 ``draft/multiline`` batch
    (a pasted block): one message, with one msgid and one time, to one channel or user.

    ``lines`` are the texts as relayed (blank ones included); where ``concat[i]`` is true,
    line ``i`` continues line ``i - 1`` without a line break (``draft/multiline-concat``;
    never the first line). :attr:`text` is the message they make together. Clients with the
    capability get the batch; the others get the lines that are not blank, one message each.
    """

    source: User
    command: str
    target: Channel | User
    shown: str
    """The target as written on the wire (``@#chan`` when ``status`` is ``@``)."""
    status: str
    lines: tuple[str, ...]
    concat: tuple[bool, ...]
    stamp: Stamp
    tags: Mapping[str, str]
    """The client-only tags sent on the opening ``BATCH`` and the sender's account and bot
    tags (as :attr:`Relayed.tags`)."""

    @property
    def text(self) -> str:
        """The combined message: the lines joined by line feeds, but where concatenated."""
        return join_lines(self.lines, self.concat)


def join_lines(lines: Sequence[str], concat: Sequence[bool]) -> str:
    """The text of a multiline message: ``lines`` joined by ``\\n``, or by nothing before a
    line marked in ``concat`` (the ``max-bytes`` of ``draft/multiline`` counts this)."""
    parts: list[str] = []
    for i, (line, joined) in enumerate(zip(lines, concat, strict=True)):
        if i and not joined:
            parts.append("\n")
        parts.append(line)
    return "".join(parts)


Event: TypeAlias = (
    Registered
    | NickChanged
    | Quit
    | Joined
    | Parted
    | Kicked
    | ChannelModesChanged
    | UserModesChanged
    | TopicChanged
    | AwayChanged
    | RealnameChanged
    | HostChanged
    | AccountChanged
    | Invited
    | Redacted
    | Relayed
    | MultilineRelayed
)
"""Everything the network layer emits."""

EVENT_TYPES: tuple[type, ...] = get_args(Event)
"""Every type of event, for subscribers that hear only some."""
