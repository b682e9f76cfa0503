"""Numeric replies as sentences a person reads: ``dave has been idle 23 s, signed on at ...``.

Servers answer ``WHOIS``, ``LUSERS``, ``MODE #c +b`` and the like with numerics whose
parameters make sense to a program (``dave 23 1796232701 :seconds idle, signon time``).
:func:`describe_numeric` turns the common ones into a sentence, pure and without I/O, so every
front-end (the terminal client, a bot, a web page) can show the same text. Times are shown in
local time (or ``tz``), durations as ``1 d 2 h``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from hubbub.protocol import numerics as n
from hubbub.protocol.message import split_source
from hubbub.protocol.numbers import parse_number

_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def format_duration(seconds: int) -> str:
    """``seconds`` in its two largest units, as a person would say it: ``23 s``,
    ``4 min 5 s``, ``1 d 2 h`` (a zero second unit is left out: ``3 h``)."""
    if seconds <= 0:
        return "0 s"
    parts: list[str] = []
    for name, size in _UNITS:
        value, seconds = divmod(seconds, size)
        if parts:
            if value:
                parts.append(f"{value} {name}")
            break
        if value:
            parts.append(f"{value} {name}")
    return " ".join(parts)


def format_time(timestamp: int, tz: tzinfo | None = None) -> str:
    """A Unix time as ``2026-12-03 10:15 (local time)``, or in ``tz`` (named after it)."""
    try:
        when = datetime.fromtimestamp(timestamp, tz)
    except (OverflowError, OSError, ValueError):
        return f"{timestamp} (Unix time)"
    zone = "local time" if tz is None else (when.tzname() or str(tz))
    return f"{when:%Y-%m-%d %H:%M} ({zone})"


class _Misfit(Exception):
    """The parameters are not what the numeric should have: no sentence then."""


class _Params:
    """A numeric's parameters (without our nick), with checked access."""

    def __init__(self, params: Sequence[str], tz: tzinfo | None) -> None:
        self.params = params
        self.tz = tz

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, index: int) -> str:
        if not -len(self.params) <= index < len(self.params) or not self.params[index]:
            raise _Misfit
        return self.params[index]

    @property
    def text(self) -> str:
        """The last parameter (the ``:trailing`` one, usually), possibly empty."""
        return self.params[-1] if self.params else ""

    def number(self, index: int) -> int:
        value = parse_number(self[index])
        if value is None:
            raise _Misfit
        return value

    def time(self, index: int) -> str:
        return format_time(self.number(index), self.tz)

    def says(self, nick_index: int, default: str) -> str:
        """``nick <what the server says>``: the servers' own words for flags such as
        "is an IRC operator" vary, and read well after the nick."""
        text = self.text if len(self) > nick_index + 1 else ""
        return f"{self[nick_index]} {text or default}"


def _info(p: _Params, index: int) -> str:
    """`` (text)`` when the trailing text is parameter ``index`` and not empty."""
    return f" ({p.text})" if len(p) > index and p.text else ""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _set_by(p: _Params, index: int) -> str:
    """``, set by bob on 2026-...`` from optional setter and time parameters."""
    if len(p) <= index or not p.params[index]:
        return ""
    who = split_source(p[index]).nick or p[index]
    try:
        return f", set by {who} on {p.time(index + 1)}"
    except _Misfit:
        return f", set by {who}"


def _topic_set(p: _Params) -> str:
    if len(p) < 2 or not p.params[1]:
        raise _Misfit  # without a setter there is nothing to say
    return f"topic of {p[0]}{_set_by(p, 1)}"


def _whois_user(verb: str) -> Callable[[_Params], str]:
    def describe(p: _Params) -> str:
        real = f", real name: {p.text}" if len(p) >= 5 and p.text else ""
        return f"{p[0]} {verb} {p[1]}@{p[2]}{real}"

    return describe


def _whois_idle(p: _Params) -> str:
    idle = f"{p[0]} has been idle {format_duration(p.number(1))}"
    if len(p) >= 4:  # servers that send no signon time send "nick secs :text"
        try:
            return f"{idle}, signed on at {p.time(2)}"
        except _Misfit:
            pass
    return idle


def _whois_actually(p: _Params) -> str:
    if len(p) >= 4:
        return f"{p[0]} really connects from {p[1]} ({p[2]})"
    if len(p) == 3:
        return f"{p[0]} really connects from {p[1]}"
    return p.says(0, "really connects from elsewhere")


def _mode_list(what: str) -> Callable[[_Params], str]:
    def describe(p: _Params) -> str:
        return f"{p[0]} {what} {p[1]}{_set_by(p, 2)}"

    return describe


def _users(where: str) -> Callable[[_Params], str]:
    def describe(p: _Params) -> str:
        if len(p) >= 3:
            try:
                return f"{_plural(p.number(0), 'user')} {where}, at most {p.number(1)} so far"
            except _Misfit:
                pass
        return p[-1]

    return describe


def _list_entry(p: _Params) -> str:
    count = _plural(p.number(1), "user")
    return f"{p[0]} ({count}): {p.text}" if len(p) >= 3 and p.text else f"{p[0]} ({count})"


def _who_reply(p: _Params) -> str:
    # <channel> <user> <host> <server> <nick> <flags> :<hopcount> <realname>
    where = f" in {p[0]}" if p[0] != "*" else ""
    flags = p.params[5] if len(p) > 5 else ""
    away = ", away" if "G" in flags else ""
    oper = ", an IRC operator" if "*" in flags else ""
    real = p.text.partition(" ")[2] if len(p) >= 7 else ""
    real = f", real name: {real}" if real else ""
    return f"{p[4]} is {p[1]}@{p[2]}{where}{away}{oper}{real}"


def _names(values: str) -> str:
    return ", ".join(values.split())


def _monitor(what: str) -> Callable[[_Params], str]:
    def describe(p: _Params) -> str:
        nicks = [split_source(t).nick for t in p[-1].split(",") if t]
        return f"{what}: {', '.join(nicks)}"

    return describe


_DESCRIBERS: dict[str, Callable[[_Params], str]] = {
    n.RPL_UMODEIS: lambda p: f"your user modes: {p[0]}",
    n.RPL_LUSEROP: lambda p: f"{_plural(p.number(0), 'operator')} online",
    n.RPL_LUSERUNKNOWN: lambda p: f"{_plural(p.number(0), 'unknown connection')}",
    n.RPL_LUSERCHANNELS: lambda p: f"{_plural(p.number(0), 'channel')} formed",
    n.RPL_LOCALUSERS: _users("on this server"),
    n.RPL_GLOBALUSERS: _users("on the network"),
    n.RPL_WHOISCERTFP: lambda p: p.says(0, "has a client certificate"),
    n.RPL_AWAY: lambda p: f"{p[0]} is away: {p[1]}" if len(p) >= 2 else f"{p[0]} is away",
    n.RPL_WHOISREGNICK: lambda p: p.says(0, "has identified for this nick"),
    n.RPL_WHOISUSER: _whois_user("is"),
    n.RPL_WHOISSERVER: lambda p: f"{p[0]}'s server: {p[1]}" + _info(p, 2),
    n.RPL_WHOISOPERATOR: lambda p: p.says(0, "is an IRC operator"),
    n.RPL_WHOWASUSER: _whois_user("was"),
    n.RPL_ENDOFWHO: lambda p: f"end of WHO for {p[0]}",
    n.RPL_WHOISIDLE: _whois_idle,
    n.RPL_ENDOFWHOIS: lambda p: f"end of WHOIS for {p[0]}",
    n.RPL_WHOISCHANNELS: lambda p: f"{p[0]} is in {_names(p[1])}",
    n.RPL_WHOISSPECIAL: lambda p: p.says(0, "is special"),
    n.RPL_LISTSTART: lambda p: "channels:",
    n.RPL_LIST: _list_entry,
    n.RPL_LISTEND: lambda p: "end of the channel list",
    n.RPL_CHANNELMODEIS: lambda p: f"{p[0]} has modes {' '.join(p.params[1:])}".rstrip(),
    n.RPL_CREATIONTIME: lambda p: f"{p[0]} was created on {p.time(1)}",
    n.RPL_WHOISACCOUNT: lambda p: f"{p[0]} is logged in as {p[1]}",
    n.RPL_NOTOPIC: lambda p: f"{p[0]} has no topic",
    n.RPL_TOPIC: lambda p: f"topic of {p[0]}: {p[1]}",
    n.RPL_TOPICWHOTIME: _topic_set,
    n.RPL_WHOISBOT: lambda p: p.says(0, "is a bot"),
    n.RPL_INVITELIST: lambda p: f"you are invited to {p[0]}",
    n.RPL_ENDOFINVITELIST: lambda p: "end of your invitations",
    n.RPL_WHOISACTUALLY: _whois_actually,
    n.RPL_INVITING: lambda p: f"you invited {p[0]} to {p[1]}",
    n.RPL_INVEXLIST: _mode_list("lets in"),
    n.RPL_ENDOFINVEXLIST: lambda p: f"end of the invite exceptions of {p[0]}",
    n.RPL_EXCEPTLIST: _mode_list("exempts from bans"),
    n.RPL_ENDOFEXCEPTLIST: lambda p: f"end of the ban exceptions of {p[0]}",
    n.RPL_VERSION: lambda p: f"{p[1]} runs {p[0]}" + _info(p, 2),
    n.RPL_WHOREPLY: _who_reply,
    n.RPL_NAMREPLY: lambda p: f"in {p[1]}: {_names(p.text)}",
    n.RPL_ENDOFNAMES: lambda p: f"end of the names in {p[0]}",
    n.RPL_BANLIST: _mode_list("bans"),
    n.RPL_ENDOFBANLIST: lambda p: f"end of the ban list of {p[0]}",
    n.RPL_ENDOFWHOWAS: lambda p: f"end of WHOWAS for {p[0]}",
    n.RPL_WHOISHOST: lambda p: p.says(0, "has a hidden host"),
    n.RPL_WHOISMODES: lambda p: p.says(0, "uses some modes"),
    n.RPL_TIME: lambda p: f"the time on {p[0]}: {p.text}",
    n.RPL_WHOISSECURE: lambda p: p.says(0, "is using a secure connection"),
    n.RPL_MONONLINE: _monitor("online"),
    n.RPL_MONOFFLINE: _monitor("offline"),
    n.RPL_MONLIST: _monitor("monitored"),
    n.RPL_ENDOFMONLIST: lambda p: "end of the monitor list",
    n.RPL_LOGGEDIN: lambda p: f"you are logged in as {p[1]}",
    n.RPL_LOGGEDOUT: lambda p: "you are logged out",
    n.RPL_SASLMECHS: lambda p: f"SASL mechanisms offered: {p[0].replace(',', ', ')}",
}


def describe_numeric(code: str, params: Sequence[str], *, tz: tzinfo | None = None) -> str | None:
    """A sentence for numeric ``code`` with ``params`` (without our own nick first: as in
    :attr:`~hubbub.client.events.Numeric.params`); ``None`` for a numeric it does not know,
    or whose parameters do not fit it (then show :func:`numeric_text`'s plain form). Times
    are in local time, or in ``tz``."""
    describe = _DESCRIBERS.get(code)
    if describe is None:
        return None
    try:
        return describe(_Params(params, tz))
    except _Misfit:
        return None


def plain_numeric(params: Sequence[str]) -> str:
    """A numeric's parameters joined with spaces, ``*`` placeholders left out: how a
    numeric without a sentence is shown."""
    if not params:
        return ""
    return " ".join([*(p for p in params[:-1] if p != "*"), params[-1]]).strip()


def numeric_text(code: str, params: Sequence[str], *, tz: tzinfo | None = None) -> str:
    """The sentence :func:`describe_numeric` makes, or else the parameters as they are."""
    return describe_numeric(code, params, tz=tz) or plain_numeric(params)
