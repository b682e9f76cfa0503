"""Message history and read markers in the SQLite file of the accounts.

Layout (schema versions 3 and 5, :data:`HISTORY_SCHEMA` and :data:`HISTORY_BLOCKS`):

- ``history_buffers`` maps a buffer's key (target, peer) to a small integer, so that the big
  table stores an integer rather than two strings;
- ``history`` holds one row per *block*: the lines of one relayed message, or of a block of
  lines relayed together (one read of a sender's socket: the same sender, target, time and
  tags, one msgid each, numbered on), at most :data:`MAX_BLOCK` lines, their texts joined by
  ``\\n`` (schema version 5; see :attr:`~hubbub.storage.base.StoredMessage.size`). A busy
  channel thus costs one row, one index entry and one search-index document per block rather
  than per line: that is what lets history keep up with the relay (docs/history.md). Each
  line still has its own id: the row's integer primary key is its first line's, the time in
  milliseconds shifted left by :data:`SHIFT` bits plus a count for the lines of one
  millisecond, and line ``k`` of the row is ``id + k`` (ties of equal time are thus ordered as
  they were stored). Every range a query needs (the latest lines of a buffer, lines after a
  msgid or a time, lines older than the retention) is a range of the primary key, or of the
  index ``history_buffer`` on ``(buffer)``, which SQLite extends to ``(buffer, id)``, widened
  by :data:`MAX_BLOCK` below for a block that starts before the range; lines are then cut
  to the range in Python. ``time`` is the same millisecond as an integer, for whoever reads
  the table by hand;
- ``history_msgid`` on ``(mprefix, mnum)`` finds a line by msgid (anchors, redaction): a msgid
  is kept split into its prefix and its trailing hex number
  (:func:`~hubbub.storage.base.split_msgid`), so the line numbered ``n`` is in the row whose
  ``mnum`` is at most ``n`` and within :data:`MAX_BLOCK` of it; a msgid without such a
  number is its own prefix with ``mnum = -1``;
- ``history_text`` is the FTS5 index of ``text`` (external content: the text is stored once,
  in ``history``), one document per row, tokenised by ``unicode61`` with diacritics removed;
  a row of several lines that matches is then checked line by line in Python (every word in
  one line; :func:`line_words`). ``detail=none`` and
  ``columnsize=0`` because a search only asks whether every word is in a row, which makes it
  the cheapest FTS index to keep up to date (figures in docs/history.md). It is written in the
  same transaction as the lines, so search never lags behind history;
- ``read_markers`` keeps one time per (account, target).

Durability and faults are those of the accounts (:mod:`hubbub.storage.sqlite`): a rollback
journal with ``synchronous=EXTRA`` (the journal's removal, which commits a transaction, is
fsynced with its directory before :meth:`SqliteHistory.append` returns), nothing
memory-mapped, and every ``sqlite3.Error`` raised as :class:`StorageError`.

Threading: three connections of its own on the file, one for writes (append, redact, purge,
markers), one for reads and one for searches, each serialised by its own lock, so that a read
never waits behind the accounts, a write or a search (which may run up to its timeout) in
Python, only on SQLite's file lock for the last milliseconds of a commit. A database in
memory (tests) cannot be opened a second time, so there the store shares the accounts' one
connection and its lock instead.
"""

from __future__ import annotations

import contextlib
import heapq
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hubbub.storage.base import (
    Anchor,
    StorageError,
    StorageTimeout,
    StoredMessage,
    expand,
    split_msgid,
)

__all__ = [
    "HISTORY_BLOCKS",
    "HISTORY_SCHEMA",
    "MAX_BLOCK",
    "SHIFT",
    "SqliteHistory",
    "line_words",
    "millis",
    "register_functions",
    "search_words",
    "sender_word",
]

SHIFT = 20
"""Bits of a line's id below its time in milliseconds: room for 1,048,576 lines per
millisecond, and ids fit 64 bits until the year 2248."""

MAX_BLOCK = 1024
"""The most lines one row holds; a longer block is stored as several rows."""

FTS_AUTOMERGE = 16
"""How many segments of one size the search index gathers before it merges them into one
(FTS5's ``automerge``; its default is 4). Each merge writes every word of those segments
again, and with a new word on most lines (numbers, hashes, time stamps) that is most of an
append's cost on a big history: 16 cut the writer's CPU per line by about a sixth on a
history of 1.5 million lines, for a search that looks in a few more segments (figures in
docs/history.md). Set on the writer's connection each time the store opens."""

WRITER_CACHE_KIB = 65536
"""The writer's page cache (KiB): the recently written pages of the table and its indexes."""
READER_CACHE_KIB = 16384
"""The readers' page cache (KiB)."""

_SLOT = 1 << SHIFT
_MAX_MS = (1 << (63 - SHIFT)) - 1
_MAX_SECONDS = _MAX_MS // 1000
_MAX_ID = (1 << 63) - 1
_MAX_LIMIT = 1 << 31
_BUFFER_CACHE = 65536
_WRITER_BUSY_MS = 60_000
"""How long the writer waits for readers (SQLite's file lock) before a commit fails."""
_PROGRESS_STEPS = 1000
"""SQLite virtual-machine steps between two looks at a search's clock. (FTS5 reads a whole
doclist within one step: 30 ms for two common words over 300,000 lines, which no look
between steps cuts; a clock thread interrupts the connection from the deadline on as well.)"""
_INTERRUPT_AGAIN = 0.001
"""Seconds between two interrupts of a search past its deadline."""

_SEARCHED = "text || CASE WHEN sender = '' THEN '' ELSE ' from' || hex(sender) END"
"""What the search index holds of a line with text: the text, and its sender's folded nick as
one word no text can split (``from`` and the nick's UTF-8 in hex), so that a search by sender
is a lookup in the same index, intersected with the words."""

HISTORY_SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE history_buffers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        peer TEXT NOT NULL,
        UNIQUE (target, peer)
    )
    """,
    """
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        buffer INTEGER NOT NULL,
        time INTEGER NOT NULL,
        msgid TEXT NOT NULL,
        command TEXT NOT NULL,
        sender TEXT NOT NULL,
        account TEXT NOT NULL,
        line TEXT NOT NULL,
        tags TEXT NOT NULL,
        text TEXT NOT NULL
    )
    """,
    "CREATE INDEX history_buffer ON history (buffer)",
    "CREATE INDEX history_msgid ON history (msgid)",
    f"""
    CREATE VIEW history_searched (id, text) AS
    SELECT id, {_SEARCHED} FROM history WHERE text != ''
    """,
    """
    CREATE VIRTUAL TABLE history_text USING fts5(
        text,
        content = 'history_searched',
        content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2',
        detail = none,
        columnsize = 0
    )
    """,
    """
    CREATE TABLE read_markers (
        owner TEXT NOT NULL,
        target TEXT NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (owner, target)
    ) WITHOUT ROWID
    """,
)
"""The statements of schema version 3 (run by :class:`~hubbub.storage.sqlite.SqliteStorage`)."""

HISTORY_BLOCKS: tuple[str, ...] = (
    "ALTER TABLE history ADD COLUMN size INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE history ADD COLUMN mprefix TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE history ADD COLUMN mnum INTEGER NOT NULL DEFAULT -1",
    "UPDATE history SET mprefix = hubbub_msgid_prefix(msgid), mnum = hubbub_msgid_number(msgid)",
    "DROP INDEX history_msgid",
    "ALTER TABLE history DROP COLUMN msgid",
    "CREATE INDEX history_msgid ON history (mprefix, mnum)",
)
"""Schema version 5: a row holds a block of lines (``size``), and msgids are kept split
(``mprefix``, ``mnum``) so that a line of a block is found by its own msgid. The functions
it calls are made by :func:`register_functions`."""


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """``conn`` (in autocommit mode) in one ``BEGIN IMMEDIATE`` transaction, committed at
    the end of the block, rolled back if it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def register_functions(conn: sqlite3.Connection) -> None:
    """Give ``conn`` the SQL functions :data:`HISTORY_BLOCKS` uses."""
    conn.create_function(
        "hubbub_msgid_prefix", 1, lambda m: split_msgid(str(m))[0], deterministic=True
    )
    conn.create_function(
        "hubbub_msgid_number", 1, lambda m: split_msgid(str(m))[1], deterministic=True
    )


_COLUMNS = "id, buffer, time, mprefix, mnum, size, command, sender, account, line, tags, text"
_INSERT_ROWS = 64
"""The most rows one INSERT statement takes (12 parameters each: 768, within the 999 of the
oldest SQLite builds). Python's ``sqlite3`` lets go of the GIL for each step of a statement
and must take it back from the event loop afterwards: ``executemany`` does that once per
row, a statement of many rows once for all of them. Those hand-overs, not SQLite's work,
were what history cost the relay most (docs/performance.md)."""
_INDEX_SINCE = (
    "INSERT INTO history_text (rowid, text) SELECT id, text FROM history_searched WHERE id > ?"
)
_INDEX_ROWS = (
    "INSERT INTO history_text (rowid, text) SELECT id, text FROM history_searched WHERE id = ?"
)
_UNINDEX = (
    "INSERT INTO history_text (history_text, rowid, text) "
    "SELECT 'delete', id, text FROM history_searched WHERE id = ?"
)

_Row = tuple[int, int, int, str, int, int, str, str, str, str, str, str]
_WORD = re.compile(r"[^\W_]+")
"""A run of letters and digits: what the unicode61 tokenizer keeps as one token."""


def millis(t: float) -> int:
    """``t`` (Unix time in seconds) as whole milliseconds (rounded half up), within what an
    id can hold."""
    if 0.0 < t < _MAX_SECONDS:
        return int(t * 1000 + 0.5)
    return _MAX_MS if t >= _MAX_SECONDS else 0  # past the end; before 1970 or NaN


def search_words(text: str) -> list[str]:
    """The words of a search, each to be matched as one FTS5 string: runs of letters and
    digits, so that nothing a user types (``"``, ``*``, ``AND``, ``NEAR(``, ``col:``) is
    read as FTS5 syntax."""
    return list(dict.fromkeys(_WORD.findall(text)))


def sender_word(sender: str) -> str:
    """The word that stands for ``sender`` in the search index (see ``_SEARCHED``)."""
    return "from" + sender.encode().hex()


def _fts_query(words: Sequence[str]) -> str:
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def _plain(word: str) -> str:
    """``word`` as the index keeps it: lower case, diacritics removed."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def line_words(text: str) -> set[str]:
    """The words of ``text`` as the search index sees them (case and diacritics ignored)."""
    return set(_WORD.findall(_plain(text)))


def _lines(row: _Row, target: str, peer: str) -> list[tuple[int, StoredMessage]]:
    """The lines of a row, each with its id (line ``k`` of a block is ``id + k``)."""
    first, _, ms, prefix, number, size, command, sender, account, line, tags, text = row
    msgid = prefix if number < 0 else f"{prefix}{number:x}"
    block = StoredMessage(
        target, peer, msgid, ms / 1000, command, sender, account, line, tags, text, size
    )
    return list(enumerate(expand(block), start=first))


def _cut(block: StoredMessage) -> list[tuple[str, str, int]]:
    """A block of more than :data:`MAX_BLOCK` lines as rows of at most that many:
    (first line, texts, size) each."""
    lines = expand(block)
    parts = [lines[k : k + MAX_BLOCK] for k in range(0, len(lines), MAX_BLOCK)]
    return [
        (part[0].line, "\n".join(m.text for m in part) if block.text else "", len(part))
        for part in parts
    ]


def _insert_statement(count: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)
    return f"INSERT INTO history ({_COLUMNS}) VALUES {values}"


_INSERTS = {count: _insert_statement(count) for count in (1, 2, 4, 8, 16, 32, _INSERT_ROWS)}


def _insert(conn: sqlite3.Connection, rows: Sequence[_Row]) -> None:
    """Insert ``rows`` with as few statements as it takes: runs of :data:`_INSERT_ROWS`,
    then the rest in powers of two (a handful of statements, each prepared once and kept in
    the connection's cache)."""
    done = 0
    total = len(rows)
    while done < total:
        count = _INSERT_ROWS
        while count > total - done:
            count //= 2
        conn.execute(_INSERTS[count], [value for row in rows[done : done + count] for value in row])
        done += count


def _after(t: float) -> int:
    """The first id strictly after the millisecond of ``t``."""
    return (millis(t) + 1) << SHIFT


def _before(t: float) -> int:
    """The last id strictly before the millisecond of ``t``."""
    return (millis(t) << SHIFT) - 1


class SqliteHistory:
    """:class:`~hubbub.storage.base.HistoryStore` in the SQLite file of
    :class:`~hubbub.storage.sqlite.SqliteStorage`; made by its ``history()`` method, on a
    file that it has opened (and so migrated) already."""

    def __init__(
        self,
        path: str,
        *,
        shared: tuple[sqlite3.Connection, threading.Lock] | None = None,
    ) -> None:
        """A store on the file at ``path`` (:meth:`open` connects), or on the connection and
        lock in ``shared`` (a database in memory)."""
        self.path = path
        self._shared = shared is not None
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._searcher: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._search_lock = threading.Lock()
        if shared is not None:
            self._writer = self._reader = self._searcher = shared[0]
            self._write_lock = self._read_lock = self._search_lock = shared[1]
        self.shared = False
        """Several nodes write this file (``--workers``): set by the storage."""
        self._buffers: dict[tuple[str, str], int] = {}
        """Buffer ids the writer has seen: valid while it holds the write lock, cleared when
        a purge drops buffers."""
        self._closed = False

    # -- life --------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect the writer, the reader and the searcher. Raises :class:`StorageError`.
        Idempotent."""
        if self._shared or self._closed:
            if self._closed:
                raise StorageError("the history database is closed")
            return
        with self._write_lock, self._read_lock, self._search_lock:
            if self._writer is not None:
                return
            made: list[sqlite3.Connection] = []
            try:
                for reader in (False, True, True):
                    made.append(self._connect(reader=reader))
            except StorageError:
                for conn in made:
                    conn.close()
                raise
            self._writer, self._reader, self._searcher = made

    def _connect(self, *, reader: bool) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database {self.path}: {exc}") from exc
        try:
            # A commit waits for the reads in progress, a search at most its timeout: the
            # writer waits long rather than lose a batch; a reader waits for a commit's end.
            conn.execute(f"PRAGMA busy_timeout={5000 if reader else _WRITER_BUSY_MS}")
            conn.execute("PRAGMA mmap_size=0")
            mode = str(conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]).lower()
            if mode != "delete":
                raise StorageError(f"the database {self.path} is in {mode} mode, not delete")
            conn.execute("PRAGMA synchronous=EXTRA")
            # The indexes of a big history do not fit SQLite's default 2 MiB of cache: every
            # insert would read its index pages again (from the OS, a system call each).
            conn.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB if reader else WRITER_CACHE_KIB}")
            if reader:
                conn.execute("PRAGMA query_only=1")
            conn.execute("SELECT id FROM history_buffers LIMIT 0").fetchall()
            if not reader:
                conn.execute(
                    "INSERT INTO history_text (history_text, rank) VALUES ('automerge', ?)",
                    (FTS_AUTOMERGE,),
                )
        except sqlite3.Error as exc:
            conn.close()
            raise StorageError(f"cannot use the history in {self.path}: {exc}") from exc
        except StorageError:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Release the connections (a shared one stays with its owner). Idempotent."""
        with self._write_lock:
            writer, self._writer = self._writer, None
            self._closed = True
        with self._read_lock:
            reader, self._reader = self._reader, None
        with self._search_lock:
            searcher, self._searcher = self._searcher, None
        if self._shared:
            return
        for conn in (writer, reader, searcher):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            if self._writer is None:
                raise StorageError("the history database is not open")
            try:
                yield self._writer
            except sqlite3.Error as exc:
                raise StorageError(f"{type(exc).__name__} in {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(
        self, committed: Callable[[], None] | None = None
    ) -> Iterator[sqlite3.Connection]:
        """The writer in one ``BEGIN IMMEDIATE`` transaction, committed at the end of the
        block (then ``committed`` is called, still holding the write lock), rolled back if it
        raises."""
        with self._writing() as conn:
            with immediate(conn):
                yield conn
            if committed is not None:
                committed()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            if self._reader is None:
                raise StorageError("the history database is not open")
            try:
                yield self._reader
            except sqlite3.Error as exc:
                raise StorageError(f"{type(exc).__name__} in {self.path}: {exc}") from exc

    # -- buffers -----------------------------------------------------------------------------

    @staticmethod
    def _buffer(conn: sqlite3.Connection, target: str, peer: str) -> int | None:
        rows = conn.execute(
            "SELECT id FROM history_buffers WHERE target = ? AND peer = ?", (target, peer)
        ).fetchall()
        return int(rows[0][0]) if rows else None

    @staticmethod
    def _resolve(
        conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[int, tuple[str, str]]:
        """The buffers named by ``keys`` (``("~owner", "")`` names each of the owner's)."""
        found: dict[int, tuple[str, str]] = {}
        for target, peer in dict.fromkeys(keys):
            if peer == "" and target.startswith("~"):
                rows = conn.execute(
                    "SELECT id, peer FROM history_buffers WHERE target = ?", (target,)
                ).fetchall()
                for buffer, each in rows:
                    found[int(buffer)] = (target, str(each))
            else:
                buffer = SqliteHistory._buffer(conn, target, peer)
                if buffer is not None:
                    found[buffer] = (target, peer)
        return found

    def _writer_buffer(
        self, conn: sqlite3.Connection, key: tuple[str, str], new: dict[tuple[str, str], int]
    ) -> int:
        """The id of buffer ``key``, created if need be (recorded in ``new`` until commit)."""
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = new.get(key)
        if buffer is None:
            buffer = self._buffer(conn, *key)
            if buffer is None:
                cursor = conn.execute(
                    "INSERT INTO history_buffers (target, peer) VALUES (?, ?)", key
                )
                buffer = int(cursor.lastrowid or 0)
            new[key] = buffer
        return buffer

    @staticmethod
    def _containing(
        conn: sqlite3.Connection, msgid: str, buffer: int | None = None
    ) -> list[tuple[_Row, int]]:
        """The rows that hold the line ``msgid`` (of ``buffer``, or of any buffer: both
        copies of a private message), each with the line's index in it."""
        prefix, number = split_msgid(msgid)
        among = "" if buffer is None else " AND buffer = ?"
        tail: tuple[int, ...] = () if buffer is None else (buffer,)
        if number < 0:
            rows: list[_Row] = conn.execute(
                f"SELECT {_COLUMNS} FROM history INDEXED BY history_msgid "
                f"WHERE mprefix = ? AND mnum = -1{among}",
                (prefix, *tail),
            ).fetchall()
            return [(row, 0) for row in rows]
        # Numbers are handed out in order and a row holds a run of them, so the row that
        # holds the line is the one that starts last at or before it (the copies of a
        # private message start at the same number): found by one step down the index,
        # rather than by reading every row of the MAX_BLOCK numbers below it, which are
        # mostly other buffers' lines.
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM history INDEXED BY history_msgid "
            "WHERE mprefix = ? AND mnum = (SELECT max(mnum) FROM history "
            "INDEXED BY history_msgid WHERE mprefix = ? AND mnum BETWEEN ? AND ?) "
            f"AND mnum + size > ?{among}",
            (prefix, prefix, number - MAX_BLOCK + 1, number, number, *tail),
        ).fetchall()
        return [(row, number - row[4]) for row in rows]

    @classmethod
    def _msgid(cls, conn: sqlite3.Connection, buffer: int, msgid: str) -> int | None:
        """The id of the line ``msgid`` of ``buffer``."""
        found = cls._containing(conn, msgid, buffer)
        return found[0][0][0] + found[0][1] if found else None

    # -- writing -----------------------------------------------------------------------------

    def probe(self) -> None:
        """Raise :class:`StorageError` unless the writer can lock the file for writing and
        read its history (the history writer's probe after a failed append: see
        :mod:`hubbub.storage.writer`). Writes nothing."""
        with self._writing() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("SELECT 1 FROM history LIMIT 1").fetchall()
            finally:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")

    def append(self, rows: Sequence[StoredMessage]) -> None:
        """Store ``rows`` (lines, and blocks of lines: one row each, up to
        :data:`MAX_BLOCK` lines) and index their text in one transaction, durably once it
        returns. Raises :class:`StorageError` with nothing stored."""
        if not rows:
            return
        new_buffers: dict[tuple[str, str], int] = {}
        known = self._buffers.get
        with self._transaction(lambda: self._remember(new_buffers)) as conn:
            newest = conn.execute(
                "SELECT id + size - 1 FROM history ORDER BY id DESC LIMIT 1"
            ).fetchall()
            first = top = int(newest[0][0]) if newest else -1
            top_ms = top >> SHIFT
            used: dict[int, int] = {}  # a millisecond behind the newest -> its last id
            in_order = True
            params: list[_Row] = []
            for row in rows:
                target, peer, msgid, t, command, sender, account, line, tags, text, size = row
                buffer = known((target, peer))
                if buffer is None:
                    buffer = self._writer_buffer(conn, (target, peer), new_buffers)
                prefix, number = split_msgid(msgid)
                if size > 1 and (number < 0 or (text and text.count("\n") != size - 1)):
                    raise StorageError(f"a malformed block of {size} lines ({msgid!r})")
                ms = int(t * 1000 + 0.5) if 0.0 < t < _MAX_SECONDS else millis(t)
                parts = [(line, text, size)] if size <= MAX_BLOCK else _cut(row)
                for part_line, part_text, part_size in parts:
                    if ms > top_ms:  # a new millisecond: the usual case
                        if top >= 0:
                            used[top_ms] = top
                        row_id = ms << SHIFT
                        top_ms = ms
                        top = row_id + part_size - 1
                    elif ms == top_ms:  # the same as the newest line's
                        row_id = top + 1
                        top = row_id + part_size - 1
                    else:  # older than the newest line: the clock went back
                        last = used.get(ms)
                        row_id = (self._last_in(conn, ms << SHIFT) if last is None else last) + 1
                        used[ms] = row_id + part_size - 1
                        in_order = False
                    if (row_id + part_size - 1) >> SHIFT != ms:
                        raise StorageError(f"more than {_SLOT} lines in one millisecond ({ms})")
                    params.append(
                        (
                            row_id,
                            buffer,
                            ms,
                            prefix,
                            number,
                            part_size,
                            command,
                            sender,
                            account,
                            part_line,
                            tags,
                            part_text,
                        )
                    )
                    number += part_size
            _insert(conn, params)
            self._index(conn, params, first if in_order else None)

    def _remember(self, buffers: Mapping[tuple[str, str], int]) -> None:
        """Keep the ids of buffers an append created (once it is committed, and under the
        write lock, so that a purge that drops buffers never leaves a stale one here). Not
        when the file is shared: another process's purge may drop them."""
        if self.shared:
            return
        if len(self._buffers) + len(buffers) > _BUFFER_CACHE:
            self._buffers.clear()
        self._buffers.update(buffers)

    def _index(self, conn: sqlite3.Connection, rows: Sequence[_Row], above: int | None) -> None:
        """Add the text of new rows ``rows`` to the search index; when ``above`` is given,
        they are exactly the rows with an id above it, read back by SQLite itself (cheaper
        than handing each text over from Python)."""
        if above is not None:
            conn.execute(_INDEX_SINCE, (above,))
        else:
            conn.executemany(_INDEX_ROWS, [(row[0],) for row in rows if row[11]])

    @staticmethod
    def _last_in(conn: sqlite3.Connection, base: int) -> int:
        """The highest line id stored in the millisecond that starts at id ``base``, or
        ``base - 1`` (a line older than the newest: the clock went back)."""
        rows = conn.execute(
            "SELECT max(id + size - 1) FROM history WHERE id >= ? AND id < ?",
            (base, base + _SLOT),
        ).fetchall()
        return base - 1 if rows[0][0] is None else int(rows[0][0])

    @staticmethod
    def _delete(conn: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
        """Remove rows ``(id, text)`` from the search index, then from history."""
        conn.executemany(_UNINDEX, [(row_id,) for row_id, text in rows if text])
        conn.executemany("DELETE FROM history WHERE id = ?", [(row_id,) for row_id, _ in rows])

    def _rewrite(self, conn: sqlite3.Connection, row: _Row, keep: Sequence[int]) -> None:
        """Replace ``row`` by the lines of it whose indexes are in ``keep`` (ascending): a
        row for each run of consecutive ones, each line keeping its id and msgid."""
        self._delete(conn, [(row[0], row[11])])
        if not keep:
            return
        lines = _lines(row, "", "")
        runs: list[list[int]] = []
        for k in keep:
            if runs and runs[-1][-1] == k - 1:
                runs[-1].append(k)
            else:
                runs.append([k])
        row_id, buffer, ms, prefix, number, _, command, sender, account, _, tags, text = row
        made: list[_Row] = []
        for run in runs:
            first = run[0]
            made.append(
                (
                    row_id + first,
                    buffer,
                    ms,
                    prefix,
                    number + first,
                    len(run),
                    command,
                    sender,
                    account,
                    lines[first][1].line,
                    tags,
                    "\n".join(lines[k][1].text for k in run) if text else "",
                )
            )
        _insert(conn, made)
        self._index(conn, made, None)

    def redact(self, msgid: str) -> int:
        with self._transaction() as conn:
            found = self._containing(conn, msgid)
            for row, k in found:
                self._rewrite(conn, row, [j for j in range(row[5]) if j != k])
        return len(found)

    def purge(
        self,
        *,
        older_than: float,
        max_rows: int,
        overrides: Mapping[str, tuple[float, int]] | None = None,
        batch: int = 10000,
    ) -> int:
        """Retention (see :meth:`HistoryStore.purge`); an override applies to every buffer of
        its target, and its 0s mean "no limit" as for the defaults. ``max_rows`` and
        ``batch`` count lines (a block is cut where the count falls). Buffers left empty are
        dropped at the end."""
        batch = max(1, min(batch, _MAX_LIMIT))
        overrides = overrides or {}
        with self._writing() as conn:
            buffers = [
                (int(buffer), str(target))
                for buffer, target in conn.execute("SELECT id, target FROM history_buffers")
            ]
        special = {buffer: overrides[target] for buffer, target in buffers if target in overrides}
        removed = 0
        if older_than > 0:
            skip = ",".join(str(buffer) for buffer in special)
            removed += self._purge_where(
                f"id < ? AND buffer NOT IN ({skip})", (_before(older_than) + 1,), batch
            )
        for buffer, (age, _) in special.items():
            if age > 0:
                removed += self._purge_where(
                    "buffer = ? AND id < ?", (buffer, _before(age) + 1), batch
                )
        for buffer, _ in buffers:
            keep = special[buffer][1] if buffer in special else max_rows
            if keep > 0:
                removed += self._keep_newest(buffer, keep, batch)
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM history_buffers WHERE NOT EXISTS "
                "(SELECT 1 FROM history WHERE history.buffer = history_buffers.id)"
            )
            self._buffers.clear()
        return removed

    def _keep_newest(self, buffer: int, keep: int, batch: int) -> int:
        """Remove all but the newest ``keep`` lines of ``buffer``; the number removed. The
        rows are counted newest first ``batch`` at a time, each look a statement of its own,
        so that appends go on meanwhile (what arrives then is newer: it only means a few
        more lines kept until the next pass)."""
        kept = 0
        cut: tuple[int, int] | None = None
        high = _MAX_ID
        while cut is None:
            with self._writing() as conn:
                rows = conn.execute(
                    "SELECT id, size FROM history WHERE buffer = ? AND id <= ? "
                    "ORDER BY id DESC LIMIT ?",
                    (buffer, high, batch),
                ).fetchall()
            for row_id, size in rows:
                if kept + size > keep:
                    cut = (int(row_id), int(size))
                    break
                kept += size
            if cut is None:
                if len(rows) < batch:
                    return 0
                high = int(rows[-1][0]) - 1
        row_id, size = cut
        drop = size - (keep - kept)  # the oldest lines of the row where the count falls
        with self._transaction() as conn:
            found: list[_Row] = conn.execute(
                f"SELECT {_COLUMNS} FROM history WHERE id = ?", (row_id,)
            ).fetchall()
            if not found or found[0][5] != size:
                drop = 0  # (redacted meanwhile: the next pass counts again)
            elif drop < size:
                self._rewrite(conn, found[0], range(drop, size))
            else:
                self._delete(conn, [(row_id, found[0][11])])
        return drop + self._purge_where("buffer = ? AND id < ?", (buffer, row_id), batch)

    def _purge_where(self, where: str, params: tuple[int, ...], batch: int) -> int:
        """Delete the rows that match ``where``, oldest first, about ``batch`` lines per
        transaction; the number of lines removed."""
        removed = 0
        start = 0
        while True:
            with self._transaction() as conn:
                cursor = conn.execute(
                    f"SELECT id, text, size FROM history WHERE id >= ? AND {where} ORDER BY id",
                    (start, *params),
                )
                try:
                    rows: list[tuple[int, str]] = []
                    lines = 0
                    for row_id, text, size in cursor:
                        rows.append((row_id, text))
                        lines += size
                        if lines >= batch:
                            break
                finally:
                    cursor.close()
                self._delete(conn, rows)
            removed += lines
            if lines < batch:
                return removed
            start = int(rows[-1][0]) + 1

    def set_marker(self, owner: str, target: str, time: float) -> float:
        return self.set_markers([(owner, target, time)])[0]

    def set_markers(self, marks: Sequence[tuple[str, str, float]]) -> list[float]:
        stored: list[float] = []
        with self._transaction() as conn:
            for owner, target, time in marks:
                conn.execute(
                    "INSERT INTO read_markers (owner, target, time) VALUES (?, ?, ?) "
                    "ON CONFLICT (owner, target) DO UPDATE SET time = max(time, excluded.time)",
                    (owner, target, millis(time)),
                )
                rows = conn.execute(
                    "SELECT time FROM read_markers WHERE owner = ? AND target = ?", (owner, target)
                ).fetchall()
                stored.append(int(rows[0][0]) / 1000)
        return stored

    # -- reading -----------------------------------------------------------------------------

    def get_marker(self, owner: str, target: str) -> float | None:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT time FROM read_markers WHERE owner = ? AND target = ?", (owner, target)
            ).fetchall()
        return int(rows[0][0]) / 1000 if rows else None

    def markers(self, owner: str) -> dict[str, float]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT target, time FROM read_markers WHERE owner = ?", (owner,)
            ).fetchall()
        return {str(target): int(ms) / 1000 for target, ms in rows}

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
        """See :meth:`HistoryStore.query`; an anchor with neither msgid nor time is no bound,
        and one with both is its msgid."""
        with self._reading() as conn:
            buffer = self._buffer(conn, target, peer)
            low, high = millis(not_before) << SHIFT, _MAX_ID
            for anchor, is_after in ((after, True), (before, False)):
                if anchor is None:
                    continue
                if anchor.msgid is not None:
                    found = None if buffer is None else self._msgid(conn, buffer, anchor.msgid)
                    if found is None:
                        return None
                    if is_after:
                        low = max(low, found + 1)
                    else:
                        high = min(high, found - 1)
                elif anchor.time is not None:
                    if is_after:
                        low = max(low, _after(anchor.time))
                    else:
                        high = min(high, _before(anchor.time))
            if buffer is None or limit <= 0 or low > high:
                return []
            limit = min(limit, _MAX_LIMIT)
            only = " AND command IN ('PRIVMSG', 'NOTICE')" if messages_only else ""
            cursor = conn.execute(
                f"SELECT {_COLUMNS} FROM history WHERE buffer = ? AND id BETWEEN ? AND ? "
                f"AND id + size > ?{only} ORDER BY id {'DESC' if newest else 'ASC'}",
                (buffer, low - MAX_BLOCK + 1, high, low),
            )
            out: list[StoredMessage] = []
            try:
                for row in cursor:
                    lines = _lines(row, target, peer)
                    if newest:
                        lines.reverse()
                    for line_id, line in lines:
                        if low <= line_id <= high:
                            out.append(line)
                    if len(out) >= limit:
                        break
            finally:
                cursor.close()
        del out[limit:]
        if newest:
            out.reverse()
        return out

    def find(self, target: str, peer: str, msgid: str) -> StoredMessage | None:
        with self._reading() as conn:
            buffer = self._buffer(conn, target, peer)
            if buffer is None:
                return None
            found = self._containing(conn, msgid, buffer)
        if not found:
            return None
        row, k = found[0]
        return _lines(row, target, peer)[k][1]

    def targets(
        self, keys: Sequence[tuple[str, str]], start: float, end: float, limit: int
    ) -> list[tuple[str, str, float]]:
        """See :meth:`HistoryStore.targets`; "between" is strict at both ends, as for the
        anchors of :meth:`query`. (The lines of a block share their millisecond: the newest
        row's id places its last line too.)"""
        first, last = sorted((start, end))
        low, high = _after(first), _before(last)
        if limit <= 0 or low > high:
            return []
        found: list[tuple[int, int, str, str]] = []
        # Each buffer's newest row, looked up in the index by SQLite itself: one statement
        # for all of an owner's conversations (anyone can start one with anyone, so there
        # may be tens of thousands), not one per buffer from Python (17,800 conversations
        # had made a TARGETS take 200 ms of the one reader connection).
        newest = (
            "SELECT last, time, b.target, b.peer FROM ("
            " SELECT b.id AS id, b.target AS target, b.peer AS peer,"
            " (SELECT max(h.id) FROM history h WHERE h.buffer = b.id) AS last"
            " FROM history_buffers b WHERE {where}) b"
            " JOIN history ON history.id = b.last WHERE last BETWEEN ? AND ?"
        )
        with self._reading() as conn:
            for target, peer in dict.fromkeys(keys):
                if peer == "" and target.startswith("~"):
                    rows = conn.execute(
                        newest.format(where="b.target = ?"), (target, low, high)
                    ).fetchall()
                else:
                    rows = conn.execute(
                        newest.format(where="b.target = ? AND b.peer = ?"),
                        (target, peer, low, high),
                    ).fetchall()
                found.extend((int(i), int(ms), str(t), str(p)) for i, ms, t, p in rows)
        found.sort()
        chosen = found[:limit] if start <= end else found[-limit:]
        return [(target, peer, ms / 1000) for _, ms, target, peer in chosen]

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
        """See :meth:`HistoryStore.search`. Only lines with text (PRIVMSG, NOTICE) are
        searched. The words of ``text`` are its runs of letters and digits
        (:func:`search_words`), each matched as a whole word, case and diacritics ignored; a
        ``text`` with something in it but no word matches nothing. ``after`` and ``before``
        are strict. The clock starts before waiting for the reader."""
        words = search_words(text)
        if (text.strip() and not words) or limit <= 0:
            return []
        low = 0 if after is None else _after(after)
        high = _MAX_ID if before is None else _before(before)
        if low > high:
            return []
        limit = min(limit, _MAX_LIMIT)
        deadline = time.monotonic() + timeout
        if not self._search_lock.acquire(timeout=max(timeout, 0.0)):
            raise StorageTimeout(f"the search did not start within {timeout:g}s")
        stopped = False

        def progress() -> int:
            nonlocal stopped
            stopped = time.monotonic() >= deadline
            return 1 if stopped else 0

        try:
            conn = self._searcher
            if conn is None:
                raise StorageError("the history database is not open")
            searcher = conn
            live = True
            guard = threading.Lock()  # (no interrupt reaches the connection's next search)
            finished = threading.Event()

            def watch() -> None:
                """From the deadline on, interrupt the search until it has ended (an
                interrupt between two statements is forgotten when the next one starts)."""
                nonlocal stopped
                if finished.wait(max(deadline - time.monotonic(), 0.0)):
                    return
                while True:
                    with guard:
                        if not live:
                            return
                        stopped = True
                        searcher.interrupt()
                    if finished.wait(_INTERRUPT_AGAIN):
                        return

            conn.set_progress_handler(progress, _PROGRESS_STEPS)
            threading.Thread(target=watch, name="hubbub-search-clock", daemon=True).start()
            try:
                buffers = self._resolve(conn, keys)
                if not buffers:
                    return []
                if words or sender:
                    found = self._search_text(conn, buffers, words, sender, low, high, limit)
                else:
                    found = self._search_lines(conn, buffers, low, high, limit)
            except sqlite3.Error as exc:
                if stopped:
                    raise StorageTimeout(f"the search ran out of its {timeout:g}s") from exc
                if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("fts5:"):
                    return []  # a word the FTS tokenizer splits differently: no match
                raise StorageError(f"{type(exc).__name__} in {self.path}: {exc}") from exc
            finally:
                with guard:
                    live = False
                finished.set()
                conn.set_progress_handler(None, 0)
        finally:
            self._search_lock.release()
        return found

    @staticmethod
    def _search_text(
        conn: sqlite3.Connection,
        buffers: Mapping[int, tuple[str, str]],
        words: Sequence[str],
        sender: str,
        low: int,
        high: int,
        limit: int,
    ) -> list[StoredMessage]:
        """The search index newest first (its rowids are the rows' ids, so time order), each
        match checked against the buffers, and a row of several lines line by line (every
        word in one line): it stops at the ``limit``-th line."""
        columns = ", ".join(f"h.{column}" for column in _COLUMNS.split(", "))
        among = ",".join(str(buffer) for buffer in buffers)
        terms = [*words, sender_word(sender)] if sender else list(words)
        params: list[Any] = [_fts_query(terms), low - MAX_BLOCK + 1, high]
        by = ""
        if sender:  # the sender's word could also be typed in a line: check the column
            by = " AND h.sender = ?"
            params.append(sender)
        wanted = {_plain(word) for word in words}
        cursor = conn.execute(
            f"SELECT {columns} FROM history_text CROSS JOIN history AS h "
            "ON h.id = history_text.rowid "
            "WHERE history_text MATCH ? AND history_text.rowid BETWEEN ? AND ? "
            f"AND h.buffer IN ({among}){by} ORDER BY history_text.rowid DESC",
            params,
        )
        found: list[StoredMessage] = []
        try:
            for row in cursor:
                lines = _lines(row, *buffers[row[1]])
                for line_id, line in reversed(lines):
                    if low <= line_id <= high and (row[5] == 1 or wanted <= line_words(line.text)):
                        found.append(line)
                if len(found) >= limit:
                    break
        finally:
            cursor.close()
        del found[limit:]
        found.reverse()
        return found

    @staticmethod
    def _search_lines(
        conn: sqlite3.Connection,
        buffers: Mapping[int, tuple[str, str]],
        low: int,
        high: int,
        limit: int,
    ) -> list[StoredMessage]:
        """Neither words nor sender: the newest lines with text of each buffer, merged."""
        found: list[tuple[int, StoredMessage]] = []
        for buffer, (target, peer) in buffers.items():
            cursor = conn.execute(
                f"SELECT {_COLUMNS} FROM history WHERE buffer = ? AND id BETWEEN ? AND ? "
                "AND text != '' ORDER BY id DESC",
                (buffer, low - MAX_BLOCK + 1, high),
            )
            taken = 0
            try:
                for row in cursor:
                    for line_id, line in _lines(row, target, peer):
                        if low <= line_id <= high:
                            found.append((line_id, line))
                            taken += 1
                    if taken >= limit:
                        break
            finally:
                cursor.close()
        newest = heapq.nlargest(limit, found, key=lambda pair: pair[0])
        newest.reverse()
        return [line for _, line in newest]
