"""A channel: its members with their prefix modes, its modes, lists and topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubbub.protocol.casemap import Casemapping, Folded, fold
from hubbub.protocol.masks import compile_mask

if TYPE_CHECKING:
    from hubbub.server.session import Session
    from hubbub.server.user import User

PREFIX_MODES = "ov"
"""Membership modes, highest rank first."""
PREFIX_SYMBOLS = "@+"
"""The symbol shown for each of :data:`PREFIX_MODES`."""
LIST_MODES = "beI"
FLAG_MODES = "imnst"
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
        """True if any of the subject ``masks`` (e.g. nick!user@host) matches an entry."""
        entries = self.lists[mode]
        if not entries:
            return False
        subjects = [fold(subject, mapping) for subject in masks]
        return any(
            compile_mask(entry.mask, mapping).matches_folded(subject)
            for entry in entries
            for subject in subjects
        )

    def is_banned(self, user: User, mapping: Casemapping) -> bool:
        """True if ``user`` matches a ban and no ban exception."""
        if not self.lists["b"]:
            return False
        subjects = subjects_of(user)
        return self.matches_list("b", subjects, mapping) and not self.matches_list(
            "e", subjects, mapping
        )

    @property
    def secret(self) -> bool:
        """Secret channels are hidden from LIST, WHOIS and NAMES for non-members."""
        return "s" in self.flags

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
