"""Message history: what the network says is kept, and who may read it back.

:class:`History` is a subscriber of the network layer (:mod:`hubbub.server.network`): each
relayed message, and for ``draft/event-playback`` each JOIN, PART, KICK, QUIT, NICK, MODE
and TOPIC, becomes rows of a :class:`~hubbub.storage.base.StoredMessage` handed to the
*recorder*, the group-commit writer the application runs on its own thread
(:class:`~hubbub.storage.writer.HistoryWriter`). Nothing here blocks: the subscriber only
makes rows, and the queries run through ``server.offload``.

Where a line is kept (its *buffer*, see :mod:`hubbub.storage.base`): a channel's lines under
its folded name; a private message twice, once for each party, under the party's key
(``~a:<account>`` when logged in, so it follows them to their other devices; a key of the
connection otherwise, so that nobody who takes the nick later reads it) with the other's nick.

Durability: a message is acknowledged to its sender by its echo (``echo-message``) or its
labeled reply. The sender's connection is *held* (:meth:`Server.hold`) until the writer
reports the batch with that message committed, so whatever a client sees acknowledged is
on disk; the other recipients get it at once.

Who may read (:meth:`History.channel_access`): a channel's members; anyone, when the
channel's history is public and it is neither +s nor +p (nor +i or +k, below) and they are
not banned; in a +i or +k channel, a member reads only what was said since it joined
(``[history] since_join_when_restricted``); and nobody what was said before the channel was
last made (:attr:`Channel.born`: a registered channel's registration). A private
conversation: its two parties only, an account's from its registration on
(:meth:`History.private_floor`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar, overload

from hubbub.protocol.caps import Cap
from hubbub.protocol.message import Message, parse
from hubbub.protocol.tags import parse_tags, serialize_tags
from hubbub.server.channel import Channel
from hubbub.server.delivery import format_time, mode_params
from hubbub.server.events import (
    AccountChanged,
    ChannelModesChanged,
    Event,
    Joined,
    Kicked,
    MultilineRelayed,
    NickChanged,
    Parted,
    Quit,
    Redacted,
    Registered,
    Relayed,
    TopicChanged,
)
from hubbub.server.isupport import build_isupport
from hubbub.server.multiline import ROW_TAG, MultilineMessage, lines_of_row, row_marker
from hubbub.server.response import Batch
from hubbub.server.user import User
from hubbub.storage.base import Anchor, HistoryStore, StorageError, StoredMessage

if TYPE_CHECKING:
    from hubbub.config import HistorySection
    from hubbub.server.core import Server
    from hubbub.server.session import Session

__all__ = [
    "MESSAGE_COMMANDS",
    "OFFERED_CAPS",
    "History",
    "Recorder",
    "attach",
    "fit_lines",
    "ms",
    "replay_message",
    "wire_lines",
]

log = logging.getLogger("hubbub.history")

MESSAGE_COMMANDS = frozenset(("PRIVMSG", "NOTICE"))
"""What a client without ``draft/event-playback`` gets from history."""

_ACKED = Cap.ECHO_MESSAGE | Cap.LABELED_RESPONSE
OFFERED_CAPS = (
    Cap.CHATHISTORY,
    Cap.EVENT_PLAYBACK,
    Cap.READ_MARKER,
    Cap.MESSAGE_REDACTION,
    Cap.SEARCH,
)
"""The capabilities that work once a server keeps history."""


def ms(when: float) -> float:
    """``when`` cut to the millisecond, as ``server-time`` shows it and history keeps it."""
    return math.floor(when * 1000) / 1000


class Recorder(Protocol):
    """What writes history: a queue in front of one writer thread (group commit)."""

    def submit(self, rows: Sequence[StoredMessage]) -> int:
        """Queue ``rows``; the sequence number of the last one (reported back committed
        through :meth:`History.committed`). The rows may be made when the writer reads
        them (see :class:`_Lines`)."""

    @property
    def pending(self) -> int:
        """Rows queued and not committed yet."""


def replay_message(row: StoredMessage) -> Message | MultilineMessage:
    """A stored line as a message to send again: its text, time, msgid and tags; a
    multiline message (its row marked with :data:`~hubbub.server.multiline.ROW_TAG`) as
    its lines, rebuilt from its text."""
    msg = parse(row.line)
    tags = parse_tags(row.tags) if row.tags else {}
    tags["time"] = format_time(row.time)
    tags["msgid"] = row.msgid
    marker = tags.pop(ROW_TAG, None)
    if marker is not None and msg.command in MESSAGE_COMMANDS and msg.params:
        lines, concat = lines_of_row(row.text, marker)
        return MultilineMessage(msg.source or "", msg.command, msg.params[0], lines, concat, tags)
    return Message(msg.command, msg.params, msg.source, tags)


def wire_lines(row: StoredMessage) -> int:
    """How many lines replaying ``row`` takes, at most: one, or a multiline message's."""
    if ROW_TAG not in row.tags:
        return 1
    # (its lines, and the concatenated ones its marker's offsets add: commas bound them)
    return row.text.count("\n") + 2 + row.tags.count(",")


def fit_lines(
    rows: list[StoredMessage], budget: int, newest: bool, *, at_least_one: bool = True
) -> list[StoredMessage]:
    """The rows of ``rows`` (in time order) whose replay takes at most ``budget`` lines,
    the newest ones when ``newest`` and the oldest otherwise; at least one unless told
    not to. The limit of a request counts messages, and a multiline message is up to a
    hundred lines: this bounds what one request costs to make and to send."""
    used = count = 0
    for row in reversed(rows) if newest else rows:
        used += wire_lines(row)
        if used > budget and (count or not at_least_one):
            break
        count += 1
    if count == len(rows):
        return rows
    return rows[len(rows) - count :] if newest else rows[:count]


def _is_ctcp_line(line: bytes) -> bool:
    """Whether a relayed ``:prefix COMMAND target :text`` line (without its CR LF) holds a
    CTCP other than ``ACTION`` (a request such as ``VERSION``, or a reply)."""
    start = line.find(b" :") + 2
    if line[start : start + 1] != b"\x01":
        return False
    return not (
        line[start + 1 : start + 7] == b"ACTION" and line[start + 7 : start + 8] in b" \x01"
    )


def without_ctcp(event: Relayed) -> list[Relayed]:
    """The runs of ``event``'s lines that are not CTCP requests or replies (``ACTION``
    excepted), each as an event of its own with its lines' msgids: history keeps no CTCP, or
    every client that reads it (join replay, CHATHISTORY) would answer a ``VERSION`` or
    ``PING`` asked long ago, again."""
    wire = event.wire
    if event.command == "TAGMSG" or b"\x01" not in wire:
        return [event]
    lines = wire.split(b"\r\n")[:-1]  # (each line ends with CR LF)
    kept = [not _is_ctcp_line(line) for line in lines]
    if all(kept):
        return [event]
    runs: list[Relayed] = []
    first = 0
    for index, keep in enumerate([*kept, False]):  # (the sentinel ends the last run)
        if not keep:
            if index > first:
                run = b"\r\n".join(lines[first:index]) + b"\r\n"
                runs.append(
                    event._replace(first=event.first + first, lines=index - first, wire=run)
                )
            first = index + 1
    return runs


class _Lines(Sequence[StoredMessage]):
    """The rows of one relayed message or block of lines, one per buffer it is kept in
    (a block is one row: :attr:`~hubbub.storage.base.StoredMessage.size`), made when they
    are read: by the writer's thread, off the event loop, rather than by the relay. Its
    length is the number of *lines* (what the writer's queue counts), not of rows."""

    __slots__ = ("account", "event", "keys", "sender", "tag_text")

    def __init__(
        self,
        event: Relayed,
        keys: list[tuple[str, str]],
        tag_text: str,
        account: str,
        sender: str,
    ) -> None:
        self.event = event
        self.keys = keys
        self.tag_text = tag_text
        self.account = account
        self.sender = sender

    def __len__(self) -> int:
        return self.event.lines * len(self.keys)

    @overload
    def __getitem__(self, index: int) -> StoredMessage: ...

    @overload
    def __getitem__(self, index: slice) -> list[StoredMessage]: ...

    def __getitem__(self, index: int | slice) -> StoredMessage | list[StoredMessage]:
        return list(self)[index]

    def __iter__(self) -> Iterator[StoredMessage]:
        event = self.event
        command, size = event.command, event.lines
        # One decode for the whole block; every line of it has the same head
        # (":nick!user@host PRIVMSG #chan :"), so the texts are what is between heads.
        wire = event.wire.decode("utf-8", "replace")
        end = wire.find("\r\n")
        line = wire[:end] if end >= 0 else wire
        if command == "TAGMSG":
            text = ""
        else:
            head = line.split(" :", 1)[0] + " :"
            text = wire[len(head) : -2]
            if size > 1:
                text = text.replace("\r\n" + head, "\n")
        msgid = f"{event.id_prefix}{event.first:x}"
        when, tag_text, account, sender = ms(event.time), self.tag_text, self.account, self.sender
        for key, peer in self.keys:
            yield StoredMessage(
                key, peer, msgid, when, command, sender, account, line, tag_text, text, size
            )


class History:
    """The history of one server: the subscriber that keeps lines, and the access rules."""

    def __init__(self, server: Server, store: HistoryStore, recorder: Recorder) -> None:
        self.server = server
        self.store = store
        """The database (read through ``server.offload``)."""
        self.recorder = recorder
        self.config: HistorySection = server.config.history
        self.committed_seq = 0
        """The writer has committed every row up to this sequence number."""
        self._keys: dict[User, str] = {}
        """Keys of the connections without an account that have private history."""
        self._since: dict[tuple[Channel, User], float] = {}
        """When each member joined each channel (for +i/+k channels' history)."""
        self.markers: dict[str, dict[str, float]] = {}
        """Read markers by folded account, then target (loaded when the account logs in)."""
        self._markers_of: dict[str, float] = {}
        """The registration time of the account whose markers :attr:`markers` holds under
        each name (a name deleted and registered again is another account)."""
        self.session_markers: dict[User, dict[str, float]] = {}
        """Read markers of users without an account (for their connection only)."""
        self._marks_to_save: dict[tuple[str, str], tuple[float, float, str]] = {}
        """MARKREADs of accounts not written yet: (owner, target) to (time, the account's
        registration time, the target as the client named it). One marker's later moves
        replace its earlier ones here, and every one waiting is written in one transaction
        (:meth:`save_marker`)."""
        self._saving_marks = False
        """A write of markers is under way (at most one at a time)."""
        self._marks_waiting: list[Callable[[], None]] = []
        """Told once the markers queued in :attr:`_marks_to_save` are written (or failed)."""
        self.searching: dict[str, int] = {}
        """Searches waiting or running, by the address block that asked (see
        :data:`~hubbub.server.commands.history.SEARCHES_PER_ADDRESS`)."""
        self._last_purge = server.clock()
        self._after_commit: list[tuple[int, Callable[[], None]]] = []
        """Work that waits for the writer to commit up to a sequence number."""
        self.shared = bool(getattr(store, "shared", False))
        """The store is the whole cluster's (see :class:`~hubbub.storage.base.HistoryStore`):
        only what this node's own users do is kept here."""
        self.paused = False
        """Input is paused until the writer catches up (see :meth:`_submit`)."""
        self._losing = False
        """The writer's last report was of lines lost (see :meth:`committed`)."""
        self._handlers: dict[type, Callable[[Event], None]] = {
            Relayed: self._relayed,  # type: ignore[dict-item]
            MultilineRelayed: self._multiline,  # type: ignore[dict-item]
            Joined: self._joined,  # type: ignore[dict-item]
            Parted: self._parted,  # type: ignore[dict-item]
            Kicked: self._kicked,  # type: ignore[dict-item]
            Quit: self._quit,  # type: ignore[dict-item]
            NickChanged: self._nick,  # type: ignore[dict-item]
            ChannelModesChanged: self._modes,  # type: ignore[dict-item]
            TopicChanged: self._topic,  # type: ignore[dict-item]
            AccountChanged: self._account,  # type: ignore[dict-item]
            Registered: self._registered,  # type: ignore[dict-item]
            Redacted: self._redacted,  # type: ignore[dict-item]
        }

    @property
    def handles(self) -> tuple[type, ...]:
        """The types of event history hears."""
        return tuple(self._handlers)

    def apply_config(self, config: HistorySection) -> None:
        """Take a (re)loaded ``[history]``."""
        self.config = config

    # -- keys and access ---------------------------------------------------------------------

    def key_of(self, user: User) -> str:
        """The key of ``user``'s private history: its account's, or its connection's."""
        account = user.account
        if account is not None:
            return "~a:" + self.server.fold(account)
        key = self._keys.get(user)
        if key is None:
            key = self._keys[user] = "~s:" + self.server.network.msgid()
        return key

    def is_public(self, channel: Channel) -> bool:
        """True if non-members may read ``channel``'s history: its setting says so and it is
        neither +s nor +p, nor +i or +k while members of such a channel read only what was
        said since they joined (an outsider would read more than a member)."""
        if channel.flags & {"s", "p"} or channel.closed_since[1] is not None:
            return False  # (what was said while it was, too: it stays so)
        if self._restricted(channel):
            return False
        setting = channel.history
        return setting == "public" or (setting == "default" and self.config.public)

    def channel_access(self, user: User, channel: Channel) -> float | None:
        """The oldest time ``user`` may read in ``channel``'s history (0: all of it), or
        None when it may read none."""
        # Never from before the channel came to be: whoever held its name before (it
        # emptied, or the server restarted) may have been other people entirely.
        floor = self._floor(channel)
        if self.config.since_made:
            floor = max(floor, ms(channel.born))
        if user in channel.members:
            since = self._since.get((channel, user))
            if since is not None and self._restricted(channel):
                return max(since, floor)
            return floor
        if self.is_public(channel) and not channel.is_banned(user, self.server.casemapping):
            return floor
        return None

    def _restricted(self, channel: Channel) -> bool:
        """True if members of ``channel`` read only what was said since they joined: it is
        +i or +k, or was at some time since it was made."""
        return self.config.since_join_when_restricted and (
            "i" in channel.flags or channel.key is not None or channel.closed_since[0] is not None
        )

    def _floor(self, channel: Channel) -> float:
        """The oldest time retention keeps in ``channel`` (0: no age limit)."""
        days = self.config.for_channel(channel.name, self.server.fold).max_age_days or 0.0
        return self.server.clock() - days * 86400.0 if days else 0.0

    def private_floor(self, user: User) -> float:
        """The oldest time ``user`` may read in its private conversations: what retention
        keeps, and nothing from before its account was registered."""
        days = self.config.max_age_days
        floor = self.server.clock() - days * 86400.0 if days else 0.0
        return max(floor, self.account_since(user))

    def account_since(self, user: User) -> float:
        """When ``user``'s account was registered (0 without one). What is kept under the
        account's name from before then was a deleted account's of the same name: neither
        readable nor redactable by the new owner."""
        account, accounts = user.account, self.server.accounts
        if account is None or accounts is None:
            return 0.0
        record = accounts.find(self.server, account)
        return 0.0 if record is None else ms(record.created)

    def keeps(self, channel: Channel) -> bool:
        """True if what is said in ``channel`` is kept."""
        return self.config.enabled and channel.history != "off"

    # -- the subscriber ----------------------------------------------------------------------

    def hear(self, event: Event) -> None:
        """Keep what ``event`` says, if it is kept."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _submit(self, rows: Sequence[StoredMessage]) -> int:
        seq = self.recorder.submit(rows)
        if not self.paused and self.recorder.pending > self.config.queue_limit:
            # The disk is behind: stop reading from clients until it catches up.
            log.warning(
                "history: %d lines waiting for the disk; input paused", self.recorder.pending
            )
            self.paused = True
            self.server.host.pause_input(True)
        return seq

    def _remote(self, user: User | None) -> bool:
        """True when ``user`` is another node's and the store is shared: that node keeps
        what it does."""
        if not self.shared or user is None:
            return False
        cluster = self.server.cluster
        return cluster is not None and user in cluster.owner

    def _buffers(self, source: User, target: Channel | User) -> list[tuple[str, str]] | None:
        """The buffers a message from ``source`` to ``target`` is kept in, as (key, peer);
        None when it is not kept. With a shared store, a party of another node is left to
        its node (a channel's line to its sender's)."""
        if type(target) is Channel:
            if target.history == "off" or self._remote(source):
                return None
            return [(target.folded, "")]
        assert isinstance(target, User)
        if not self.config.private or target.service is not None:
            return None
        keys: list[tuple[str, str]] = []
        if not self._remote(source):
            keys.append((self.key_of(source), target.folded))
        if target is not source and not self._remote(target):
            keys.append((self.key_of(target), source.folded))
        return keys or None

    def _relayed(self, event: Relayed) -> None:
        if event.status or not self.config.enabled:
            return  # (a message to a channel's operators is not the channel's history)
        source, command = event.source, event.command
        keys = self._buffers(source, event.target)
        if keys is None:
            return
        tags = event.tags
        if command == "TAGMSG":
            tags = {k: v for k, v in tags.items() if k != "+typing"}
            if not any(k[0] == "+" for k in tags):
                return  # (typing notifications are not history)
        tag_text = serialize_tags(dict(tags)) if tags else ""
        account = tags.get("account", "")
        if b"\x01" not in event.wire:  # (most messages: no CTCP to leave out)
            seq = self._submit(_Lines(event, keys, tag_text, account, source.folded))
        else:
            seq = 0
            for run in without_ctcp(event):
                seq = self._submit(_Lines(run, keys, tag_text, account, source.folded))
        session = source.session
        if session is not None and session.caps & _ACKED and seq > self.committed_seq:
            self.server.hold(session, seq)

    def _multiline(self, event: MultilineRelayed) -> None:
        """A multiline message is one row per buffer (see :mod:`hubbub.server.multiline`):
        its combined text, its first line, and the mark that rebuilds its lines."""
        if event.status or not self.config.enabled:
            return
        source, command = event.source, event.command
        keys = self._buffers(source, event.target)
        if keys is None:
            return
        text = event.text
        tags = {**event.tags, ROW_TAG: row_marker(text, event.lines, event.concat)}
        tag_text = serialize_tags(tags)
        line = f":{source.prefix} {command} {event.shown} :{event.lines[0]}"
        when, msgid, account = ms(event.stamp.time), event.stamp.msgid, tags.get("account", "")
        rows = [
            StoredMessage(
                key, peer, msgid, when, command, source.folded, account, line, tag_text, text
            )
            for key, peer in keys
        ]
        seq = self._submit(rows)
        session = source.session
        if session is not None and session.caps & _ACKED and seq > self.committed_seq:
            self.server.hold(session, seq)

    def _event_rows(
        self,
        channels: Sequence[Channel],
        sender: str,
        msg: Message,
        when: float,
        msgid: str,
        by: User | None,
    ) -> None:
        """Keep ``msg`` (a JOIN, a TOPIC...), done by ``by``, in ``channels`` for
        event-playback."""
        if not (self.config.events and self.config.enabled) or self._remote(by):
            return
        line = msg.serialize_without_tags()
        rows = [
            StoredMessage(c.folded, "", msgid, ms(when), msg.command, sender, "", line)
            for c in channels
            if c.history != "off"
        ]
        if rows:
            self._submit(rows)

    def _joined(self, event: Joined) -> None:
        user, channel, stamp = event.user, event.channel, event.stamp
        self._since[(channel, user)] = ms(stamp.time)
        msg = Message("JOIN", (channel.name,), user.prefix)
        self._event_rows((channel,), user.folded, msg, stamp.time, stamp.msgid, user)
        session = user.session
        if session is not None and not session.caps & Cap.CHATHISTORY:
            self._replay(session, channel, stamp.time)

    def _replay(self, session: Session, channel: Channel, joined: float) -> None:
        """Send a client that cannot ask for history the last lines of ``channel`` it may
        read, said before it joined (``join_replay``)."""
        count = self.config.for_channel(channel.name, self.server.fold).join_replay or 0
        if not count or not self.keeps(channel):
            return
        floor = self.channel_access(session.user, channel)
        if floor is None:
            return
        store, key, name = self.store, channel.folded, channel.name
        before = Anchor(time=ms(joined) + 0.001)

        def work() -> list[StoredMessage] | None:
            return store.query(
                key,
                "",
                before=before,
                limit=count,
                newest=True,
                not_before=floor,
                messages_only=True,
            )

        def done(rows: list[StoredMessage] | None | Exception) -> None:
            if session.closed or not rows or isinstance(rows, Exception):
                return
            rows = fit_lines(rows, self.config.request_limit, True)
            batch = Batch("chathistory", (name,), [replay_message(r) for r in rows])
            session.write(batch.render(session.caps, self.server.name, {}))

        self.server.offload(guarded(work), done)

    def _redacted(self, event: Redacted) -> None:
        """A message redacted on another node of a cluster: this node's own store (not
        a shared one, where that node removed it) forgets its copy too. (A local REDACT
        removes it in the command, before it is relayed.)"""
        cluster = self.server.cluster
        if self.shared or cluster is None or event.by not in cluster.owner:
            return
        store, msgid = self.store, event.msgid

        def work() -> int:
            return store.redact(msgid)

        def done(removed: int | Exception) -> None:
            if isinstance(removed, Exception):
                log.warning("history: redacting %s: %s", msgid, removed)

        def redact() -> None:
            self.server.offload(guarded(work), done)

        # After whatever the writer holds now (the message itself may still be queued).
        seq = self.recorder.submit([])
        if seq <= self.committed_seq:
            redact()
        else:
            self._after_commit.append((seq, redact))

    def _registered(self, event: Registered) -> None:
        """A login before registration ended (SASL, REGISTER) emits no AccountChanged: its
        read markers are loaded now."""
        account = event.user.account
        if account is not None and event.user.session is not None:
            self._load_markers(event.user, account)

    def forget_account(self, folded: str) -> None:
        """The account ``folded`` was deleted: its read markers in memory go (the database's
        went with the account), so that the next owner of the name starts with none."""
        self.markers.pop(folded, None)
        self._markers_of.pop(folded, None)

    def _account(self, event: AccountChanged) -> None:
        """Load the read markers of an account that logs in here (JOIN answers from memory;
        a user of another node asks its own node)."""
        if event.account is not None and event.user.session is not None:
            self._load_markers(event.user, event.account)

    def _load_markers(self, user: User, account: str) -> None:
        """Read the markers of ``account`` from the store. Read at every login, also when
        memory has them: with a store shared by a cluster, another node may have moved them
        while this node did not hear (it missed records, or nobody here was logged in to the
        account); what is read only ever moves a marker forward."""
        owner = self.server.fold(account)
        since = self.account_since(user)
        known = owner in self.markers and self._markers_of.get(owner) == since
        loaded = None
        if not known:
            self.markers[owner] = {}
            self._markers_of[owner] = since
            if user.session is not None:  # (its JOINs and MARKREADs wait for them)
                loaded = self.server.wait_input(user.session)
        self._read_markers(owner, since, tell=known, loaded=loaded)

    def _read_markers(
        self, owner: str, since: float, *, tell: bool, loaded: Callable[[], None] | None = None
    ) -> None:
        """Merge the stored markers of ``owner`` into memory, forward only; with ``tell``,
        the account's connections here hear of those that moved (not at a first load: the
        connection logging in gets its channels' markers as it joins them). ``loaded`` is
        called once the read has ended, however it ended."""
        store = self.store

        def work() -> dict[str, float] | Exception:
            try:
                return store.markers(owner)
            except Exception as exc:  # (a store's own bug too: the login must go on)
                return exc

        def done(found: dict[str, float] | Exception) -> None:
            try:
                if isinstance(found, Exception):
                    log.warning("history: read markers of %s: %s", owner, found)
                    return
                for target, when in found.items():
                    self.marker_moved(owner, since, target, when, tell=tell)
            finally:
                if loaded is not None:
                    loaded()

        self.server.offload(work, done)

    def _parted(self, event: Parted) -> None:
        user, channel, stamp = event.user, event.channel, event.stamp
        self._since.pop((channel, user), None)
        params = (channel.name, event.reason) if event.reason else (channel.name,)
        msg = Message("PART", params, user.prefix)
        self._event_rows((channel,), user.folded, msg, stamp.time, stamp.msgid, user)

    def _kicked(self, event: Kicked) -> None:
        by, channel, target, stamp = event.by, event.channel, event.target, event.stamp
        self._since.pop((channel, target), None)
        source = by.prefix if by is not None else self.server.name
        msg = Message("KICK", (channel.name, target.nick, event.reason), source)
        sender = by.folded if by is not None else ""
        self._event_rows((channel,), sender, msg, stamp.time, stamp.msgid, by)

    def _quit(self, event: Quit) -> None:
        user, stamp = event.user, event.stamp
        for channel in event.channels:
            self._since.pop((channel, user), None)
        self._keys.pop(user, None)
        self.session_markers.pop(user, None)
        msg = Message("QUIT", (event.reason,), user.prefix)
        self._event_rows(event.channels, user.folded, msg, stamp.time, stamp.msgid, user)

    def _nick(self, event: NickChanged) -> None:
        user, stamp = event.user, event.stamp
        msg = Message("NICK", (user.nick,), event.old_prefix)
        channels = tuple(user.channels.values())
        self._event_rows(channels, user.folded, msg, stamp.time, stamp.msgid, user)

    def _modes(self, event: ChannelModesChanged) -> None:
        by, channel, stamp = event.by, event.channel, event.stamp
        source = by.prefix if by is not None else self.server.name
        msg = Message("MODE", (channel.name, *mode_params(event.changes)), source)
        sender = by.folded if by is not None else ""
        self._event_rows((channel,), sender, msg, stamp.time, stamp.msgid, by)

    def _topic(self, event: TopicChanged) -> None:
        by, channel, stamp = event.by, event.channel, event.stamp
        source = by.prefix if by is not None else self.server.name
        msg = Message("TOPIC", (channel.name, event.topic), source)
        sender = by.folded if by is not None else ""
        self._event_rows((channel,), sender, msg, stamp.time, stamp.msgid, by)

    # -- the writer's reports ----------------------------------------------------------------

    def committed(self, seq: int, ok: bool) -> None:
        """The writer has finished every row up to ``seq`` (stored if ``ok``): release the
        connections that were waiting for them. Lost lines release their senders too (the
        database is down or full: chat goes on without history). Logged once per run of
        failures: while the database is away, the writer reports each batch lost at once."""
        if not ok and not self._losing:
            log.error("history: lines up to %d could not be stored", seq)
        self._losing = not ok
        if seq > self.committed_seq:
            self.committed_seq = seq
        self.server.release(seq)
        if self._after_commit:
            due = [then for want, then in self._after_commit if want <= seq]
            self._after_commit = [(w, t) for w, t in self._after_commit if w > seq]
            for then in due:
                then()
        if self.paused and self.recorder.pending <= self.config.queue_limit // 2:
            log.info("history: the disk caught up; input resumed")
            self.paused = False
            self.server.host.pause_input(False)

    # -- retention -----------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Run a retention pass every ``purge_interval`` seconds (off the event loop)."""
        config = self.config
        if now - self._last_purge < config.purge_interval:
            return
        self._last_purge = now
        fold = self.server.fold
        older_than = now - config.max_age_days * 86400.0 if config.max_age_days else 0.0
        overrides: dict[str, tuple[float, int]] = {}
        for name in config.channels:
            own = config.for_channel(name, fold)
            days = own.max_age_days or 0.0
            overrides[fold(name)] = (now - days * 86400.0 if days else 0.0, own.max_lines or 0)
        store = self.store

        def purge() -> int:
            return store.purge(
                older_than=older_than, max_rows=config.max_lines, overrides=overrides
            )

        def done(removed: int) -> None:
            if removed:
                log.info("history: retention removed %d lines", removed)

        self.server.offload(purge, done)

    # -- read markers ----------------------------------------------------------------------

    def marker(self, user: User, target: str) -> float | None:
        """``user``'s read marker on the folded ``target``, as far as memory knows."""
        if user.account is None:
            return self.session_markers.get(user, {}).get(target)
        return self.markers.get(self.server.fold(user.account), {}).get(target)

    def marker_count(self, user: User) -> int:
        """How many targets ``user`` (its account) has a read marker on."""
        if user.account is None:
            return len(self.session_markers.get(user, {}))
        return len(self.markers.get(self.server.fold(user.account), {}))

    def stamp_text(self, when: float | None) -> str:
        """A marker as MARKREAD shows it."""
        return "*" if when is None else "timestamp=" + format_time(when)

    def remember_marker(self, user: User, target: str, when: float) -> float:
        """Move ``user``'s marker on ``target`` forward to ``when`` (never back); the marker
        now. Stored for an account (off the loop); for the connection only otherwise."""
        if user.account is None:
            markers = self.session_markers.setdefault(user, {})
        else:
            markers = self.markers.setdefault(self.server.fold(user.account), {})
        old = markers.get(target)
        if old is not None and old >= when:
            return old
        markers[target] = when
        return when

    def marker_moved(
        self,
        owner: str,
        since: float,
        target: str,
        when: float,
        *,
        shown: str | None = None,
        tell: bool = True,
    ) -> bool:
        """The marker of the folded account ``owner`` (registered at ``since``) on the folded
        ``target`` is at least ``when`` (the store said so, or another node): move it forward
        in memory if memory has the account's markers, and with ``tell`` send it to the
        account's connections here that speak ``draft/read-marker``. True if it moved.
        ``shown``: the target as the client that set it wrote it."""
        markers = self.markers.get(owner)
        if markers is None or self._markers_of.get(owner) != since:
            return False  # (not loaded here, or another account of the same name)
        old = markers.get(target)
        if old is not None and old >= when:
            return False
        markers[target] = when
        if tell:
            if shown is None:
                channel = self.server.find_channel(target)
                shown = channel.name if channel is not None else target
            line = Message("MARKREAD", (shown, self.stamp_text(when)), self.server.name)
            for user in self.server.network.logged_in(owner):
                session = user.session
                if session is not None and session.registered and session.caps & Cap.READ_MARKER:
                    self.server.send(session, line)
        return True

    def save_marker(
        self,
        owner: str,
        since: float,
        target: str,
        shown: str,
        when: float,
        saved: Callable[[], None] | None = None,
    ) -> None:
        """Store that the account ``owner`` (registered at ``since``) has read ``target``
        up to ``when``, off the event loop; ``saved``, if given, is called once that write
        has ended (the MARKREAD that set it is acknowledged then). The markers waiting are
        written together, one write at a time: a flood of MARKREADs (any number of
        connections moving markers forward a millisecond at a time) costs the database one
        transaction after another, never a queue of them ahead of everyone's history
        reads."""
        key = (owner, target)
        waiting = self._marks_to_save.get(key)
        if waiting is None or when >= waiting[0] or since != waiting[1]:
            self._marks_to_save[key] = (when, since, shown)
        if saved is not None:
            self._marks_waiting.append(saved)
        if not self._saving_marks:
            self._save_marks()

    def _save_marks(self) -> None:
        batch = list(self._marks_to_save.items())
        waiting = self._marks_waiting
        self._marks_to_save, self._marks_waiting = {}, []
        self._saving_marks = True
        store = self.store
        marks = [(owner, target, when) for (owner, target), (when, _, _) in batch]

        def save() -> list[float]:
            return store.set_markers(marks)

        def saved(stored: list[float] | Exception) -> None:
            self._saving_marks = False
            for i, ((owner, target), (when, since, shown)) in enumerate(batch):
                if isinstance(stored, Exception):  # (kept in memory: the others hear it too)
                    log.warning("history: read marker of %s on %s: %s", owner, target, stored)
                self.marker_saved(
                    owner,
                    since,
                    target,
                    shown,
                    when if isinstance(stored, Exception) else stored[i],
                )
            for saved_ in waiting:
                saved_()
            if self._marks_to_save:
                self._save_marks()

        self.server.offload(guarded(save), saved)

    def marker_saved(self, owner: str, since: float, target: str, shown: str, when: float) -> None:
        """A MARKREAD here was written to the store, which keeps the later of its marker and
        the one it had (``when``: another node may have moved it further meanwhile). With a
        store the cluster shares, the other nodes are told, now that the store has it (a
        node where the account logs in next reads it there); with a database per node, an
        account logs in on its own node only, so its markers are that node's alone."""
        self.marker_moved(owner, since, target, when, shown=shown)
        cluster = self.server.cluster
        if self.shared and cluster is not None:
            cluster.publish("mark", owner=owner, since=since, target=target, to=shown, time=when)

    def heard_marker(self, record: dict[str, object]) -> None:
        """Another node's ``mark`` record (see :meth:`marker_saved`)."""
        owner, since, target = record.get("owner"), record.get("since"), record.get("target")
        shown, when = record.get("to"), record.get("time")
        if not self.shared:
            return  # (a database of its own: its markers are its own)
        if not (isinstance(owner, str) and isinstance(target, str) and isinstance(shown, str)):
            return
        if not (isinstance(since, (int, float)) and isinstance(when, (int, float))):
            return
        self.marker_moved(owner, float(since), target, float(when), shown=shown)

    def read_markers_again(self) -> None:
        """This node missed records of the other nodes (see
        :meth:`~hubbub.server.cluster.ClusterLink.resync`), some of which may have moved
        markers: read those of the accounts logged in here again; forget the others (read
        at their next login)."""
        network = self.server.network
        for owner in list(self.markers):
            if any(u.session is not None for u in network.logged_in(owner)):
                self._read_markers(owner, self._markers_of.get(owner, 0.0), tell=True)
            else:
                self.markers.pop(owner, None)
                self._markers_of.pop(owner, None)

    def sessions_of(self, user: User) -> list[Session]:
        """The local connections of ``user``'s account (or ``user``'s own without one)."""
        if user.account is None:
            return [user.session] if user.session is not None else []
        return [
            u.session
            for u in self.server.network.logged_in(user.account)
            if u.session is not None and u.session.registered
        ]


T = TypeVar("T")


def guarded(work: Callable[[], T]) -> Callable[[], T | Exception]:
    """``work`` returning the StorageError it raises rather than raising it."""

    def run() -> T | Exception:
        try:
            return work()
        except StorageError as exc:
            return exc

    return run


def attach(server: Server, store: HistoryStore, recorder: Recorder) -> History:
    """Give ``server`` its history: the subscriber, the capabilities and the commands."""
    from hubbub.server.commands.history import COMMANDS

    history = History(server, store, recorder)
    server.history = history
    server.network.subscribe(history.hear, events=list(history.handles))
    for cap in OFFERED_CAPS:
        if cap not in server.extra_caps:
            server.extra_caps.append(cap)
    for name, command in COMMANDS.items():
        server.commands[name] = command
    server.isupport = build_isupport(server.config, history=True)
    return history
