"""A history store in plain Python lists: the obviously right (and slow) reading of the
``HistoryStore`` interface, to check the SQLite one against (differential tests)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from hubbub.storage.base import Anchor, StoredMessage, expand

_MESSAGES = ("PRIVMSG", "NOTICE")


def _words(text: str) -> list[str]:
    """Words as a unicode61 tokenizer with diacritics removed sees them."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c)
    )
    return re.findall(r"\w+", plain)


class MemoryHistory:
    """``HistoryStore`` over a list, in insertion order."""

    def __init__(self) -> None:
        self.rows: list[StoredMessage] = []
        self.marks: dict[tuple[str, str], float] = {}

    def append(self, rows: Sequence[StoredMessage]) -> None:
        self.rows.extend(
            line._replace(time=int(line.time * 1000) / 1000) for row in rows for line in expand(row)
        )

    def _buffer(self, target: str, peer: str) -> list[tuple[int, StoredMessage]]:
        return [(i, r) for i, r in enumerate(self.rows) if r.target == target and r.peer == peer]

    def _position(
        self, rows: list[tuple[int, StoredMessage]], anchor: Anchor
    ) -> tuple[float, int] | None:
        if anchor.msgid is None:
            assert anchor.time is not None
            return None
        for i, r in rows:
            if r.msgid == anchor.msgid:
                return (r.time, i)
        return None

    def query(
        self,
        target: str,
        peer: str,
        *,
        after: Anchor | None = None,
        before: Anchor | None = None,
        limit: int,
        newest: bool,
        not_before: float = 0.0,
        messages_only: bool = False,
    ) -> list[StoredMessage] | None:
        rows = self._buffer(target, peer)
        keyed = [((r.time, i), r) for i, r in rows]
        for anchor, is_after in ((after, True), (before, False)):
            if anchor is None:
                continue
            if anchor.msgid is not None:
                position = self._position(rows, anchor)
                if position is None:
                    return None
                if is_after:
                    keyed = [(k, r) for k, r in keyed if k > position]
                else:
                    keyed = [(k, r) for k, r in keyed if k < position]
            else:
                assert anchor.time is not None
                when = anchor.time
                if is_after:
                    keyed = [(k, r) for k, r in keyed if r.time > when]
                else:
                    keyed = [(k, r) for k, r in keyed if r.time < when]
        keyed = [(k, r) for k, r in keyed if r.time >= not_before]
        if messages_only:
            keyed = [(k, r) for k, r in keyed if r.command in _MESSAGES]
        keyed.sort(key=lambda kr: kr[0])
        chosen = keyed[-limit:] if newest else keyed[:limit]
        return [r for _, r in chosen] if limit > 0 else []

    def find(self, target: str, peer: str, msgid: str) -> StoredMessage | None:
        for _, r in self._buffer(target, peer):
            if r.msgid == msgid:
                return r
        return None

    def _matches(self, keys: Sequence[tuple[str, str]], row: StoredMessage) -> bool:
        return any(
            row.target == t and (row.peer == p or (t.startswith("~") and p == "")) for t, p in keys
        )

    def targets(
        self, keys: Sequence[tuple[str, str]], start: float, end: float, limit: int
    ) -> list[tuple[str, str, float]]:
        low, high = min(start, end), max(start, end)
        latest: dict[tuple[str, str], float] = {}
        for row in self.rows:
            if self._matches(keys, row):
                key = (row.target, row.peer)
                latest[key] = max(latest.get(key, row.time), row.time)
        found = [(t, p, w) for (t, p), w in latest.items() if low <= w <= high]
        found.sort(key=lambda x: x[2])
        return found[:limit] if start <= end else found[-limit:]

    def search(
        self,
        keys: Sequence[tuple[str, str]],
        *,
        text: str = "",
        sender: str = "",
        after: float | None = None,
        before: float | None = None,
        limit: int,
        timeout: float,
    ) -> list[StoredMessage]:
        wanted = _words(text)
        found = []
        for row in self.rows:
            if row.command not in _MESSAGES or not self._matches(keys, row):
                continue
            if sender and row.sender != sender:
                continue
            if after is not None and row.time <= after:
                continue
            if before is not None and row.time >= before:
                continue
            have = set(_words(row.text))
            if not all(w in have for w in wanted):
                continue
            found.append(row)
        return found[-limit:]

    def redact(self, msgid: str) -> int:
        before = len(self.rows)
        self.rows = [r for r in self.rows if r.msgid != msgid]
        return before - len(self.rows)

    def purge(
        self,
        *,
        older_than: float,
        max_rows: int,
        overrides: Mapping[str, tuple[float, int]] | None = None,
        batch: int = 10000,
    ) -> int:
        overrides = overrides or {}
        before = len(self.rows)
        keep: list[StoredMessage] = []
        counts: dict[tuple[str, str], int] = {}
        for row in reversed(self.rows):
            age, most = overrides.get(row.target, (older_than, max_rows))
            key = (row.target, row.peer)
            if age and row.time < age:
                continue
            if most and counts.get(key, 0) >= most:
                continue
            counts[key] = counts.get(key, 0) + 1
            keep.append(row)
        self.rows = list(reversed(keep))
        return before - len(self.rows)

    def get_marker(self, owner: str, target: str) -> float | None:
        return self.marks.get((owner, target))

    def set_marker(self, owner: str, target: str, time: float) -> float:
        old = self.marks.get((owner, target))
        if old is None or time > old:
            self.marks[(owner, target)] = time
        return self.marks[(owner, target)]

    def set_markers(self, marks: Sequence[tuple[str, str, float]]) -> list[float]:
        return [self.set_marker(owner, target, time) for owner, target, time in marks]

    def markers(self, owner: str) -> dict[str, float]:
        return {t: w for (o, t), w in self.marks.items() if o == owner}
