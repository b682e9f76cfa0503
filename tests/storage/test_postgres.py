"""What only the PostgreSQL storage has: migrations by nodes that start together, refusals,
the pool (a search that cannot get a connection, connections that break, a database that
goes away and comes back), PostgreSQL's own statement timeout, blocks, and two nodes
writing and purging the same history."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from hubbub.protocol.casemap import Folded
from hubbub.storage.base import StorageError, StorageTimeout, StoredMessage
from hubbub.storage.postgres import MIGRATIONS, PostgresStorage, search_words, shown_url
from tests.storage.pg import PostgresServer
from tests.storage.test_sqlite import record
from tests.storage.test_sqlite_history import T0, ids, msg
from tests.timeouts import TIMEOUT


@pytest.fixture
def db(postgres_url: str) -> Iterator[PostgresStorage]:
    storage = PostgresStorage(postgres_url)
    storage.open()
    yield storage
    storage.close()


def admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection of the test's own to the database at ``url``."""
    return psycopg.connect(url, autocommit=True)


def test_nodes_that_start_together_migrate_once(postgres_url: str) -> None:
    nodes = [PostgresStorage(postgres_url) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda node: node.open(), nodes))
    assert {node.schema_version for node in nodes} == {len(MIGRATIONS)}
    with admin(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)
    assert nodes[0].create_account(record("alice"))
    assert nodes[5].get_account(Folded("alice")) == record("alice")
    for node in nodes:
        node.close()


def test_a_newer_schema_is_refused(db: PostgresStorage) -> None:
    with admin(db.url) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StorageError, match="schema version 99"):
        PostgresStorage(db.url).open()


def test_an_unreachable_database_is_one_clear_error_without_the_password() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        storage = PostgresStorage(f"postgresql://hub:pw-secret@127.0.0.1:{port}/x", timeout=2)
        with pytest.raises(StorageError) as caught:
            storage.open()
    message = str(caught.value)
    assert message.startswith(
        f"cannot connect to PostgreSQL at postgresql://hub@127.0.0.1:{port}/x"
    )
    assert "pw-secret" not in message
    assert "\n" not in message
    with pytest.raises(StorageError, match="not open"):
        storage.list_accounts()


def test_a_missing_database_is_a_clear_error(postgres_server: PostgresServer) -> None:
    with pytest.raises(StorageError, match='database "nowhere" does not exist'):
        PostgresStorage(postgres_server.url("nowhere")).open()


def test_shown_url() -> None:
    assert (
        shown_url("postgresql://u:p@h:5/d?sslmode=require")
        == "postgresql://u@h:5/d?sslmode=require"
    )
    assert shown_url("postgresql://u:p@[::1]/d") == "postgresql://u@[::1]/d"
    assert shown_url("postgresql://h/d") == "postgresql://h/d"


def test_search_words_are_plain_lower_case_words_without_diacritics() -> None:
    assert search_words("Café' & | ! <-> :* fox_DOG Ünïcode 日本語") == [
        "cafe",
        "fox",
        "dog",
        "unicode",
        "日本語",
    ]


def test_tsquery_syntax_in_a_line_or_a_search_is_only_words(db: PostgresStorage) -> None:
    history = db.history()
    history.append([msg("q", T0, "a & b | !c <-> d:* 'e' \\f"), msg("r", T0 + 1, "b alone")])

    def found(text: str) -> list[str]:
        return ids(history.search([("#chan", "")], text=text, limit=5, timeout=TIMEOUT))

    for text in ("a & b", "a | b", "!c", "d:*", "'e'", "\\f", "a b c d e f", "!a & !b"):
        assert found(text) == ["q"], text
    assert found("b") == ["q", "r"]
    assert found("b & !a") == ["q"]  # every word, never a negation
    assert found("<-> | & ! :*") == []  # no word at all
    assert found("a zzz") == []


def test_a_search_that_cannot_get_a_connection_in_time_is_stopped(postgres_url: str) -> None:
    storage = PostgresStorage(postgres_url, pool_size=2)
    storage.open()
    history = storage.history()
    pool = storage._pool
    assert pool is not None
    held = [pool.getconn() for _ in range(2)]
    with pytest.raises(StorageTimeout, match="did not start"):
        history.search([("#chan", "")], text="x", limit=10, timeout=0.2)
    for conn in held:
        pool.putconn(conn)
    assert history.search([("#chan", "")], text="x", limit=10, timeout=TIMEOUT) == []
    storage.close()


def test_a_search_is_stopped_by_postgresql_at_its_timeout(db: PostgresStorage) -> None:
    history = db.history()
    history.append([msg("a", T0, "word")])
    with admin(db.url) as other, other.transaction():
        other.execute("LOCK TABLE history IN ACCESS EXCLUSIVE MODE")  # the search must wait
        with pytest.raises(StorageTimeout, match="ran out"):
            history.search([("#chan", "")], text="word", limit=10, timeout=0.3)
    # the timeout was the search's only: the same connections answer everything after it
    assert ids(history.search([("#chan", "")], text="word", limit=10, timeout=TIMEOUT)) == ["a"]
    with db.connection() as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)


def test_a_block_is_stored_as_its_lines(db: PostgresStorage) -> None:
    history = db.history()
    head = ":alice!u@h PRIVMSG #chan :"
    block = StoredMessage(
        "#chan",
        "",
        "node-9",
        T0,
        "PRIVMSG",
        "alice",
        "alice",
        head + "one",
        "",
        "one\ntwo\nthree",
        3,
    )
    history.append([msg("before", T0 - 1, "zero"), block])
    lines = history.query("#chan", "", limit=10, newest=False)
    assert ids(lines) == ["before", "node-9", "node-a", "node-b"]
    assert lines is not None
    assert [(row.line, row.text, row.size) for row in lines[1:]] == [
        (head + "one", "one", 1),
        (head + "two", "two", 1),
        (head + "three", "three", 1),
    ]
    assert ids(history.search([("#chan", "")], text="two", limit=5, timeout=TIMEOUT)) == ["node-a"]
    found = history.find("#chan", "", "node-b")
    assert found is not None
    assert found.text == "three"


def test_broken_connections_are_replaced(db: PostgresStorage) -> None:
    history = db.history()
    history.append([msg("a", T0, "x")])
    with admin(db.url) as conn:  # what a restart of PostgreSQL does to every connection
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert ids(history.query("#chan", "", limit=5, newest=True)) == ["a"]
    assert db.create_account(record("alice"))


def test_a_database_that_goes_away_is_a_storage_error_until_it_is_back(
    postgres_url: str,
) -> None:
    storage = PostgresStorage(postgres_url, timeout=1.0)
    storage.open()
    history = storage.history()
    name = postgres_url.rsplit("/", 1)[1]
    maintenance = postgres_url.rsplit("/", 1)[0] + "/postgres"
    with admin(maintenance) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            with pytest.raises(StorageError):
                history.append([msg("lost", T0, "x")])
            with pytest.raises(StorageError):  # (the history writer's probe)
                history.probe()
            with pytest.raises(StorageError):
                storage.list_accounts()
        finally:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # the pool connects again in the background, backing off from 1 s between attempts
    deadline = time.monotonic() + TIMEOUT * 2
    while True:
        try:
            history.append([msg("kept", T0 + 1, "x")])
            break
        except StorageError:
            if time.monotonic() > deadline:
                raise
    assert ids(history.query("#chan", "", limit=5, newest=True)) == ["kept"]
    history.probe()
    storage.close()


def test_two_nodes_write_one_history(postgres_url: str) -> None:
    nodes = [PostgresStorage(postgres_url) for _ in range(2)]
    for node in nodes:
        node.open()
    histories = [node.history() for node in nodes]

    def write(n: int) -> None:
        for batch in range(20):
            histories[n].append(
                [msg(f"n{n}-{batch}-{i}", T0 + batch + i / 1000, "line") for i in range(10)]
            )

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    rows = histories[0].query("#chan", "", limit=1000, newest=False)
    assert rows is not None
    assert len(rows) == 400
    assert [row.time for row in rows] == sorted(row.time for row in rows)
    assert (
        len(histories[1].search([("#chan", "")], text="line", limit=1000, timeout=TIMEOUT)) == 400
    )
    for node in nodes:
        node.close()


def test_a_buffer_another_node_dropped_is_made_again(postgres_url: str) -> None:
    writer, purger = PostgresStorage(postgres_url), PostgresStorage(postgres_url)
    writer.open()
    purger.open()
    mine, theirs = writer.history(), purger.history()
    mine.append([msg("a", T0, "x", target="#gone")])  # the writer keeps the buffer's id
    assert theirs.purge(older_than=T0 + 10, max_rows=0) == 1  # and the buffer is dropped
    mine.append([msg("b", T0 + 20, "y", target="#gone")])
    assert ids(theirs.query("#gone", "", limit=5, newest=True)) == ["b"]
    writer.close()
    purger.close()
