"""Registered channels (ChannelStore) in every backend (SQLite, PostgreSQL): round trips,
replacement, deletion, an insert-only creation that one of two racing connections wins,
reopening, a damaged row refused cleanly; and a version-2 SQLite database migrated."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from hubbub.protocol.casemap import Folded
from hubbub.storage import SqliteStorage, StorageError
from hubbub.storage.base import ChannelRecord
from hubbub.storage.postgres import PostgresStorage
from hubbub.storage.sqlite import MIGRATIONS
from tests.storage.conftest import AnyStorage
from tests.storage.test_sqlite import record as account_record
from tests.timeouts import TIMEOUT


def registration(name: str = "#Chat", **fields: object) -> ChannelRecord:
    base = ChannelRecord(
        name=name,
        folded=Folded(name.lower()),
        founder="alice",
        registered=1700000000.25,
    )
    return ChannelRecord(**{**_fields(base), **fields})  # type: ignore[arg-type]


def _fields(record: ChannelRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in ChannelRecord.__dataclass_fields__}


@pytest.fixture
def db(same_database: Callable[[], AnyStorage]) -> Iterator[AnyStorage]:
    storage = same_database()
    storage.open()
    yield storage
    storage.close()


def test_no_channels_at_first(db: AnyStorage) -> None:
    assert db.list_channels() == []


def test_a_full_registration_round_trips(db: AnyStorage) -> None:
    full = registration(
        topic="Welcome — ünïcode too",
        topic_setter="alice!~a@host",
        topic_time=1700000100.0,
        modes="imnst",
        key="sesame",
        limit=25,
        bans=("*!*@bad.example", "a:spammer", "m:a:loud"),
        excepts=("friend!*@*",),
        invexes=("a:*",),
        access=(("bob", "op"), ("carol", "voice")),
        history="public",
    )
    db.save_channel(full)
    assert db.list_channels() == [full]


def test_saving_again_replaces_and_delete_drops(db: AnyStorage) -> None:
    db.save_channel(registration("#a"))
    db.save_channel(registration("#b"))
    db.save_channel(registration("#a", topic="new", access=(("bob", "op"),)))
    assert [(r.name, r.topic, r.access) for r in db.list_channels()] == [
        ("#a", "new", (("bob", "op"),)),
        ("#b", "", ()),
    ]
    assert db.delete_channel(Folded("#a"))
    assert not db.delete_channel(Folded("#a"))
    assert [r.name for r in db.list_channels()] == ["#b"]


def test_write_channels_saves_and_drops_several_in_one_transaction(db: AnyStorage) -> None:
    db.save_channel(registration("#gone"))
    db.save_channel(registration("#a"))
    db.write_channels(
        [registration("#a", topic="changed"), registration("#b", topic="new")],
        [Folded("#gone"), Folded("#never")],
    )
    assert [(r.name, r.topic) for r in db.list_channels()] == [("#a", "changed"), ("#b", "new")]
    db.write_channels([], [])


def test_create_stores_a_new_registration_and_refuses_an_existing_one(db: AnyStorage) -> None:
    first = registration(topic="first", founder="alice")
    assert db.create_channel(first)
    assert not db.create_channel(registration("#CHAT", topic="second", founder="bob"))
    assert db.list_channels() == [first]  # (the first is kept whole)
    assert db.create_channel(registration("#other"))
    assert db.delete_channel(Folded("#chat"))
    again = registration(founder="bob")
    assert db.create_channel(again)  # (dropped: free to register again)
    assert db.get_channel(Folded("#chat")) == again


def test_two_connections_creating_one_channel_at_once_one_wins(
    same_database: Callable[[], AnyStorage],
) -> None:
    """Two nodes on one database (PostgreSQL, or the SQLite file of ``--workers``), each
    with its own connection, registering one channel in twenty rounds of threads started
    together: exactly one creation succeeds each time, and the row is the winner's."""
    stores = [same_database(), same_database()]
    for store in stores:
        store.open()
    try:
        for round_ in range(20):
            name = f"#race{round_}"
            records = [registration(name, founder=founder) for founder in ("alice", "bob")]
            start = threading.Barrier(2)
            results: list[bool | None] = [None, None]

            def create(
                i: int,
                start: threading.Barrier,
                results: list[bool | None],
                records: list[ChannelRecord],
            ) -> None:
                start.wait(TIMEOUT)
                results[i] = stores[i].create_channel(records[i])

            threads = [
                threading.Thread(target=create, args=(i, start, results, records)) for i in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(TIMEOUT)
            assert sorted(results, key=str) == [False, True]
            winner = records[results.index(True)]
            assert stores[0].get_channel(winner.folded) == winner
    finally:
        for store in stores:
            store.close()


def test_registrations_survive_reopening(same_database: Callable[[], AnyStorage]) -> None:
    first = same_database()
    first.open()
    record = registration(bans=("x!*@*",))
    first.save_channel(record)
    first.close()
    again = same_database()
    again.open()
    assert again.list_channels() == [record]


def test_a_version_2_database_gets_the_channels_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (2)")
    for statements in MIGRATIONS[:2]:
        for statement in statements:
            conn.execute(statement)
    conn.commit()
    conn.close()
    storage = SqliteStorage(path)
    storage.open()
    assert storage.schema_version == len(MIGRATIONS)
    storage.save_channel(registration())
    assert len(storage.list_channels()) == 1


def test_a_damaged_row_is_a_storage_error(
    db: AnyStorage, same_database: Callable[[], AnyStorage]
) -> None:
    db.save_channel(registration())
    db.close()
    damage = 'UPDATE channels SET bans = \'{"not": "a list"}\''
    if isinstance(db, PostgresStorage):
        with psycopg.connect(db.url, autocommit=True) as pg:
            pg.execute(damage)
    else:
        conn = sqlite3.connect(db.path)
        conn.execute(damage)
        conn.commit()
        conn.close()
    storage = same_database()
    storage.open()
    with pytest.raises(StorageError, match="damaged channel registration"):
        storage.list_channels()


def test_a_closed_storage_refuses_channel_work(db: AnyStorage) -> None:
    db.close()
    with pytest.raises(StorageError):
        db.save_channel(registration())
    with pytest.raises(StorageError):
        db.create_channel(registration())
    with pytest.raises(StorageError):
        db.list_channels()


def test_deleting_an_account_drops_what_it_founded_and_its_access_at_once(
    db: AnyStorage,
) -> None:
    """In the account's own transaction (a crash or an offline `hubbub account delete`
    between two writes had left them to the name's next owner, someone else)."""
    for name in ("alice", "bob"):
        assert db.create_account(account_record(name))
    db.save_channel(registration("#alices", founder="alice", access=(("bob", "op"),)))
    db.save_channel(
        registration("#bobs", founder="bob", access=(("carol", "voice"), ("alice", "op")))
    )
    db.save_channel(registration("#others", founder="carol", access=(("alice", "voice"),)))
    assert db.delete_account(Folded("alice"))
    assert [(r.name, r.founder, r.access) for r in db.list_channels()] == [
        ("#bobs", "bob", (("carol", "voice"),)),
        ("#others", "carol", ()),
    ]
