"""A channel: its members with their prefix modes, its modes, lists and topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubbub.protocol.casemap import Casemapping, Folded, fold
from hubbub.protocol.masks import compile_mask
from hubbub.server.extbans import ACCOUNT, MUTE, extban_type

if TYPE_CHECKING:
    from hubbub.server.session import Session
    from hubbub.server.user import User

PREFIX_MODES = "ov"
"""Membership modes, highest rank first."""
PREFIX_SYMBOLS = "@+"
"""The symbol shown for each of :data:`PREFIX_MODES`."""
LIST_MODES = "beI"
FLAG_MODES = "Cimnst"
NO_CTCP = "C"
"""The flag that keeps CTCP other than ACTION out of a channel."""
MAX_LIST_MASKS = 5
"""The most channel masks one LIST matches against (ISUPPORT ``TARGMAX`` ``LIST:5``; the
others are ignored): each costs a match per channel, on the event loop."""
KEYLEN = 23
"""The longest channel key (``+k``), in characters: a longer one is cut to it when set (as
ircu does), so it is advertised (ISUPPORT ``KEYLEN``) for clients to know which key works."""
_SYMBOL = dict(zip(PREFIX_MODES, PREFIX_SYMBOLS, strict=True))


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One ban, ban exception or invite exception."""

    mask: str
    setter: str
    time: int


class Channel:
    """A channel and everything the server knows of it. Mutated by the core only."""

    __slots__ = (
        "born",
        "created",
        "flags",
        "folded",
        "history",
        "invitees",
        "key",
        "limit",
        "lists",
        "local",
        "members",
        "name",
        "closed_since",
        "name_bytes",
        "tagged",
        "topic",
        "topic_setter",
        "topic_time",
    )

    def __init__(self, name: str, folded: Folded, now: float) -> None:
        self.name = name
        self.name_bytes = name.encode()
        self.folded = folded
        self.created = int(now)
        self.born = now
        self.closed_since: tuple[float | None, float | None] = (None, None)
        """When this channel was first +i or +k, and first +s or +p, since it was made
        (None: never yet). What was said then stays closed after the mode goes: being let
        in, or in from outside, later opens none of it (see ``History.channel_access``)."""
        """When this channel came to be (``created`` to the second): its history is
        readable from then on, never from before, when whoever held the name was someone
        else (a registered channel keeps it across restarts: its registration's time)."""
        self.members: dict[User, str] = {}
        self.local: dict[Session, None] = {}
        """The connections of the members connected here (what a relay writes to; a
        member with none is a service, or a user of another node)."""
        self.invitees: set[User] = set()
        """Users invited here who have not joined yet (their invitation ends with the
        channel)."""
        self.tagged = 0
        """Members whose capabilities add tags to messages (render key not 0): while there
        are none, a relay can send every member the same bytes without asking."""
        self.flags: set[str] = {"n", "t"}
        self.key: str | None = None
        self.limit: int | None = None
        self.lists: dict[str, list[ListEntry]] = {m: [] for m in LIST_MODES}
        self.topic = ""
        self.topic_setter = ""
        self.topic_time = 0
        self.history = "default"
        """Whether its messages are kept: ``"default"`` (as ``[history]`` says), ``"on"``,
        ``"public"`` (kept, and readable by non-members unless the channel is +s or +p) or
        ``"off"``. Set by ChanServ for a registered channel."""

    def add(self, user: User, modes: str) -> None:
        """Make ``user`` a member with prefix ``modes`` (the network keeps the user's own
        index in step)."""
        if user not in self.members:
            session = user.session
            if session is not None:
                self.local[session] = None
                if session.render_key:
                    self.tagged += 1
        self.members[user] = modes

    def remove(self, user: User) -> None:
        """Take ``user`` out of the member list, if it is there."""
        if user in self.members:
            del self.members[user]
            session = user.session
            if session is not None:
                del self.local[session]
                if session.render_key:
                    self.tagged -= 1

    def is_op(self, user: User) -> bool:
        """True if ``user`` is a channel operator here."""
        return "o" in self.members.get(user, "")

    def rank(self, user: User) -> int:
        """0 for an operator, 1 for voice, 2 for a plain member (lower is higher)."""
        modes = self.members.get(user, "")
        for i, mode in enumerate(PREFIX_MODES):
            if mode in modes:
                return i
        return len(PREFIX_MODES)

    def prefix_of(self, user: User, multi: bool) -> str:
        """The membership symbols of ``user``: all of them, or the highest only."""
        modes = self.members.get(user, "")
        symbols = [_SYMBOL[m] for m in PREFIX_MODES if m in modes]
        if not symbols:
            return ""
        return "".join(symbols) if multi else symbols[0]

    def mode_string(self, show_key: bool) -> list[str]:
        """The ``+modes`` and their parameters, as RPL_CHANNELMODEIS shows them."""
        modes = "+" + "".join(sorted(self.flags))
        params: list[str] = []
        if self.key is not None:
            modes += "k"
            params.append(self.key if show_key else "*")
        if self.limit is not None:
            modes += "l"
            params.append(str(self.limit))
        return [modes, *params]

    def matches_list(self, mode: str, masks: tuple[str, ...], mapping: Casemapping) -> bool:
        """True if any of the subject ``masks`` (e.g. nick!user@host) matches a plain
        ``nick!user@host`` entry (extbans aside: see :meth:`matches_user`)."""
        entries = self.lists[mode]
        if not entries:
            return False
        subjects = [fold(subject, mapping) for subject in masks]
        return any(
            compile_mask(entry.mask, mapping).matches_folded(subject)
            for entry in entries
            if not extban_type(entry.mask)
            for subject in subjects
        )

    def matches_user(self, mode: str, user: User, mapping: Casemapping) -> bool:
        """True if an entry of list ``mode`` that is not a mute matches ``user``: by one of
        its masks (:func:`subjects_of`) or, for ``a:`` entries, by its account."""
        entries = self.lists[mode]
        if not entries:
            return False
        subject = _Subject(user, mapping)
        return any(
            not entry.mask.startswith(_MUTE) and subject.matches(entry.mask) for entry in entries
        )

    def is_banned(self, user: User, mapping: Casemapping) -> bool:
        """True if ``user`` matches a ban and no ban exception (what keeps it out: mutes
        let it in)."""
        if not self.lists["b"]:
            return False
        return self.matches_user("b", user, mapping) and not self.matches_user("e", user, mapping)

    def is_silenced(self, user: User, mapping: Casemapping) -> bool:
        """True if the ban list keeps ``user`` from speaking here: a ban or a mute
        (``m:``) matches it and no exception lifts it (a plain exception lifts both, an
        ``m:`` exception mutes only). Voice and the other channel modes are
        :func:`~hubbub.server.network.may_speak`'s part."""
        bans = self.lists["b"]
        if not bans:
            return False
        subject = _Subject(user, mapping)
        banned = muted = False
        for entry in bans:
            mask = entry.mask
            if mask.startswith(_MUTE):
                muted = muted or subject.matches(mask[2:])
            elif not banned:
                banned = subject.matches(mask)
            if banned and muted:
                break
        if not (banned or muted):
            return False
        mute_lifted = False
        for entry in self.lists["e"]:
            mask = entry.mask
            if mask.startswith(_MUTE):
                mute_lifted = mute_lifted or subject.matches(mask[2:])
            elif subject.matches(mask):
                return False
        return banned or not mute_lifted

    @property
    def secret(self) -> bool:
        """Secret channels are hidden from LIST, WHOIS and NAMES for non-members."""
        return "s" in self.flags

    def note_closed(self, now: float) -> None:
        """Keep when the channel was first +i or +k, and first +s or +p (see
        :attr:`closed_since`), its modes being what they are at ``now``."""
        restricted, hidden = self.closed_since
        if restricted is None and ("i" in self.flags or self.key is not None):
            restricted = now
        if hidden is None and self.flags & {"s", "p"}:
            hidden = now
        self.closed_since = (restricted, hidden)

    def hidden_from(self, user: User) -> bool:
        """True if ``user`` must be answered as if this channel did not exist: it is
        secret and ``user`` is neither in it nor an IRC operator."""
        return "s" in self.flags and user not in self.members and "o" not in user.modes

    @property
    def names_symbol(self) -> str:
        """``@`` for a secret channel, ``=`` for a public one (RPL_NAMREPLY)."""
        return "@" if self.secret else "="


def subjects_of(user: User) -> tuple[str, ...]:
    """The forms of a user that masks match against: by the host others see, the cloak
    (when CHGHOST replaced it), the real host name and the IP address."""
    main = user.prefix
    session = user.session
    hosts = (
        (user.cloak,) if session is None else (user.cloak, session.peer.hostname, session.peer.ip)
    )
    subjects = [main]
    for host in hosts:
        if host and host != user.host:
            subject = f"{user.nick}!{user.username}@{host}"
            if subject not in subjects:
                subjects.append(subject)
    return tuple(subjects)


_MUTE = f"{MUTE}:"


class _Subject:
    """One user as list entries see it, folded once for a whole list: its masks and its
    account."""

    __slots__ = ("account", "mapping", "masks")

    def __init__(self, user: User, mapping: Casemapping) -> None:
        self.mapping = mapping
        self.masks = [fold(subject, mapping) for subject in subjects_of(user)]
        self.account = fold(user.account, mapping) if user.account is not None else None

    def matches(self, mask: str) -> bool:
        """True if the entry ``mask`` (a ``nick!user@host`` mask or an ``a:`` extban; never
        an ``m:`` one) matches this user."""
        kind = extban_type(mask)
        if not kind:
            compiled = compile_mask(mask, self.mapping)
            return any(compiled.matches_folded(subject) for subject in self.masks)
        if kind == ACCOUNT:
            account = self.account
            return account is not None and compile_mask(mask[2:], self.mapping).matches_folded(
                account
            )
        return False  # (a type this server does not know: refused when set, matches nobody)
