"""Local delivery: the network's first subscriber, which tells this process's connections.

Each event becomes the lines each local client must see, serialised once per distinct set
of tag-relevant capabilities and queued on the sessions (never written: the core flushes
once per event-loop iteration). A relayed message is made from its bytes: the plain line
once, then once per render key with the tags that key sees (one time and one msgid per
line); whatever took which path to the network, the bytes are the same.

While a command is being answered, what it makes the client itself see (the echo of its
JOIN, its own message with echo-message) joins that command's reply (:attr:`answering`), so
labeled-response wraps it with the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from hubbub.protocol import numerics as n
from hubbub.protocol.caps import Cap, CapBits, visible_tags
from hubbub.protocol.casemap import Folded
from hubbub.protocol.message import MAX_BODY_BYTES, Message
from hubbub.protocol.tags import serialize_tags
from hubbub.server.channel import PREFIX_SYMBOLS, Channel
from hubbub.server.events import (
    AccountChanged,
    AwayChanged,
    ChannelModesChanged,
    Event,
    HostChanged,
    Invited,
    Joined,
    Kicked,
    ModeChange,
    MultilineRelayed,
    NickChanged,
    Parted,
    Quit,
    RealnameChanged,
    Redacted,
    Registered,
    Relayed,
    Stamp,
    TopicChanged,
    UserModesChanged,
)
from hubbub.server.multiline import RENDER_KEY, MultilineMessage
from hubbub.server.response import Response, render
from hubbub.server.user import User

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.session import Session

log = logging.getLogger("hubbub.delivery")

_last_second: tuple[int, str] = (-1, "")
"""The last whole second :func:`format_time` formatted, with its text (strftime is slow);
replaced whole, so a reader never sees one second with another's text."""


def format_time(now: float) -> str:
    """An IRCv3 ``server-time`` timestamp: ``2026-11-23T20:10:27.123Z``."""
    global _last_second
    second, text = _last_second
    if second != int(now):
        second = int(now)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    return f"{text}.{int(now * 1000) % 1000:03d}Z"


def mode_params(changes: Iterable[ModeChange]) -> tuple[str, ...]:
    """The MODE parameters of ``changes``: ``+bo-v``, then the parameters in order."""
    modes, params = "", []
    sign = ""
    for s, mode, param in changes:
        if s != sign:
            modes += s
            sign = s
        modes += mode
        if param is not None:
            params.append(param)
    return (modes, *params)


class LocalDelivery:
    """Turns the network's events into lines for this process's connections."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.answering: Response | None = None
        """The reply of the command being handled: what its client sees of the changes
        the command makes goes there (set by the core around each command)."""
        self._handlers: dict[type, Callable[[Event], None]] = {
            Registered: self._registered,  # type: ignore[dict-item]
            NickChanged: self._nick_changed,  # type: ignore[dict-item]
            Quit: self._quit,  # type: ignore[dict-item]
            Joined: self._joined,  # type: ignore[dict-item]
            Parted: self._parted,  # type: ignore[dict-item]
            Kicked: self._kicked,  # type: ignore[dict-item]
            ChannelModesChanged: self._channel_modes,  # type: ignore[dict-item]
            UserModesChanged: self._user_modes,  # type: ignore[dict-item]
            TopicChanged: self._topic,  # type: ignore[dict-item]
            AwayChanged: self._away,  # type: ignore[dict-item]
            RealnameChanged: self._realname,  # type: ignore[dict-item]
            HostChanged: self._host,  # type: ignore[dict-item]
            AccountChanged: self._account,  # type: ignore[dict-item]
            Invited: self._invited,  # type: ignore[dict-item]
            Redacted: self._redacted,  # type: ignore[dict-item]
            MultilineRelayed: self._multiline,  # type: ignore[dict-item]
        }

    # -- sending ---------------------------------------------------------------------------

    def tags(self, stamp: Stamp, user: User | None) -> dict[str, str]:
        """The server tags of a line about a change: time, msgid, and the account and bot
        tags of the user who made it."""
        tags = {"time": format_time(stamp.time), "msgid": stamp.msgid}
        if user is not None:
            tags.update(self.server.network.sender_tags(user))
        return tags

    def more_tags(self, stamp: Stamp, user: User | None) -> dict[str, str]:
        """The tags of another line shown for the same change (the AWAY after a JOIN, the
        JOIN and MODE of the chghost fallback): its time, but a msgid of its own, since
        no two messages may share one (IRCv3 message-ids); ``user``'s account and bot
        tags only when the line is the user's (None: the server's)."""
        tags = {"time": format_time(stamp.time), "msgid": self.server.network.stamp().msgid}
        if user is not None:
            tags.update(self.server.network.sender_tags(user))
        return tags

    def deliver(
        self,
        users: Iterable[User],
        msg: Message,
        skip: User | None = None,
        need: CapBits = Cap.NONE,
    ) -> None:
        """Queue ``msg`` for the local connections of ``users`` (but ``skip``'s, and those
        without all of ``need``), serialised once per render key."""
        answering = self.answering
        cache: dict[CapBits, bytes] = {}
        server = self.server
        dirty = server.dirty
        was_idle = not dirty
        add = dirty.add
        for user in users:
            session = user.session
            if session is None or user is skip or (need and session.caps & need != need):
                continue
            if answering is not None and session is answering.session:
                answering.add(msg)
                continue
            key = session.render_key
            data = cache.get(key)
            if data is None:
                data = cache[key] = render(msg, key)
            session.outbuf.append(data)
            room = session.room = session.room - len(data)
            if room < 0:
                session.overflow()
            add(session)
        if was_idle and dirty:
            server.wake()

    def send(self, session: Session, msg: Message) -> None:
        """Queue ``msg`` for one connection (into the reply when it is being answered)."""
        answering = self.answering
        if answering is not None and session is answering.session:
            answering.add(msg)
        else:
            session.write(render(msg, session.caps))

    def deliver_variants(
        self,
        users: Iterable[User],
        cap: CapBits,
        with_cap: Message | None,
        without_cap: Message | None,
        skip: User | None = None,
    ) -> None:
        """Deliver one of two forms of a message, by whether each recipient has ``cap``."""
        have: list[User] = []
        lack: list[User] = []
        for user in users:
            session = user.session
            if session is not None and user is not skip:
                (have if session.caps & cap else lack).append(user)
        if with_cap is not None:
            self.deliver(have, with_cap)
        if without_cap is not None:
            self.deliver(lack, without_cap)

    def notify_peers(self, user: User, msg: Message, need: CapBits, self_too: bool) -> None:
        """Tell those who can see ``user`` about a change to it (away, realname, host,
        account): channel peers with ``need``, the clients that MONITOR its nick with
        ``need`` and extended-monitor, and itself when ``self_too`` and it has ``need``.
        Each hears it once."""
        network = self.server.network
        peers = network.peers_of(user)
        self.deliver(peers, msg, need=need)
        watchers = network.monitors.get(user.folded)
        if watchers:
            others = [w.user for w in watchers if w.user not in peers and w.user is not user]
            self.deliver(others, msg, need=need | Cap.EXTENDED_MONITOR)
        session = user.session
        if self_too and session is not None and session.caps & need:
            self.send(session, msg)

    def monitor_notify(self, folded: Folded, online: bool, shown: str) -> None:
        """Tell the clients that MONITOR the nick ``folded`` that it came (``shown`` is
        its ``nick!user@host``) or went (``shown`` is the nick)."""
        server = self.server
        watchers = server.network.monitors.get(folded)
        if not watchers:
            return
        code = n.RPL_MONONLINE if online else n.RPL_MONOFFLINE
        for watcher in list(watchers):
            self.send(watcher, Message(code, (watcher.user.nick, shown), server.name))

    # -- events ----------------------------------------------------------------------------

    def _registered(self, event: Registered) -> None:
        user = event.user
        if user.folded in self.server.network.monitors:  # (else its prefix is not made yet)
            self.monitor_notify(user.folded, True, user.prefix)
        session = user.session
        if session is not None:
            self.server.snotice(
                f"Client connecting: {user.nick} ({user.username}@{user.host}) [{session.peer.ip}]"
            )

    def _nick_changed(self, event: NickChanged) -> None:
        user = event.user
        server = self.server
        msg = Message("NICK", (user.nick,), event.old_prefix, self.tags(event.stamp, user))
        self.deliver([*server.network.peers_of(user), user], msg)
        old_folded = server.fold(event.old_nick)
        if old_folded != user.folded:
            self.monitor_notify(old_folded, False, event.old_nick)
            self.monitor_notify(user.folded, True, user.prefix)

    def _quit(self, event: Quit) -> None:
        user = event.user
        server = self.server
        msg = Message("QUIT", (event.reason,), user.prefix, self.tags(event.stamp, user))
        self.deliver(event.peers, msg)
        if user.session is not None:
            server.snotice(
                f"Client exiting: {user.nick} ({user.username}@{user.host}) [{event.reason}]"
            )
        self.monitor_notify(user.folded, False, user.nick)

    def _joined(self, event: Joined) -> None:
        user, channel = event.user, event.channel
        tags = self.tags(event.stamp, user)
        plain = Message("JOIN", (channel.name,), user.prefix, tags)
        extended = Message(
            "JOIN", (channel.name, user.account or "*", user.realname), user.prefix, tags
        )
        self.deliver_variants(channel.members, Cap.EXTENDED_JOIN, extended, plain)
        if user.away is not None:
            away = Message("AWAY", (user.away,), user.prefix, self.more_tags(event.stamp, user))
            self.deliver(channel.members, away, skip=user, need=Cap.AWAY_NOTIFY)

    def _parted(self, event: Parted) -> None:
        user, channel = event.user, event.channel
        params = (channel.name, event.reason) if event.reason else (channel.name,)
        msg = Message("PART", params, user.prefix, self.tags(event.stamp, user))
        self.deliver([*channel.members, user], msg)

    def _kicked(self, event: Kicked) -> None:
        by, channel, target = event.by, event.channel, event.target
        source = by.prefix if by is not None else self.server.name
        msg = Message(
            "KICK", (channel.name, target.nick, event.reason), source, self.tags(event.stamp, by)
        )
        self.deliver([*channel.members, target], msg)

    def _channel_modes(self, event: ChannelModesChanged) -> None:
        """One MODE line, or as many as it takes for each to fit in 512 bytes (three long
        ban masks from a long prefix would not)."""
        by, channel = event.by, event.channel
        prefix = by.prefix if by is not None else self.server.name
        lines: list[list[ModeChange]] = []
        for change in event.changes:
            if lines:
                longer = Message("MODE", (channel.name, *mode_params([*lines[-1], change])), prefix)
                if len(longer.serialize_without_tags().encode()) <= MAX_BODY_BYTES:
                    lines[-1].append(change)
                    continue
            lines.append([change])
        for i, changes in enumerate(lines):
            stamp = event.stamp if i == 0 else self.server.network.stamp()
            msg = Message(
                "MODE", (channel.name, *mode_params(changes)), prefix, self.tags(stamp, by)
            )
            self.deliver(channel.members, msg)

    def _user_modes(self, event: UserModesChanged) -> None:
        user = event.user
        session = user.session
        change = (f"+{event.added}" if event.added else "") + (
            f"-{event.removed}" if event.removed else ""
        )
        if session is not None and change:
            self.send(session, Message("MODE", (user.nick, change), user.prefix))

    def _topic(self, event: TopicChanged) -> None:
        by, channel = event.by, event.channel
        source = by.prefix if by is not None else self.server.name
        msg = Message("TOPIC", (channel.name, event.topic), source, self.tags(event.stamp, by))
        self.deliver(channel.members, msg)

    def _away(self, event: AwayChanged) -> None:
        user = event.user
        params = (event.away,) if event.away is not None else ()
        msg = Message("AWAY", params, user.prefix, self.tags(event.stamp, user))
        self.notify_peers(user, msg, Cap.AWAY_NOTIFY, self_too=False)

    def _realname(self, event: RealnameChanged) -> None:
        user = event.user
        msg = Message("SETNAME", (event.realname,), user.prefix, self.tags(event.stamp, user))
        self.notify_peers(user, msg, Cap.SETNAME, self_too=True)

    def _account(self, event: AccountChanged) -> None:
        user = event.user
        msg = Message("ACCOUNT", (event.account or "*",), user.prefix, self.tags(event.stamp, user))
        self.notify_peers(user, msg, Cap.ACCOUNT_NOTIFY, self_too=True)

    def _invited(self, event: Invited) -> None:
        by, target, channel = event.by, event.target, event.channel
        msg = Message("INVITE", (target.nick, channel.name), by.prefix, self.tags(event.stamp, by))
        self.deliver((target,), msg)
        notify = [m for m in channel.members if m is not by and channel.is_op(m)]
        self.deliver(notify, msg, need=Cap.INVITE_NOTIFY)

    def _redacted(self, event: Redacted) -> None:
        """Clients with ``draft/message-redaction`` that saw the message hear it removed
        (the others are not told: the spec's fallback is optional, and noisy)."""
        by, target = event.by, event.target
        params: tuple[str, ...] = (
            target.name if isinstance(target, Channel) else target.nick,
            event.msgid,
        )
        if event.reason:
            params = (*params, event.reason)
        msg = Message("REDACT", params, by.prefix, self.tags(event.stamp, by))
        if isinstance(target, Channel):
            recipients: Iterable[User] = target.members
        else:
            recipients = (target, by) if target is not by else (by,)
        self.deliver(recipients, msg, need=Cap.MESSAGE_REDACTION)

    def _host(self, event: HostChanged) -> None:
        """Peers with ``chghost`` get a CHGHOST line; the others see the user quit and
        join again with its channel modes, as the spec's fallback says."""
        user = event.user
        tags = self.tags(event.stamp, user)
        change = Message("CHGHOST", (user.username, user.host), event.old_prefix, tags)
        self.notify_peers(user, change, Cap.CHGHOST, self_too=True)
        lacking = {
            p
            for p in self.server.network.peers_of(user)
            if p.session is not None and not p.session.caps & Cap.CHGHOST
        }
        if not lacking:
            return
        stamp = event.stamp
        quit_tags = self.more_tags(stamp, user)
        self.deliver(lacking, Message("QUIT", ("Changing host",), event.old_prefix, quit_tags))
        for channel in user.channels.values():
            members = [m for m in channel.members if m in lacking]
            join_tags = self.more_tags(stamp, user)
            plain = Message("JOIN", (channel.name,), user.prefix, join_tags)
            extended = Message(
                "JOIN", (channel.name, user.account or "*", user.realname), user.prefix, join_tags
            )
            self.deliver_variants(members, Cap.EXTENDED_JOIN, extended, plain)
            modes = channel.members[user]
            if modes:
                mode = Message(
                    "MODE",
                    (channel.name, "+" + modes, *[user.nick] * len(modes)),
                    self.server.name,
                    self.more_tags(stamp, None),  # (the server's line: no account tag)
                )
                self.deliver(members, mode)
            if user.away is not None:
                away = Message("AWAY", (user.away,), user.prefix, self.more_tags(stamp, user))
                self.deliver(members, away, need=Cap.AWAY_NOTIFY)

    # -- relayed messages ------------------------------------------------------------------

    def hear(self, event: Event) -> None:
        """The subscriber: queue what ``event`` shows each local client.

        Most events are relayed messages, handled here (one call less per message): queued
        for every local recipient but the sender, the plain lines for all when none of them
        takes tags, else each render key's lines; echoed to the sender if it asked for
        echo-message; heard by a service among the recipients once the change is done.
        """
        if type(event) is not Relayed:
            self._handlers[type(event)](event)
            return
        source, target = event.source, event.target
        sender = source.session
        served: Iterable[User] = ()  # recipients without a connection here (services)
        if isinstance(target, Channel):
            tagged = target.tagged
            if event.status:
                lowest = min(PREFIX_SYMBOLS.index(c) for c in event.status)
                members = [m for m in target.members if target.rank(m) <= lowest]
                sessions: Iterable[Session] = [m.session for m in members if m.session]
                served = [m for m in members if m.session is None]
            else:
                sessions = target.local
                if len(sessions) != len(target.members):
                    served = [m for m in target.members if m.session is None]
        else:
            other = target.session
            if other is None:
                sessions, served, tagged = (), (target,), 0
            else:
                sessions, tagged = (other,), 1 if other.render_key else 0
            sender = None  # a message to oneself is delivered, then echoed
        need = Cap.MESSAGE_TAGS if event.command == "TAGMSG" else Cap.NONE
        server = self.server
        dirty = server.dirty
        was_idle = not dirty
        made: _Renderings | None = None
        if not tagged and not need:
            # The same bytes for all. The sender is marked dirty too, which costs nothing
            # (it has nothing queued from this).
            dirty.update(sessions)
            plain = event.wire
            size = len(plain)
            for session in sessions:
                if session is not sender:
                    session.outbuf.append(plain)
                    room = session.room = session.room - size
                    if room < 0:
                        session.overflow()
        else:
            made = _Renderings(event)
            add = dirty.add
            for session in sessions:
                if session is not sender and (not need or session.caps & need == need):
                    data = made.get(session.render_key)
                    session.outbuf.append(data)
                    room = session.room = session.room - len(data)
                    if room < 0:
                        session.overflow()
                    add(session)
        for user in served:
            if user.service is not None and user is not source:
                self._to_service(user, event)
        if was_idle and dirty:
            server.host.wake()
        echo = source.session
        if echo is not None and echo.caps & Cap.ECHO_MESSAGE and (not need or echo.caps & need):
            answering = self.answering
            if answering is not None and answering.session is echo:
                answering.add(_message_of(event))
            else:
                key = echo.render_key
                if key and made is None:
                    made = _Renderings(event)
                echo.write(made.get(key) if made is not None else event.wire)

    def _multiline(self, event: MultilineRelayed) -> None:
        """A ``draft/multiline`` message: the batch for the recipients that take it, the
        lines one by one for the others (see :mod:`hubbub.server.multiline`), rendered once
        per distinct set of the capabilities that matter; echoed like any message."""
        source, target = event.source, event.target
        tags = {"time": format_time(event.stamp.time), "msgid": event.stamp.msgid, **event.tags}
        item = MultilineMessage(
            source.prefix, event.command, event.shown, event.lines, event.concat, tags
        )
        recipients: Iterable[User]
        if isinstance(target, Channel):
            recipients = target.members
            if event.status:
                lowest = min(PREFIX_SYMBOLS.index(c) for c in event.status)
                recipients = [m for m in recipients if target.rank(m) <= lowest]
            skip: User | None = source
        else:
            recipients, skip = (target,), None  # (to oneself: delivered, then echoed)
        name = self.server.name
        made: dict[CapBits, bytes] = {}
        server = self.server
        dirty = server.dirty
        was_idle = not dirty
        for user in recipients:
            session = user.session
            if session is None or user is skip:
                continue
            key = session.caps & RENDER_KEY
            data = made.get(key)
            if data is None:
                data = made[key] = item.render(key, name, {})
            session.outbuf.append(data)
            room = session.room = session.room - len(data)
            if room < 0:
                session.overflow()
            dirty.add(session)
        if was_idle and dirty:
            server.wake()
        echo = source.session
        if echo is not None and echo.caps & Cap.ECHO_MESSAGE:
            answering = self.answering
            if answering is not None and answering.session is echo:
                answering.add(item)
            else:
                echo.write(item.render(echo.caps & RENDER_KEY, name, {}))

    def _to_service(self, user: User, event: Relayed) -> None:
        service = user.service
        assert service is not None
        self.server.network.later(lambda: service.on_message(event))


def _message_of(event: Relayed) -> Message:
    """A one-line relayed message as a Message (for a reply that labeled-response wraps)."""
    tags = {
        "time": format_time(event.time),
        "msgid": f"{event.id_prefix}{event.first:x}",
        **event.tags,
    }
    params = (event.shown,) if event.command == "TAGMSG" else (event.shown, event.texts[0])
    return Message(event.command, params, event.source.prefix, tags)


_MARK = "\x01msgid\x01"
"""Stands for a line's msgid in a tag template (no msgid can contain it)."""


class _Renderings:
    """A relayed message (one line or a block) as each render key sees it: the plain
    lines with the tags that key may see (one time for all, each line its msgid), made
    once per key and shared by every recipient with that key."""

    __slots__ = ("_by_key", "_event", "_lines", "_template")

    def __init__(self, event: Relayed) -> None:
        self._by_key: dict[int, bytes] = {0: event.wire}
        self._event = event
        self._template: dict[str, str] | None = None
        self._lines: list[bytes] | None = None

    def get(self, key: int) -> bytes:
        data = self._by_key.get(key)
        if data is None:
            data = self._by_key[key] = self._render(key)
        return data

    def _render(self, key: int) -> bytes:
        event = self._event
        template = self._template
        if template is None:
            template = self._template = {
                "time": format_time(event.time),
                "msgid": _MARK,
                **event.tags,
            }
        tags = serialize_tags(visible_tags(template, key))
        if not tags:
            return event.wire
        if _MARK not in tags:
            start = b"@" + tags.encode() + b" "
            if event.lines == 1:
                return start + event.wire
            return b"".join([start + line + b"\r\n" for line in self._split()])
        before, after = tags.split(_MARK)
        start, end = b"@" + before.encode(), after.encode() + b" "
        if event.lines == 1:
            return start + f"{event.id_prefix}{event.first:x}".encode() + end + event.wire
        msgids = event.msgids
        return b"".join(
            [
                start + msgid.encode() + end + line + b"\r\n"
                for msgid, line in zip(msgids, self._split(), strict=True)
            ]
        )

    def _split(self) -> list[bytes]:
        lines = self._lines
        if lines is None:
            lines = self._lines = self._event.wire.split(b"\r\n")
            lines.pop()  # (what follows the last CR LF)
        return lines
