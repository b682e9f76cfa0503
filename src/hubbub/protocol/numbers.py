"""Numbers in what a peer sends (a count, a limit, a version): ASCII digits only.

``str.isdigit`` also accepts ``²`` or ``٣``, which ``int`` then refuses (or reads as a
digit of another script), and ``int`` of a few thousand digits is slow or raises: every
number a client or a server sends goes through :func:`parse_number` instead.
"""

from __future__ import annotations

MAX_DIGITS = 18
"""The most significant digits a number may have (leading zeros aside): anything larger
than any count or limit IRC deals with, and small enough to convert in no time."""


def parse_number(text: str, lo: int = 0, hi: int | None = None) -> int | None:
    """The value of ``text`` if it is ASCII digits only (no sign, no space) and the value
    is in ``lo``..``hi`` (both included; no upper bound when ``hi`` is None); otherwise
    None. At most :data:`MAX_DIGITS` significant digits are converted."""
    if not (text.isascii() and text.isdigit()):
        return None
    significant = text.lstrip("0")
    if len(significant) > MAX_DIGITS:
        return None
    value = int(significant) if significant else 0
    if value < lo or (hi is not None and value > hi):
        return None
    return value
