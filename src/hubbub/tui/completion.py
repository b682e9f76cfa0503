"""Tab completion of the input line: nicks, channels and commands, cycling on repeat."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass
class _Cycle:
    head: str
    """The line before the word being completed."""
    tail: str
    """The line after the cursor."""
    matches: list[str]
    index: int
    produced: tuple[str, int] = ("", 0)
    """The line and cursor of the last completion: Tab on exactly that continues the cycle."""


class Completer:
    """Completes the word before the cursor. Pressing Tab again (with the line unchanged since
    the last completion) moves on to the next match, wrapping around."""

    def __init__(self) -> None:
        self._cycle: _Cycle | None = None

    def complete(
        self,
        text: str,
        cursor: int,
        *,
        nicks: Iterable[str] = (),
        channels: Iterable[str] = (),
        commands: Iterable[str] = (),
        chantypes: str = "#&",
        fold: Callable[[str], str] = str.casefold,
    ) -> tuple[str, int] | None:
        """The new line and cursor after completing, or ``None`` when nothing matches.

        A word starting with ``/`` at the start of the line completes commands, one starting
        with a channel type completes channels, anything else nicks. A nick completed at the
        start of the line gets ``": "`` after it (the usual way to address someone). Names
        match as the server compares them (``fold``: its casemapping, where ``{z`` is
        ``[Z``).
        """
        cycle = self._cycle
        if cycle is not None and cycle.produced == (text, cursor):
            cycle.index = (cycle.index + 1) % len(cycle.matches)
            return self._apply(cycle, chantypes)
        start = cursor
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        word = text[start:cursor]
        self._cycle = None
        if not word:
            return None
        if word.startswith("/") and start == 0:
            pool = ["/" + c for c in commands]
        elif word[0] in chantypes:
            pool = list(channels)
        else:
            pool = list(nicks)
        folded = fold(word)
        matches = sorted({p for p in pool if fold(p).startswith(folded)}, key=str.casefold)
        if not matches:
            return None
        self._cycle = _Cycle(text[:start], text[cursor:], matches, 0)
        return self._apply(self._cycle, chantypes)

    def _apply(self, cycle: _Cycle, chantypes: str) -> tuple[str, int]:
        match = cycle.matches[cycle.index]
        nick_first = not cycle.head and not match.startswith("/") and match[0] not in chantypes
        suffix = ": " if nick_first else " "
        if cycle.tail.startswith(" "):
            suffix = suffix.rstrip(" ")
        text = cycle.head + match + suffix + cycle.tail
        cursor = len(cycle.head) + len(match) + len(suffix)
        cycle.produced = (text, cursor)
        return cycle.produced
