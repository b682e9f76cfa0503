"""What a client knows about the network, kept up to date from the lines it receives.

:class:`ClientState` is pure: feed it each :class:`~hubbub.protocol.Message` with
:meth:`ClientState.apply` and it updates its channels, members, modes and ISUPPORT, and
returns the events the line means. It never sends anything (that is the session's job).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hubbub.client import events as ev
from hubbub.client.text import parse_ctcp, parse_server_time
from hubbub.protocol import Casemapping, Folded, Message, folder, split_source
from hubbub.protocol import numerics as n
from hubbub.protocol.isupport import parse_tokens
from hubbub.protocol.numbers import parse_number

DEFAULT_ISUPPORT: dict[str, str | None] = {
    "CASEMAPPING": "rfc1459",
    "CHANTYPES": "#&",
    "PREFIX": "(ov)@+",
    "CHANMODES": "beI,k,l,imnpst",
    "NICKLEN": "30",
}
"""What a client assumes before the server's ``005`` says otherwise (RFC 1459 behaviour)."""


@dataclass
class Member:
    """One member of a channel: display nick and prefix symbols, highest rank first."""

    nick: str
    prefixes: str = ""

    @property
    def prefix(self) -> str:
        """The highest prefix symbol (``@``, ``+``...), or ``""``."""
        return self.prefixes[:1]


@dataclass
class Channel:
    """A channel we are in."""

    name: str
    topic: str = ""
    topic_setter: str | None = None
    members: dict[Folded, Member] = field(default_factory=dict)
    modes: dict[str, str | None] = field(default_factory=dict)
    """Channel modes that are set (type B, C and D), with their argument if any."""
    names_complete: bool = False


@dataclass
class User:
    """What we know about a nick we share a channel with (or our own)."""

    nick: str
    user: str = ""
    host: str = ""
    account: str | None = None
    away: str | None = None


def _parse_prefix(value: str | None) -> tuple[str, str]:
    # "(qaohv)~&@%+" -> ("qaohv", "~&@%+"); an empty value means no prefixes.
    if not value or not value.startswith("(") or ")" not in value:
        return "", ""
    modes, _, symbols = value[1:].partition(")")
    if len(modes) != len(symbols):
        return "", ""
    return modes, symbols


def _casemapping(value: str | None) -> Casemapping:
    try:
        return Casemapping(value or "rfc1459")
    except ValueError:
        return Casemapping.RFC1459


class ClientState:
    """Channels, members, modes, ISUPPORT, our nick and capabilities: the client's view."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        """Our current nickname."""
        self.registered = False
        self.server_name = ""
        self.isupport: dict[str, str | None] = dict(DEFAULT_ISUPPORT)
        self.caps: set[str] = set()
        """Capabilities the server acknowledged."""
        self.available_caps: dict[str, str | None] = {}
        """Capabilities the server offers (``CAP LS``), with their values."""
        self.channels: dict[Folded, Channel] = {}
        self.users: dict[Folded, User] = {}
        self.modes: set[str] = set()
        """Our user modes."""
        self.account: str | None = None
        self.away: str | None = None
        self.read_markers: dict[Folded, datetime | None] = {}
        """The read marker of each target the server told us about (``draft/read-marker``):
        the time of the last message read there, ``None`` when nothing was read yet."""
        self._marker_names: dict[Folded, str] = {}
        self._recompute()

    # -- ISUPPORT-derived ---------------------------------------------------------------------

    def _recompute(self) -> None:
        self.casemapping = _casemapping(self.isupport.get("CASEMAPPING"))
        self.fold: Callable[[str], Folded] = folder(self.casemapping)
        self.prefix_modes, self.prefix_symbols = _parse_prefix(self.isupport.get("PREFIX"))
        self.chantypes = self.isupport.get("CHANTYPES") or "#"
        groups = (self.isupport.get("CHANMODES") or "").split(",")
        groups += [""] * (4 - len(groups))
        self.list_modes, self.param_modes, self.set_param_modes, self.flag_modes = groups[:4]

    def update_isupport(self, tokens: dict[str, str | None]) -> None:
        """Merge ``005`` tokens (``-KEY`` removes ``KEY``) and re-index by the casemapping."""
        for key, value in tokens.items():
            if key.startswith("-"):
                self.isupport.pop(key[1:], None)
            else:
                self.isupport[key] = value
        old = self.casemapping
        names = self._marker_names
        self._recompute()
        if self.casemapping != old:
            self.channels = {self.fold(c.name): c for c in self.channels.values()}
            for chan in self.channels.values():
                chan.members = {self.fold(m.nick): m for m in chan.members.values()}
            self.users = {self.fold(u.nick): u for u in self.users.values()}
            self.read_markers = {self.fold(n): self.read_markers.get(k) for k, n in names.items()}
            self._marker_names = {self.fold(n): n for n in names.values()}

    @property
    def nicklen(self) -> int:
        """The longest nick the server accepts."""
        value = parse_number(self.isupport.get("NICKLEN") or "", lo=1)
        return value if value is not None else 30

    # -- queries ------------------------------------------------------------------------------

    def is_channel(self, name: str) -> bool:
        """True if ``name`` is a channel name on this server (by ``CHANTYPES``)."""
        return bool(name) and name[0] in self.chantypes

    def is_me(self, nick: str) -> bool:
        """True if ``nick`` is ours (compared under the server's casemapping)."""
        return self.fold(nick) == self.fold(self.nick)

    def channel(self, name: str) -> Channel | None:
        """The channel called ``name`` if we are in it."""
        return self.channels.get(self.fold(name))

    def members(self, name: str) -> list[Member]:
        """The members of channel ``name``, highest rank first, then by nick."""
        chan = self.channel(name)
        if chan is None:
            return []
        return sorted(chan.members.values(), key=self._member_key)

    def _member_key(self, m: Member) -> tuple[int, Folded]:
        rank = self.prefix_symbols.find(m.prefix) if m.prefix else len(self.prefix_symbols)
        return rank, self.fold(m.nick)

    def read_marker(self, target: str) -> datetime | None:
        """The last read marker the server gave for ``target`` (``None``: none, or unknown)."""
        return self.read_markers.get(self.fold(target))

    def common_channels(self, nick: str) -> tuple[str, ...]:
        """The channels we share with ``nick``."""
        key = self.fold(nick)
        return tuple(c.name for c in self.channels.values() if key in c.members)

    def split_prefixes(self, name: str) -> tuple[str, str]:
        """``"@+ann"`` -> ``("@+", "ann")`` (as in a ``NAMES`` reply)."""
        i = 0
        while i < len(name) and name[i] in self.prefix_symbols:
            i += 1
        return name[:i], name[i:]

    def _sort_prefixes(self, prefixes: str) -> str:
        return "".join(s for s in self.prefix_symbols if s in prefixes)

    # -- applying lines -----------------------------------------------------------------------

    def apply(self, msg: Message) -> list[ev.Event]:
        """Update the state from ``msg`` and return the events it means."""
        handler = _HANDLERS.get(msg.command.upper())
        if handler is not None:
            return handler(self, msg)
        if msg.command.isdigit() and len(msg.command) == 3:
            return [self._numeric(msg)]
        return [ev.Other(message=msg)]

    def _numeric(self, msg: Message) -> ev.Numeric:
        code = msg.command
        params = msg.params[1:] if msg.params else ()  # drop our own nick
        text = params[-1] if params else ""
        is_error = code[0] in "45" or code in (n.ERR_SASLFAIL, n.ERR_NICKLOCKED)
        return ev.Numeric(code, params, text, is_error, message=msg)

    def _source_nick(self, msg: Message) -> str:
        return split_source(msg.source).nick if msg.source else self.server_name

    def _touch_user(self, source: str | None) -> User | None:
        if not source or ("!" not in source and "@" not in source and "." in source):
            return None
        mask = split_source(source)
        key = self.fold(mask.nick)
        user = self.users.get(key)
        if user is None:
            user = self.users[key] = User(mask.nick)
        if mask.user:
            user.user = mask.user
        if mask.host:
            user.host = mask.host
        return user

    def _forget_if_unseen(self, nick: str) -> None:
        key = self.fold(nick)
        if key != self.fold(self.nick) and not any(
            key in c.members for c in self.channels.values()
        ):
            self.users.pop(key, None)

    def _on_welcome(self, msg: Message) -> list[ev.Event]:
        if msg.params:
            self.nick = msg.params[0]
        self.registered = True
        self.server_name = msg.source or ""
        return [ev.Registered(self.nick, self.server_name, message=msg), self._numeric(msg)]

    def _on_isupport(self, msg: Message) -> list[ev.Event]:
        # 005 nick TOKEN... :are supported by this server
        self.update_isupport(parse_tokens(msg.params[1:-1]))
        return [self._numeric(msg)]

    def _on_join(self, msg: Message) -> list[ev.Event]:
        if not msg.params or not msg.source:
            return []
        name = msg.params[0]
        mask = split_source(msg.source)
        is_self = self.is_me(mask.nick)
        key = self.fold(name)
        if is_self:
            self.channels[key] = Channel(name)
        chan = self.channels.get(key)
        if chan is None:
            return []
        chan.members[self.fold(mask.nick)] = Member(mask.nick)
        user = self._touch_user(msg.source)
        account = None
        realname = None
        if len(msg.params) >= 3:  # extended-join: JOIN #chan account :realname
            account = None if msg.params[1] == "*" else msg.params[1]
            realname = msg.params[2]
            if user is not None:
                user.account = account
        return [
            ev.Join(
                chan.name, mask.nick, mask.user, mask.host, account, realname, is_self, message=msg
            )
        ]

    def _remove_member(self, chan: Channel, nick: str, is_self: bool) -> None:
        if is_self:
            self.channels.pop(self.fold(chan.name), None)
            for member in chan.members.values():
                self._forget_if_unseen(member.nick)
        else:
            chan.members.pop(self.fold(nick), None)
            self._forget_if_unseen(nick)

    def _on_part(self, msg: Message) -> list[ev.Event]:
        if not msg.params or not msg.source:
            return []
        nick = self._source_nick(msg)
        out: list[ev.Event] = []
        for name in msg.params[0].split(","):
            chan = self.channel(name)
            if chan is None:
                continue
            is_self = self.is_me(nick)
            reason = msg.params[1] if len(msg.params) > 1 else ""
            self._remove_member(chan, nick, is_self)
            out.append(ev.Part(chan.name, nick, reason, is_self, message=msg))
        return out

    def _on_kick(self, msg: Message) -> list[ev.Event]:
        if len(msg.params) < 2:
            return []
        chan = self.channel(msg.params[0])
        if chan is None:
            return []
        nick = msg.params[1]
        member = chan.members.get(self.fold(nick))
        shown = member.nick if member else nick
        is_self = self.is_me(nick)
        reason = msg.params[2] if len(msg.params) > 2 else ""
        self._remove_member(chan, nick, is_self)
        by = self._source_nick(msg)
        return [ev.Kick(chan.name, shown, by, reason, is_self, message=msg)]

    def _on_quit(self, msg: Message) -> list[ev.Event]:
        nick = self._source_nick(msg)
        channels = self.common_channels(nick)
        key = self.fold(nick)
        for chan in self.channels.values():
            chan.members.pop(key, None)
        if not self.is_me(nick):
            self.users.pop(key, None)
        reason = msg.params[0] if msg.params else ""
        return [ev.Quit(nick, reason, channels, message=msg)]

    def _on_nick(self, msg: Message) -> list[ev.Event]:
        if not msg.params:
            return []
        old = self._source_nick(msg)
        new = msg.params[0]
        old_key, new_key = self.fold(old), self.fold(new)
        is_self = self.is_me(old)
        if is_self:
            self.nick = new
        channels = self.common_channels(old)
        for chan in self.channels.values():
            member = chan.members.pop(old_key, None)
            if member is not None:
                member.nick = new
                chan.members[new_key] = member
        user = self.users.pop(old_key, None)
        if user is not None:
            user.nick = new
            self.users[new_key] = user
        return [ev.NickChange(old, new, is_self, channels, message=msg)]

    def _on_topic(self, msg: Message) -> list[ev.Event]:
        if not msg.params:
            return []
        chan = self.channel(msg.params[0])
        topic = msg.params[1] if len(msg.params) > 1 else ""
        setter = self._source_nick(msg)
        name = msg.params[0]
        if chan is not None:
            chan.topic, chan.topic_setter, name = topic, setter, chan.name
        return [ev.Topic(name, topic, setter, changed=True, message=msg)]

    def _on_rpl_topic(self, msg: Message) -> list[ev.Event]:
        # 332 nick #chan :topic
        if len(msg.params) < 3:
            return [self._numeric(msg)]
        chan = self.channel(msg.params[1])
        name = msg.params[1]
        if chan is not None:
            chan.topic, name = msg.params[2], chan.name
        return [ev.Topic(name, msg.params[2], message=msg)]

    def _on_rpl_notopic(self, msg: Message) -> list[ev.Event]:
        if len(msg.params) >= 2 and (chan := self.channel(msg.params[1])) is not None:
            chan.topic = ""
        return [self._numeric(msg)]

    def _on_rpl_topicwhotime(self, msg: Message) -> list[ev.Event]:
        # 333 nick #chan setter time
        if len(msg.params) >= 3 and (chan := self.channel(msg.params[1])) is not None:
            chan.topic_setter = split_source(msg.params[2]).nick
        return [self._numeric(msg)]

    def _on_namreply(self, msg: Message) -> list[ev.Event]:
        # 353 nick = #chan :@ann +bob carl!u@h (userhost-in-names)
        if len(msg.params) < 4:
            return []
        chan = self.channel(msg.params[2])
        if chan is None:  # NAMES of a channel we are not in: for whoever asked
            return [self._numeric(msg)]
        if chan.names_complete:  # a fresh NAMES replaces the list
            chan.members.clear()
            chan.names_complete = False
        for item in msg.params[3].split():
            prefixes, rest = self.split_prefixes(item)
            if not rest:
                continue
            self._touch_user(rest)
            nick = split_source(rest).nick
            chan.members[self.fold(nick)] = Member(nick, self._sort_prefixes(prefixes))
        return []

    def _on_endofnames(self, msg: Message) -> list[ev.Event]:
        if len(msg.params) < 2:
            return []
        chan = self.channel(msg.params[1])
        if chan is None:
            return [self._numeric(msg)]
        chan.names_complete = True
        nicks = tuple(m.prefix + m.nick for m in self.members(chan.name))
        return [ev.Names(chan.name, nicks, message=msg)]

    def iter_mode_changes(
        self, modes: str, args: list[str], channel: bool
    ) -> Iterator[tuple[str, str | None]]:
        """Split a mode string such as ``+ov-k ann bob`` into ``("+o", "ann")`` pairs, taking
        arguments by ``CHANMODES`` and ``PREFIX`` (for a channel)."""
        sign = "+"
        queue = list(args)
        for letter in modes:
            if letter in "+-":
                sign = letter
                continue
            takes = channel and (
                letter in self.prefix_modes
                or letter in self.list_modes
                or letter in self.param_modes
                or (letter in self.set_param_modes and sign == "+")
            )
            arg = queue.pop(0) if takes and queue else None
            yield sign + letter, arg

    def _on_mode(self, msg: Message) -> list[ev.Event]:
        if len(msg.params) < 2:
            return []
        target = msg.params[0]
        setter = self._source_nick(msg)
        if self.is_channel(target):
            chan = self.channel(target)
            changes = tuple(self.iter_mode_changes(msg.params[1], list(msg.params[2:]), True))
            if chan is not None:
                target = chan.name
                self._apply_channel_modes(chan, changes)
        else:
            changes = tuple(self.iter_mode_changes(msg.params[1], [], False))
            if self.is_me(target):
                for change, _ in changes:
                    if change[0] == "+":
                        self.modes.add(change[1])
                    else:
                        self.modes.discard(change[1])
        return [ev.ModeChange(target, setter, changes, message=msg)]

    def _apply_channel_modes(
        self, chan: Channel, changes: tuple[tuple[str, str | None], ...]
    ) -> None:
        for change, arg in changes:
            sign, letter = change[0], change[1]
            if letter in self.prefix_modes:
                member = chan.members.get(self.fold(arg)) if arg else None
                if member is not None:
                    symbol = self.prefix_symbols[self.prefix_modes.index(letter)]
                    current = member.prefixes.replace(symbol, "")
                    member.prefixes = self._sort_prefixes(
                        current + symbol if sign == "+" else current
                    )
            elif letter in self.list_modes:
                continue
            elif sign == "+":
                chan.modes[letter] = arg
            else:
                chan.modes.pop(letter, None)

    def _on_channelmodeis(self, msg: Message) -> list[ev.Event]:
        # 324 nick #chan +modes args...
        if len(msg.params) >= 3 and (chan := self.channel(msg.params[1])) is not None:
            chan.modes.clear()
            changes = tuple(self.iter_mode_changes(msg.params[2], list(msg.params[3:]), True))
            self._apply_channel_modes(chan, changes)
        return [self._numeric(msg)]

    def _on_umodeis(self, msg: Message) -> list[ev.Event]:
        if len(msg.params) >= 2:
            self.modes = set(msg.params[1].lstrip("+"))
        return [self._numeric(msg)]

    def _on_away(self, msg: Message) -> list[ev.Event]:
        # away-notify: ":nick!u@h AWAY :text" or ":nick!u@h AWAY"
        nick = self._source_nick(msg)
        text = msg.params[0] if msg.params and msg.params[0] else None
        user = self.users.get(self.fold(nick))
        if user is not None:
            user.away = text
        return [ev.Away(nick, text, message=msg)]

    def _on_rpl_away(self, msg: Message) -> list[ev.Event]:
        # 301 me nick :text
        if len(msg.params) >= 3:
            return [ev.Away(msg.params[1], msg.params[2], message=msg), self._numeric(msg)]
        return [self._numeric(msg)]

    def _on_self_away(self, msg: Message) -> list[ev.Event]:
        if msg.command == n.RPL_UNAWAY:
            self.away = None
        elif self.away is None:
            self.away = ""
        return [self._numeric(msg)]

    def _on_account(self, msg: Message) -> list[ev.Event]:
        user = self._touch_user(msg.source)
        if user is not None and msg.params:
            user.account = None if msg.params[0] == "*" else msg.params[0]
        return [ev.Other(message=msg)]

    def _on_chghost(self, msg: Message) -> list[ev.Event]:
        user = self._touch_user(msg.source)
        if user is not None and len(msg.params) >= 2:
            user.user, user.host = msg.params[0], msg.params[1]
        return [ev.Other(message=msg)]

    def _on_invite(self, msg: Message) -> list[ev.Event]:
        if len(msg.params) < 2:
            return []
        return [ev.Invite(msg.params[1], msg.params[0], self._source_nick(msg), message=msg)]

    def _on_logged_in(self, msg: Message) -> list[ev.Event]:
        # 900 nick nick!user@host account :You are now logged in as account
        if len(msg.params) >= 3:
            self.account = msg.params[2]
        return [self._numeric(msg)]

    def _on_logged_out(self, msg: Message) -> list[ev.Event]:
        self.account = None
        return [self._numeric(msg)]

    def _on_markread(self, msg: Message) -> list[ev.Event]:
        # MARKREAD <target> <timestamp=...|*>
        if len(msg.params) < 2:
            return [ev.Other(message=msg)]
        target, value = msg.params[0], msg.params[1]
        when = None
        if value != "*":
            when = parse_server_time(value.removeprefix("timestamp="))
            if when is None or when.tzinfo is None:
                return [ev.Other(message=msg)]
            when = when.astimezone(UTC)
        key = self.fold(target)
        self.read_markers[key] = when
        self._marker_names[key] = target
        chan = self.channel(target)
        return [ev.ReadMarker(chan.name if chan else target, when, message=msg)]

    def _on_redact(self, msg: Message) -> list[ev.Event]:
        # :nick!u@h REDACT <target> <msgid> [:reason]
        if len(msg.params) < 2:
            return [ev.Other(message=msg)]
        target, msgid = msg.params[0], msg.params[1]
        reason = msg.params[2] if len(msg.params) > 2 else ""
        nick = self._source_nick(msg)
        from_self = msg.source is not None and self.is_me(nick)
        stripped = target.lstrip(self.prefix_symbols)
        if self.is_channel(stripped):
            chan = self.channel(stripped)
            conversation = chan.name if chan else stripped
        else:
            conversation = target if from_self else nick
        return [ev.Redact(target, msgid, nick, reason, conversation, from_self, message=msg)]

    def _on_tagmsg(self, msg: Message) -> list[ev.Event]:
        # @+typing=active :nick!u@h TAGMSG <target>
        state = msg.tags.get("+typing")
        if state not in ev.TYPING_STATES or not msg.params or msg.source is None:
            return [ev.Other(message=msg)]
        target = msg.params[0]
        nick = self._source_nick(msg)
        from_self = self.is_me(nick)
        stripped = target.lstrip(self.prefix_symbols)
        if self.is_channel(stripped):
            chan = self.channel(stripped)
            conversation = chan.name if chan else stripped
        else:
            conversation = target if from_self else nick
        return [ev.Typing(nick, target, conversation, state, from_self, message=msg)]

    def _on_privmsg(self, msg: Message) -> list[ev.Event]:
        chat = self.chat_message(msg)
        return [chat] if chat is not None else []

    def chat_message(self, msg: Message) -> ev.ChatMessage | ev.Ctcp | None:
        """The event for a ``PRIVMSG`` or ``NOTICE``: a :class:`ChatMessage`, or a
        :class:`Ctcp` for a CTCP request other than ``ACTION``."""
        if len(msg.params) < 2:
            return None
        target, text = msg.params[0], msg.params[1]
        notice = msg.command.upper() == "NOTICE"
        source = msg.source or self.server_name
        mask = split_source(source)
        from_server = msg.source is None or (
            not mask.user and not mask.host and ("." in mask.nick or mask.nick == self.server_name)
        )
        nick = mask.nick
        from_self = not from_server and self.is_me(nick)
        if not from_server:
            self._touch_user(source)
        action = False
        payload = parse_ctcp(text)
        if payload is not None:
            if payload.command == "ACTION":
                action, text = True, payload.args
            elif notice:
                text = f"CTCP {payload.command} reply: {payload.args}".rstrip()
            else:
                return ev.Ctcp(nick, target, payload.command, payload.args, message=msg)
        stripped = target.lstrip(self.prefix_symbols)  # STATUSMSG: "@#chan"
        if self.is_channel(stripped):
            chan = self.channel(stripped)
            conversation = chan.name if chan else stripped
        elif from_self:
            conversation = target
        elif from_server or target == "*" or (notice and not self.registered):
            conversation = "*"
        else:
            conversation = nick
        return ev.ChatMessage(
            nick,
            target,
            text,
            conversation,
            notice=notice,
            action=action,
            from_self=from_self,
            from_server=from_server,
            time=parse_server_time(msg.tags.get("time")),
            account=msg.tags.get("account"),
            msgid=msg.tags.get("msgid"),
            message=msg,
        )


_HANDLERS: dict[str, Callable[[ClientState, Message], list[ev.Event]]] = {
    n.RPL_WELCOME: ClientState._on_welcome,
    n.RPL_ISUPPORT: ClientState._on_isupport,
    "JOIN": ClientState._on_join,
    "PART": ClientState._on_part,
    "KICK": ClientState._on_kick,
    "QUIT": ClientState._on_quit,
    "NICK": ClientState._on_nick,
    "TOPIC": ClientState._on_topic,
    n.RPL_TOPIC: ClientState._on_rpl_topic,
    n.RPL_NOTOPIC: ClientState._on_rpl_notopic,
    n.RPL_TOPICWHOTIME: ClientState._on_rpl_topicwhotime,
    n.RPL_NAMREPLY: ClientState._on_namreply,
    n.RPL_ENDOFNAMES: ClientState._on_endofnames,
    "MODE": ClientState._on_mode,
    n.RPL_CHANNELMODEIS: ClientState._on_channelmodeis,
    n.RPL_UMODEIS: ClientState._on_umodeis,
    "AWAY": ClientState._on_away,
    n.RPL_AWAY: ClientState._on_rpl_away,
    n.RPL_UNAWAY: ClientState._on_self_away,
    n.RPL_NOWAWAY: ClientState._on_self_away,
    "ACCOUNT": ClientState._on_account,
    "CHGHOST": ClientState._on_chghost,
    "INVITE": ClientState._on_invite,
    n.RPL_LOGGEDIN: ClientState._on_logged_in,
    n.RPL_LOGGEDOUT: ClientState._on_logged_out,
    "PRIVMSG": ClientState._on_privmsg,
    "NOTICE": ClientState._on_privmsg,
    "MARKREAD": ClientState._on_markread,
    "TAGMSG": ClientState._on_tagmsg,
    "REDACT": ClientState._on_redact,
}
