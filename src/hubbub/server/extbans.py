"""Extended bans: entries of the ban, exception and invite-exception lists that match users by
something other than ``nick!user@host``, or that do something other than keep them out.

They are written ``<type>:<argument>``, with no prefix character (ISUPPORT ``EXTBAN=,am``):

- ``a:<account>`` matches users logged in to that account (IRCv3 account-extban, advertised
  as ``ACCOUNTEXTBAN=a``). The account is compared case-insensitively under the server's
  casemapping, and may be a wildcard mask: ``a:*`` is anyone logged in. Allowed in +b, +e
  and +I. ``a:`` with nothing after it is refused.
- ``m:<mask>`` in +b is a mute: a matching user may join but not speak in the channel
  (PRIVMSG, NOTICE, TAGMSG are refused with ``404 ERR_CANNOTSENDTOCHAN``) unless voiced.
  ``<mask>`` is a ``nick!user@host`` mask (completed as a ban's is) or an ``a:`` extban
  (``m:a:spammer``). In +e, ``m:<mask>`` lifts mutes only; a plain exception lifts bans and
  mutes alike. Not allowed in +I.

Any other ``<letter>:`` is refused when set (``696 ERR_INVALIDMODEPARAM``), so that a mask
meant for another server's extban never silently matches nothing. (A host mask that merely
starts like one, the IPv6 ``a::1``, is a host: the argument of an extban never starts with
``:``.)

Entries are checked when they are set, so matching (:mod:`hubbub.server.channel`) only has to
look at the type letter.
"""

from __future__ import annotations

from hubbub.protocol.masks import normalize_ban_mask

__all__ = [
    "ACCOUNT",
    "ACCOUNT_EXTBAN",
    "EXTBAN",
    "MUTE",
    "ExtbanError",
    "extban_type",
    "normalize_list_mask",
]

ACCOUNT = "a"
"""The type letter of the account extban."""
MUTE = "m"
"""The type letter of the mute extban."""
EXTBAN = f",{ACCOUNT}{MUTE}"
"""The ISUPPORT ``EXTBAN`` value: no prefix character, then the type letters."""
ACCOUNT_EXTBAN = ACCOUNT
"""The ISUPPORT ``ACCOUNTEXTBAN`` value: the names of the type that matches accounts."""


class ExtbanError(ValueError):
    """A list entry that looks like an extban but is not one hubbub takes; the text says why
    (it is what ``696 ERR_INVALIDMODEPARAM`` tells the client)."""


def extban_type(mask: str) -> str:
    """The type letter of ``mask`` when it is written as an extban (``a:bob`` -> ``"a"``), or
    "" for anything else (``nick!user@host``, a bare host such as ``a::1``)."""
    if (
        len(mask) >= 2
        and mask[1] == ":"
        and mask[0].isascii()
        and mask[0].isalpha()
        and not mask.startswith(":", 2)
    ):
        return mask[0]
    return ""


def normalize_list_mask(mode: str, mask: str) -> str:
    """``mask`` as list ``mode`` (``b``, ``e`` or ``I``) keeps it: a plain mask completed to
    ``nick!user@host``, an extban checked and its inner mask completed. Raises
    :class:`ExtbanError` for an extban of an unknown type, in a list it does not belong to,
    or with nothing to match."""
    kind = extban_type(mask)
    if not kind:
        return normalize_ban_mask(mask)
    argument = mask[2:]
    if kind == ACCOUNT:
        if not argument:
            raise ExtbanError("a: needs an account name (or a mask: a:* is anyone logged in)")
        return mask
    if kind == MUTE:
        if mode == "I":
            raise ExtbanError("m: (mute) only applies to bans (+b) and exceptions (+e)")
        if not argument:
            raise ExtbanError("m: needs a mask or an a: extban")
        inner = extban_type(argument)
        if inner == MUTE:
            raise ExtbanError("m: takes a mask or an a: extban, not another m:")
        return f"{MUTE}:{normalize_list_mask(mode, argument)}"
    raise ExtbanError(f"Unknown extban type {kind!r} (this server knows a: and m:)")
