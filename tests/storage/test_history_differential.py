"""The history stores (SQLite, PostgreSQL) against the list-based one
(tests/storage/memory_history.py): random histories (single lines and blocks of lines, as
the relay hands them over), random queries, redactions and retention, the same answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.storage import SqliteStorage
from hubbub.storage.base import Anchor, HistoryStore, StoredMessage
from hubbub.storage.postgres import PostgresStorage
from tests.storage.conftest import BACKENDS, AnyStorage
from tests.storage.memory_history import MemoryHistory
from tests.storage.pg import empty

BUFFERS = [("#a", ""), ("#b", ""), ("~a:alice", "bob"), ("~a:bob", "alice")]
WORDS = ["fox", "dog", "Café", "cafe", "release", "notes", "x"]
COMMANDS = ["PRIVMSG", "PRIVMSG", "NOTICE", "JOIN", "TAGMSG"]


@st.composite
def histories(draw: st.DrawFn) -> list[StoredMessage]:
    count = draw(st.integers(0, 30))
    rows = []
    when = 1_700_000_000.0
    number = 0
    for _ in range(count):
        when += draw(st.sampled_from([0.0, 0.001, 1.0]))
        target, peer = draw(st.sampled_from(BUFFERS))
        command = draw(st.sampled_from(COMMANDS))
        size = draw(st.sampled_from([1, 1, 2, 3, 5])) if command != "JOIN" else 1
        texts = [
            " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)))
            for _ in range(size)
        ]
        if command not in ("PRIVMSG", "NOTICE"):
            texts = [""] * size
        sender = draw(st.sampled_from(["alice", "bob"]))
        line = f":{sender}!u@h {command} {target} :{texts[0]}"
        rows.append(
            StoredMessage(
                target,
                peer,
                f"m-{number:x}",
                round(when, 3),
                command,
                sender,
                "",
                line,
                "",
                "\n".join(texts) if texts[0] else "",
                size,
            )
        )
        number += size
    return rows


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Callable[[], AnyStorage]]:
    """Makes an open, empty storage of one backend (closing the one it made before): SQLite
    in memory, or the test's PostgreSQL database emptied (one database for all the examples
    of a test)."""
    opened: list[AnyStorage] = []

    def make() -> AnyStorage:
        while opened:
            opened.pop().close()
        storage: AnyStorage
        if request.param == "postgres":
            storage = PostgresStorage(request.getfixturevalue("postgres_url"))
            storage.open()
            empty(storage.url)
        else:
            storage = SqliteStorage(":memory:")
            storage.open()
        opened.append(storage)
        return storage

    yield make
    while opened:
        opened.pop().close()


def stores(
    backend: Callable[[], AnyStorage], rows: list[StoredMessage]
) -> tuple[HistoryStore, MemoryHistory]:
    store = backend().history()
    memory = MemoryHistory()
    for chunk in (rows[: len(rows) // 2], rows[len(rows) // 2 :]):
        if chunk:
            store.append(chunk)
            memory.append(chunk)
    return store, memory


anchors = st.one_of(
    st.none(),
    st.builds(lambda i: Anchor(msgid=f"m-{i:x}"), st.integers(0, 100)),
    st.builds(lambda s: Anchor(time=1_700_000_000.0 + s), st.integers(0, 45)),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=histories(),
    buffer=st.sampled_from(BUFFERS),
    after=anchors,
    before=anchors,
    limit=st.integers(1, 10),
    newest=st.booleans(),
    messages_only=st.booleans(),
)
def test_query_agrees(
    backend: Callable[[], AnyStorage],
    rows: list[StoredMessage],
    buffer: tuple[str, str],
    after: Anchor | None,
    before: Anchor | None,
    limit: int,
    newest: bool,
    messages_only: bool,
) -> None:
    store, memory = stores(backend, rows)
    args = dict(after=after, before=before, limit=limit, newest=newest, messages_only=messages_only)
    got = store.query(*buffer, **args)  # type: ignore[arg-type]
    want = memory.query(*buffer, **args)  # type: ignore[arg-type]
    assert (None if got is None else [r.msgid for r in got]) == (
        None if want is None else [r.msgid for r in want]
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=histories(),
    keys=st.lists(st.sampled_from([*BUFFERS, ("~a:alice", ""), ("~a:bob", "")]), min_size=1),
    text=st.sampled_from(["", "fox", "cafe", "release notes", "dog fox"]),
    sender=st.sampled_from(["", "alice"]),
    limit=st.integers(1, 10),
)
def test_search_agrees(
    backend: Callable[[], AnyStorage],
    rows: list[StoredMessage],
    keys: list[tuple[str, str]],
    text: str,
    sender: str,
    limit: int,
) -> None:
    store, memory = stores(backend, rows)
    got = store.search(keys, text=text, sender=sender, limit=limit, timeout=5.0)
    want = memory.search(keys, text=text, sender=sender, limit=limit, timeout=5.0)
    assert [r.msgid for r in got] == [r.msgid for r in want]


def everything(store: HistoryStore) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for buffer in BUFFERS:
        rows = store.query(*buffer, limit=1000, newest=False)
        found.extend((r.msgid, r.line, r.text) for r in rows or [])
    return found


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=histories(),
    redacted=st.lists(st.integers(0, 100), max_size=5),
    max_rows=st.integers(0, 12),
    own=st.integers(0, 6),
)
def test_redaction_and_retention_agree(
    backend: Callable[[], AnyStorage],
    rows: list[StoredMessage],
    redacted: list[int],
    max_rows: int,
    own: int,
) -> None:
    """Lines taken out of a block (a redaction, or retention cutting it) leave the rest of
    the block readable by its own msgids, text and search."""
    store, memory = stores(backend, rows)
    for number in redacted:
        msgid = f"m-{number:x}"
        assert store.redact(msgid) == memory.redact(msgid)
    assert everything(store) == everything(memory)
    overrides = {"#b": (0.0, own)}
    assert store.purge(older_than=0.0, max_rows=max_rows, overrides=overrides, batch=3) == (
        memory.purge(older_than=0.0, max_rows=max_rows, overrides=overrides, batch=3)
    )
    assert everything(store) == everything(memory)
    for buffer in BUFFERS:
        got = store.search([buffer], text="fox", limit=50, timeout=5.0)
        want = memory.search([buffer], text="fox", limit=50, timeout=5.0)
        assert [r.msgid for r in got] == [r.msgid for r in want]
