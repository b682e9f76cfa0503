"""The embedded default storage: one SQLite file.

Durability: the database uses a rollback journal (``journal_mode=DELETE``) with
``synchronous=EXTRA``, so each committed write is on disk (the file, the journal's removal and
its directory are fsynced) before the call returns, and an account the server has
acknowledged survives ``kill -9`` or a power cut. Every statement runs in autocommit mode or
in an explicit transaction; nothing is left pending in a connection.

Faults: no file is ever memory-mapped (no WAL, whose ``-shm`` index is shared memory, and
``mmap_size=0``), because a mapped file that someone truncates or makes immutable kills the
process with SIGBUS on the next access. With plain reads and writes the same damage is an
``sqlite3.Error``, which every method raises as :class:`StorageError`.

Threading: one connection, shared by the threads that call in and serialised by a lock, so
the server's worker threads can use it in any order. Message history
(:meth:`SqliteStorage.history`, :mod:`hubbub.storage.sqlite_history`) lives in the same file
with connections of its own.

Schema: :data:`MIGRATIONS` lists each version's statements; ``schema_version`` records how
many have been applied. A database from a newer hubbub is refused rather than guessed at.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from hubbub.protocol.casemap import Folded
from hubbub.storage.base import (
    ACCOUNT_COLUMNS,
    CHANNEL_COLUMNS,
    AccountRecord,
    ChannelRecord,
    ScramCredentials,
    StorageError,
    access_without,
    account_from_row,
    account_row,
    channel_from_row,
    channel_row,
)
from hubbub.storage.sqlite_history import (
    HISTORY_BLOCKS,
    HISTORY_SCHEMA,
    SqliteHistory,
    immediate,
    register_functions,
)

__all__ = ["MIGRATIONS", "SqliteStorage"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: accounts
    (
        """
        CREATE TABLE accounts (
            folded TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            scram_salt BLOB NOT NULL,
            scram_iterations INTEGER NOT NULL,
            scram_stored_key BLOB NOT NULL,
            scram_server_key BLOB NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL
        )
        """,
    ),
    # 2: server settings the server makes itself (the cloak secret)
    (
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL
        )
        """,
    ),
    # 3: message history, its full-text index and read markers (see sqlite_history.py)
    HISTORY_SCHEMA,
    # 4: registered channels (ChanServ): one row each; the lists as JSON arrays
    (
        """
        CREATE TABLE channels (
            folded TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            founder TEXT NOT NULL,
            registered REAL NOT NULL,
            topic TEXT NOT NULL DEFAULT '',
            topic_setter TEXT NOT NULL DEFAULT '',
            topic_time REAL NOT NULL DEFAULT 0,
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
    ),
    # 5: history rows hold blocks of lines; msgids kept split (see sqlite_history.py)
    HISTORY_BLOCKS,
)
"""The schema, one entry per version: version N is reached by running entry N-1."""


class SqliteStorage:
    """:class:`~hubbub.storage.base.Storage` in a SQLite file (``":memory:"`` for tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._histories: list[SqliteHistory] = []
        self.shared = False
        """True when several nodes use this file (``hubbub serve --workers``): each keeps
        only what its own users said, and tells the others what it wrote (see
        :class:`~hubbub.storage.base.HistoryStore`)."""

    # -- life --------------------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            if self._conn is not None:
                return
            in_memory = self.path == ":memory:" or self.path.startswith("file:")
            try:
                if not in_memory:
                    self._create_private(self.path)
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            except (OSError, sqlite3.Error) as exc:
                raise StorageError(f"cannot open the database {self.path}: {exc}") from exc
            try:
                conn.execute("PRAGMA busy_timeout=5000")
                conn.execute("PRAGMA mmap_size=0")
                self._leave_wal(conn, in_memory)
                conn.execute("PRAGMA synchronous=EXTRA")
                conn.execute("PRAGMA foreign_keys=ON")
                self._migrate(conn)
            except sqlite3.Error as exc:
                conn.close()
                raise StorageError(f"cannot use the database {self.path}: {exc}") from exc
            except StorageError:
                conn.close()
                raise
            self._conn = conn

    @staticmethod
    def _create_private(path: str) -> None:
        # Password hashes live here: a new file is readable by its owner only.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)

    def _leave_wal(self, conn: sqlite3.Connection, in_memory: bool) -> None:
        """Use a rollback journal, also for a database that an older hubbub left in WAL mode.

        In EXCLUSIVE locking mode SQLite reads a WAL with its index on the heap rather than in
        the ``-shm`` file, so even a damaged ``-shm`` is never mapped on the way out of WAL.
        """
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        mode = str(conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]).lower()
        conn.execute("PRAGMA locking_mode=NORMAL")  # others may read it again (backups)
        if not in_memory and mode != "delete":
            raise StorageError(f"cannot leave WAL mode in the database {self.path} ({mode})")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        register_functions(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
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
            conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def history(self) -> SqliteHistory:
        """Message history and read markers in this database, with connections of their own
        (one to write, one to read) so that they never wait behind the accounts; closed with
        this storage. The database must be open. In memory, the history shares the accounts'
        one connection instead (a second connection would see another, empty database).
        Raises :class:`StorageError`."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StorageError("the database is not open")
            in_memory = self.path == ":memory:" or self.path.startswith("file:")
        if in_memory:
            history = SqliteHistory(self.path, shared=(conn, self._lock))
        else:
            history = SqliteHistory(self.path)
            history.open()
        history.shared = self.shared
        with self._lock:
            self._histories.append(history)
        return history

    def close(self) -> None:
        with self._lock:
            histories, self._histories = self._histories, []
        for history in histories:
            history.close()
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error as exc:
                    raise StorageError(f"{type(exc).__name__} in {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StorageError("the database is not open")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StorageError(f"{type(exc).__name__} in {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection in one ``BEGIN IMMEDIATE`` transaction, committed at the end of
        the block, rolled back if it raises."""
        with self._connection() as conn, immediate(conn):
            yield conn

    @property
    def schema_version(self) -> int:
        """The version of the open database's schema."""
        with self._connection() as conn:
            return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])

    # -- accounts ----------------------------------------------------------------------------

    def create_account(self, account: AccountRecord) -> bool:
        with self._transaction() as conn:
            try:
                conn.execute(
                    f"INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    account_row(account),
                )
            except sqlite3.IntegrityError:
                return False  # (the name is taken: nothing was written)
            # A new account starts with no read markers, whatever a deleted one of the
            # same name left (a marker stored while its deletion was under way, say).
            conn.execute("DELETE FROM read_markers WHERE owner = ?", (account.folded,))
        return True

    def get_account(self, folded: Folded) -> AccountRecord | None:
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE folded = ?", (folded,)
            ).fetchone()
        return None if row is None else account_from_row(row)

    def list_accounts(self) -> list[AccountRecord]:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY folded")
            return [account_from_row(row) for row in rows.fetchall()]

    def set_password(self, folded: Folded, password_hash: str, scram: ScramCredentials) -> bool:
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE accounts SET password_hash = ?, scram_salt = ?, scram_iterations = ?, "
                "scram_stored_key = ?, scram_server_key = ? WHERE folded = ?",
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
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM accounts WHERE folded = ?", (folded,))
            # What it held goes with it, in the same transaction (a crash, or a deletion
            # with the server stopped, must not leave them to the next owner of the name,
            # someone else): its read markers, the channels it founded, its access entries.
            conn.execute("DELETE FROM read_markers WHERE owner = ?", (folded,))
            conn.execute("DELETE FROM channels WHERE founder = ?", (folded,))
            rows = conn.execute("SELECT folded, access FROM channels").fetchall()
            for channel, access in rows:
                kept = access_without(access, folded)
                if kept is not None:
                    conn.execute("UPDATE channels SET access = ? WHERE folded = ?", (kept, channel))
        return cursor.rowcount == 1

    # -- settings ----------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def ensure_setting(self, key: str, value: str) -> str:
        with self._connection() as conn:
            conn.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", (key, value))
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    # -- registered channels -----------------------------------------------------------------

    def list_channels(self) -> list[ChannelRecord]:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY folded")
            found = rows.fetchall()
        try:
            return [channel_from_row(row) for row in found]
        except (ValueError, TypeError) as exc:  # a row no hubbub wrote
            raise StorageError(f"a damaged channel registration in {self.path}: {exc}") from exc

    def get_channel(self, folded: Folded) -> ChannelRecord | None:
        with self._connection() as conn:
            found = conn.execute(
                f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE folded = ?", (folded,)
            ).fetchall()
        try:
            return channel_from_row(found[0]) if found else None
        except (ValueError, TypeError) as exc:  # a row no hubbub wrote
            raise StorageError(f"a damaged channel registration in {self.path}: {exc}") from exc

    def create_channel(self, record: ChannelRecord) -> bool:
        with self._connection() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO channels ({CHANNEL_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                channel_row(record),
            )
            return cursor.rowcount == 1

    def save_channel(self, record: ChannelRecord) -> None:
        with self._connection() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO channels ({CHANNEL_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                channel_row(record),
            )

    def delete_channel(self, folded: Folded) -> bool:
        with self._connection() as conn:
            cursor = conn.execute("DELETE FROM channels WHERE folded = ?", (folded,))
            return cursor.rowcount == 1

    def write_channels(self, saved: Sequence[ChannelRecord], deleted: Sequence[Folded]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO channels ({CHANNEL_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [channel_row(record) for record in saved],
            )
            conn.executemany(
                "DELETE FROM channels WHERE folded = ?", [(folded,) for folded in deleted]
            )
