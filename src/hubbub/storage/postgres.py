"""Storage in PostgreSQL (``[storage] url``): what several hubbub nodes share in cluster mode.

The same data as :mod:`hubbub.storage.sqlite` (accounts, settings, registered channels) and,
through :meth:`PostgresStorage.history`, message history and read markers
(:class:`PostgresHistory`), with the same behaviour, so that the server cannot tell them
apart.

Schema: :data:`MIGRATIONS` lists each version's statements; ``schema_version`` records how
many have been applied. Nodes that start together migrate one at a time: the migration runs
in one transaction that first takes a transaction-level advisory lock
(:data:`MIGRATION_LOCK`). A database from a newer hubbub is refused.

Durability: every write is one transaction committed with ``synchronous_commit = on`` (set
on each connection), so it is in PostgreSQL's write-ahead log on disk before the call returns.

History layout:

- ``history_buffers`` maps a buffer's key (target, peer) to an integer;
- ``history`` holds one row per line (a block handed to :meth:`PostgresHistory.append` is
  stored as its lines, :func:`~hubbub.storage.base.expand`). The order of a buffer is
  ``(time, id)``: the time in milliseconds, then the row's identity (arrival order: ties of
  equal time come back as they were stored, also across nodes). Every range a query needs is a
  range of the index ``history_range`` on ``(buffer, time, id)``;
- ``words`` is the line's searchable text as a ``tsvector``, with a GIN index. Its lexemes
  are made here, not by a PostgreSQL text search configuration: the runs of letters and
  digits of the text (:func:`search_words`), lower-cased and without diacritics, plus one
  lexeme for the sender. A search builds its ``tsquery`` from the same words, each quoted as
  one lexeme (``'fox' & 'cafe'``), so that nothing a user types is read as query syntax, and
  the matching is the same as SQLite's ``unicode61 remove_diacritics`` tokenizer whatever the
  server's locale, with no extension (``unaccent``) to install;
- ``read_markers`` keeps one time (ms) per (account, target).

Threading: a small connection pool (:mod:`psycopg_pool`), shared by the accounts and the
history: any thread takes a connection for one call and gives it back; a broken connection
(PostgreSQL restarted) is dropped and replaced. Every ``psycopg`` error is raised as
:class:`~hubbub.storage.base.StorageError`.
"""

from __future__ import annotations

import contextlib
import heapq
import re
import threading
import time as clock
import unicodedata
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from hubbub.protocol.casemap import Folded
from hubbub.storage.base import (
    ACCOUNT_COLUMNS,
    CHANNEL_COLUMNS,
    AccountRecord,
    Anchor,
    ChannelRecord,
    ScramCredentials,
    StorageError,
    StorageTimeout,
    StoredMessage,
    access_without,
    account_from_row,
    account_row,
    channel_from_row,
    channel_row,
    expand,
)

__all__ = [
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "POOL_SIZE",
    "PostgresHistory",
    "PostgresStorage",
    "search_words",
    "shown_url",
]

POOL_SIZE = 4
"""Connections a storage keeps at most: the server's worker threads share them."""
CONNECT_TIMEOUT = 10.0
"""Seconds to wait for PostgreSQL when connecting (at start, and for a pool connection)."""
MIGRATION_LOCK = 0x68756262_75620001
"""The advisory lock key (``"hubbub"`` and 1) that serialises the migrations of nodes."""

_MAX_MS = (1 << 53) - 1
_MAX_SECONDS = _MAX_MS // 1000
_MAX_ID = (1 << 63) - 1
_MAX_LIMIT = 1 << 31
_MAX_LEXEME = 1000
"""Longest word (in bytes) kept in the search index (PostgreSQL's limit is 2047 bytes)."""
_BUFFER_CACHE = 65536

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: everything of SQLite's schema version 4, at once
    (
        """
        CREATE TABLE accounts (
            folded TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            scram_salt BYTEA NOT NULL,
            scram_iterations INTEGER NOT NULL,
            scram_stored_key BYTEA NOT NULL,
            scram_server_key BYTEA NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            created DOUBLE PRECISION NOT NULL
        )
        """,
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE channels (
            folded TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            founder TEXT NOT NULL,
            registered DOUBLE PRECISION NOT NULL,
            topic TEXT NOT NULL DEFAULT '',
            topic_setter TEXT NOT NULL DEFAULT '',
            topic_time DOUBLE PRECISION NOT NULL DEFAULT 0,
            modes TEXT NOT NULL DEFAULT '',
            key TEXT NOT NULL DEFAULT '',
            channel_limit INTEGER NOT NULL DEFAULT 0,
            bans TEXT NOT NULL DEFAULT '[]',
            excepts TEXT NOT NULL DEFAULT '[]',
            invexes TEXT NOT NULL DEFAULT '[]',
            access TEXT NOT NULL DEFAULT '[]',
            history TEXT NOT NULL DEFAULT 'default'
        )
        """,
        """
        CREATE TABLE history_buffers (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            target TEXT NOT NULL,
            peer TEXT NOT NULL,
            UNIQUE (target, peer)
        )
        """,
        """
        CREATE TABLE history (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            buffer BIGINT NOT NULL REFERENCES history_buffers (id),
            time BIGINT NOT NULL,
            msgid TEXT NOT NULL,
            command TEXT NOT NULL,
            sender TEXT NOT NULL,
            account TEXT NOT NULL,
            line TEXT NOT NULL,
            tags TEXT NOT NULL,
            text TEXT NOT NULL,
            words TSVECTOR
        )
        """,
        "CREATE INDEX history_range ON history (buffer, time, id)",
        "CREATE INDEX history_msgid ON history (msgid)",
        "CREATE INDEX history_age ON history (time, id)",
        "CREATE INDEX history_words ON history USING GIN (words)",
        """
        CREATE TABLE read_markers (
            owner TEXT NOT NULL,
            target TEXT NOT NULL,
            time BIGINT NOT NULL,
            PRIMARY KEY (owner, target)
        )
        """,
    ),
)
"""The schema, one entry per version: version N is reached by running entry N-1."""

_COLUMNS = "id, buffer, time, msgid, command, sender, account, line, tags, text"
_Row = tuple[int, int, int, str, str, str, str, str, str, str]
_WORD = re.compile(r"[^\W_]+")


def shown_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}@{host}"
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:
        return "the PostgreSQL URL"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def search_words(text: str) -> list[str]:
    """The words of ``text`` as the search index keeps them: runs of letters and digits, of
    the text lower-cased and with its diacritics removed (canonical decomposition, combining
    marks dropped), each once. Nothing else of ``text`` survives, so no query syntax can."""
    plain = "".join(
        c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c)
    )
    return list(dict.fromkeys(_WORD.findall(plain)))


def _sender_lexeme(sender: str) -> str:
    """The lexeme that stands for ``sender`` in the index: no word of a text can be it
    (a text's words are lower-case; this has an upper-case ``F``)."""
    return "F" + sender.encode().hex()


def _lexemes(text: str, sender: str) -> list[str] | None:
    """What the ``words`` column of a line holds (None: the line has no text)."""
    if not text:
        return None
    words = [word for word in search_words(text) if len(word.encode()) <= _MAX_LEXEME]
    if sender:
        words.append(_sender_lexeme(sender))
    return words


def _tsquery(terms: Sequence[str]) -> str:
    """A ``tsquery`` literal matching lines with every one of ``terms``, each quoted as one
    lexeme (tsquery's own quoting: ``'`` and ``\\`` escaped)."""
    quoted = ("'" + term.replace("\\", "\\\\").replace("'", "''") + "'" for term in terms)
    return " & ".join(quoted)


def millis(t: float) -> int:
    """``t`` (Unix time in seconds) as whole milliseconds (rounded half up), clamped to what
    the history keeps (0 for a time before 1970 or NaN)."""
    if 0.0 < t < _MAX_SECONDS:
        return int(t * 1000 + 0.5)
    return _MAX_MS if t >= _MAX_SECONDS else 0


def _message(row: Sequence[Any], target: str, peer: str) -> StoredMessage:
    _, _, ms, msgid, command, sender, account, line, tags, text = row
    return StoredMessage(target, peer, msgid, ms / 1000, command, sender, account, line, tags, text)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Each new connection: durable commits whatever the server's default."""
    conn.execute("SET synchronous_commit = on")


class PostgresStorage:
    """:class:`~hubbub.storage.base.Storage` and
    :class:`~hubbub.storage.base.ChannelStore` in a PostgreSQL database, given by a
    ``postgresql://`` URL (libpq's, so ``?sslmode=...`` and the rest work)."""

    shared = True
    """Every node of a cluster reads and writes this one database: a node that changes an
    account or a registration tells the others to read it again."""

    def __init__(
        self, url: str, *, pool_size: int = POOL_SIZE, timeout: float = CONNECT_TIMEOUT
    ) -> None:
        """A storage on the database at ``url`` (:meth:`open` connects), keeping at most
        ``pool_size`` connections; a call waits at most ``timeout`` seconds for a connection
        (a database that is down makes it a :class:`StorageError` after that)."""
        self.url = url
        self.timeout = timeout
        self.path = shown_url(url)
        """The URL without its password: what messages name the database by."""
        self._pool_size = max(2, pool_size)
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._lock = threading.Lock()
        self._histories: list[PostgresHistory] = []

    # -- life --------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, and create or migrate the schema. Raises :class:`StorageError`, with
        PostgreSQL's reason, when the database cannot be reached or used. Idempotent."""
        with self._lock:
            if self._pool is not None:
                return
            try:
                conn = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=max(1, round(self.timeout))
                )
            except psycopg.Error as exc:
                raise StorageError(
                    f"cannot connect to PostgreSQL at {self.path}: {_first_line(exc)}"
                ) from exc
            try:
                with conn:
                    self._migrate(conn)
            except psycopg.Error as exc:
                raise StorageError(
                    f"cannot use the database {self.path}: {_first_line(exc)}"
                ) from exc
            pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                kwargs={"autocommit": True, "connect_timeout": max(1, round(self.timeout))},
                configure=_configure,
                check=ConnectionPool.check_connection,
                timeout=self.timeout,
                name="hubbub",
                open=False,
            )
            try:
                pool.open(wait=True, timeout=self.timeout)
            except psycopg.Error as exc:
                pool.close()
                raise StorageError(
                    f"cannot connect to PostgreSQL at {self.path}: {_first_line(exc)}"
                ) from exc
            self._pool = pool

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
                version = 0
            else:
                version = int(row[0])
            if version > len(MIGRATIONS):
                raise StorageError(
                    f"the database {self.path} has schema version {version}, newer than this "
                    f"hubbub knows ({len(MIGRATIONS)}); upgrade hubbub to use it"
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS),))

    def history(self) -> PostgresHistory:
        """Message history and read markers in this database, on the same connections;
        closed with this storage. The database must be open. Raises :class:`StorageError`."""
        with self._lock:
            if self._pool is None:
                raise StorageError("the database is not open")
            history = PostgresHistory(self)
            self._histories.append(history)
        return history

    def close(self) -> None:
        """Close every connection; a closed storage may not be used again. Idempotent."""
        with self._lock:
            pool, self._pool = self._pool, None
            histories, self._histories = self._histories, []
        for history in histories:
            history._closed = True
        if pool is not None:
            pool.close()

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool (autocommit: use ``conn.transaction()`` for more than
        one statement), every psycopg error raised as :class:`StorageError`."""
        pool = self._pool
        if pool is None:
            raise StorageError("the database is not open")
        try:
            with pool.connection(timeout=timeout) as conn:
                yield conn
        except PoolTimeout as exc:
            raise StorageError(
                f"no connection to PostgreSQL at {self.path}: {_first_line(exc)}"
            ) from exc
        except psycopg.Error as exc:
            raise StorageError(
                f"{type(exc).__name__} in PostgreSQL {self.path}: {_first_line(exc)}"
            ) from exc

    @property
    def schema_version(self) -> int:
        """The version of the open database's schema."""
        with self.connection() as conn:
            row = conn.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    # -- accounts ----------------------------------------------------------------------------

    def create_account(self, account: AccountRecord) -> bool:
        with self.connection() as conn, conn.transaction():
            cursor = conn.execute(
                f"INSERT INTO accounts ({ACCOUNT_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (folded) DO NOTHING",
                account_row(account),
            )
            if cursor.rowcount != 1:
                return False
            # A new account starts with no read markers, whatever a deleted one of the
            # same name left (a marker stored while its deletion was under way, say).
            conn.execute("DELETE FROM read_markers WHERE owner = %s", (account.folded,))
            return True

    def get_account(self, folded: Folded) -> AccountRecord | None:
        with self.connection() as conn:
            row = conn.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE folded = %s", (folded,)
            ).fetchone()
        return None if row is None else account_from_row(row)

    def list_accounts(self) -> list[AccountRecord]:
        with self.connection() as conn:
            rows = conn.execute(
                f'SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY folded COLLATE "C"'
            ).fetchall()
        return [account_from_row(row) for row in rows]

    def set_password(self, folded: Folded, password_hash: str, scram: ScramCredentials) -> bool:
        with self.connection() as conn:
            cursor = conn.execute(
                "UPDATE accounts SET password_hash = %s, scram_salt = %s, scram_iterations = %s, "
                "scram_stored_key = %s, scram_server_key = %s WHERE folded = %s",
                (
                    password_hash,
                    scram.salt,
                    scram.iterations,
                    scram.stored_key,
                    scram.server_key,
                    folded,
                ),
            )
            return cursor.rowcount == 1

    def delete_account(self, folded: Folded) -> bool:
        with self.connection() as conn, conn.transaction():
            cursor = conn.execute("DELETE FROM accounts WHERE folded = %s", (folded,))
            # What it held goes with it, in the same transaction (see SqliteStorage): its
            # read markers, the channels it founded, its access entries.
            conn.execute("DELETE FROM read_markers WHERE owner = %s", (folded,))
            conn.execute("DELETE FROM channels WHERE founder = %s", (folded,))
            rows = conn.execute("SELECT folded, access FROM channels FOR UPDATE").fetchall()
            for channel, access in rows:
                kept = access_without(access, folded)
                if kept is not None:
                    conn.execute(
                        "UPDATE channels SET access = %s WHERE folded = %s", (kept, channel)
                    )
            return cursor.rowcount == 1

    # -- settings ----------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        with self.connection() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def ensure_setting(self, key: str, value: str) -> str:
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
            row = conn.execute("SELECT value FROM settings WHERE key = %s", (key,)).fetchone()
        if row is None:  # (deleted by hand in between)
            raise StorageError(f"the setting {key} vanished from {self.path}")
        return str(row[0])

    # -- registered channels -----------------------------------------------------------------

    def list_channels(self) -> list[ChannelRecord]:
        with self.connection() as conn:
            found = conn.execute(
                f'SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY folded COLLATE "C"'
            ).fetchall()
        try:
            return [channel_from_row(row) for row in found]
        except (ValueError, TypeError) as exc:  # a row no hubbub wrote
            raise StorageError(f"a damaged channel registration in {self.path}: {exc}") from exc

    def get_channel(self, folded: Folded) -> ChannelRecord | None:
        with self.connection() as conn:
            found = conn.execute(
                f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE folded = %s", (folded,)
            ).fetchall()
        try:
            return channel_from_row(found[0]) if found else None
        except (ValueError, TypeError) as exc:  # a row no hubbub wrote
            raise StorageError(f"a damaged channel registration in {self.path}: {exc}") from exc

    def create_channel(self, record: ChannelRecord) -> bool:
        with self.connection() as conn:
            cursor = conn.execute(
                f"INSERT INTO channels ({CHANNEL_COLUMNS}) "
                f"VALUES ({', '.join(['%s'] * len(CHANNEL_COLUMNS.split(', ')))}) "
                "ON CONFLICT (folded) DO NOTHING",
                channel_row(record),
            )
            return cursor.rowcount == 1

    def save_channel(self, record: ChannelRecord) -> None:
        columns = CHANNEL_COLUMNS.split(", ")
        updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[2:])
        with self.connection() as conn:
            conn.execute(
                f"INSERT INTO channels ({CHANNEL_COLUMNS}) "
                f"VALUES ({', '.join(['%s'] * len(columns))}) "
                f"ON CONFLICT (folded) DO UPDATE SET name = EXCLUDED.name, {updates}",
                channel_row(record),
            )

    def delete_channel(self, folded: Folded) -> bool:
        with self.connection() as conn:
            cursor = conn.execute("DELETE FROM channels WHERE folded = %s", (folded,))
            return cursor.rowcount == 1

    def write_channels(self, saved: Sequence[ChannelRecord], deleted: Sequence[Folded]) -> None:
        columns = CHANNEL_COLUMNS.split(", ")
        updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[2:])
        with self.connection() as conn, conn.transaction():
            for record in saved:
                conn.execute(
                    f"INSERT INTO channels ({CHANNEL_COLUMNS}) "
                    f"VALUES ({', '.join(['%s'] * len(columns))}) "
                    f"ON CONFLICT (folded) DO UPDATE SET name = EXCLUDED.name, {updates}",
                    channel_row(record),
                )
            for folded in deleted:
                conn.execute("DELETE FROM channels WHERE folded = %s", (folded,))


class PostgresHistory:
    """:class:`~hubbub.storage.base.HistoryStore` in the database of a
    :class:`PostgresStorage` (made by its ``history()``), on its connections. Safe to call
    from any thread; several nodes may write the same database at once."""

    shared = True
    """Every node of a cluster writes and reads this one store: each keeps only what its
    own users said (see :attr:`hubbub.storage.base.HistoryStore.shared`)."""

    def __init__(self, storage: PostgresStorage) -> None:
        self._storage = storage
        self._buffers: dict[tuple[str, str], int] = {}
        """Buffer ids this node has seen. Another node's purge may drop one: an append that
        then fails on the foreign key forgets them all and tries again."""
        self._buffers_lock = threading.Lock()
        self._closed = False

    @property
    def path(self) -> str:
        """The database's URL without its password."""
        return self._storage.path

    def close(self) -> None:
        """Stop using the database (the connections are the storage's). Idempotent."""
        self._closed = True

    @contextlib.contextmanager
    def _connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise StorageError("the history database is closed")
        with self._storage.connection(timeout) as conn:
            yield conn

    # -- buffers -----------------------------------------------------------------------------

    @staticmethod
    def _buffer(conn: psycopg.Connection[Any], target: str, peer: str) -> int | None:
        row = conn.execute(
            "SELECT id FROM history_buffers WHERE target = %s AND peer = %s", (target, peer)
        ).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _resolve(
        conn: psycopg.Connection[Any], keys: Sequence[tuple[str, str]]
    ) -> dict[int, tuple[str, str]]:
        """The buffers named by ``keys`` (``("~owner", "")`` names each of the owner's)."""
        found: dict[int, tuple[str, str]] = {}
        for target, peer in dict.fromkeys(keys):
            if peer == "" and target.startswith("~"):
                rows = conn.execute(
                    "SELECT id, peer FROM history_buffers WHERE target = %s", (target,)
                ).fetchall()
                for buffer, each in rows:
                    found[int(buffer)] = (target, str(each))
            else:
                buffer = PostgresHistory._buffer(conn, target, peer)
                if buffer is not None:
                    found[buffer] = (target, peer)
        return found

    def _ids(
        self, conn: psycopg.Connection[Any], keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        """The ids of buffers ``keys``, those missing created (in the caller's transaction)."""
        with self._buffers_lock:
            ids = {key: self._buffers[key] for key in keys if key in self._buffers}
        for key in keys:
            if key in ids:
                continue
            conn.execute(
                "INSERT INTO history_buffers (target, peer) VALUES (%s, %s) "
                "ON CONFLICT (target, peer) DO NOTHING",
                key,
            )
            buffer = self._buffer(conn, *key)
            if buffer is None:  # (cannot be: inserted or there already, in this transaction)
                raise StorageError(f"the history buffer {key} vanished")
            ids[key] = buffer
        return ids

    def _remember(self, ids: Mapping[tuple[str, str], int]) -> None:
        with self._buffers_lock:
            if len(self._buffers) + len(ids) > _BUFFER_CACHE:
                self._buffers.clear()
            self._buffers.update(ids)

    def _forget(self) -> None:
        with self._buffers_lock:
            self._buffers.clear()

    # -- writing -----------------------------------------------------------------------------

    def append(self, rows: Sequence[StoredMessage]) -> None:
        """Store ``rows`` (a block as its lines) in one transaction, durably once it returns.
        Raises :class:`StorageError` with nothing stored."""
        if not rows:
            return
        try:
            lines = (
                [line for row in rows for line in expand(row)]
                if any(row.size != 1 for row in rows)
                else list(rows)
            )
        except ValueError as exc:  # a malformed block
            raise StorageError(f"cannot store history: {exc}") from exc
        keys = list(dict.fromkeys((line.target, line.peer) for line in lines))
        for attempt in (1, 2):
            try:
                with self._connection() as conn, conn.transaction():
                    ids = self._ids(conn, keys)
                    with conn.cursor() as cursor:
                        cursor.executemany(
                            "INSERT INTO history (buffer, time, msgid, command, sender, "
                            "account, line, tags, text, words) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
                            "array_to_tsvector(%s::text[]))",
                            [
                                (
                                    ids[(line.target, line.peer)],
                                    millis(line.time),
                                    line.msgid,
                                    line.command,
                                    line.sender,
                                    line.account,
                                    line.line,
                                    line.tags,
                                    line.text,
                                    _lexemes(line.text, line.sender),
                                )
                                for line in lines
                            ],
                        )
            except StorageError as exc:
                cause = exc.__cause__
                if attempt == 1 and isinstance(cause, psycopg.errors.ForeignKeyViolation):
                    self._forget()  # a buffer another node's purge dropped
                    continue
                raise
            self._remember(ids)
            return

    def probe(self) -> None:
        """Raise :class:`StorageError` unless a connection to the database can be had and
        answers (the history writer's probe while PostgreSQL is away: see
        :mod:`hubbub.storage.writer`)."""
        with self._connection() as conn:
            conn.execute("SELECT 1 FROM history_buffers LIMIT 0")

    def redact(self, msgid: str) -> int:
        with self._connection() as conn:
            cursor = conn.execute("DELETE FROM history WHERE msgid = %s", (msgid,))
            return cursor.rowcount

    def purge(
        self,
        *,
        older_than: float,
        max_rows: int,
        overrides: Mapping[str, tuple[float, int]] | None = None,
        batch: int = 10000,
    ) -> int:
        """Retention (see :meth:`HistoryStore.purge`); an override applies to every buffer of
        its target, and its 0s mean "no limit" as for the defaults. Buffers left empty are
        dropped at the end (unless a node is writing to one that moment: then next time)."""
        batch = max(1, min(batch, _MAX_LIMIT))
        overrides = overrides or {}
        with self._connection() as conn:
            buffers = [
                (int(buffer), str(target))
                for buffer, target in conn.execute(
                    "SELECT id, target FROM history_buffers ORDER BY id"
                ).fetchall()
            ]
        special = {buffer: overrides[target] for buffer, target in buffers if target in overrides}
        removed = 0
        if older_than > 0:
            removed += self._purge_where(
                "time < %s AND NOT (buffer = ANY(%s))",
                (millis(older_than), list(special)),
                batch,
            )
        for buffer, (age, _) in special.items():
            if age > 0:
                removed += self._purge_where(
                    "buffer = %s AND time < %s", (buffer, millis(age)), batch
                )
        for buffer, _ in buffers:
            keep = special[buffer][1] if buffer in special else max_rows
            if keep <= 0:
                continue
            with self._connection() as conn:
                row = conn.execute(
                    "SELECT time, id FROM history WHERE buffer = %s "
                    "ORDER BY time DESC, id DESC OFFSET %s LIMIT 1",
                    (buffer, min(keep, _MAX_ID)),
                ).fetchone()
            if row is not None:
                removed += self._purge_where(
                    "buffer = %s AND (time, id) <= (%s, %s)", (buffer, row[0], row[1]), batch
                )
        try:
            with self._connection() as conn:
                conn.execute(
                    "DELETE FROM history_buffers WHERE NOT EXISTS "
                    "(SELECT 1 FROM history WHERE history.buffer = history_buffers.id)"
                )
        except StorageError as exc:
            if not isinstance(exc.__cause__, psycopg.errors.ForeignKeyViolation):
                raise
        self._forget()
        return removed

    def _purge_where(self, where: str, params: tuple[Any, ...], batch: int) -> int:
        """Delete the lines that match ``where``, oldest first, ``batch`` per transaction."""
        removed = 0
        while True:
            with self._connection() as conn:
                cursor = conn.execute(
                    "DELETE FROM history WHERE id IN (SELECT id FROM history "
                    f"WHERE {where} ORDER BY time, id LIMIT %s)",
                    (*params, batch),
                )
                count = cursor.rowcount
            removed += count
            if count < batch:
                return removed

    def set_marker(self, owner: str, target: str, time: float) -> float:
        return self.set_markers([(owner, target, time)])[0]

    def set_markers(self, marks: Sequence[tuple[str, str, float]]) -> list[float]:
        stored: list[float] = []
        with self._connection() as conn, conn.transaction():
            for owner, target, time in marks:
                row = conn.execute(
                    "INSERT INTO read_markers (owner, target, time) VALUES (%s, %s, %s) "
                    "ON CONFLICT (owner, target) DO UPDATE "
                    "SET time = GREATEST(read_markers.time, EXCLUDED.time) RETURNING time",
                    (owner, target, millis(time)),
                ).fetchone()
                if row is None:
                    raise StorageError("the read marker was not stored")
                stored.append(int(row[0]) / 1000)
        return stored

    # -- reading -----------------------------------------------------------------------------

    def get_marker(self, owner: str, target: str) -> float | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT time FROM read_markers WHERE owner = %s AND target = %s", (owner, target)
            ).fetchone()
        return int(row[0]) / 1000 if row else None

    def markers(self, owner: str) -> dict[str, float]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT target, time FROM read_markers WHERE owner = %s", (owner,)
            ).fetchall()
        return {str(target): int(ms) / 1000 for target, ms in rows}

    @staticmethod
    def _position(conn: psycopg.Connection[Any], buffer: int, msgid: str) -> tuple[int, int] | None:
        row = conn.execute(
            "SELECT time, id FROM history WHERE msgid = %s AND buffer = %s "
            "ORDER BY time, id LIMIT 1",
            (msgid, buffer),
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

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
        with self._connection() as conn:
            buffer = self._buffer(conn, target, peer)
            low, high = (millis(not_before), 0), (_MAX_ID, _MAX_ID)
            for anchor, is_after in ((after, True), (before, False)):
                if anchor is None:
                    continue
                if anchor.msgid is not None:
                    found = None if buffer is None else self._position(conn, buffer, anchor.msgid)
                    if found is None:
                        return None
                    if is_after:
                        low = max(low, (found[0], found[1] + 1))
                    else:
                        high = min(high, (found[0], found[1] - 1))
                elif anchor.time is not None:
                    if is_after:
                        low = max(low, (millis(anchor.time) + 1, 0))
                    else:
                        high = min(high, (millis(anchor.time) - 1, _MAX_ID))
            if buffer is None or limit <= 0 or low > high:
                return []
            only = " AND command IN ('PRIVMSG', 'NOTICE')" if messages_only else ""
            order = "DESC" if newest else "ASC"
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM history WHERE buffer = %s "
                f"AND (time, id) >= (%s, %s) AND (time, id) <= (%s, %s){only} "
                f"ORDER BY time {order}, id {order} LIMIT %s",
                (buffer, *low, *high, min(limit, _MAX_LIMIT)),
            ).fetchall()
        if newest:
            rows.reverse()
        return [_message(row, target, peer) for row in rows]

    def find(self, target: str, peer: str, msgid: str) -> StoredMessage | None:
        with self._connection() as conn:
            buffer = self._buffer(conn, target, peer)
            if buffer is None:
                return None
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM history WHERE msgid = %s AND buffer = %s "
                "ORDER BY time, id LIMIT 1",
                (msgid, buffer),
            ).fetchone()
        return _message(row, target, peer) if row else None

    def targets(
        self, keys: Sequence[tuple[str, str]], start: float, end: float, limit: int
    ) -> list[tuple[str, str, float]]:
        """See :meth:`HistoryStore.targets`; "between" is strict at both ends."""
        first, last = sorted((start, end))
        low, high = millis(first) + 1, millis(last) - 1
        if limit <= 0 or low > high or not keys:
            return []
        found: list[tuple[int, int, str, str]] = []
        with self._connection() as conn:
            buffers = self._resolve(conn, keys)
            # Each buffer's newest row, in one statement (an owner may have tens of
            # thousands of conversations: one round trip each was as many queries).
            rows = conn.execute(
                "SELECT b.id, h.time, h.id FROM unnest(%s::bigint[]) AS b(id) "
                "CROSS JOIN LATERAL (SELECT time, id FROM history WHERE buffer = b.id "
                "ORDER BY time DESC, id DESC LIMIT 1) h WHERE h.time BETWEEN %s AND %s",
                (list(buffers), low, high),
            ).fetchall()
            for buffer, ms, row_id in rows:
                target, peer = buffers[int(buffer)]
                found.append((int(ms), int(row_id), target, peer))
        found.sort()
        chosen = found[:limit] if start <= end else found[-limit:]
        return [(target, peer, ms / 1000) for ms, _, target, peer in chosen]

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
        searched; the words are those of :func:`search_words`, each matched as a whole word;
        a ``text`` with something in it but no word matches nothing. ``after`` and
        ``before`` are strict. The clock starts before waiting for a connection; PostgreSQL
        stops the query itself at the deadline (``statement_timeout``)."""
        words = search_words(text)
        if (text.strip() and not words) or limit <= 0 or not keys:
            return []
        if any(len(word.encode()) > _MAX_LEXEME for word in words):
            return []  # not in the index: no line has it
        low = 0 if after is None else millis(after) + 1
        high = _MAX_MS if before is None else millis(before) - 1
        if low > high:
            return []
        limit = min(limit, _MAX_LIMIT)
        deadline = clock.monotonic() + max(timeout, 0.0)
        try:
            with self._connection(timeout=max(timeout, 0.001)) as conn, conn.transaction():
                left = deadline - clock.monotonic()
                if left <= 0:
                    raise StorageTimeout(f"the search ran out of its {timeout:g}s")
                conn.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (str(max(1, int(left * 1000))),),
                )
                buffers = self._resolve(conn, keys)
                if not buffers:
                    return []
                if words or sender:
                    terms = [*words, _sender_lexeme(sender)] if sender else words
                    rows = self._search_text(conn, list(buffers), terms, sender, low, high, limit)
                else:
                    rows = self._search_lines(conn, list(buffers), low, high, limit)
        except StorageTimeout:
            raise
        except StorageError as exc:
            if isinstance(exc.__cause__, psycopg.errors.QueryCanceled):
                raise StorageTimeout(f"the search ran out of its {timeout:g}s") from exc
            if isinstance(exc.__cause__, PoolTimeout):
                raise StorageTimeout(f"the search did not start within {timeout:g}s") from exc
            raise
        return [_message(row, *buffers[row[1]]) for row in rows]

    @staticmethod
    def _search_text(
        conn: psycopg.Connection[Any],
        buffers: list[int],
        terms: Sequence[str],
        sender: str,
        low: int,
        high: int,
        limit: int,
    ) -> list[_Row]:
        by = " AND sender = %s" if sender else ""
        params: list[Any] = [_tsquery(terms), buffers, low, high]
        if sender:  # the sender's lexeme cannot be typed, but the column is the truth
            params.append(sender)
        params.append(limit)
        rows: list[_Row] = conn.execute(
            f"SELECT {_COLUMNS} FROM history WHERE words @@ %s::tsquery "
            f"AND buffer = ANY(%s) AND time BETWEEN %s AND %s{by} "
            "ORDER BY time DESC, id DESC LIMIT %s",
            params,
        ).fetchall()
        rows.reverse()
        return rows

    @staticmethod
    def _search_lines(
        conn: psycopg.Connection[Any], buffers: list[int], low: int, high: int, limit: int
    ) -> list[_Row]:
        """Neither words nor sender: the newest lines with text of each buffer, merged."""
        found: list[_Row] = []
        for buffer in buffers:
            found.extend(
                conn.execute(
                    f"SELECT {_COLUMNS} FROM history WHERE buffer = %s "
                    "AND time BETWEEN %s AND %s AND text <> '' "
                    "ORDER BY time DESC, id DESC LIMIT %s",
                    (buffer, low, high, limit),
                ).fetchall()
            )
        newest = heapq.nlargest(limit, found, key=lambda row: (row[2], row[0]))
        newest.reverse()
        return newest
