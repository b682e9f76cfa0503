"""Wildcard masks (``*`` and ``?``) as used by bans, WHO, LIST, oper host masks and the rest.

Matching folds both sides under the server casemapping first; every other character,
``[`` and ``]`` included, is literal (unlike :mod:`fnmatch`).

No regular expression spans a star: a mask comes from a client, and a backtracking engine
turns ``*a*a*a*a*b`` against a long real name into seconds of work with the event loop
blocked. A mask is instead cut at its stars into fixed-length segments, and matching is the
two-pointer glob algorithm, a segment at a time: the first segment must start the subject, the
last must end it, and each one in between is placed at its leftmost fit after the one before.
A fixed-length segment placed leftmost never has to move (any later fit leaves less room for the
rest), so nothing is retried: the cost is at most ``len(mask) x len(subject)`` character
comparisons, however many stars there are, and the scanning is done in C: by ``str.find`` and
``str.startswith``, and for a segment with question marks by a regular expression of that
segment alone (no repetition, no alternative: nothing to backtrack).
"""

from __future__ import annotations

import re
from functools import lru_cache

from hubbub.protocol.casemap import Casemapping, fold


class _Segment:
    """A run of the mask between two stars: literal characters and ``?`` (any one character)."""

    __slots__ = ("anchor", "anchor_at", "chunks", "pattern", "size")

    def __init__(self, text: str) -> None:
        self.size = len(text)
        chunks: list[tuple[int, str]] = []
        offset = 0
        for piece in text.split("?"):
            if piece:
                chunks.append((offset, piece))
            offset += len(piece) + 1  # the piece and the "?" after it
        # The longest literal run is searched for with str.find; the others are checked where
        # it puts the segment.
        anchor_at, anchor = max(chunks, key=lambda c: len(c[1]), default=(0, ""))
        self.anchor, self.anchor_at = anchor, anchor_at
        self.chunks = tuple(c for c in chunks if c[0] != anchor_at)
        # Literal runs and question marks together: compared by the regular expression
        # engine, in C, rather than a run at a time in Python (a mask like ``*a?a?a?a?b*``
        # put a Python loop at every ``a`` of the subject). The expression has no repetition
        # and no alternative, so it cannot backtrack: at each place it tries, it compares at
        # most ``size`` characters and moves on.
        self.pattern = (
            re.compile("".join("." if c == "?" else re.escape(c) for c in text), re.DOTALL)
            if self.chunks
            else None
        )

    def at(self, subject: str, start: int) -> bool:
        """True if the segment matches ``subject`` at ``start`` (which leaves room for it)."""
        if self.pattern is not None:
            return self.pattern.match(subject, start) is not None
        if self.anchor and not subject.startswith(self.anchor, start + self.anchor_at):
            return False
        return all(subject.startswith(chunk, start + at) for at, chunk in self.chunks)

    def find(self, subject: str, start: int, end: int) -> int:
        """The leftmost place in ``subject[start:end]`` where the segment matches, or -1."""
        last = end - self.size
        if not self.anchor:  # only question marks: any place fits
            return start if start <= last else -1
        if self.pattern is not None:
            fit = self.pattern.search(subject, start, end)
            return -1 if fit is None else fit.start()
        anchor, anchor_at, chunks = self.anchor, self.anchor_at, self.chunks
        stop = last + anchor_at + len(anchor)
        while start <= last:
            found = subject.find(anchor, start + anchor_at, stop)
            if found < 0:
                return -1
            start = found - anchor_at
            if all(subject.startswith(chunk, start + at) for at, chunk in chunks):
                return start
            start += 1
        return -1


class Mask:
    """A wildcard mask, folded and cut into segments once, to match many subjects.

    Bans are checked on every JOIN and on every message from an unvoiced member, so the work
    that depends on the mask alone is done here, not per match (see :func:`compile_mask`).
    Matching still costs a step of Python per piece between stars, so channel lists take at
    most 16 wildcards a mask (``MAX_MASK_WILDCARDS`` in :mod:`hubbub.server.commands.modes`).
    """

    __slots__ = ("_anchors", "_head", "_middle", "_min_length", "_star", "_tail", "mapping", "text")

    def __init__(self, text: str, mapping: Casemapping = Casemapping.RFC1459) -> None:
        self.text = text
        self.mapping = mapping
        parts = fold(text, mapping).split("*")  # a run of stars leaves empty parts: one star
        self._star = len(parts) > 1
        self._head = _Segment(parts[0])
        self._tail = _Segment(parts[-1] if self._star else "")
        self._middle = tuple(_Segment(p) for p in parts[1:-1] if p)
        self._min_length = sum(len(p) for p in parts)
        segments = (self._head, self._tail, *self._middle)
        self._anchors = tuple({s.anchor for s in segments if s.anchor})

    def could_match(self, folded: str) -> bool:
        """False when no subject within ``folded`` (already folded; several subjects may be
        joined there) can match: a literal run of the mask is nowhere in it. One C search
        a run, to pass over most subjects of a WHO mask at once."""
        return all(anchor in folded for anchor in self._anchors)

    def matches(self, subject: str) -> bool:
        """True if ``subject`` matches the mask (case-insensitively)."""
        return self.matches_folded(fold(subject, self.mapping))

    def matches_folded(self, subject: str) -> bool:
        """:meth:`matches` for a subject already folded under the mask's casemapping."""
        length = len(subject)
        head = self._head
        if not self._star:
            return length == head.size and head.at(subject, 0)
        if length < self._min_length or not head.at(subject, 0):
            return False
        tail = self._tail
        end = length - tail.size
        if not tail.at(subject, end):
            return False
        start = head.size
        for segment in self._middle:
            found = segment.find(subject, start, end)
            if found < 0:
                return False
            start = found + segment.size
        return True

    def __repr__(self) -> str:
        return f"Mask({self.text!r}, {self.mapping})"


@lru_cache(maxsize=4096)
def compile_mask(mask: str, mapping: Casemapping = Casemapping.RFC1459) -> Mask:
    """The :class:`Mask` for ``mask``, cached: the same WHO, LIST and oper masks come back
    often. (Channel list entries keep their own compiled mask for as long as the channel
    keeps them, so no number of channels and bans can push each other out of here.)"""
    return Mask(mask, mapping)


def mask_matches(mask: str, subject: str, mapping: Casemapping = Casemapping.RFC1459) -> bool:
    """True if ``subject`` matches the wildcard ``mask`` (case-insensitively)."""
    return compile_mask(mask, mapping).matches(subject)


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
