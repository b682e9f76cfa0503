"""Case folding and name validation.

Nicknames and channel names compare case-insensitively under the server's ``CASEMAPPING``:
``ascii`` folds A-Z only; ``rfc1459`` also folds ``[]\\~`` to ``{}|^`` (the Scandinavian
heritage of IRC). A folded name has its own type so it never mixes with a display name.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable
from typing import NewType, cast

Folded = NewType("Folded", str)
"""A name folded under the server's casemapping: the key of every index."""


class Casemapping(enum.Enum):
    """The casemappings a server may advertise in ``CASEMAPPING``."""

    ASCII = "ascii"
    RFC1459 = "rfc1459"
    STRICT_RFC1459 = "strict-rfc1459"


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_TABLES: dict[Casemapping, dict[int, int]] = {
    Casemapping.ASCII: str.maketrans(_UPPER, _LOWER),
    Casemapping.RFC1459: str.maketrans(_UPPER + "[]\\~", _LOWER + "{}|^"),
    Casemapping.STRICT_RFC1459: str.maketrans(_UPPER + "[]\\", _LOWER + "{}|"),
}


def fold(name: str, mapping: Casemapping = Casemapping.RFC1459) -> Folded:
    """Fold ``name`` for comparison under ``mapping``."""
    return Folded(name.translate(_TABLES[mapping]))


def folder(mapping: Casemapping) -> Callable[[str], Folded]:
    """A fast one-argument folding function for ``mapping`` (no Python frame per call:
    it is called for every message a server relays)."""
    return cast(Callable[[str], Folded], operator.methodcaller("translate", _TABLES[mapping]))


# RFC 2812: nickname = ( letter / special ) *( letter / digit / special / "-" )
_NICK_RE = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*\Z")
CHANTYPES = "#"
_CHANNEL_FORBIDDEN = re.compile(
    "[\x00-\x20\x7f,:\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
"""What no channel name holds: Modern IRC's space, comma and BEL (and ``:``, CR, LF, NUL,
which lines cannot carry), and also the other control characters (mIRC formatting codes
among them) and the invisible and direction-changing ones (zero-width spaces and joiners,
bidirectional marks, embeddings, overrides and isolates): a name with them shows as another
channel's, or turns the text around it in a client (``#\u202e01laer#``, ``#real\u200b``)."""


def is_valid_nick(nick: str, max_len: int = 30) -> bool:
    """True if ``nick`` is a nickname a server accepts (RFC 2812 characters, length)."""
    return 0 < len(nick) <= max_len and _NICK_RE.match(nick) is not None


def is_channel_name(name: str, chantypes: str = CHANTYPES) -> bool:
    """True if ``name`` looks like a channel (starts with a channel type character)."""
    return bool(name) and name[0] in chantypes


def is_valid_channel(name: str, max_len: int = 64, chantypes: str = CHANTYPES) -> bool:
    """True if ``name`` is a channel name a server accepts: a type prefix, then none of
    :data:`_CHANNEL_FORBIDDEN` (space, comma, colon, control characters, invisible and
    direction-changing ones), at most ``max_len`` bytes in UTF-8 (bytes, as other
    servers count ``CHANNELLEN``: what bounds the lines that carry the name)."""
    return (
        1 < len(name) <= max_len
        and len(name.encode("utf-8", "replace")) <= max_len
        and name[0] in chantypes
        and _CHANNEL_FORBIDDEN.search(name) is None
    )


# RFC 1123 labels: letters, digits and inner hyphens, 1 to 63 characters. No underscore: the
# ircdocs vectors reject ``_irc._sctp.lol.net.uk`` as an IRC host name.
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def is_valid_hostname(host: str) -> bool:
    """True for a DNS-style host name with a ``.`` in it (labels of letters, digits and inner
    ``-``, at most 63 characters each; one trailing ``.`` allowed, as in ``services.``)."""
    if not host or len(host) > 253 or "." not in host:
        return False
    return all(_HOST_LABEL.match(label) for label in host.removesuffix(".").split("."))
