"""The chat window's model, pure: conversations, their lines, unread and mention counts.

:class:`ChatModel` turns client events into :class:`Line` objects in :class:`Conversation`
objects (the server window, channels and private queries). The Textual app only draws it,
so everything a user would see can be tested without a terminal.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from hubbub.client import events as ev
from hubbub.client.describe import numeric_text
from hubbub.client.state import ClientState
from hubbub.client.text import strip_formatting
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

    def plain(self) -> str:
        """The line as plain text, without its timestamp and formatting: ``<ann> hi``,
        ``* ann waves``..."""
        text = strip_formatting(self.text)
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
class Conversation:
    """A window: the server, a channel or a private query."""

    name: str
    kind: Kind
    lines: deque[Line] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    unread: int = 0
    mentions: int = 0
    joined: bool = False
    history_loaded: bool = False

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


class ChatModel:
    """Conversations in sidebar order, which one is active, and what each one shows."""

    def __init__(self, clock: Callable[[], datetime] = now) -> None:
        self.clock = clock
        self.conversations: dict[str, Conversation] = {SERVER: Conversation(SERVER, Kind.SERVER)}
        self.active = SERVER
        self.status = "starting"
        self.lag: float | None = None
        self._fold: Callable[[str], str] = str.lower
        self._pending_joins: set[str] = set()
        """Channels the user asked to join (they become active when joined)."""
        self._whois: set[str] = set()
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
        """Make ``name`` the active conversation; its counts are cleared."""
        key = self.key(name)
        conv = self.conversations.get(key)
        if conv is None:
            return False
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
        """Append a line to conversation ``name`` (created as a query if it is unknown)."""
        conv = self.get(name) or self.open(name, Kind.QUERY)
        nick = strip_formatting(nick) if nick else nick
        line = Line(time or self.clock(), kind, text, nick, from_self, highlight, msgid)
        conv.lines.append(line)
        key = self.key(conv.name)
        if counts and key != self.active and not from_self:
            conv.unread += 1
            if highlight:
                conv.mentions += 1
            change.conversations = True
        change.added.append((key, line))
        return line

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
        self._chat(event, state, change)

    def _on_History(self, event: ev.History, state: ClientState, change: Change) -> None:
        conv = self.get(event.target)
        if conv is None:
            conv = self.open(
                event.target, Kind.CHANNEL if state.is_channel(event.target) else Kind.QUERY
            )
            change.conversations = True
        conv.history_loaded = True
        known = {line.msgid for line in conv.lines if line.msgid}
        old: list[Line] = []
        for msg in event.messages:
            if msg.msgid and msg.msgid in known:
                continue
            when = msg.time.astimezone() if msg.time else self.clock()
            nick = strip_formatting(msg.source)
            old.append(Line(when, _line_kind(msg), msg.text, nick, msg.from_self, False, msg.msgid))
        if not old:
            return
        marker = Line(self.clock(), LineKind.INFO, "── earlier messages above ──")
        lines = [*old, marker, *conv.lines]
        conv.lines.clear()
        conv.lines.extend(lines[-MAX_LINES:])
        change.reloaded.add(self.key(conv.name))

    def _on_Join(self, event: ev.Join, state: ClientState, change: Change) -> None:
        if event.is_self:
            conv = self.open(event.channel, Kind.CHANNEL)
            conv.joined = True
            change.conversations = True
            self.add(change, event.channel, LineKind.EVENT, f"→ you joined {event.channel}")
            key = self.key(event.channel)
            if key in self._pending_joins or self.active == SERVER:
                self._pending_joins.discard(key)
                change.activate = event.channel
        else:
            where = f" ({event.user}@{event.host})" if event.host else ""
            self.add(change, event.channel, LineKind.EVENT, f"→ {event.nick}{where} joined")
        change.members = True

    def _on_Part(self, event: ev.Part, state: ClientState, change: Change) -> None:
        reason = f" ({event.reason})" if event.reason else ""
        if event.is_self:
            conv = self.get(event.channel)
            if conv is not None:
                conv.joined = False
                change.conversations = True
            self.add(change, event.channel, LineKind.EVENT, f"← you left {event.channel}{reason}")
        else:
            self.add(change, event.channel, LineKind.EVENT, f"← {event.nick} left{reason}")
        change.members = True

    def _on_Kick(self, event: ev.Kick, state: ClientState, change: Change) -> None:
        reason = f" ({event.reason})" if event.reason else ""
        who = "you were" if event.is_self else f"{event.nick} was"
        if event.is_self and (conv := self.get(event.channel)) is not None:
            conv.joined = False
            change.conversations = True
        self.add(change, event.channel, LineKind.EVENT, f"← {who} kicked by {event.by}{reason}")
        change.members = True

    def _on_Quit(self, event: ev.Quit, state: ClientState, change: Change) -> None:
        reason = f" ({event.reason})" if event.reason else ""
        names = list(event.channels)
        if self.get(event.nick) is not None:
            names.append(event.nick)
        for name in names:
            self.add(change, name, LineKind.EVENT, f"← {event.nick} quit{reason}")
        change.members = True

    def _on_NickChange(self, event: ev.NickChange, state: ClientState, change: Change) -> None:
        text = (
            f"you are now known as {event.new}"
            if event.is_self
            else (f"{event.old} is now known as {event.new}")
        )
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
        for name in names:
            self.add(change, name, LineKind.EVENT, text)
        change.members = True

    def _on_Topic(self, event: ev.Topic, state: ClientState, change: Change) -> None:
        if self.get(event.channel) is None:
            return
        if event.changed:
            text = f"{event.setter} changed the topic to: {event.topic}"
        else:
            text = f"topic: {event.topic}"
        self.add(change, event.channel, LineKind.EVENT, text)

    def _on_Names(self, event: ev.Names, state: ClientState, change: Change) -> None:
        change.members = True

    def _on_ModeChange(self, event: ev.ModeChange, state: ClientState, change: Change) -> None:
        modes = " ".join(m + (f" {a}" if a else "") for m, a in event.changes)
        name = event.target if state.is_channel(event.target) else SERVER
        self.add(change, name, LineKind.EVENT, f"{event.setter} sets mode {modes}")
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

    def _on_NickInUse(self, event: ev.NickInUse, state: ClientState, change: Change) -> None:
        if event.during_registration:
            text = f"nick {event.nick} is in use; using {event.alternative}"
        else:
            text = f"nick {event.nick} is in use; try /nick {event.alternative}"
        self.add(change, SERVER, LineKind.ERROR, text)
        if self.active != SERVER:
            self.add(change, self.current.name, LineKind.ERROR, text)

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
