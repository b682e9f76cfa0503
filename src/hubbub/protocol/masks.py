"""Wildcard masks (``*`` and ``?``) as used by bans, WHO, LIST and MONITOR.

Matching folds both sides under the server casemapping first; every other character,
``[`` and ``]`` included, is literal (unlike :mod:`fnmatch`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from hubbub.protocol.casemap import Casemapping, fold


@lru_cache(maxsize=4096)
def _compile(mask: str) -> re.Pattern[str]:
    parts = []
    for ch in mask:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def mask_matches(mask: str, subject: str, mapping: Casemapping = Casemapping.RFC1459) -> bool:
    """True if ``subject`` matches the wildcard ``mask`` (case-insensitively)."""
    return _compile(fold(mask, mapping)).fullmatch(fold(subject, mapping)) is not None


def normalize_ban_mask(mask: str) -> str:
    """Complete a partial ban mask the way servers do: ``nick`` -> ``nick!*@*``,
    ``user@host`` -> ``*!user@host``, ``nick!user`` -> ``nick!user@*``, a bare host (one with a
    ``.`` or ``:``) -> ``*!*@host``; an empty part becomes ``*``."""
    if "!" not in mask and "@" not in mask:
        if "." in mask or ":" in mask:
            return f"*!*@{mask}"
        return f"{mask or '*'}!*@*"
    if "!" in mask:
        nick, _, rest = mask.partition("!")
    else:
        nick, rest = "", mask
    user, _, host = rest.partition("@")
    return f"{nick or '*'}!{user or '*'}@{host or '*'}"
