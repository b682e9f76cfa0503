"""The chat window's model, pure: conversations, their lines, unread and mention counts.

:class:`ChatModel` turns client events into :class:`Line` objects in :class:`Conversation`
objects (the server window, channels and private queries). The Textual app only draws it,
so everything a user would see can be tested without a terminal.
"""

from __future__ import annotations

import enum
import re
import time as _time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from hubbub.client import events as ev
from hubbub.client.describe import numeric_text
from hubbub.client.history import HistoryMessage
from hubbub.client.state import ClientState
from hubbub.client.text import parse_server_time, strip_formatting
from hubbub.protocol import Message, split_source
from hubbub.protocol import numerics as n

SERVER = "*"
"""The key and name of the server conversation (numerics, notices, connection status)."""

MAX_LINES = 2000
"""Lines kept per conversation."""

_HIDDEN_NUMERICS = {
    n.RPL_NAMREPLY,  # shown as the member list
    n.RPL_ENDOFNAMES,
    n.RPL_TOPIC,  # shown as a Topic event
    n.RPL_NOTOPIC,
    n.ERR_NICKNAMEINUSE,  # shown as a NickInUse event
    "437",
    n.RPL_SASLSUCCESS,
    n.RPL_ENDOFWHOIS,  # the replies before it say all
    n.RPL_ENDOFWHOWAS,
}

_CHANNEL_NUMERICS = {
    n.RPL_TOPICWHOTIME: 0,
    n.RPL_CREATIONTIME: 0,
    n.RPL_CHANNELMODEIS: 0,
    n.RPL_BANLIST: 0,
    n.RPL_ENDOFBANLIST: 0,
    n.RPL_EXCEPTLIST: 0,
    n.RPL_ENDOFEXCEPTLIST: 0,
    n.RPL_INVEXLIST: 0,
    n.RPL_ENDOFINVEXLIST: 0,
    n.RPL_INVITING: 1,
}
"""Numerics about a channel, shown in its conversation when there is one (which parameter
names the channel)."""

MAX_WHOIS = 50
"""WHOIS replies tracked at once (a server that never ends them cannot grow the set)."""


TYPING_ACTIVE_SECONDS = 6.0
"""How long someone counts as typing after their last ``typing=active`` (the spec's 6 s)."""

TYPING_PAUSED_SECONDS = 30.0
"""How long someone counts as having paused after ``typing=paused`` (the spec's 30 s)."""

DIVIDER_TEXT = "── new messages ──"
"""The line drawn where the user stopped reading."""

DELETED_TEXT = "(message deleted)"
"""What a redacted message shows instead of its text."""

START_TEXT = "── no older messages ──"
"""The first line of a conversation scrolled back to the start of its history."""


class LineKind(enum.Enum):
    """How a line is drawn."""

    MESSAGE = "message"
    ACTION = "action"
    NOTICE = "notice"
    EVENT = "event"
    """Joins, parts, nick changes, topics, modes."""
    INFO = "info"
    """From the server or the client itself."""
    ERROR = "error"
    DIVIDER = "divider"
    """The "new messages" line."""


MESSAGE_KINDS = frozenset({LineKind.MESSAGE, LineKind.ACTION, LineKind.NOTICE})


@dataclass(frozen=True)
class Line:
    """One line of a conversation."""

    time: datetime
    kind: LineKind
    text: str
    """As received: mIRC formatting codes (and any control characters) are still in it, for
    the app to draw or strip (:func:`~hubbub.client.formatting.parse_formatting`)."""
    nick: str | None = None
    from_self: bool = False
    highlight: bool = False
    msgid: str | None = None
    server_time: bool = False
    """``time`` is the server's (``server-time``), not the local clock's: the line is part of
    the conversation's history and can bound a history request or a read marker."""
    redacted: bool = False
    """Deleted by its sender or an operator (``draft/message-redaction``)."""

    @property
    def countable(self) -> bool:
        """True for a message from someone else: what unread counts count."""
        return self.kind in MESSAGE_KINDS and not self.from_self

    @property
    def key(self) -> object:
        """What identifies the line among history lines: its msgid, else (for a line with a
        server time) its time, sender and text; ``None`` for a local line."""
        if self.msgid:
            return self.msgid
        if self.server_time:
            return (self.time, self.kind, self.nick, self.text)
        return None

    def plain(self) -> str:
        """The line as plain text, without its timestamp and formatting: ``<ann> hi``,
        ``* ann waves``..."""
        lines = [strip_formatting(line) for line in self.text.split("\n")]
        text = DELETED_TEXT if self.redacted else "\n".join(lines)  # (multiline: its breaks)
        if self.kind is LineKind.MESSAGE and self.nick:
            return f"<{self.nick}> {text}"
        if self.kind is LineKind.ACTION:
            return f"* {self.nick} {text}"
        if self.kind is LineKind.NOTICE and self.nick:
            return f"-{self.nick}- {text}"
        return text


class Kind(enum.Enum):
    """What a conversation is."""

    SERVER = "server"
    CHANNEL = "channel"
    QUERY = "query"


@dataclass
class Typist:
    """Someone typing in a conversation, and until when (``time.monotonic``) it holds."""

    nick: str
    state: str
    until: float


@dataclass
class Conversation:
    """A window: the server, a channel or a private query."""

    name: str
    kind: Kind
    lines: deque[Line] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    unread: int = 0
    mentions: int = 0
    joined: bool = False
    history_loaded: bool = False
    """Its history has been asked for (once the server has answered: ``catching_up`` off)."""
    marker: datetime | None = None
    """Read up to this (server) time: the server's read marker, or where the user last saw
    the conversation's latest line, whichever is later (``None``: not known)."""
    sent_marker: datetime | None = None
    """The marker last sent to the server (``MARKREAD``)."""
    resume_from: Line | None = None
    """The last line of history seen before the latest (re)join: what was missed is after it."""
    catching_up: bool = False
    """A request for what was missed is on its way (the marker waits for its answer)."""
    loading: bool = False
    """A request for older or newer lines is on its way."""
    oldest_reached: bool = False
    """The server has nothing older than the first line."""
    detached: bool = False
    """The lines are a stretch of the past (a search result, or a long scroll back), not
    the latest: live lines wait in the server's history until the user comes back down."""
    focus: str | None = None
    """The msgid of the line to show highlighted (a search result)."""
    typing: dict[str, Typist] = field(default_factory=dict)
    """Who is typing here, by folded nick."""
    cleared: Line | None = None
    """The last line of history of the window when ``/clear`` emptied it."""

    def label(self) -> str:
        """The sidebar label: name, then ``(unread)`` and ``[mentions]`` when there are any."""
        text = self.name if self.kind is not Kind.SERVER else "server"
        if self.kind is Kind.CHANNEL and not self.joined:
            text = f"({text})"
        if self.unread:
            text += f" ({self.unread})"
        if self.mentions:
            text += f" [{self.mentions}]"
        return text

    def history(self) -> list[Line]:
        """The lines that are part of the server's history (they have a server time)."""
        return [line for line in self.lines if line.server_time]

    def last_history_line(self) -> Line | None:
        """The latest line of history shown (or cleared away): where "what was missed"
        starts."""
        last = next((line for line in reversed(self.lines) if line.server_time), None)
        return last or self.cleared

    def first_history_line(self) -> Line | None:
        """The oldest line of history shown: where scrolling back goes on from."""
        return next((line for line in self.lines if line.server_time), None)

    def index_of(self, msgid: str) -> int | None:
        """The position of the line with ``msgid``, if it is shown."""
        for i, line in enumerate(self.lines):
            if line.msgid == msgid:
                return i
        return None

    def divider_index(self) -> int | None:
        """The position of the "new messages" line, if there is one."""
        for i, line in enumerate(self.lines):
            if line.kind is LineKind.DIVIDER:
                return i
        return None

    def latest_time(self) -> datetime | None:
        """The server time of the latest line: what "read up to here" means."""
        times = [line.time for line in self.lines if line.server_time]
        return max(times) if times else None


def _line_kind(event: ev.ChatMessage) -> LineKind:
    if event.action:
        return LineKind.ACTION
    return LineKind.NOTICE if event.notice else LineKind.MESSAGE


def now() -> datetime:
    """The local time, for lines without a server-time tag."""
    return datetime.now().astimezone()


@dataclass
class Change:
    """What applying one event changed: lines added (by conversation key) and whether the
    list of conversations, a history reload, or the status needs redrawing."""

    added: list[tuple[str, Line]] = field(default_factory=list)
    reloaded: set[str] = field(default_factory=set)
    conversations: bool = False
    members: bool = False
    activate: str | None = None
    typing: bool = False
    """Who is typing changed somewhere."""


def stamp(message: Message | None) -> tuple[datetime | None, str | None]:
    """The server time (local zone) and msgid tags of ``message``, when it has them."""
    if message is None:
        return None, None
    when = parse_server_time(message.tags.get("time"))
    if when is None or when.tzinfo is None:
        return None, message.tags.get("msgid") or None
    return when.astimezone(), message.tags.get("msgid") or None


def join_text(nick: str, channel: str, *, me: bool, user: str = "", host: str = "") -> str:
    """The line for a join."""
    if me:
        return f"→ you joined {channel}"
    where = f" ({user}@{host})" if host else ""
    return f"→ {nick}{where} joined"


def part_text(nick: str, channel: str, reason: str, *, me: bool) -> str:
    """The line for a part."""
    why = f" ({reason})" if reason else ""
    return f"← you left {channel}{why}" if me else f"← {nick} left{why}"


def kick_text(nick: str, by: str, reason: str, *, me: bool) -> str:
    """The line for a kick."""
    why = f" ({reason})" if reason else ""
    who = "you were" if me else f"{nick} was"
    return f"← {who} kicked by {by}{why}"


def quit_text(nick: str, reason: str) -> str:
    """The line for a quit."""
    return f"← {nick} quit" + (f" ({reason})" if reason else "")


def nick_text(old: str, new: str, *, me: bool) -> str:
    """The line for a nick change."""
    return f"you are now known as {new}" if me else f"{old} is now known as {new}"


def topic_text(setter: str, topic: str) -> str:
    """The line for a topic change."""
    return f"{setter} changed the topic to: {topic}"


def typing_text(nicks: list[str]) -> str:
    """``alice is typing…``, ``alice and bob are typing…``... (``""`` for nobody)."""
    if not nicks:
        return ""
    if len(nicks) == 1:
        return f"{nicks[0]} is typing…"
    if len(nicks) <= 3:
        return f"{', '.join(nicks[:-1])} and {nicks[-1]} are typing…"
    return "several people are typing…"


class ChatModel:
    """Conversations in sidebar order, which one is active, and what each one shows."""

    def __init__(
        self,
        clock: Callable[[], datetime] = now,
        monotonic: Callable[[], float] = _time.monotonic,
    ) -> None:
        self.clock = clock
        self.monotonic = monotonic
        """Seconds for typing notifications' expiry."""
        self.last_server_time: datetime | None = None
        """The latest server time of any line: after a reconnection, what was missed is
        after it."""
        self.missed_since: datetime | None = None
        """Set when the connection is lost: the next welcome is a reconnection, and the
        private conversations active since this time are to be caught up."""
        self.conversations: dict[str, Conversation] = {SERVER: Conversation(SERVER, Kind.SERVER)}
        self.active = SERVER
        self.status = "starting"
        self.lag: float | None = None
        self._fold: Callable[[str], str] = str.lower
        self._pending_joins: set[str] = set()
        """Channels the user asked to join (they become active when joined)."""
        self._whois: set[str] = set()
        self._names: dict[str, tuple[str, bool]] = {}
        """Channels whose ``NAMES`` the user asked for: the conversation to answer in, and
        whether a name came yet."""
        """Nicks whose WHOIS replies are arriving (their RPL_AWAY goes with them)."""
        self.tz: tzinfo | None = None
        """The time zone times in numerics are shown in (``None``: local time)."""

    # -- conversations ------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The key of the conversation called ``name``."""
        return SERVER if name == SERVER else self._fold(name)

    def get(self, name: str) -> Conversation | None:
        """The conversation called ``name``, if it exists."""
        return self.conversations.get(self.key(name))

    def open(self, name: str, kind: Kind) -> Conversation:
        """The conversation called ``name``, created (at the end of the list) if needed."""
        key = self.key(name)
        conv = self.conversations.get(key)
        if conv is None:
            conv = self.conversations[key] = Conversation(name, kind)
        return conv

    def close(self, name: str) -> bool:
        """Remove a conversation (never the server's); the server becomes active if it was."""
        key = self.key(name)
        if key == SERVER or key not in self.conversations:
            return False
        keys = list(self.conversations)
        del self.conversations[key]
        if self.active == key:
            index = max(0, keys.index(key) - 1)
            self.active = keys[index] if keys[index] in self.conversations else SERVER
        return True

    def activate(self, name: str) -> bool:
        """Make ``name`` the active conversation; its counts are cleared, and the "new
        messages" line goes before what was unread (from the read marker, else from the
        count)."""
        key = self.key(name)
        conv = self.conversations.get(key)
        if conv is None:
            return False
        if key != self.active:
            left = self.conversations.get(self.active)
            if left is not None:
                left.focus = None
            first = None
            if conv.marker is None and conv.unread:
                countable = [line for line in conv.lines if line.countable]
                if len(countable) >= conv.unread:
                    first = countable[-conv.unread]
            self.place_divider(conv, conv.marker, first)
        self.active = key
        conv.unread = conv.mentions = 0
        return True

    def cycle(self, step: int) -> str:
        """Activate the conversation ``step`` places down (negative: up) the list, wrapping."""
        keys = list(self.conversations)
        index = (keys.index(self.active) + step) % len(keys)
        self.activate(self.conversations[keys[index]].name)
        return self.active

    @property
    def current(self) -> Conversation:
        """The active conversation."""
        return self.conversations[self.active]

    def expect_join(self, channel: str) -> None:
        """The user asked to join ``channel``: switch to it once joined."""
        self._pending_joins.add(self.key(channel))

    # -- lines --------------------------------------------------------------------------------

    def add(
        self,
        change: Change,
        name: str,
        kind: LineKind,
        text: str,
        *,
        nick: str | None = None,
        from_self: bool = False,
        highlight: bool = False,
        time: datetime | None = None,
        msgid: str | None = None,
        counts: bool = False,
    ) -> Line:
        """Append a line to conversation ``name`` (created as a query if it is unknown).

        ``time`` is the server's time of the line (else the clock's is used). A line of
        history already shown (the same msgid) is not added again, and neither is one
        for a conversation showing a stretch of the past (it is counted as unread)."""
        conv = self.get(name) or self.open(name, Kind.QUERY)
        nick = strip_formatting(nick) if nick else nick
        line = Line(
            time or self.clock(),
            kind,
            text,
            nick,
            from_self,
            highlight,
            msgid,
            server_time=time is not None,
        )
        key = self.key(conv.name)
        if line.server_time and (
            self.last_server_time is None or line.time > self.last_server_time
        ):
            self.last_server_time = line.time
        if line.key is not None and line.key in {other.key for other in conv.lines}:
            return line
        if counts and key != self.active and not from_self:
            conv.unread += 1
            if highlight:
                conv.mentions += 1
            change.conversations = True
        if conv.detached and line.server_time:
            return line
        conv.lines.append(line)
        change.added.append((key, line))
        return line

    def clear(self, conv: Conversation) -> Change:
        """Empty ``conv``'s window (``/clear``): scrolling back does not fetch its lines
        again, and after a reconnection only what came after them is."""
        conv.cleared = conv.last_history_line()
        conv.lines.clear()
        conv.oldest_reached = True
        change = Change()
        change.reloaded.add(self.key(conv.name))
        return change

    def ask_names(self, channel: str, where: str) -> None:
        """``/names`` of a channel we are not in: show the server's answer in ``where``."""
        if len(self._names) >= MAX_WHOIS:  # answers that never ended
            self._names.clear()
        self._names[self.key(channel)] = (self.key(where), False)

    def info(self, text: str, name: str = SERVER, kind: LineKind = LineKind.INFO) -> Change:
        """Add a line from the client itself (help text, errors of a command)."""
        change = Change()
        self.add(change, name, kind, text)
        return change

    def mentions_me(self, text: str, nick: str) -> bool:
        """True if ``text`` names ``nick`` as a word (case-insensitively)."""
        if not nick:
            return False
        return re.search(rf"(?<![\w-]){re.escape(nick)}(?![\w-])", text, re.IGNORECASE) is not None

    # -- history ------------------------------------------------------------------------------

    def history_line(self, msg: HistoryMessage, state: ClientState) -> Line | None:
        """The line for one message of history (``None`` for what is not shown, such as a
        reaction's ``TAGMSG``)."""
        when = msg.time.astimezone() if msg.time else None
        nick = strip_formatting(msg.nick)
        me = state.is_me(msg.nick)
        p = msg.message.params
        command = msg.command
        if msg.is_message:
            if msg.action:
                kind = LineKind.ACTION
            else:
                kind = LineKind.NOTICE if command == "NOTICE" else LineKind.MESSAGE
            private = not state.is_channel(msg.target.lstrip(state.prefix_symbols))
            mentioned = self.mentions_me(strip_formatting(msg.text), state.nick)
            return Line(
                when or self.clock(),
                kind,
                msg.text,
                nick,
                me,
                not me and (private or mentioned),
                msg.msgid,
                server_time=when is not None,
                redacted=msg.redacted,
            )
        text: str | None = None
        if command == "JOIN" and p:
            mask = split_source(msg.source)
            text = join_text(nick, p[0], me=me, user=mask.user or "", host=mask.host or "")
        elif command == "PART" and p:
            text = part_text(nick, p[0], p[1] if len(p) > 1 else "", me=me)
        elif command == "KICK" and len(p) >= 2:
            reason = p[2] if len(p) > 2 else ""
            text = kick_text(p[1], nick, reason, me=state.is_me(p[1]))
        elif command == "QUIT":
            text = quit_text(nick, p[0] if p else "")
        elif command == "NICK" and p:
            text = nick_text(nick, p[0], me=me)
        elif command == "TOPIC" and len(p) >= 2:
            text = topic_text(nick, p[-1])
        elif command == "MODE" and len(p) >= 2:
            text = f"{nick} sets mode {' '.join(p[1:])}"
        if text is None:
            return None
        return Line(
            when or self.clock(),
            LineKind.EVENT,
            text,
            msgid=msg.msgid,
            server_time=when is not None,
        )

    def history_lines(self, messages: Iterable[HistoryMessage], state: ClientState) -> list[Line]:
        """The lines for ``messages`` (what is not shown left out)."""
        lines = (self.history_line(msg, state) for msg in messages)
        return [line for line in lines if line is not None]

    def merge(
        self, conv: Conversation, lines: Iterable[Line], change: Change, *, older: bool = False
    ) -> list[Line]:
        """Put lines of history (oldest first) in place in ``conv``, by time, leaving out
        those already there (same msgid); the ones added. Lines of the same time as one
        already there go after it, unless they are ``older`` (a page from before the first
        line, which they then all go above).

        When the conversation grows beyond :data:`MAX_LINES`, lines go from the end away
        from the new ones: the newest after a scroll back (the conversation then shows a
        stretch of the past: ``detached``), else the oldest."""
        known = {line.key for line in conv.lines if line.key is not None}
        new: list[Line] = []
        for line in lines:
            key = line.key
            if key is None or key in known:
                continue
            known.add(key)
            new.append(line)
        if not new:
            return []
        merged = list(conv.lines)
        first = conv.first_history_line()
        new.sort(key=lambda line: line.time)  # stable: lines of one time keep their order
        older = older or (first is not None and new[-1].time < first.time)
        if older and first is not None and new[-1].time <= first.time:
            at = merged.index(first)
            merged[at:at] = new
        else:
            for line in new:
                i = len(merged)
                while i > 0 and merged[i - 1].time > line.time:
                    i -= 1
                merged.insert(i, line)
        latest = max((line.time for line in new if line.server_time), default=None)
        if latest is not None and (self.last_server_time is None or latest > self.last_server_time):
            self.last_server_time = latest
        if len(merged) > MAX_LINES:
            if older:
                merged = merged[:MAX_LINES]
                conv.detached = True
            else:
                merged = merged[-MAX_LINES:]
                conv.oldest_reached = False
        conv.lines = deque(merged, maxlen=MAX_LINES)
        change.reloaded.add(self.key(conv.name))
        return new

    def replace_lines(self, conv: Conversation, lines: list[Line], change: Change) -> None:
        """Show ``lines`` (a stretch of history) instead of what ``conv`` showed."""
        conv.lines = deque(lines[-MAX_LINES:], maxlen=MAX_LINES)
        conv.oldest_reached = False
        change.reloaded.add(self.key(conv.name))

    def mark_start(self, conv: Conversation, change: Change) -> None:
        """Say above the first line that the server has nothing older."""
        if conv.lines and conv.lines[0].text == START_TEXT:
            return
        when = conv.lines[0].time if conv.lines else self.clock()
        conv.lines = deque([Line(when, LineKind.INFO, START_TEXT), *conv.lines], maxlen=MAX_LINES)
        change.reloaded.add(self.key(conv.name))

    def place_divider(
        self, conv: Conversation, boundary: datetime | None, first: Line | None = None
    ) -> bool:
        """Put the "new messages" line before the first message from someone else after
        ``boundary``, or before line ``first`` (none if there is none); True if that moved
        it."""
        before = conv.divider_index()
        lines = [line for line in conv.lines if line.kind is not LineKind.DIVIDER]
        index = None
        if first is not None:
            index = next((i for i, line in enumerate(lines) if line is first), None)
        elif boundary is not None:
            index = next(
                (i for i, line in enumerate(lines) if line.countable and line.time > boundary),
                None,
            )
        if index is not None:
            lines.insert(index, Line(lines[index].time, LineKind.DIVIDER, DIVIDER_TEXT))
        if index == before:
            return False
        conv.lines = deque(lines, maxlen=MAX_LINES)
        return True

    def recount(self, conv: Conversation) -> bool:
        """Count the unread messages and mentions of ``conv`` from its read marker (nothing
        to do without one); True if the counts changed."""
        if conv.marker is None:
            return False
        marker = conv.marker
        unread = mentions = 0
        if self.key(conv.name) != self.active:
            for line in conv.lines:
                if line.countable and line.time > marker:
                    unread += 1
                    mentions += line.highlight
        changed = (unread, mentions) != (conv.unread, conv.mentions)
        conv.unread, conv.mentions = unread, mentions
        return changed

    def count_new(self, conv: Conversation, lines: Iterable[Line]) -> None:
        """Count ``lines`` (just missed, without a read marker to count from) as unread."""
        if self.key(conv.name) == self.active:
            return
        for line in lines:
            if line.countable:
                conv.unread += 1
                conv.mentions += line.highlight

    def move_marker(self, conv: Conversation, when: datetime | None) -> bool:
        """Move the read marker of ``conv`` forward to ``when`` (never back); True if it
        moved."""
        if when is None or (conv.marker is not None and when <= conv.marker):
            return False
        conv.marker = when
        return True

    def mark_viewed(self, conv: Conversation) -> bool:
        """The user sees the latest line of ``conv``: the marker moves to it. True if the
        server is to be told (it moved past what was last sent)."""
        if conv.detached or conv.catching_up:
            return False
        self.move_marker(conv, conv.latest_time())
        return conv.marker is not None and (
            conv.sent_marker is None or conv.marker > conv.sent_marker
        )

    # -- typing -------------------------------------------------------------------------------

    def stop_typing(self, change: Change, nick: str, *names: str) -> None:
        """``nick`` no longer types in conversations ``names`` (all when none is given)."""
        key = self._fold(nick)
        convs = [self.get(n) for n in names] if names else list(self.conversations.values())
        for conv in convs:
            if conv is not None and conv.typing.pop(key, None) is not None:
                change.typing = True

    def expire_typing(self) -> bool:
        """Forget typing notifications that have run out; True if any did."""
        clock = self.monotonic()
        changed = False
        for conv in self.conversations.values():
            for key in [k for k, t in conv.typing.items() if t.until <= clock]:
                del conv.typing[key]
                changed = True
        return changed

    def typing_line(self, name: str | None = None) -> str:
        """Who is typing in conversation ``name`` (the active one by default), as a
        sentence."""
        conv = self.get(name) if name is not None else self.current
        if conv is None:
            return ""
        return typing_text([t.nick for t in conv.typing.values()])

    # -- events -------------------------------------------------------------------------------

    def apply(self, event: ev.Event, state: ClientState) -> Change:
        """Update the model from one client event."""
        self._fold = state.fold
        change = Change()
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            handler(event, state, change)
        return change

    def _chat(self, event: ev.ChatMessage, state: ClientState, change: Change) -> None:
        name = SERVER if event.from_server or event.conversation == SERVER else event.conversation
        if name != SERVER and self.get(name) is None:
            self.open(name, Kind.CHANNEL if state.is_channel(name) else Kind.QUERY)
            change.conversations = True
        private = name != SERVER and not state.is_channel(name)
        mentioned = self.mentions_me(strip_formatting(event.text), state.nick)
        highlight = not event.from_self and (private or mentioned)
        kind = _line_kind(event)
        self.add(
            change,
            name,
            kind,
            event.text,
            nick=event.source,
            from_self=event.from_self,
            highlight=highlight,
            time=event.time.astimezone() if event.time else None,
            msgid=event.msgid,
            counts=True,
        )

    def _on_ChatMessage(self, event: ev.ChatMessage, state: ClientState, change: Change) -> None:
        if not event.from_server:
            self.stop_typing(change, event.source, event.conversation)
        self._chat(event, state, change)

    def _on_History(self, event: ev.History, state: ClientState, change: Change) -> None:
        # A chathistory batch the server sent by itself (a join replay) or fetch_history's.
        conv = self.get(event.target)
        if conv is None:
            conv = self.open(
                event.target, Kind.CHANNEL if state.is_channel(event.target) else Kind.QUERY
            )
            change.conversations = True
        conv.history_loaded = True
        lines = []
        for msg in event.messages:
            when = msg.time.astimezone() if msg.time else None
            private = not state.is_channel(msg.target.lstrip(state.prefix_symbols))
            mentioned = self.mentions_me(strip_formatting(msg.text), state.nick)
            lines.append(
                Line(
                    when or self.clock(),
                    _line_kind(msg),
                    msg.text,
                    strip_formatting(msg.source),
                    msg.from_self,
                    not msg.from_self and (private or mentioned),
                    msg.msgid,
                    server_time=when is not None,
                )
            )
        if self.merge(conv, lines, change):
            self.recount(conv)
            self.place_divider(conv, conv.marker)
            change.conversations = True

    def _on_ReadMarker(self, event: ev.ReadMarker, state: ClientState, change: Change) -> None:
        conv = self.get(event.target)
        if conv is None or event.time is None:
            return  # "*": the server knows of nothing read, which says nothing new to us
        when = event.time.astimezone()
        self.move_marker(conv, when)
        if conv.sent_marker is None or when > conv.sent_marker:
            conv.sent_marker = when  # the server has it: no need to send it back
        if self.recount(conv):
            change.conversations = True

    def _on_Redact(self, event: ev.Redact, state: ClientState, change: Change) -> None:
        conv = self.get(event.conversation)
        index = conv.index_of(event.msgid) if conv is not None else None
        if conv is None or index is None:
            return
        conv.lines[index] = replace(conv.lines[index], redacted=True)
        change.reloaded.add(self.key(conv.name))

    def _on_Typing(self, event: ev.Typing, state: ClientState, change: Change) -> None:
        conv = self.get(event.conversation)
        if event.from_self or conv is None or conv.kind is Kind.SERVER:
            return
        key = state.fold(event.nick)
        if event.state == "done":
            self.stop_typing(change, event.nick, conv.name)
            return
        wait = TYPING_PAUSED_SECONDS if event.state == "paused" else TYPING_ACTIVE_SECONDS
        conv.typing[key] = Typist(event.nick, event.state, self.monotonic() + wait)
        change.typing = True

    def _on_Join(self, event: ev.Join, state: ClientState, change: Change) -> None:
        when, msgid = stamp(event.message)
        if event.is_self:
            conv = self.open(event.channel, Kind.CHANNEL)
            conv.joined = True
            conv.resume_from = conv.last_history_line()
            # What was said before (or missed) is on its way: the read marker waits for it,
            # or this join, the latest line, would mark it all read.
            conv.catching_up = True
            change.conversations = True
            self.add(
                change,
                event.channel,
                LineKind.EVENT,
                join_text(event.nick, event.channel, me=True),
                time=when,
                msgid=msgid,
            )
            key = self.key(event.channel)
            if key in self._pending_joins or self.active == SERVER:
                self._pending_joins.discard(key)
                change.activate = event.channel
        else:
            text = join_text(
                event.nick, event.channel, me=False, user=event.user or "", host=event.host or ""
            )
            self.add(change, event.channel, LineKind.EVENT, text, time=when, msgid=msgid)
        change.members = True

    def _on_Part(self, event: ev.Part, state: ClientState, change: Change) -> None:
        when, msgid = stamp(event.message)
        self.stop_typing(change, event.nick, event.channel)
        if event.is_self:
            conv = self.get(event.channel)
            if conv is not None:
                conv.joined = False
                change.conversations = True
        text = part_text(event.nick, event.channel, event.reason, me=event.is_self)
        self.add(change, event.channel, LineKind.EVENT, text, time=when, msgid=msgid)
        change.members = True

    def _on_Kick(self, event: ev.Kick, state: ClientState, change: Change) -> None:
        when, msgid = stamp(event.message)
        self.stop_typing(change, event.nick, event.channel)
        if event.is_self and (conv := self.get(event.channel)) is not None:
            conv.joined = False
            change.conversations = True
        text = kick_text(event.nick, event.by, event.reason, me=event.is_self)
        self.add(change, event.channel, LineKind.EVENT, text, time=when, msgid=msgid)
        change.members = True

    def _on_Quit(self, event: ev.Quit, state: ClientState, change: Change) -> None:
        when, msgid = stamp(event.message)
        self.stop_typing(change, event.nick)
        names = list(event.channels)
        if self.get(event.nick) is not None:
            names.append(event.nick)
        for name in names:
            text = quit_text(event.nick, event.reason)
            self.add(change, name, LineKind.EVENT, text, time=when, msgid=msgid)
        change.members = True

    def _on_NickChange(self, event: ev.NickChange, state: ClientState, change: Change) -> None:
        self.stop_typing(change, event.old)
        text = nick_text(event.old, event.new, me=event.is_self)
        query = self.get(event.old)
        if query is not None and query.kind is Kind.QUERY:
            old_key = self.key(event.old)
            query.name = event.new
            # Keep the sidebar order: rebuild the dict with the new key in the same place.
            self.conversations = {
                (self.key(event.new) if k == old_key else k): c
                for k, c in self.conversations.items()
            }
            if self.active == old_key:
                self.active = self.key(event.new)
            change.conversations = True
        names = list(event.channels) + ([event.new] if query is not None else [])
        if event.is_self:
            names.append(SERVER)
        when, msgid = stamp(event.message)
        for name in names:
            if name == SERVER:
                self.add(change, name, LineKind.EVENT, text)
            else:
                self.add(change, name, LineKind.EVENT, text, time=when, msgid=msgid)
        change.members = True

    def _on_Topic(self, event: ev.Topic, state: ClientState, change: Change) -> None:
        if self.get(event.channel) is None:
            return
        if event.changed:
            when, msgid = stamp(event.message)
            text = topic_text(event.setter or "someone", event.topic)
            self.add(change, event.channel, LineKind.EVENT, text, time=when, msgid=msgid)
        else:
            self.add(change, event.channel, LineKind.EVENT, f"topic: {event.topic}")

    def _on_Names(self, event: ev.Names, state: ClientState, change: Change) -> None:
        change.members = True

    def _on_ModeChange(self, event: ev.ModeChange, state: ClientState, change: Change) -> None:
        modes = " ".join(m + (f" {a}" if a else "") for m, a in event.changes)
        if state.is_channel(event.target):
            when, msgid = stamp(event.message)
            text = f"{event.setter} sets mode {modes}"
            self.add(change, event.target, LineKind.EVENT, text, time=when, msgid=msgid)
        else:
            self.add(change, SERVER, LineKind.EVENT, f"{event.setter} sets mode {modes}")
        change.members = True

    def _on_Invite(self, event: ev.Invite, state: ClientState, change: Change) -> None:
        text = f"{event.by} invites you to {event.channel} (/join {event.channel})"
        self.add(change, SERVER, LineKind.EVENT, text)
        if self.active != SERVER:
            self.add(change, self.current.name, LineKind.EVENT, text)

    def _on_Numeric(self, event: ev.Numeric, state: ClientState, change: Change) -> None:
        code, params = event.code, event.params
        if code in (n.RPL_WHOISUSER, n.RPL_ENDOFWHOIS) and params:
            nick = state.fold(params[0])
            if code == n.RPL_ENDOFWHOIS:
                self._whois.discard(nick)
            else:
                if len(self._whois) >= MAX_WHOIS:  # WHOIS replies that never ended
                    self._whois.clear()
                self._whois.add(nick)
        if code in (n.RPL_NAMREPLY, n.RPL_ENDOFNAMES) and self._names_answer(event, change):
            return
        if code in _HIDDEN_NUMERICS:
            return
        if event.is_error:
            args = [p for p in params[:-1] if p != "*"]
            text = f"{' '.join(args)}: {event.text}" if args else event.text
            self.add(change, SERVER, LineKind.ERROR, text)
            if self.active != SERVER:
                self.add(change, self.current.name, LineKind.ERROR, text)
            return
        text = numeric_text(code, params, tz=self.tz)
        where = SERVER
        if code == n.RPL_AWAY and params:
            if state.fold(params[0]) not in self._whois:
                if self.get(params[0]) is not None:
                    return  # the Away event shows it in the conversation with them
                where = self.current.name  # the answer to a message just sent from here
        elif code in _CHANNEL_NUMERICS:
            index = _CHANNEL_NUMERICS[code]
            channel = params[index] if len(params) > index else ""
            if channel and self.get(channel) is not None:
                where = channel
            elif code == n.RPL_TOPICWHOTIME:
                return  # goes with a topic that is not shown either
        elif code in (n.RPL_UNAWAY, n.RPL_NOWAWAY) and self.active != SERVER:
            self.add(change, self.current.name, LineKind.INFO, text)
        self.add(change, where, LineKind.INFO, text)

    def _names_answer(self, event: ev.Numeric, change: Change) -> bool:
        """Show a ``NAMES`` answer the user asked for (:meth:`ask_names`); True if it was."""
        params = event.params
        channel = params[1] if event.code == n.RPL_NAMREPLY and len(params) > 2 else ""
        if event.code == n.RPL_ENDOFNAMES and params:
            channel = params[0]
        key = self.key(channel) if channel else ""
        asked = self._names.get(key)
        if asked is None:
            return False
        where, answered = asked
        conv = self.conversations.get(where) or self.current
        if event.code == n.RPL_NAMREPLY:
            self._names[key] = (where, True)
            self.add(change, conv.name, LineKind.INFO, numeric_text(event.code, params))
        else:
            del self._names[key]
            if not answered:
                self.add(change, conv.name, LineKind.INFO, f"no one visible in {channel}")
        return True

    def _on_NickInUse(self, event: ev.NickInUse, state: ClientState, change: Change) -> None:
        if event.during_registration:
            text = f"nick {event.nick} is in use; using {event.alternative}"
        else:
            text = f"nick {event.nick} is in use; try /nick {event.alternative}"
        self.add(change, SERVER, LineKind.ERROR, text)
        if self.active != SERVER:
            self.add(change, self.current.name, LineKind.ERROR, text)

    def _on_ErroneousNick(
        self, event: ev.ErroneousNick, state: ClientState, change: Change
    ) -> None:
        text = f"nick {event.nick} is not allowed here ({event.reason}); using {event.alternative}"
        self.add(change, SERVER, LineKind.ERROR, text)

    def _on_Connected(self, event: ev.Connected, state: ClientState, change: Change) -> None:
        tls = " (TLS)" if event.tls else ""
        self.status = f"connected to {event.address}{tls}, registering"
        self.add(change, SERVER, LineKind.INFO, f"connected to {event.address}{tls}")

    def _on_Registered(self, event: ev.Registered, state: ClientState, change: Change) -> None:
        self.status = "connected"
        self.add(change, SERVER, LineKind.INFO, f"registered as {event.nick}")

    def _on_Disconnected(self, event: ev.Disconnected, state: ClientState, change: Change) -> None:
        again = "; reconnecting" if event.reconnecting else ""
        self.status = "reconnecting" if event.reconnecting else "disconnected"
        self.lag = None
        if self.missed_since is None:
            self.missed_since = self.last_server_time or self.clock()
        for conv in self.conversations.values():
            if conv.typing:
                conv.typing.clear()
                change.typing = True
        text = f"disconnected: {event.reason}{again}"
        for conv in self.conversations.values():
            if conv.kind is not Kind.SERVER and conv.joined:
                conv.joined = False
                self.add(change, conv.name, LineKind.ERROR, text)
        self.add(change, SERVER, LineKind.ERROR, text)
        change.conversations = change.members = True

    def _on_Reconnecting(self, event: ev.Reconnecting, state: ClientState, change: Change) -> None:
        self.status = f"reconnecting in {event.delay:.0f} s (attempt {event.attempt})"
        self.add(change, SERVER, LineKind.INFO, self.status)

    def _on_Lag(self, event: ev.Lag, state: ClientState, change: Change) -> None:
        self.lag = event.seconds

    def _on_ServerError(self, event: ev.ServerError, state: ClientState, change: Change) -> None:
        self.add(change, SERVER, LineKind.ERROR, f"server: {event.text}")

    def _on_SaslSucceeded(
        self, event: ev.SaslSucceeded, state: ClientState, change: Change
    ) -> None:
        self.add(change, SERVER, LineKind.INFO, f"logged in as {event.account}")

    def _on_SaslFailed(self, event: ev.SaslFailed, state: ClientState, change: Change) -> None:
        self.add(change, SERVER, LineKind.ERROR, f"SASL login failed: {event.reason}")

    def _on_Away(self, event: ev.Away, state: ClientState, change: Change) -> None:
        if event.text is not None and self.get(event.nick) is not None:
            self.add(change, event.nick, LineKind.EVENT, f"{event.nick} is away: {event.text}")
        change.members = True

    def _on_Ctcp(self, event: ev.Ctcp, state: ClientState, change: Change) -> None:
        text = f"CTCP {event.command} from {event.source}" + (
            f": {event.args}" if event.args else ""
        )
        self.add(change, SERVER, LineKind.INFO, text)
