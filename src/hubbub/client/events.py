"""What the client library reports: one frozen dataclass per kind of event.

Every event made from a received line carries that line as ``message`` (``None`` for events
the library makes itself, such as :class:`Connected` or a locally echoed :class:`ChatMessage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hubbub.protocol import Message


@dataclass(frozen=True, kw_only=True)
class Event:
    """The base of all events."""

    message: Message | None = None


# -- connection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connected(Event):
    """The transport is up (TCP, TLS or Unix); registration starts now."""

    address: str
    tls: bool


@dataclass(frozen=True)
class Registered(Event):
    """The server welcomed us (``001``): we are on the network as ``nick``."""

    nick: str
    server: str


@dataclass(frozen=True)
class CapsNegotiated(Event):
    """Capability negotiation ended; ``enabled`` is what the server acknowledged."""

    enabled: frozenset[str]


@dataclass(frozen=True)
class SaslSucceeded(Event):
    """SASL authentication worked; we are logged in as ``account``."""

    account: str


@dataclass(frozen=True)
class SaslFailed(Event):
    """SASL authentication failed (bad credentials, no usable mechanism, aborted)."""

    reason: str


@dataclass(frozen=True)
class NickInUse(Event):
    """A nick we asked for is taken. During registration the library moves on to
    ``alternative`` by itself; afterwards ``alternative`` is only a suggestion."""

    nick: str
    alternative: str
    during_registration: bool


@dataclass(frozen=True)
class ErroneousNick(Event):
    """During registration, the server refused the nick we asked for as not valid there
    (``432``: a character it does not take, too long, reserved); the library moved on to
    ``alternative`` by itself. (After registration a refused ``NICK`` is a :class:`Numeric`
    error, and the nick stays what it was.)"""

    nick: str
    alternative: str
    reason: str


@dataclass(frozen=True)
class Disconnected(Event):
    """The connection ended; ``reconnecting`` says whether the client will try again."""

    reason: str
    reconnecting: bool


@dataclass(frozen=True)
class Reconnecting(Event):
    """The client waits ``delay`` seconds, then makes connection attempt number ``attempt``."""

    attempt: int
    delay: float


@dataclass(frozen=True)
class Lag(Event):
    """Round-trip time of our last keep-alive ``PING``, in seconds."""

    seconds: float


@dataclass(frozen=True)
class Pong(Event):
    """A ``PONG`` arrived for ``token`` (the asyncio client turns these into :class:`Lag`)."""

    token: str


@dataclass(frozen=True)
class ServerError(Event):
    """The server sent ``ERROR``: it is about to close the connection."""

    text: str


# -- conversation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatMessage(Event):
    """A ``PRIVMSG`` or ``NOTICE`` (a CTCP ``ACTION`` sets ``action``).

    ``conversation`` is where it belongs: the channel, or for a private message the other
    person's nick (whichever direction it went). ``from_self`` is true for our own messages
    (echoed by the server with ``echo-message``, or made locally without it).
    ``time`` comes from the ``server-time`` tag when there is one.
    """

    source: str
    target: str
    text: str
    conversation: str
    notice: bool = False
    action: bool = False
    from_self: bool = False
    from_server: bool = False
    time: datetime | None = None
    account: str | None = None
    msgid: str | None = None


@dataclass(frozen=True)
class History(Event):
    """Past messages of ``target`` (a ``chathistory`` batch), oldest first."""

    target: str
    messages: tuple[ChatMessage, ...]


@dataclass(frozen=True)
class ReadMarker(Event):
    """The read marker of ``target`` (IRCv3 ``draft/read-marker``): the time of the last
    message the user has read there, on any of their clients (``None``: nothing read yet).
    It arrives on join, as the answer to ``MARKREAD``, and whenever another client of the same
    user moves it, so a UI can clear its unread counts."""

    target: str
    time: datetime | None


@dataclass(frozen=True)
class Redact(Event):
    """``nick`` deleted the message ``msgid`` of ``target`` (``draft/message-redaction``).

    ``conversation`` is where the message was, as for :class:`ChatMessage`. A message the
    client never saw may be named: it is then to be ignored.
    """

    target: str
    msgid: str
    nick: str
    reason: str
    conversation: str
    from_self: bool = False


TYPING_STATES = ("active", "paused", "done")
"""The values of the ``+typing`` client tag."""


@dataclass(frozen=True)
class Typing(Event):
    """``nick`` is typing (``active``), has stopped for a while without clearing the text
    (``paused``) or has cleared it (``done``), in ``conversation`` (a ``TAGMSG`` with the
    IRCv3 ``+typing`` client tag). As the spec says, a UI should consider ``active`` over
    after 6 s and ``paused`` after 30 s without news, and when a message from ``nick``
    arrives there."""

    nick: str
    target: str
    conversation: str
    state: str
    from_self: bool = False


@dataclass(frozen=True)
class AnswerBatch:
    """One batch in an :class:`Answer`: its type, parameters and the lines directly in it."""

    type: str
    params: tuple[str, ...]
    lines: tuple[Message, ...]


@dataclass(frozen=True)
class Answer(Event):
    """The server's answer to a request made with :meth:`ClientSession.request`.

    ``request`` is the request's id. ``lines`` are all the lines of the answer in order
    (``BATCH`` lines left out), ``batches`` every batch it opened, outermost first. An empty
    answer (an ``ACK``, or an empty batch) has no lines. :class:`~hubbub.client.Client`
    resolves its calls with these; they never reach its event stream.
    """

    request: int
    lines: tuple[Message, ...]
    batches: tuple[AnswerBatch, ...] = ()

    def batch(self, *types: str) -> AnswerBatch | None:
        """The first batch of one of these types, if the answer has one."""
        return next((b for b in self.batches if b.type in types), None)

    @property
    def failure(self) -> Message | None:
        """The ``FAIL`` or error numeric (4xx, 5xx) in the answer, if any."""
        return next((m for m in self.lines if is_failure(m)), None)


def is_failure(msg: Message) -> bool:
    """True for a ``FAIL`` and for an error numeric (``4xx``/``5xx``)."""
    command = msg.command.upper()
    return command == "FAIL" or (len(command) == 3 and command.isdigit() and command[0] in "45")


@dataclass(frozen=True)
class Ctcp(Event):
    """A CTCP request other than ``ACTION`` (``VERSION`` and ``PING`` are answered for you)."""

    source: str
    target: str
    command: str
    args: str


@dataclass(frozen=True)
class Join(Event):
    """``nick`` joined ``channel`` (``is_self``: we did)."""

    channel: str
    nick: str
    user: str = ""
    host: str = ""
    account: str | None = None
    realname: str | None = None
    is_self: bool = False


@dataclass(frozen=True)
class Part(Event):
    """``nick`` left ``channel``."""

    channel: str
    nick: str
    reason: str = ""
    is_self: bool = False


@dataclass(frozen=True)
class Kick(Event):
    """``by`` kicked ``nick`` out of ``channel``."""

    channel: str
    nick: str
    by: str
    reason: str = ""
    is_self: bool = False


@dataclass(frozen=True)
class Quit(Event):
    """``nick`` left the network; ``channels`` are the ones we shared with them."""

    nick: str
    reason: str
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class NickChange(Event):
    """``old`` is now known as ``new``; ``channels`` are the ones we share with them."""

    old: str
    new: str
    is_self: bool = False
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topic(Event):
    """The topic of ``channel``: on join (``changed`` false) or changed by ``setter``."""

    channel: str
    topic: str
    setter: str | None = None
    changed: bool = False


@dataclass(frozen=True)
class Names(Event):
    """The member list of ``channel`` is complete (end of ``NAMES``)."""

    channel: str
    nicks: tuple[str, ...]


@dataclass(frozen=True)
class ModeChange(Event):
    """``setter`` changed the modes of ``target`` (a channel or our own nick).

    ``changes`` holds one ``(sign_and_letter, argument)`` pair per mode, e.g. ``("+o", "ann")``.
    """

    target: str
    setter: str
    changes: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Away(Event):
    """``nick`` went away (``text`` set) or came back (``text`` is ``None``)."""

    nick: str
    text: str | None


@dataclass(frozen=True)
class Invite(Event):
    """``by`` invited ``nick`` (usually us) to ``channel``."""

    channel: str
    nick: str
    by: str


@dataclass(frozen=True)
class Numeric(Event):
    """A numeric reply (``code`` such as ``"401"``); ``text`` is its last parameter.

    ``is_error`` is true for the 4xx/5xx error replies and for SASL failures.
    """

    code: str
    params: tuple[str, ...]
    text: str
    is_error: bool


@dataclass(frozen=True)
class Other(Event):
    """A line the library has no event for (``message`` holds it)."""
