"""The network layer: the one owner of users, channels, memberships, nick claims and monitors.

Command handlers check and decide; to change anything they call one method here (claim a
nick, join, part, kick, quit, set modes, set the topic, relay a message, log in...). Each
method applies its change whole, then emits one event (:mod:`hubbub.server.events`) to every
subscriber in order. Local delivery to this process's connections is the first subscriber
(:mod:`hubbub.server.delivery`); metrics, plugins and, later, history and the cluster bus are
others. Nothing here awaits or writes to a connection.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from hubbub.protocol.casemap import Casemapping, Folded
from hubbub.protocol.message import MAX_LINE_BYTES, cut_utf8
from hubbub.server.channel import PREFIX_MODES, Channel, ListEntry
from hubbub.server.events import (
    EVENT_TYPES,
    NO_TAGS,
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
from hubbub.server.session import WhowasEntry
from hubbub.server.user import Service, User, wire_host

if TYPE_CHECKING:
    from hubbub.server.session import Session

log = logging.getLogger("hubbub.network")

Subscriber = Callable[[Event], None]

ChannelSeeder = Callable[[Channel, User], "str | None"]
"""Consulted when a channel is about to be created (:meth:`Network.new_channel`): it may make
the new channel what it should be (the stored topic, modes, key, limit, lists, ``history``
and ``created`` of a registered channel) and returns the prefix modes its first member gets
(``"o"``, ``"v"``, ``""``), or None to leave the channel to the next seeder. The channel is
not on the network yet and nobody has been told of it: the seeder sets its attributes
directly, changes nothing else, and must be quick (it runs inside a JOIN)."""


class Claims(Protocol):
    """What decides, beyond this node, who holds a nick and who made a channel (the
    cluster, in Redis): told when a local user gives a nick back and when a channel ceases
    to exist, so that another node may take them."""

    def released(self, user: User, folded: Folded) -> None:
        """``user`` (local) no longer holds ``folded``."""

    def channel_gone(self, channel: Channel) -> None:
        """``channel`` is empty: it no longer exists here."""


class NewChannel(NamedTuple):
    """A channel made for a JOIN that would create it, not yet on the network
    (:meth:`Network.new_channel`), with the prefix modes its creator gets."""

    channel: Channel
    modes: str


_make_relayed: Callable[[type[Relayed], tuple[object, ...]], Relayed] = tuple.__new__


def node_id(name: str) -> str:
    """A short id for a node, made from its server name when the config names none: the
    part of every msgid that keeps them apart across the nodes of a network."""
    return hashlib.sha256(name.encode()).hexdigest()[:4]


def fit_text(source: str, command: str, target: str, text: str) -> str:
    """``text`` cut (on a character boundary) so that the relayed line, with its source,
    fits in the 512-byte limit that every receiving client may enforce."""
    room = MAX_LINE_BYTES - 2 - len(f":{source} {command} {target} :".encode())
    if len(text) * 4 <= room:
        return text
    data = text.encode()
    if len(data) <= room:
        return text
    return data[: max(room, 0)].decode("utf-8", "ignore")


def split_to_fit(
    source: str, command: str, target: str, lines: Sequence[str], concat: Sequence[bool]
) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """The lines of a multiline message with every line too long to relay once the
    source is added split in pieces that fit, each piece after the first marked to be
    concatenated: the combined text stays whole. Pieces end after a space where there is
    one in their second half (the spec's advice: no word is cut, no fallback line starts
    with a space), else between two characters."""
    room = MAX_LINE_BYTES - 2 - len(f":{source} {command} {target} :".encode())
    if all(len(line) * 4 <= room for line in lines):
        return tuple(lines), tuple(concat)
    out_lines: list[str] = []
    out_concat: list[bool] = []
    for line, joined in zip(lines, concat, strict=True):
        data = line.encode()
        while len(data) > room > 0:
            piece = cut_utf8(data, room)
            if not piece:  # (a room smaller than one character: never at sane limits)
                piece = data[: len(data.decode()[0].encode())]
            space = piece.rfind(b" ", len(piece) // 2)
            if 0 < space < len(piece) - 1:
                piece = piece[: space + 1]
            out_lines.append(piece.decode())
            out_concat.append(joined)
            data, joined = data[len(piece) :], True
        out_lines.append(data.decode())
        out_concat.append(joined)
    return tuple(out_lines), tuple(out_concat)


def may_speak(channel: Channel, user: User, mapping: Casemapping) -> bool:
    """Whether ``user`` may send a message to ``channel``: members with voice or more
    always; other members unless the channel is moderated (+m) or they are banned or muted
    (``m:`` extban); outsiders only when the channel takes outside messages (-n), is not
    moderated and neither bans nor mutes them. The one rule for every relay path; a channel
    without bans costs two lookups."""
    member = channel.members.get(user)
    if member:
        return True
    flags = channel.flags
    if "m" in flags or (member is None and "n" in flags):
        return False
    return not (channel.lists["b"] and channel.is_silenced(user, mapping))


class Network:
    """Users, channels and the changes to them, as this node knows them."""

    def __init__(self, clock: Callable[[], float], node: str, started: float) -> None:
        self.clock = clock
        self.users: dict[Folded, User] = {}
        """Every claimed nick, registered or not (see :meth:`find_user`)."""
        self.channels: dict[Folded, Channel] = {}
        self.monitors: dict[Folded, set[Session]] = {}
        """The connections that MONITOR each nick."""
        self.whowas: deque[WhowasEntry] = deque()
        self.whowas_limit = 0
        self.opers: set[User] = set()
        self.by_account: dict[Folded, set[User]] = {}
        """The users logged in to each (folded) account, this node's and others' alike:
        who is logged in to an account is a lookup, not a walk over every user."""
        self.user_count = 0
        """Registered users (kept, not counted: LUSERS runs on every registration)."""
        self.invisible_count = 0
        self.max_users = 0
        self.fold: Callable[[str], Folded] = Folded
        """Case folding for names (set from the config by the server)."""
        self.casemapping = Casemapping.RFC1459
        """The casemapping ``fold`` applies (set with it)."""
        self._entries: list[tuple[Subscriber, frozenset[type] | None, bool]] = []
        """Every subscriber: what it wants to hear (None: everything), and whether it is a
        confidant (see :meth:`subscribe`)."""
        self._subscribers: list[Subscriber] = []
        self._confidants: list[Subscriber] = []
        """The subscribers that also hear messages sent to a service user (local delivery:
        the sender's echo). Such a message carries passwords (``IDENTIFY``); history,
        metrics and plugins do not hear it."""
        self._routes: dict[type, list[Subscriber]] = {kind: [] for kind in EVENT_TYPES}
        self._confidant_routes: list[Subscriber] = []
        self.seeders: list[ChannelSeeder] = []
        """What makes new channels, in order (see :meth:`new_channel`): plugins add theirs
        with ``PluginAPI.add_channel_seeder`` (ChanServ restores registered channels)."""
        self.claims: Claims | None = None
        """Told when a local user gives a nick back, and when a channel goes (cluster mode;
        None alone)."""
        self._later: deque[Callable[[], None]] = deque()
        self._emitting = 0
        self._draining = False
        self._count = 0
        self._msgid_prefix = f"{node}-{int(started * 1000):x}-"

    # -- subscribers -----------------------------------------------------------------------

    def subscribe(
        self,
        subscriber: Subscriber,
        first: bool = False,
        confidant: bool = False,
        events: Iterable[type] | None = None,
    ) -> None:
        """Hear every event from now on (or only those of the types in ``events``), after
        those subscribed before (or before them).

        Messages sent to a service user (``PRIVMSG NickServ :IDENTIFY <password>``) are
        heard only by ``confidant`` subscribers (local delivery); the service itself hears
        them through its ``on_message``. A subscriber that leaves ``Relayed`` out of
        ``events`` costs nothing per message relayed."""
        wanted = None if events is None else frozenset(events)
        entry = (subscriber, wanted, confidant)
        if first:
            self._entries.insert(0, entry)
        else:
            self._entries.append(entry)
        self._route()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop hearing events (nothing happens if ``subscriber`` was not subscribed)."""
        self._entries = [e for e in self._entries if e[0] != subscriber]
        self._route()

    def _route(self) -> None:
        """Who hears each type of event, in order (made once per subscription change, so
        that telling an event is one dictionary lookup)."""
        entries = self._entries
        self._subscribers = [s for s, _, _ in entries]
        self._confidants = [s for s, wanted, c in entries if c]
        self._routes = {
            kind: [s for s, wanted, _ in entries if wanted is None or kind in wanted]
            for kind in EVENT_TYPES
        }
        self._confidant_routes = [
            s for s, wanted, c in entries if c and (wanted is None or Relayed in wanted)
        ]

    def later(self, work: Callable[[], None]) -> None:
        """Run ``work`` once the change being emitted has reached every subscriber (now,
        when no change is being emitted). What a subscriber wants to change, it changes
        here: a service's answer follows the message it answers, for every subscriber."""
        if self._emitting:
            self._later.append(work)
        else:
            self._run(work)

    def _emit(self, event: Event, subscribers: list[Subscriber] | None = None) -> None:
        """Tell ``event`` to every subscriber (or to ``subscribers``), then run the work they
        deferred once the outermost change is told."""
        self._emitting += 1
        try:
            if subscribers is None:
                subscribers = self._routes[type(event)]
            for subscriber in subscribers:
                try:
                    subscriber(event)
                except Exception:  # one subscriber's bug must not stop the others
                    log.exception("subscriber %r failed on %s", subscriber, type(event).__name__)
        finally:
            self._emitting -= 1
        if not self._emitting and self._later and not self._draining:
            self._drain()

    def _drain(self) -> None:
        """Run the deferred work in the order it was asked for. Work that makes a change
        queues what that change defers behind what is already waiting, so that a service
        hears a message before any other service's answer to it."""
        self._draining = True
        try:
            later = self._later
            while later:
                self._run(later.popleft())
        finally:
            self._draining = False

    @staticmethod
    def _run(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("deferred work %r failed", work)

    def tell(self, event: Event) -> None:
        """Emit ``event``, a change another node made and this one applied already (cluster
        mode: a relayed message keeps the msgid and time its node gave it)."""
        self._emit(event)

    # -- ids and stamps --------------------------------------------------------------------

    def msgid(self) -> str:
        """A new message id: this node's id, when it started and a count, so that it is
        unique across restarts and across the nodes of a network (IRCv3 ``msgid``)."""
        self._count += 1
        return f"{self._msgid_prefix}{self._count:x}"

    def stamp(self) -> Stamp:
        """The time and a new msgid for a change."""
        self._count += 1
        return Stamp(self.clock(), f"{self._msgid_prefix}{self._count:x}")

    # -- lookups ---------------------------------------------------------------------------

    def find_user(self, nick: str) -> User | None:
        """The registered user called ``nick``, if any."""
        user = self.users.get(self.fold(nick))
        if user is None:
            return None
        session = user.session
        return user if session is None or session.registered else None

    def find_channel(self, name: str) -> Channel | None:
        """The channel called ``name``, if it exists."""
        return self.channels.get(self.fold(name))

    def peers_of(self, user: User) -> set[User]:
        """Everyone who shares a channel with ``user`` (``user`` excluded)."""
        peers: set[User] = set()
        for channel in user.channels.values():
            peers.update(channel.members)
        peers.discard(user)
        return peers

    # -- nicks -----------------------------------------------------------------------------

    def claim_nick(self, user: User, nick: str, folded: Folded) -> None:
        """A user not registered yet takes ``nick`` (free, or already its own)."""
        if self.users.get(user.folded) is user:
            del self.users[user.folded]
            if user.folded != folded:
                self._released(user, user.folded)
        user.nick, user.folded = nick, folded
        user.update_prefix()
        self.users[folded] = user

    def release_nick(self, user: User) -> None:
        """A user not registered yet gives its nick back (it is refused to it)."""
        if self.users.get(user.folded) is user:
            del self.users[user.folded]
            self._released(user, user.folded)
        user.nick, user.folded = "*", Folded("*")
        user.update_prefix()

    def introduce(self, user: User, username: str, realname: str) -> None:
        """A user not registered yet gives its user name and real name (USER); nobody is
        told until it registers."""
        user.username, user.realname = username, realname
        user.update_prefix()

    def register(self, user: User) -> None:
        """``user`` (with a nick claimed, a user name and a host) is now on the network."""
        user.update_prefix()
        user.named = self.clock()
        self.users[user.folded] = user
        if user.account is not None:
            self.by_account.setdefault(self.fold(user.account), set()).add(user)
        if user.service is None:  # (services are not counted in LUSERS)
            self.user_count += 1
            self.max_users = max(self.max_users, self.user_count)
            if "i" in user.modes:
                self.invisible_count += 1
        self._emit(Registered(user))

    def change_nick(self, user: User, nick: str, folded: Folded) -> None:
        """A registered user takes ``nick`` (free, or its own in another case)."""
        old_nick, old_prefix, old_folded = user.nick, user.prefix, user.folded
        self.record_whowas(user)
        if old_folded != folded:
            del self.users[old_folded]
            self.users[folded] = user
            self._released(user, old_folded)
        user.nick, user.folded = nick, folded
        user.named = self.clock()
        user.update_prefix()
        self._emit(NickChanged(user, old_nick, old_prefix, self.stamp()))

    def record_whowas(self, user: User) -> None:
        """Remember ``user``'s nick as it is now for WHOWAS (it is quitting or changing
        nick), keeping at most ``whowas_limit`` entries: the oldest go first."""
        self.whowas.appendleft(
            WhowasEntry(user.nick, user.username, user.host, user.realname, int(self.clock()))
        )
        while len(self.whowas) > self.whowas_limit:
            self.whowas.pop()

    # -- users -----------------------------------------------------------------------------

    def add_service(
        self,
        nick: str,
        service: Service,
        host: str,
        username: str = "service",
        realname: str = "Network service",
    ) -> User:
        """Put a service user on the network (a user with no connection whose ``service``
        hears the messages sent to it). Raises ValueError when the nick is taken."""
        folded = self.fold(nick)
        if folded in self.users:
            raise ValueError(f"the nick {nick!r} is taken")
        user = User(host, self.clock(), service=service)
        user.username, user.realname = username, realname
        user.modes = "B"
        user.nick, user.folded = nick, folded
        self.register(user)
        return user

    def quit(self, user: User, reason: str) -> None:
        """``user`` leaves the network: its channels, its nick and its monitors go."""
        if self.users.get(user.folded) is not user:
            return
        peers = frozenset(self.peers_of(user))
        channels = tuple(user.channels.values())
        stamp = self.stamp()
        if user.service is None:
            self.user_count -= 1
            if "i" in user.modes:
                self.invisible_count -= 1
        self.record_whowas(user)
        for channel in channels:
            self._remove_member(channel, user)
        user.channels = {}
        for folded in user.invited:
            invited_to = self.channels.get(folded)
            if invited_to is not None:
                invited_to.invitees.discard(user)
        del self.users[user.folded]
        self._released(user, user.folded)
        self.opers.discard(user)
        self._unindex_account(user)
        self._emit(Quit(user, reason, channels, peers, stamp))

    def forget(self, user: User) -> None:
        """A connection that never registered closes: its nick claim goes."""
        self._unindex_account(user)
        if self.users.get(user.folded) is user:
            del self.users[user.folded]
            self._released(user, user.folded)

    def logged_in(self, account: str) -> list[User]:
        """The users logged in to ``account`` (any case), registered or not."""
        return list(self.by_account.get(self.fold(account), ()))

    def _unindex_account(self, user: User) -> None:
        if user.account is None:
            return
        key = self.fold(user.account)
        users = self.by_account.get(key)
        if users is not None:
            users.discard(user)
            if not users:
                del self.by_account[key]

    def _released(self, user: User, folded: Folded) -> None:
        """Tell the cluster that a local user gave ``folded`` back."""
        claims = self.claims
        if claims is not None and user.session is not None:
            claims.released(user, folded)

    def set_user_modes(self, user: User, added: str, removed: str) -> None:
        """Add and remove user modes (letters not already set or unset)."""
        modes = user.modes
        for ch in removed:
            modes = modes.replace(ch, "")
        user.modes = modes + added
        counted = user.service is None and (user.session is None or user.session.registered)
        if "i" in added and counted:
            self.invisible_count += 1
        if "i" in removed and counted:
            self.invisible_count -= 1
        if "o" in added:
            self.opers.add(user)
        if "o" in removed:
            self.opers.discard(user)
        self._emit(UserModesChanged(user, added, removed))

    def set_away(self, user: User, away: str | None) -> None:
        """Mark ``user`` away with ``away``, or back (None)."""
        user.away = away
        self._emit(AwayChanged(user, away, self.stamp()))

    def set_realname(self, user: User, realname: str) -> None:
        """Change ``user``'s real name."""
        user.realname = realname
        self._emit(RealnameChanged(user, realname, self.stamp()))

    def readdress(self, user: User, host: str) -> None:
        """A user not registered yet gets the host of the address its gateway named
        (WEBIRC): nobody has seen it yet, so nobody is told."""
        user.host = user.cloak = wire_host(host)
        user.update_prefix()

    def change_host(self, user: User, username: str, host: str) -> None:
        """Give ``user`` a new user name and host (IRCv3 chghost)."""
        old_prefix = user.prefix
        user.username, user.host = username, host
        user.update_prefix()
        self._emit(HostChanged(user, old_prefix, self.stamp()))

    def set_account(self, user: User, account: str | None) -> None:
        """``user`` logged in to ``account``, or out (None)."""
        if user.account == account:
            return
        self._unindex_account(user)
        user.update_account(account)
        if account is not None:
            self.by_account.setdefault(self.fold(account), set()).add(user)
        session = user.session
        if session is None or session.registered:  # (before: the welcome says it)
            self._emit(AccountChanged(user, account, self.stamp()))

    # -- channels --------------------------------------------------------------------------

    def new_channel(self, name: str, folded: Folded, creator: User) -> NewChannel:
        """The channel ``name`` as a JOIN by ``creator`` would create it, not yet on the
        network: what the first seeder that takes it makes of it (:data:`ChannelSeeder`),
        or by default a ``+nt`` channel with ``creator`` as its operator. JOIN checks the
        creator against it (a registered channel's stored key, ``+i`` and bans apply to
        whoever would bring it back), then hands it to :meth:`join` or drops it."""
        channel = Channel(name, folded, self.clock())
        for seeder in self.seeders:
            try:
                modes = seeder(channel, creator)
            except Exception:  # a plugin's bug must not stop the JOIN
                log.exception("channel seeder %r failed on %s", seeder, name)
                continue
            if modes is not None:
                return NewChannel(channel, "".join(m for m in PREFIX_MODES if m in modes))
        return NewChannel(channel, "o")

    def join(
        self,
        user: User,
        name: str,
        folded: Folded | None = None,
        new: NewChannel | None = None,
        modes: str | None = None,
    ) -> Channel:
        """``user`` joins the channel ``name``. When it does not exist it is made: ``new``
        (what :meth:`new_channel` made for ``user``), or made now the same way. The caller
        checked that ``user`` may join. ``modes``: the prefix modes ``user`` gets, as
        another node decided them (cluster mode), instead of what creating gives."""
        folded = folded if folded is not None else self.fold(name)
        channel = self.channels.get(folded)
        created = channel is None
        given = ""
        if channel is None:
            if new is None or new.channel.folded != folded:
                new = self.new_channel(name, folded, user)
            channel = self.channels[folded] = new.channel
            given = new.modes
        channel.add(user, given if modes is None else modes)
        user.joined(channel)
        if folded in user.invited:
            user.invited = user.invited - {folded}
            channel.invitees.discard(user)
        self._emit(Joined(user, channel, created, self.stamp()))
        return channel

    def part(self, user: User, channel: Channel, reason: str) -> None:
        """``user`` leaves ``channel``."""
        stamp = self.stamp()
        self._remove_member(channel, user)
        self._emit(Parted(user, channel, reason, stamp))

    def kick(self, by: User | None, channel: Channel, target: User, reason: str) -> None:
        """``by`` (None: the server) removes ``target`` from ``channel``."""
        stamp = self.stamp()
        self._remove_member(channel, target)
        self._emit(Kicked(by, channel, target, reason, stamp))

    def _remove_member(self, channel: Channel, user: User) -> None:
        """Take ``user`` out of ``channel``; an empty channel ceases to exist."""
        channel.remove(user)
        user.channels.pop(channel.folded, None)
        if not channel.members:
            del self.channels[channel.folded]
            for invitee in channel.invitees:  # an invitation is to this channel, not its name
                invitee.invited = invitee.invited - {channel.folded}
            channel.invitees.clear()
            if self.claims is not None:
                self.claims.channel_gone(channel)

    def set_topic(self, by: User | None, channel: Channel, topic: str, setter: str) -> None:
        """Set ``channel``'s topic (``setter`` is what RPL_TOPICWHOTIME shows)."""
        channel.topic = topic
        channel.topic_setter = setter
        channel.topic_time = int(self.clock())
        self._emit(TopicChanged(by, channel, topic, setter, self.stamp()))

    def change_channel_modes(
        self, by: User | None, channel: Channel, changes: Iterable[ModeChange], setter: str
    ) -> None:
        """Apply checked channel mode changes (flags, key, limit, lists, membership modes;
        a membership change's parameter is the member's nick) and announce them."""
        applied: list[ModeChange] = []
        now = int(self.clock())
        for change in changes:
            sign, mode, param = change
            adding = sign == "+"
            if mode in PREFIX_MODES:
                member = self.users.get(self.fold(param or ""))
                if member is None or member not in channel.members:
                    continue  # (not announced: it changed nothing)
                modes = channel.members[member]
                if adding and mode not in modes:
                    channel.members[member] = "".join(
                        m for m in PREFIX_MODES if m in modes or m == mode
                    )
                elif not adding:
                    channel.members[member] = modes.replace(mode, "")
            elif mode in channel.lists:
                entries = channel.lists[mode]
                if adding:
                    channel.set_list(mode, (*entries, ListEntry(param or "", setter, now)))
                else:
                    folded = self.fold(param or "")
                    channel.set_list(mode, (e for e in entries if self.fold(e.mask) != folded))
            elif mode == "k":
                channel.key = param if adding else None
            elif mode == "l":
                channel.limit = int(param or 0) if adding else None
            elif adding:
                channel.flags.add(mode)
            else:
                channel.flags.discard(mode)
            applied.append(change)
        if applied:
            stamp = self.stamp()
            channel.note_closed(stamp.time)
            self._emit(ChannelModesChanged(by, channel, tuple(applied), stamp))

    def invite(self, by: User, target: User, channel: Channel) -> None:
        """``by`` invites ``target`` to ``channel`` (which ``target`` may now join)."""
        target.invited = target.invited | {channel.folded}
        channel.invitees.add(target)
        self._emit(Invited(by, target, channel, self.stamp()))

    def redact(self, by: User, target: Channel | User, msgid: str, reason: str) -> None:
        """``by`` removes the message ``msgid`` sent to ``target``; the caller checked that
        it may (its sender, a channel operator, an operator)."""
        self._emit(Redacted(by, target, msgid, reason, self.stamp()))

    # -- monitors --------------------------------------------------------------------------

    def monitor(self, session: Session, names: Iterable[Folded]) -> None:
        """``session`` watches the nicks ``names`` (MONITOR +): its set is made again once
        for all of them (a MONITOR + of many nicks had copied it once per nick)."""
        names = list(names)
        session.monitoring = session.monitoring.union(names)
        monitors = self.monitors
        for folded in names:
            monitors.setdefault(folded, set()).add(session)

    def unmonitor(self, session: Session, names: Iterable[Folded]) -> None:
        """``session`` stops watching ``names`` (MONITOR -, C, or when it closes)."""
        names = list(names)
        session.monitoring = session.monitoring.difference(names)
        for folded in names:
            watchers = self.monitors.get(folded)
            if watchers is not None:
                watchers.discard(session)
                if not watchers:
                    del self.monitors[folded]

    # -- messages --------------------------------------------------------------------------

    def relay(
        self,
        source: User,
        command: str,
        target: Channel | User,
        text: str | None,
        *,
        status: str = "",
        client_tags: Mapping[str, str] | None = None,
    ) -> Relayed:
        """Relay a PRIVMSG, NOTICE (``text``) or TAGMSG (``text`` None) from ``source`` to a
        channel (to its members of rank ``status`` or higher when given) or a user. The
        caller checked that it may (:func:`may_speak`); the text is cut to fit a line."""
        shown = status + (target.name if isinstance(target, Channel) else target.nick)
        prefix = source.prefix
        if text is None:
            line = f":{prefix} {command} {shown}\r\n"
        else:
            line = f":{prefix} {command} {shown} :{fit_text(prefix, command, shown, text)}\r\n"
        tags = self.sender_tags(source)
        if client_tags:
            tags = {**tags, **client_tags}
        return self.relay_wire(source, command, target, shown, status, line.encode(), 1, tags)

    def relay_wire(
        self,
        source: User,
        command: str,
        target: Channel | User,
        shown: str,
        status: str,
        wire: bytes,
        lines: int,
        tags: Mapping[str, str] | None = None,
    ) -> Relayed:
        """:meth:`relay` for ``lines`` lines already made as clients without tags receive
        them (the byte-level relays make a whole block at once)."""
        first = self._count + 1
        self._count += lines
        if tags is None:
            tags = NO_TAGS if source.account is None and "B" not in source.modes else None
        # (tuple.__new__ itself: a NamedTuple's own __new__ is one more Python call, and
        # this runs for every message)
        event: Relayed = _make_relayed(
            Relayed,
            (
                source,
                command,
                target,
                shown,
                status,
                self._msgid_prefix,
                first,
                lines,
                self.clock(),
                self.sender_tags(source) if tags is None else tags,
                wire,
            ),
        )
        if type(target) is User and target.service is not None:
            # What is said to a service is between them (IDENTIFY <password>).
            self._emit(event, self._confidant_routes)
        else:
            self._emit(event)
        return event

    def relay_multiline(
        self,
        source: User,
        command: str,
        target: Channel | User,
        lines: Sequence[str],
        concat: Sequence[bool],
        *,
        status: str = "",
        client_tags: Mapping[str, str] | None = None,
    ) -> MultilineRelayed:
        """Relay a ``draft/multiline`` PRIVMSG or NOTICE (its ``lines``, ``concat`` marking
        those that continue the line before) from ``source`` to a channel (its members of
        rank ``status`` or higher when given) or a user, as one message with one msgid.
        The caller checked the batch and that ``source`` may send it (:func:`may_speak`);
        lines too long to relay are split (:func:`split_to_fit`). A service hears the
        lines one by one, as ordinary messages: the caller sends them so, not through
        here."""
        shown = status + (target.name if isinstance(target, Channel) else target.nick)
        fitted, joined = split_to_fit(source.prefix, command, shown, lines, concat)
        tags = self.sender_tags(source)
        if client_tags:
            tags = {**tags, **client_tags}
        event = MultilineRelayed(
            source, command, target, shown, status, fitted, joined, self.stamp(), tags
        )
        if type(target) is User and target.service is not None:
            confidants = self._confidants  # (as relay_wire: between them)
            self._emit(event, [s for s in self._routes[MultilineRelayed] if s in confidants])
        else:
            self._emit(event)
        return event

    @staticmethod
    def sender_tags(user: User) -> Mapping[str, str]:
        """The tags a message carries for its sender: ``account`` and ``bot``."""
        account = user.account
        bot = "B" in user.modes
        if account is None and not bot:
            return NO_TAGS
        tags = {"account": account} if account is not None else {}
        if bot:
            tags["bot"] = ""
        return tags

    def stats(self) -> tuple[int, int, int]:
        """(registered users, invisible users, operators)."""
        return self.user_count, self.invisible_count, len(self.opers)
