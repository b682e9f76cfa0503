"""How fast the SQLite history stores and finds lines.

:func:`measure_append` is the "stored messages/s" figure (durable appends of batches, search
index included); :func:`build` and :func:`measure_queries` give the figures on a large
database that docs/history.md quotes (``python -m tests.storage.history_scale``). The lines
are synthetic but shaped like chat: about 40 characters in 6 words drawn from a vocabulary
with a Zipf distribution, in channels of unequal activity and some private conversations.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubbub.storage.base import Anchor, StoredMessage
from hubbub.storage.sqlite import SqliteStorage
from hubbub.storage.sqlite_history import SqliteHistory
from hubbub.storage.writer import HistoryWriter

__all__ = [
    "FTS_VARIANTS",
    "QueryTimes",
    "build",
    "measure_append",
    "measure_queries",
    "measure_writer",
    "sample_messages",
    "vocabulary",
]

START = 1_700_000_000.0
"""The time of the first synthetic line."""
CHANNELS = 100
OWNERS = 50
FTS_VARIANTS = ("none", "column", "full", "off")
"""Search index variants :func:`measure_append` can compare: the FTS5 ``detail`` option (the
schema uses ``none``), or no index at all."""


def vocabulary(size: int = 5000, seed: int = 7) -> list[str]:
    """``size`` distinct pronounceable words of 2 to 4 syllables, most frequent first."""
    rng = random.Random(seed)
    onsets = ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w"]
    vowels = ["a", "e", "i", "o", "u", "y"]
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.choice((1, 2, 2, 2, 3))
        words["".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables))] = None
    return list(words)


def sample_messages(
    count: int, *, start: float = START, spacing: float = 0.003, seed: int = 1
) -> list[StoredMessage]:
    """``count`` lines, ``spacing`` seconds apart from ``start``: 80% in :data:`CHANNELS`
    channels (a few busy, most quiet), the rest in private conversations of :data:`OWNERS`
    owners."""
    rng = random.Random(seed)
    words = vocabulary()
    word_weights = [1 / (rank + 1) for rank in range(len(words))]
    channel_weights = [1 / (rank + 1) ** 0.8 for rank in range(CHANNELS)]
    channels = [f"#chan{rank}" for rank in range(CHANNELS)]
    nicks = [f"user{n}" for n in range(500)]
    chosen_channels = rng.choices(channels, channel_weights, k=count)
    texts = rng.choices(words, word_weights, k=6 * count)
    senders = rng.choices(nicks, k=count)
    rows: list[StoredMessage] = []
    for i in range(count):
        nick = senders[i]
        text = " ".join(texts[6 * i : 6 * i + 6])
        if rng.random() < 0.8:
            target, peer, shown = chosen_channels[i], "", chosen_channels[i]
        else:
            target, peer, shown = f"~a:user{rng.randrange(OWNERS)}", nick, "you"
        rows.append(
            StoredMessage(
                target=target,
                peer=peer,
                msgid=f"bench-18bcfe56800-{i:x}",
                time=start + i * spacing,
                command="PRIVMSG",
                sender=nick,
                account=nick,
                line=f":{nick}!{nick}@example.org PRIVMSG {shown} :{text}",
                tags="",
                text=text,
            )
        )
    return rows


class _Unindexed(SqliteHistory):
    """History without its search index: what the index costs, for comparison only."""

    def _index(self, conn: sqlite3.Connection, rows: Sequence[object], above: int | None) -> None:
        pass


def _open(path: str | Path, fts: str) -> tuple[SqliteStorage, SqliteHistory]:
    if fts not in FTS_VARIANTS:
        raise ValueError(f"fts must be one of {', '.join(FTS_VARIANTS)}")
    storage = SqliteStorage(path)
    storage.open()
    if fts == "none":
        return storage, storage.history()
    history: SqliteHistory = _Unindexed(str(path)) if fts == "off" else SqliteHistory(str(path))
    history.open()
    if fts != "off":
        with history._transaction() as conn:
            conn.execute("DROP TABLE history_text")
            conn.execute(
                "CREATE VIRTUAL TABLE history_text USING fts5(text, content='history', "
                "content_rowid='id', tokenize='unicode61 remove_diacritics 2', "
                f"detail={fts}, columnsize=0)"
            )
    return storage, history


def measure_append(path: str | Path, rows: int, batch: int, *, fts: str = "none") -> float:
    """Lines stored per second by :meth:`SqliteHistory.append` in batches of ``batch`` (each
    one durable transaction) into the database at ``path`` (best a new file): ``rows`` short
    lines, made before the clock starts. ``fts`` compares search index variants
    (:data:`FTS_VARIANTS`; a variant other than the default changes the file's index)."""
    messages = sample_messages(rows)
    storage, history = _open(path, fts)
    try:
        begin = time.perf_counter()
        for first in range(0, rows, batch):
            history.append(messages[first : first + batch])
        elapsed = time.perf_counter() - begin
    finally:
        history.close()
        storage.close()
    return rows / elapsed


def measure_writer(
    path: str | Path, rows: int, *, chunk: int = 100, max_pending: int = 100_000
) -> tuple[float, float]:
    """Lines stored per second through :class:`HistoryWriter` (group commit) when a producer
    offers ``rows`` lines as fast as it can, ``chunk`` per submit and waiting whenever more
    than ``max_pending`` are pending (as the server's backpressure would); and the mean number
    of lines per transaction the writer made of them."""
    messages = sample_messages(rows)
    storage, history = _open(path, "none")
    batches: list[int] = []

    class Counting:
        def append(self, batch: Sequence[StoredMessage]) -> None:
            batches.append(len(batch))
            history.append(batch)

    writer = HistoryWriter(Counting(), lambda seq, ok: None, max_pending)
    try:
        begin = time.perf_counter()
        seq = 0
        for first in range(0, rows, chunk):
            seq = writer.submit(messages[first : first + chunk])
            if seq > max_pending:
                writer.wait(seq - max_pending)
        writer.wait(seq)
        elapsed = time.perf_counter() - begin
    finally:
        writer.close()
        storage.close()
    return rows / elapsed, rows / max(1, len(batches))


def build(path: str | Path, rows: int, *, batch: int = 50_000) -> float:
    """Fill a new database at ``path`` with ``rows`` lines (:func:`sample_messages`) in
    batches of ``batch``; the seconds it took."""
    storage = SqliteStorage(path)
    storage.open()
    history = storage.history()
    begin = time.perf_counter()
    try:
        for first in range(0, rows, batch):
            history.append(sample_messages(min(batch, rows - first), start=START + first * 0.003))
    finally:
        storage.close()
    return time.perf_counter() - begin


@dataclass(frozen=True)
class QueryTimes:
    """Milliseconds taken by one kind of query: the median and the slowest of its runs."""

    label: str
    median_ms: float
    max_ms: float
    results: int


def _timed(label: str, runs: int, query: Callable[[], Sequence[object] | None]) -> QueryTimes:
    times: list[float] = []
    found = 0
    for _ in range(runs):
        begin = time.perf_counter()
        result = query()
        times.append((time.perf_counter() - begin) * 1000)
        found = len(result or ())
    return QueryTimes(label, statistics.median(times), max(times), found)


def measure_queries(path: str | Path, *, runs: int = 20) -> list[QueryTimes]:
    """Time the queries CHATHISTORY and SEARCH make on a database :func:`build` filled."""
    storage = SqliteStorage(path)
    storage.open()
    history = storage.history()
    words = vocabulary()
    keys = [(f"#chan{rank}", "") for rank in range(0, CHANNELS, 5)] + [("~a:user1", "")]

    def search(text: str = "", sender: str = "") -> Callable[[], list[StoredMessage]]:
        return lambda: history.search(keys, text=text, sender=sender, limit=100, timeout=10)

    try:
        middle = history.query("#chan0", "", limit=1, newest=True, before=Anchor(time=START + 1500))
        anchor = Anchor(msgid=middle[0].msgid) if middle else Anchor(time=START)
        return [
            _timed(
                "LATEST 100, busiest channel",
                runs,
                lambda: history.query("#chan0", "", limit=100, newest=True),
            ),
            _timed(
                "LATEST 100, a quiet channel",
                runs,
                lambda: history.query("#chan77", "", limit=100, newest=True),
            ),
            _timed(
                "BEFORE msgid 100, busiest channel",
                runs,
                lambda: history.query("#chan0", "", before=anchor, limit=100, newest=True),
            ),
            _timed(
                "TARGETS of one owner (50 conversations)",
                runs,
                lambda: history.targets([("~a:user1", "")], 0, START * 2, 50),
            ),
            *(
                _timed(
                    f"SEARCH a word of rank {rank} (20 channels + 1 owner)",
                    runs,
                    search(text=words[rank]),
                )
                for rank in (10, 100, 1000)
            ),
            _timed(
                "SEARCH two words of rank 30 and 300", runs, search(f"{words[30]} {words[300]}")
            ),
            _timed("SEARCH from a sender, no words", runs, search(sender="user7")),
            _timed("SEARCH a word no line has", runs, search("zzzzzz")),
            _timed(
                "SEARCH the commonest word, one quiet channel",
                runs,
                lambda: history.search([("#chan99", "")], text=words[0], limit=100, timeout=10),
            ),
        ]
    finally:
        storage.close()
