"""A channel: its members with their prefix modes, its modes, lists and topic."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hubbub.protocol.casemap import Casemapping, Folded, fold
from hubbub.protocol.masks import Mask
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
OUTSIDER_VERDICTS = 64
"""Users who are not members whose ban verdicts a channel keeps (those who tried to join or
sent from outside): more, and the channel forgets them all. Members' verdicts go with them."""
_SYMBOL = dict(zip(PREFIX_MODES, PREFIX_SYMBOLS, strict=True))


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One ban, ban exception or invite exception."""

    mask: str
    setter: str
    time: int
    matcher: _Matcher | None = field(default=None, init=False, compare=False, repr=False)
    """What matches users against :attr:`mask`, made the first time it is needed (see
    :func:`_matcher_of`): an entry is compiled once while the channel keeps it, whatever
    else comes and goes in :func:`~hubbub.protocol.masks.compile_mask`'s cache."""


class Channel:
    """A channel and everything the server knows of it. Mutated by the core only."""

    __slots__ = (
        "_lists",
        "_outsiders",
        "_verdicts",
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
        self._lists: dict[str, tuple[ListEntry, ...]] = {m: () for m in LIST_MODES}
        self.lists: Mapping[str, tuple[ListEntry, ...]] = self._lists
        """The ban (``b``), exception (``e``) and invite-exception (``I``) lists, read-only:
        :meth:`set_list` changes them (it forgets the verdicts they gave)."""
        self._verdicts: dict[User, tuple[int, int]] = {}
        """What the lists say of each member who was checked: ``(identity, bits)``, good
        while the member's :attr:`~hubbub.server.user.User.identity` is ``identity`` and the
        lists do not change (see :meth:`_verdict`)."""
        self._outsiders: dict[User, tuple[int, int]] = {}
        """The same for users who are not members, at most :data:`OUTSIDER_VERDICTS`."""
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
            if self._outsiders:  # (the verdict that let it join is a member's now)
                verdict = self._outsiders.pop(user, None)
                if verdict is not None:
                    self._verdicts[user] = verdict
        self.members[user] = modes

    def remove(self, user: User) -> None:
        """Take ``user`` out of the member list, if it is there."""
        if user in self.members:
            del self.members[user]
            if self._verdicts:
                self._verdicts.pop(user, None)
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

    def set_list(self, mode: str, entries: Iterable[ListEntry]) -> None:
        """Make list ``mode`` (``b``, ``e`` or ``I``) hold ``entries``, in this order. The
        one way the lists change, so that the verdicts they gave go with them."""
        if mode not in self._lists:
            raise KeyError(mode)
        self._lists[mode] = tuple(entries)
        self._verdicts.clear()
        self._outsiders.clear()

    def matches_list(self, mode: str, masks: tuple[str, ...], mapping: Casemapping) -> bool:
        """True if any of the subject ``masks`` (e.g. nick!user@host) matches a plain
        ``nick!user@host`` entry (extbans aside: see :meth:`matches_user`)."""
        entries = self._lists[mode]
        if not entries:
            return False
        subjects = [fold(subject, mapping) for subject in masks]
        for entry in entries:
            matcher = _matcher_of(entry, mapping)
            mask = matcher.mask
            if (
                mask is not None
                and not matcher.mute
                and any(mask.matches_folded(subject) for subject in subjects)
            ):
                return True
        return False

    def matches_user(self, mode: str, user: User, mapping: Casemapping) -> bool:
        """True if an entry of list ``mode`` that is not a mute matches ``user``: by one of
        its masks (:func:`subjects_of`) or, for ``a:`` entries, by its account. Not cached:
        :meth:`is_banned`, :meth:`is_silenced` and :meth:`is_invite_excepted` are."""
        entries = self._lists[mode]
        if not entries:
            return False
        return _Subject(user, mapping).matches_any(entries)

    def is_banned(self, user: User, mapping: Casemapping) -> bool:
        """True if ``user`` matches a ban and no ban exception (what keeps it out: mutes
        let it in)."""
        if not self._lists["b"]:
            return False
        return bool(self._verdict(user, mapping, _BANS_KNOWN) & _BANNED)

    def is_silenced(self, user: User, mapping: Casemapping) -> bool:
        """True if the ban list keeps ``user`` from speaking here: a ban or a mute
        (``m:``) matches it and no exception lifts it (a plain exception lifts both, an
        ``m:`` exception mutes only). Voice and the other channel modes are
        :func:`~hubbub.server.network.may_speak`'s part."""
        if not self._lists["b"]:
            return False
        return bool(self._verdict(user, mapping, _BANS_KNOWN) & _SILENCED)

    def is_invite_excepted(self, user: User, mapping: Casemapping) -> bool:
        """True if an invite exception (``+I``) matches ``user`` (it may join while the
        channel is ``+i``)."""
        if not self._lists["I"]:
            return False
        return bool(self._verdict(user, mapping, _INVEX_KNOWN) & _INVITE_EXCEPTED)

    def _verdict(self, user: User, mapping: Casemapping, part: int) -> int:
        """The verdict bits of ``user`` with at least ``part`` (:data:`_BANS_KNOWN` or
        :data:`_INVEX_KNOWN`) known.

        Matching a user against the lists costs a match per entry and per form of the user
        (``max_list_entries`` of each list), and it is asked on every message of an unvoiced
        member and on every JOIN.
        What the lists say depends only on the lists and on who the user is (nick, user name,
        hosts, account): it is kept per user with the user's
        :attr:`~hubbub.server.user.User.identity`, which changes with any of these, and
        :meth:`set_list` forgets all of it, so the next check after either change matches
        again."""
        identity = user.identity
        kept = self._verdicts.get(user) or self._outsiders.get(user)
        bits = 0
        if kept is not None and kept[0] == identity:
            bits = kept[1]
            if bits & part:
                return bits
        subject = _Subject(user, mapping)
        if part == _BANS_KNOWN:
            bits |= self._ban_bits(subject)
        else:
            bits |= _INVEX_KNOWN
            if subject.matches_any(self._lists["I"]):
                bits |= _INVITE_EXCEPTED
        if user in self.members:
            self._verdicts[user] = (identity, bits)
        else:
            outsiders = self._outsiders
            if len(outsiders) >= OUTSIDER_VERDICTS and user not in outsiders:
                outsiders.clear()
            outsiders[user] = (identity, bits)
        return bits

    def _ban_bits(self, subject: _Subject) -> int:
        """What the ban and exception lists say of ``subject``: :data:`_BANS_KNOWN`, with
        :data:`_BANNED` and :data:`_SILENCED` as they apply."""
        mapping = subject.mapping
        banned = muted = False
        for entry in self._lists["b"]:
            matcher = _matcher_of(entry, mapping)
            if matcher.mute:
                muted = muted or subject.matches(matcher)
            elif not banned:
                banned = subject.matches(matcher)
            if banned and muted:
                break
        if not (banned or muted):
            return _BANS_KNOWN
        mute_lifted = False
        for entry in self._lists["e"]:
            matcher = _matcher_of(entry, mapping)
            if matcher.mute:
                mute_lifted = mute_lifted or subject.matches(matcher)
            elif subject.matches(matcher):
                return _BANS_KNOWN  # a plain exception lifts bans and mutes alike
        if banned:
            return _BANS_KNOWN | _BANNED | _SILENCED
        return _BANS_KNOWN if mute_lifted else _BANS_KNOWN | _SILENCED

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


_BANS_KNOWN = 1
"""Verdict bit: the ban and exception lists were matched (the two bits below are known)."""
_BANNED = 2
"""Verdict bit: a ban matches and no exception (:meth:`Channel.is_banned`)."""
_SILENCED = 4
"""Verdict bit: a ban or an unlifted mute matches, no exception (:meth:`Channel.is_silenced`)."""
_INVEX_KNOWN = 8
"""Verdict bit: the invite-exception list was matched."""
_INVITE_EXCEPTED = 16
"""Verdict bit: an invite exception matches (:meth:`Channel.is_invite_excepted`)."""


class _Matcher:
    """A list entry made ready to match: a mute or not, and then a ``nick!user@host`` mask,
    an account mask (``a:``), or neither (a type this server does not know: refused when
    set, it matches nobody)."""

    __slots__ = ("account", "mapping", "mask", "mute")

    def __init__(self, text: str, mapping: Casemapping) -> None:
        self.mapping = mapping
        self.mute = extban_type(text) == MUTE
        if self.mute:
            text = text[2:]
        kind = extban_type(text)
        # (Mask, not compile_mask: a list's masks stay compiled as long as the entry lives,
        # and never push out, nor are pushed out by, the WHO and LIST masks of the cache.)
        self.mask = Mask(text, mapping) if not kind else None
        self.account = Mask(text[2:], mapping) if kind == ACCOUNT else None


def _matcher_of(entry: ListEntry, mapping: Casemapping) -> _Matcher:
    """The :class:`_Matcher` of ``entry`` under ``mapping``, made once and kept on it."""
    matcher = entry.matcher
    if matcher is None or matcher.mapping is not mapping:
        matcher = _Matcher(entry.mask, mapping)
        object.__setattr__(entry, "matcher", matcher)  # (a cache: not part of its value)
    return matcher


class _Subject:
    """One user as list entries see it, folded once for a whole list: its masks and its
    account."""

    __slots__ = ("account", "mapping", "masks")

    def __init__(self, user: User, mapping: Casemapping) -> None:
        self.mapping = mapping
        self.masks = [fold(subject, mapping) for subject in subjects_of(user)]
        self.account = fold(user.account, mapping) if user.account is not None else None

    def matches(self, matcher: _Matcher) -> bool:
        """True if the entry of ``matcher`` matches this user (a mute as its inner mask)."""
        mask = matcher.mask
        if mask is not None:
            return any(mask.matches_folded(subject) for subject in self.masks)
        account = matcher.account
        return (
            account is not None
            and self.account is not None
            and account.matches_folded(self.account)
        )

    def matches_any(self, entries: Iterable[ListEntry]) -> bool:
        """True if an entry of ``entries`` that is not a mute matches this user."""
        mapping = self.mapping
        for entry in entries:
            matcher = _matcher_of(entry, mapping)
            if not matcher.mute and self.matches(matcher):
                return True
        return False
