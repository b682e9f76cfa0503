"""The storage of accounts and settings: what every backend does (SQLite and PostgreSQL:
the ``db`` and ``same_database`` fixtures), then SQLite's own schema, durability settings,
files and refusals."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hubbub.protocol.casemap import Folded
from hubbub.storage import AccountRecord, ScramCredentials, SqliteStorage, StorageError, postgres
from hubbub.storage.postgres import PostgresStorage
from hubbub.storage.sqlite import MIGRATIONS
from tests.storage.conftest import AnyStorage
from tests.timeouts import TIMEOUT


def record(name: str, password_hash: str = "$argon2id$fake", email: str = "") -> AccountRecord:
    scram = ScramCredentials(b"salt" * 4, 4096, b"s" * 32, b"k" * 32)
    return AccountRecord(name, Folded(name.lower()), password_hash, scram, 1700000000.5, email)


@pytest.fixture
def db(same_database: Callable[[], AnyStorage]) -> Iterator[AnyStorage]:
    """An open storage of each backend."""
    storage = same_database()
    storage.open()
    yield storage
    storage.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> SqliteStorage:
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    return storage


def migrations(storage: AnyStorage) -> int:
    """How many schema versions the storage's backend knows."""
    if isinstance(storage, PostgresStorage):
        return len(postgres.MIGRATIONS)
    return len(MIGRATIONS)


def test_new_database_gets_the_latest_schema(db: AnyStorage) -> None:
    assert db.schema_version == migrations(db)
    assert db.list_accounts() == []


def test_account_round_trip(db: AnyStorage) -> None:
    alice = record("Alice", email="alice@example.org")
    assert db.create_account(alice)
    assert db.get_account(Folded("alice")) == alice
    assert db.get_account(Folded("bob")) is None
    assert db.list_accounts() == [alice]


def test_a_taken_name_is_refused(db: AnyStorage) -> None:
    assert db.create_account(record("alice"))
    assert not db.create_account(record("alice", password_hash="other"))
    stored = db.get_account(Folded("alice"))
    assert stored is not None
    assert stored.password_hash == "$argon2id$fake"


def test_set_password(db: AnyStorage) -> None:
    db.create_account(record("alice"))
    scram = ScramCredentials(b"new-salt", 8192, b"a" * 32, b"b" * 32)
    assert db.set_password(Folded("alice"), "$argon2id$new", scram)
    stored = db.get_account(Folded("alice"))
    assert stored is not None
    assert (stored.password_hash, stored.scram) == ("$argon2id$new", scram)
    assert not db.set_password(Folded("nobody"), "x", scram)


def test_delete_account(db: AnyStorage) -> None:
    db.create_account(record("alice"))
    db.create_account(record("bob"))
    assert db.delete_account(Folded("alice"))
    assert db.get_account(Folded("alice")) is None
    assert [r.name for r in db.list_accounts()] == ["bob"]
    assert not db.delete_account(Folded("alice"))
    assert db.create_account(record("alice"))  # the name is free again


def test_accounts_survive_reopening(same_database: Callable[[], AnyStorage]) -> None:
    first = same_database()
    first.open()
    first.create_account(record("alice"))
    first.close()
    first.close()  # idempotent
    second = same_database()
    second.open()
    assert [r.name for r in second.list_accounts()] == ["alice"]
    assert second.schema_version == migrations(second)
    second.close()


def test_rollback_journal_extra_sync_and_no_mapped_file(sqlite_db: SqliteStorage) -> None:
    db = sqlite_db
    conn = db._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 3  # EXTRA
    assert conn.execute("PRAGMA mmap_size").fetchone()[0] == 0
    assert conn.execute("PRAGMA locking_mode").fetchone()[0] == "normal"
    db.create_account(record("alice"))
    assert sorted(p.name for p in Path(db.path).parent.iterdir()) == ["h.db"]  # no -shm


DAMAGE_IN_USE = """
import os, sys
from pathlib import Path
from hubbub.protocol.casemap import Folded
from hubbub.storage import AccountRecord, ScramCredentials, SqliteStorage, StorageError

def record(name):
    scram = ScramCredentials(b"salt" * 4, 4096, b"s" * 32, b"k" * 32)
    return AccountRecord(name, Folded(name), "$argon2id$fake", scram, 1700000000.5)

path = Path(sys.argv[1])
storage = SqliteStorage(path)
storage.open()
storage.create_account(record("alice"))
for file in path.parent.glob(path.name + "*"):
    os.truncate(file, 0)
try:
    storage.create_account(record("bob"))
except StorageError as exc:
    print("refused:", exc)
"""


def test_files_cut_short_in_use_are_an_error_not_a_crash(tmp_path: Path) -> None:
    # Truncating a file that SQLite has mapped (WAL's -shm) kills the process with SIGBUS,
    # so the damage is done in a child process.
    child = subprocess.run(
        [sys.executable, "-c", DAMAGE_IN_USE, str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("refused: OperationalError in "), child.stdout


def test_a_wal_database_from_an_older_hubbub_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    first = SqliteStorage(path)
    first.open()
    first.create_account(record("alice"))
    first.close()
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("UPDATE accounts SET email = 'alice@example.org'")  # only in the WAL so far
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal", "-shm"):  # the files as a crash would leave them
        shutil.copy(f"{path}{suffix}", crashed / f"h.db{suffix}")
    old.close()
    os.truncate(crashed / "h.db-shm", 0)  # a damaged index: never mapped on the way out
    storage = SqliteStorage(crashed / "h.db")
    storage.open()
    alice = storage.get_account(Folded("alice"))
    assert alice is not None
    assert alice.email == "alice@example.org"
    conn = storage._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not (crashed / "h.db-wal").exists()
    storage.close()


def test_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteStorage(path).open()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteStorage(path).open()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    with pytest.raises(StorageError, match="schema version 99"):
        SqliteStorage(path).open()


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open"):
        SqliteStorage(tmp_path / "nowhere" / "h.db").open()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(b"not a database, " * 512)
    with pytest.raises(StorageError, match="cannot use the database .*not a database"):
        SqliteStorage(path).open()
    with pytest.raises(StorageError, match="cannot open"):
        SqliteStorage(tmp_path).open()  # a directory


def test_a_closed_storage_refuses_work(db: AnyStorage) -> None:
    db.close()
    with pytest.raises(StorageError, match="not open"):
        db.list_accounts()


def test_in_memory_database() -> None:
    storage = SqliteStorage(":memory:")
    storage.open()
    assert storage.create_account(record("alice"))
    assert storage.get_account(Folded("alice")) is not None


def test_writes_from_many_threads(db: AnyStorage) -> None:
    names = [f"user{i}" for i in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda name: db.create_account(record(name)), names + names))
    assert results.count(True) == len(names)
    assert sorted(r.name for r in db.list_accounts()) == sorted(names)


def test_a_setting_is_stored_once_and_kept_across_reopening(
    same_database: Callable[[], AnyStorage],
) -> None:
    first = same_database()
    first.open()
    assert first.get_setting("cloak_secret") is None
    assert first.ensure_setting("cloak_secret", "generated-1") == "generated-1"
    assert first.ensure_setting("cloak_secret", "generated-2") == "generated-1"
    first.close()
    second = same_database()
    second.open()
    assert second.ensure_setting("cloak_secret", "generated-3") == "generated-1"
    assert second.get_setting("cloak_secret") == "generated-1"
    second.close()


def old_database(path: Path, version: int) -> None:
    """A database as a hubbub that knew only the first ``version`` schema versions left it,
    with the account alice."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(
        "INSERT INTO accounts (name, folded, password_hash, scram_salt, scram_iterations, "
        "scram_stored_key, scram_server_key, created) "
        "VALUES ('alice', 'alice', 'h', x'00', 4096, x'00', x'00', 1.0)"
    )
    conn.close()


def test_a_version_1_database_is_migrated_with_its_accounts(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    old_database(path, 1)
    db = SqliteStorage(path)
    db.open()
    assert db.schema_version == len(MIGRATIONS)
    assert [r.name for r in db.list_accounts()] == ["alice"]
    assert db.ensure_setting("cloak_secret", "s") == "s"
    db.close()
