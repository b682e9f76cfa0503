"""A user of the network: who it is (nick, user name, host, account, modes, channels).

A :class:`User` is not a connection. The connection a user came in on, with its buffers,
capabilities and flood state, is a :class:`~hubbub.server.session.Session`; a local user
points to it (:attr:`User.session`). A user with no session is served by something else: a
service such as NickServ or a plugin's bot (:attr:`User.service`), or, in a cluster, another
node. Channels hold users, so any of these can be a member.

Owned and changed by the network layer (:mod:`hubbub.server.network`) only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from hubbub.protocol.casemap import Folded

if TYPE_CHECKING:
    from hubbub.server.channel import Channel
    from hubbub.server.events import Relayed
    from hubbub.server.session import Session


class Service(Protocol):
    """What serves a user that has no connection (NickServ, a plugin's bot): it hears the
    messages sent to that user."""

    def on_message(self, event: Relayed) -> None:
        """``event`` was sent to the service's user (called after the relay, outside the
        change; the service may answer through the network)."""


_NO_NAMES: frozenset[Folded] = frozenset()
"""The one empty set of names every new user starts with."""

_NO_CHANNELS: dict[Folded, Channel] = {}
"""The one empty channel map new users share; never mutated (see :meth:`User.joined`)."""


def wire_host(host: str) -> str:
    """``host`` as it may stand in ``nick!user@host``: an IPv6 address must not start with
    ``:`` on the wire (``::1`` is written ``0::1``)."""
    return "0" + host if host.startswith(":") else host


class User:
    """Someone on the network: a nick and what goes with it."""

    # (no id and no __weakref__: 44 bytes a user, which idle memory per client counts)
    __slots__ = (
        "_prefix",
        "account",
        "away",
        "channels",
        "cloak",
        "folded",
        "host",
        "identity",
        "invited",
        "last_active",
        "modes",
        "named",
        "nick",
        "realname",
        "service",
        "session",
        "signon",
        "username",
    )

    def __init__(
        self,
        host: str,
        now: float,
        session: Session | None = None,
        service: Service | None = None,
    ) -> None:
        self.session = session
        """The local connection of this user; None for a service or a remote user."""
        self.service = service
        """What answers for a user with no connection (a service or a plugin's bot)."""
        host = wire_host(host)
        self.host = host
        """The host others see (a cloak, a host name or an address; CHGHOST replaces it)."""
        self.cloak = host
        """The host given at connection, kept when CHGHOST replaces ``host``: bans on it
        still match."""
        self.nick = "*"
        self.folded = Folded("*")
        self.username = ""
        """The user name (``~ident``) in ``nick!user@host``."""
        self.realname = ""
        self._prefix: bytes | None = None
        """``nick!user@host``, made when first asked for (see :attr:`prefix_bytes`)."""
        self.modes = ""
        """User modes, one letter each (a str: a set would cost 216 bytes per user)."""
        self.away: str | None = None
        self.account: str | None = None
        self.channels: dict[Folded, Channel] = _NO_CHANNELS
        """The channels this user is in (the shared empty one until the first JOIN: see
        :meth:`joined`)."""
        self.invited: frozenset[Folded] = _NO_NAMES
        """Channels this user was invited to (rebound, not mutated: the empty one is shared)."""
        self.signon = now
        self.last_active = now
        self.named = now
        """When this user took its nick (registered with it or changed to it): what was said
        under ``nick!user@host`` since then was said by this user, whoever had it before."""
        self.identity = 0
        """Counts the changes to what ban masks match (nick, user name, host, account): a
        channel's cached verdict on this user holds while it is the same (see
        :meth:`~hubbub.server.channel.Channel.is_silenced`)."""

    def joined(self, channel: Channel) -> None:
        """Record that this user is now in ``channel`` (the network updates the channel)."""
        channels = self.channels
        if channels is _NO_CHANNELS:
            channels = self.channels = {}
        channels[channel.folded] = channel

    def update_prefix(self) -> None:
        """One of the parts of ``nick!user@host`` changed: make it again when next asked,
        and let the channels judge this user's bans again (:attr:`identity`)."""
        self._prefix = None
        self.identity += 1

    def update_account(self, account: str | None) -> None:
        """Logged in to ``account``, or out (None): bans on accounts are judged again."""
        self.account = account
        self.identity += 1

    @property
    def prefix_bytes(self) -> bytes:
        """``nick!user@host`` as the relay uses it, made on first use and kept: a client
        that never speaks and is never shown (in no channel) keeps none (~70 bytes)."""
        prefix = self._prefix
        if prefix is None:
            prefix = self._prefix = f"{self.nick}!{self.username}@{self.host}".encode()
        return prefix

    @property
    def prefix(self) -> str:
        """``nick!user@host`` (kept only as bytes, which the relay uses)."""
        return self.prefix_bytes.decode()

    @property
    def render_key(self) -> int:
        """The tag-relevant capabilities of this user's connection (0 without one)."""
        session = self.session
        return session.render_key if session is not None else 0

    def __repr__(self) -> str:
        return f"<User {self.nick!r}>"
