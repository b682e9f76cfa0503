"""One connection's state: registration, capabilities, buffers, flood bucket (pure, no I/O).

Who the client is on the network (nick, host, account, channels) is its :class:`User`
(:attr:`Session.user`); this is the connection it came in on.

A session writes through a :class:`Sink`, which the transport implements. ``Sink.write`` must
never call back into the server core: a transport that decides to drop a peer (SendQ
exceeded, say) schedules that for later, so a fan-out loop never sees the member set change
under it.

The SendQ is counted as output is queued (:attr:`Session.room`): a client that does not read
what it is sent has its queue dropped the moment it would outgrow the SendQ, and the core
disconnects it at its next flush, so no client holds more than its SendQ plus the one reply
being queued, however much it asks for within one loop iteration.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from hubbub.protocol.caps import RENDER_CAPS, Cap, CapBits
from hubbub.protocol.casemap import Folded
from hubbub.protocol.errors import LineTooLong
from hubbub.server.user import User

if TYPE_CHECKING:
    from hubbub.server.commands.multiline import OpenBatch


class Sink(Protocol):
    """Where a session's outgoing bytes go. Implemented by each transport."""

    def write(self, data: bytes) -> None:
        """Send complete lines (CR LF terminated) to the peer; never blocks."""

    def room(self) -> int:
        """Bytes the peer's SendQ can still take: the SendQ less what the transport holds
        (written, not yet taken by the peer). Asked when a session is made and when its
        queue looks full."""

    def close(self) -> None:
        """Send what was written, then close the connection."""


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What the transport knows about the peer: its address, not its port (nothing uses
    that), so that one ``PeerInfo`` serves every client from an address over one transport
    (see :func:`~hubbub.server.peer.peer_info`)."""

    ip: str
    secure: bool = False
    transport: str = "tcp"
    hostname: str | None = None
    certfp: str | None = None
    gateway: str | None = None
    """The WebIRC gateway that named this address (``WEBIRC``), if one did."""


@dataclass(frozen=True, slots=True)
class WhowasEntry:
    """What WHOWAS remembers of a nick that left or changed."""

    nick: str
    user: str
    host: str
    realname: str
    time: int


class State(enum.Enum):
    """Where a session is in its life."""

    REGISTERING = "registering"
    REGISTERED = "registered"
    CLOSED = "closed"


SENDQ_EXCEEDED = -(1 << 62)
""":attr:`Session.room` of a session whose output outgrew its SendQ: its queue was dropped
and the core disconnects it at its next flush."""

_NO_NAMES: frozenset[Folded] = frozenset()
"""The one empty set of names every new session starts with."""


SHARED_STRINGS = 4096
"""Distinct values a sharing table keeps (it forgets them all when it has this many)."""
_strings: dict[str, str] = {}
_bits: dict[int, int] = {}
_V = TypeVar("_V", str, int)


def _one_copy(table: dict[_V, _V], value: _V) -> _V:
    """The copy of ``value`` kept in ``table`` (``value`` itself the first time). Bounded:
    the table is emptied when it is full, since clients choose what goes in."""
    found = table.get(value)
    if found is None:
        if len(table) >= SHARED_STRINGS:
            table.clear()
        table[value] = found = value
    return found


def shared(text: str) -> str:
    """One copy of ``text`` for every session that has it.

    Addresses, user names and real names repeat across clients (a thousand bots from one
    host, a client's default real name); keeping one copy saves about 60 bytes per string
    per client.
    """
    return _one_copy(_strings, text)


def _shared_bits(bits: CapBits) -> CapBits:
    """One int object per capability set in use (an int above 256 costs 28 bytes per
    client), kept like :func:`shared` keeps strings."""
    return _one_copy(_bits, bits)


def _nothing() -> None:
    pass


class Session:
    """A client's connection. Owned and mutated by the server core only."""

    __slots__ = (
        "__weakref__",
        "cap_negotiating",
        "cap_version",
        "caps",
        "checking_password",
        "closed",
        "dirty",
        "flood_time",
        "flood_tokens",
        "last_recv",
        "login_failures",
        "monitoring",
        "multiline",
        "outbuf",
        "pass_given",
        "peer",
        "pending",
        "pending_bytes",
        "ping_sent",
        "registered",
        "render_key",
        "room",
        "sink",
        "user",
        "wake",
    )

    def __init__(
        self,
        sink: Sink,
        peer: PeerInfo,
        now: float,
        dirty: set[Session] | None = None,
        wake: Callable[[], None] | None = None,
        host: str | None = None,
    ) -> None:
        self.sink = sink
        self.outbuf: list[bytes] = []
        """Bytes queued for the peer since the last flush (see Server.flush)."""
        self.room = sink.room()
        """Bytes that may still be queued before the SendQ is full: the SendQ less what is
        queued and what the transport held when last asked. Whatever appends to
        :attr:`outbuf` takes the bytes off and calls :meth:`overflow` when it goes below 0.
        The transport only drains between two asks, so this errs on the low side (but for
        the few bytes of WebSocket framing per line, which the transport adds)."""
        self.dirty: set[Session] = dirty if dirty is not None else set()
        """The server's set of sessions with queued bytes."""
        self.wake: Callable[[], None] = wake or _nothing
        """Asks for a flush when the first bytes of a loop iteration are queued."""
        self.peer = peer
        """The real address (only operators and the user itself are shown it)."""
        self.user = User(shared(host or peer.hostname or peer.ip), now, session=self)
        """Who this connection is on the network: the host others see is ``host`` as
        given (the server's cloak of the address), else the peer's host name or address."""
        self.registered = False
        """True once the welcome burst was sent (and until the session closes)."""
        self.closed = False
        """True once the session has quit or been dropped."""
        self.pass_given: str | None = None
        self.caps: CapBits = Cap.NONE
        self.render_key: CapBits = Cap.NONE
        self.cap_negotiating = False
        self.checking_password = False
        self.cap_version = 0
        self.login_failures = 0
        """Refused logins and OPER attempts on this connection (see MAX_LOGIN_FAILURES)."""
        self.monitoring: frozenset[Folded] = _NO_NAMES
        """Nicks this client MONITORs (rebound, not mutated: the empty one is shared)."""
        self.last_recv = now
        self.ping_sent: float | None = None
        self.flood_tokens = 0.0
        self.flood_time = now
        self.pending: list[bytes | LineTooLong] | None = None
        """Lines held back (flood control, a password check); None when there are none."""
        self.pending_bytes = 0
        self.multiline: OpenBatch | None = None
        """The ``draft/multiline`` batch the client has open, if any (see
        :mod:`hubbub.server.commands.multiline`)."""

    @property
    def state(self) -> State:
        """Where the session is in its life (kept as two flags: they are read per message)."""
        if self.closed:
            return State.CLOSED
        return State.REGISTERED if self.registered else State.REGISTERING

    def mark_registered(self) -> None:
        """The welcome burst is being sent."""
        self.registered = True

    def mark_closed(self) -> None:
        """The session has quit or been dropped; it stays closed."""
        self.closed = True
        self.registered = False

    def set_caps(self, caps: CapBits) -> None:
        """Replace the enabled capabilities, keeping the render key in step."""
        self.caps = caps = _shared_bits(caps)
        old, new = self.render_key, caps & RENDER_CAPS
        self.render_key = new = _shared_bits(new)
        if bool(old) != bool(new):
            delta = 1 if new else -1
            for channel in self.user.channels.values():
                channel.tagged += delta

    def write(self, data: bytes) -> None:
        """Queue bytes for this client; they go out at the next flush, with everything
        else queued for it in the same loop iteration."""
        if self.closed:
            return
        self.outbuf.append(data)
        room = self.room = self.room - len(data)
        if room < 0:
            self.overflow()
        dirty = self.dirty
        if not dirty:
            self.wake()
        dirty.add(self)

    def overflow(self) -> None:
        """What was just queued went past :attr:`room`. Count again with what the transport
        holds now; if the queue is over the SendQ indeed, drop it and mark the session
        (:data:`SENDQ_EXCEEDED`) for the core to disconnect at its next flush (not here:
        this runs inside fan-out loops). The session must be in the dirty set."""
        if self.room > SENDQ_EXCEEDED // 2:  # not marked yet
            room = self.sink.room() - sum(map(len, self.outbuf))
            if room >= 0:
                self.room = room
                return
        self.outbuf.clear()
        self.room = SENDQ_EXCEEDED

    def __repr__(self) -> str:
        return f"<Session {self.user.nick!r} {self.state.value} at {id(self):#x}>"
