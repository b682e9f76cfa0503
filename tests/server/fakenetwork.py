"""A small stand-in for the network layer (``server.network``), as docs/plugins.md and the
lead's NETWORK_API describe it: enough to run plugins sans-I/O until the real one is in.

It keeps users and channels, emits the events of :mod:`hubbub.server.events` to its
subscribers in order, runs ``later`` callables once every subscriber has heard the change, and
hands a message sent to a service user to its ``service.on_message`` after the relay. It is
strict where the real one must be: a change made while a change is being announced fails
the test (:class:`ChangeInsideEvent`), so the plugin layer's deferring is really checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from hubbub.protocol.casemap import Folded
from hubbub.server.channel import Channel
from hubbub.server.events import (
    NO_TAGS,
    Event,
    Joined,
    NickChanged,
    Parted,
    Quit,
    Registered,
    Relayed,
    Stamp,
)
from hubbub.server.user import Service, User

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.session import Session


class ChangeInsideEvent(AssertionError):
    """The network's state was changed from inside a subscriber's call."""


class FakeNetwork:
    """Users, channels and events, without connections."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.users: dict[Folded, User] = {}
        self.channels: dict[Folded, Channel] = {}
        self.subscribers: list[Callable[[Event], None]] = []
        self.events: list[Event] = []
        """Every event emitted, in order (what the tests look at)."""
        self.contained: list[BaseException] = []
        """What subscribers raised (the real network logs it; so do the plugins)."""
        self._announcing = 0
        self._later: list[Callable[[], None]] = []

    # -- subscribers -----------------------------------------------------------------------

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        self.subscribers.append(fn)

    def unsubscribe(self, fn: Callable[[Event], None]) -> None:
        self.subscribers.remove(fn)

    def later(self, fn: Callable[[], None]) -> None:
        if self._announcing:
            self._later.append(fn)
        else:
            fn()

    def _emit(self, event: Event) -> None:
        self.events.append(event)
        self._announcing += 1
        try:
            for fn in list(self.subscribers):
                try:
                    fn(event)
                except Exception as exc:
                    self.contained.append(exc)
        finally:
            self._announcing -= 1
        while self._later and not self._announcing:
            self._later.pop(0)()

    def _change(self) -> None:
        if self._announcing:
            raise ChangeInsideEvent("the network was changed from inside an event callback")

    def _stamp(self) -> Stamp:
        return Stamp(self.server.clock(), self.server.msgid())

    # -- lookups ---------------------------------------------------------------------------

    def fold(self, name: str) -> Folded:
        return self.server.fold(name)

    def find_user(self, nick: str) -> User | None:
        return self.users.get(self.fold(nick))

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(self.fold(name))

    # -- changes ---------------------------------------------------------------------------

    def _new_user(
        self,
        nick: str,
        username: str,
        realname: str,
        host: str,
        session: Session | None = None,
        service: Service | None = None,
    ) -> User:
        self._change()
        folded = self.fold(nick)
        if folded in self.users:
            raise ValueError(f"the nick {nick} is in use")
        user = User(host, self.server.clock(), session=session, service=service)
        user.nick, user.folded = nick, folded
        user.username, user.realname = username, realname
        user.update_prefix()
        self.users[folded] = user
        self._emit(Registered(user))
        return user

    def add_user(self, nick: str, session: Session | None = None) -> User:
        """A user as if a client had registered (``session`` may be a harness client's)."""
        return self._new_user(nick, "~u", "Real Name", "cloak.test", session=session)

    def add_service(
        self, nick: str, service: Service, username: str = "service", realname: str = ""
    ) -> User:
        return self._new_user(
            nick, username, realname, f"services.{self.server.name}", service=service
        )

    def _leave_all(self, user: User) -> tuple[tuple[Channel, ...], frozenset[User]]:
        channels = tuple(user.channels.values())
        peers = frozenset(m for ch in channels for m in self.members(ch) if m is not user)
        for channel in channels:
            self._remove_member(channel, user)
        del self.users[user.folded]
        return channels, peers

    def remove_service(self, user: User) -> None:
        self.quit(user, "Service removed")

    def quit(self, user: User, reason: str) -> None:
        self._change()
        channels, peers = self._leave_all(user)
        self._emit(Quit(user, reason, channels, peers, self._stamp()))

    def change_nick(self, user: User, nick: str) -> None:
        self._change()
        old_nick, old_prefix = user.nick, user.prefix
        del self.users[user.folded]
        user.nick, user.folded = nick, self.fold(nick)
        user.update_prefix()
        self.users[user.folded] = user
        self._emit(NickChanged(user, old_nick, old_prefix, self._stamp()))

    @staticmethod
    def members(channel: Channel) -> list[User]:
        """The users in ``channel`` (this network puts users where the core puts sessions)."""
        return cast("list[User]", list(channel.members))

    def join(self, user: User, name: str) -> Channel:
        self._change()
        folded = self.fold(name)
        channel = self.channels.get(folded)
        created = channel is None
        if channel is None:
            channel = self.channels[folded] = Channel(name, folded, self.server.clock())
        channel.add(cast("Session", user), "o" if created else "")
        user.joined(channel)
        self._emit(Joined(user, channel, created, self._stamp()))
        return channel

    def _remove_member(self, channel: Channel, user: User) -> None:
        channel.remove(cast("Session", user))
        user.channels.pop(channel.folded, None)
        if not channel.members:
            self.channels.pop(channel.folded, None)

    def part(self, user: User, channel: Channel, reason: str) -> None:
        self._change()
        self._remove_member(channel, user)
        self._emit(Parted(user, channel, reason, self._stamp()))

    def relay(
        self,
        source: User,
        command: str,
        target: Channel | User,
        text: str,
        *,
        status: str = "",
        client_tags: dict[str, str] | None = None,
    ) -> Relayed:
        self._change()
        if "\r" in text or "\n" in text or "\0" in text:
            raise ValueError("a line break or NUL in a message")
        shown = status + (target.name if isinstance(target, Channel) else target.nick)
        wire = f":{source.prefix} {command} {shown} :{text}\r\n".encode()
        stamp = self._stamp()
        event = Relayed(
            source, command, target, shown, status, (stamp.msgid,), stamp.time, NO_TAGS, wire
        )
        self._emit(event)
        if isinstance(target, User) and target.service is not None:
            target.service.on_message(event)  # after the relay, outside the change
        return event

    # -- what the tests look at ------------------------------------------------------------

    def said(self, by: str | None = None) -> list[tuple[str, str, str, str]]:
        """(source nick, command, target, text) of each message relayed so far."""
        out = []
        for event in self.events:
            if isinstance(event, Relayed) and (by is None or event.source.nick == by):
                out += [(event.source.nick, event.command, event.shown, t) for t in event.texts]
        return out
