"""Message history: ranges and anchors, buffers, search, redaction, retention and read
markers in every backend (the ``storage`` fixture: SQLite in a file and in memory,
PostgreSQL); then SQLite's migration, durability settings, faults, and the plans of its
queries."""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.storage import SqliteStorage, StorageError
from hubbub.storage.base import Anchor, HistoryStore, StorageTimeout, StoredMessage
from hubbub.storage.postgres import PostgresHistory, PostgresStorage
from hubbub.storage.sqlite import MIGRATIONS
from hubbub.storage.sqlite_history import (
    FTS_AUTOMERGE,
    MAX_BLOCK,
    SHIFT,
    SqliteHistory,
    millis,
    search_words,
)
from tests.storage.conftest import AnyStorage
from tests.storage.pg import empty
from tests.storage.test_sqlite import old_database
from tests.timeouts import TIMEOUT

T0 = 1_700_000_000.0


def msg(
    msgid: str,
    time: float,
    text: str = "",
    *,
    target: str = "#chan",
    peer: str = "",
    command: str = "PRIVMSG",
    sender: str = "alice",
) -> StoredMessage:
    shown = target if not target.startswith("~") else "you"
    return StoredMessage(
        target=target,
        peer=peer,
        msgid=msgid,
        time=time,
        command=command,
        sender=sender,
        account=sender,
        line=f":{sender}!u@h {command} {shown} :{text}",
        tags="+draft/reply=x" if msgid.endswith("r") else "",
        text=text if command in ("PRIVMSG", "NOTICE") else "",
    )


def ids(rows: Sequence[StoredMessage] | None) -> list[str]:
    assert rows is not None
    return [row.msgid for row in rows]


@pytest.fixture(params=["file", "memory", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyStorage]:
    db: AnyStorage
    if request.param == "postgres":
        db = PostgresStorage(request.getfixturevalue("postgres_url"))
    else:
        db = SqliteStorage(tmp_path / "h.db" if request.param == "file" else ":memory:")
    db.open()
    yield db
    db.close()


@pytest.fixture
def history(storage: AnyStorage) -> SqliteHistory:
    # (typed as SQLite's for the tests' sake: the PostgreSQL store has the same methods)
    return storage.history()  # type: ignore[return-value]


@pytest.fixture
def ten(history: SqliteHistory) -> SqliteHistory:
    """m0..m9 in #chan, one second apart, with the text "line N"."""
    history.append([msg(f"m{i}", T0 + i, f"line {i}") for i in range(10)])
    return history


def fts_is_consistent(history: SqliteHistory | PostgresHistory) -> None:
    if isinstance(history, PostgresHistory):  # a line has index words if and only if text
        with history._connection() as pg:
            row = pg.execute(
                "SELECT count(*) FROM history WHERE (text <> '') <> (words IS NOT NULL)"
            ).fetchone()
        assert row == (0,)
        return
    with history._transaction() as conn:
        conn.execute("INSERT INTO history_text (history_text, rank) VALUES ('integrity-check', 1)")


def buffer_count(history: SqliteHistory | PostgresHistory) -> int:
    if isinstance(history, PostgresHistory):
        with history._connection() as pg:
            row = pg.execute("SELECT count(*) FROM history_buffers").fetchone()
        assert row is not None
        return int(row[0])
    with history._writing() as conn:
        return int(conn.execute("SELECT count(*) FROM history_buffers").fetchone()[0])


def test_it_is_a_history_store(history: SqliteHistory) -> None:
    store: HistoryStore = history
    assert store.query("#chan", "", limit=10, newest=True) == []


# -- query -----------------------------------------------------------------------------------


def test_latest_and_earliest(ten: SqliteHistory) -> None:
    assert ids(ten.query("#chan", "", limit=3, newest=True)) == ["m7", "m8", "m9"]
    assert ids(ten.query("#chan", "", limit=3, newest=False)) == ["m0", "m1", "m2"]
    assert ids(ten.query("#chan", "", limit=100, newest=True)) == [f"m{i}" for i in range(10)]
    assert ten.query("#chan", "", limit=0, newest=True) == []


def test_a_line_comes_back_as_stored(ten: SqliteHistory) -> None:
    original = msg("m5r", T0 + 20.123, "hello there", sender="bob")
    ten.append([original])
    assert ten.query("#chan", "", limit=1, newest=True) == [original]
    assert ten.find("#chan", "", "m5r") == original


def test_anchors_by_msgid_are_exclusive(ten: SqliteHistory) -> None:
    after = Anchor(msgid="m3")
    before = Anchor(msgid="m7")
    assert ids(ten.query("#chan", "", after=after, limit=2, newest=False)) == ["m4", "m5"]
    assert ids(ten.query("#chan", "", before=before, limit=2, newest=True)) == ["m5", "m6"]
    both = ten.query("#chan", "", after=after, before=before, limit=10, newest=False)
    assert ids(both) == ["m4", "m5", "m6"]
    assert ids(ten.query("#chan", "", after=Anchor(msgid="m9"), limit=5, newest=False)) == []


def test_anchors_by_time_are_exclusive(ten: SqliteHistory) -> None:
    after = Anchor(time=T0 + 3)
    before = Anchor(time=T0 + 7)
    assert ids(ten.query("#chan", "", after=after, limit=2, newest=False)) == ["m4", "m5"]
    assert ids(ten.query("#chan", "", before=before, limit=2, newest=True)) == ["m5", "m6"]
    between = ten.query("#chan", "", after=after, before=before, limit=10, newest=True)
    assert ids(between) == ["m4", "m5", "m6"]
    just_after = Anchor(time=T0 + 3.001)
    assert ids(ten.query("#chan", "", after=just_after, limit=1, newest=False)) == ["m4"]
    assert ids(ten.query("#chan", "", after=before, before=after, limit=9, newest=True)) == []


def test_an_unknown_msgid_anchor_is_none(ten: SqliteHistory) -> None:
    ten.append([msg("other", T0 + 50, target="#other")])
    assert ten.query("#chan", "", after=Anchor(msgid="nope"), limit=5, newest=False) is None
    assert ten.query("#chan", "", before=Anchor(msgid="nope"), limit=5, newest=True) is None
    # in another buffer is not in this one
    assert ten.query("#chan", "", after=Anchor(msgid="other"), limit=5, newest=False) is None
    assert ten.query("#none", "", after=Anchor(msgid="m1"), limit=5, newest=False) is None
    assert ten.query("#none", "", after=Anchor(time=T0), limit=5, newest=False) == []


def test_not_before(ten: SqliteHistory) -> None:
    assert ids(ten.query("#chan", "", limit=100, newest=False, not_before=T0 + 7)) == [
        "m7",
        "m8",
        "m9",
    ]
    assert ids(ten.query("#chan", "", limit=100, newest=True, not_before=T0 + 99)) == []
    early = ten.query(
        "#chan", "", before=Anchor(msgid="m8"), limit=5, newest=True, not_before=T0 + 6
    )
    assert ids(early) == ["m6", "m7"]


def test_messages_only_counts_messages(history: SqliteHistory) -> None:
    history.append(
        [
            msg("a", T0, "hi"),
            msg("j1", T0 + 1, command="JOIN"),
            msg("n", T0 + 2, "note", command="NOTICE"),
            msg("t", T0 + 3, command="TAGMSG"),
            msg("p", T0 + 4, command="PART"),
        ]
    )
    assert ids(history.query("#chan", "", limit=2, newest=True, messages_only=True)) == ["a", "n"]
    assert ids(history.query("#chan", "", limit=2, newest=True)) == ["t", "p"]


def test_equal_times_keep_the_order_they_were_stored_in(history: SqliteHistory) -> None:
    history.append([msg("a", T0), msg("b", T0), msg("c", T0 + 1)])
    history.append([msg("d", T0 + 1), msg("e", T0 + 1)])
    assert ids(history.query("#chan", "", limit=10, newest=True)) == ["a", "b", "c", "d", "e"]
    after_b = history.query("#chan", "", after=Anchor(msgid="b"), limit=2, newest=False)
    assert ids(after_b) == ["c", "d"]
    before_e = history.query("#chan", "", before=Anchor(msgid="e"), limit=2, newest=True)
    assert ids(before_e) == ["c", "d"]
    # a time anchor on the tie excludes all of it
    assert ids(history.query("#chan", "", after=Anchor(time=T0), limit=9, newest=False)) == [
        "c",
        "d",
        "e",
    ]
    assert ids(history.query("#chan", "", before=Anchor(time=T0 + 1), limit=9, newest=True)) == [
        "a",
        "b",
    ]


def test_time_is_kept_to_the_millisecond(history: SqliteHistory) -> None:
    history.append([msg("a", T0 + 0.1234), msg("b", T0 + 0.9996)])
    rows = history.query("#chan", "", limit=2, newest=True)
    assert rows is not None
    assert [row.time for row in rows] == [T0 + 0.123, T0 + 1.0]


def test_lines_from_a_clock_that_went_back_are_kept_in_time_order(history: SqliteHistory) -> None:
    history.append([msg("late1", T0 + 10), msg("late2", T0 + 10)])
    history.append([msg("early", T0 + 5), msg("tie", T0 + 10), msg("earlier", T0 + 4)])
    history.append([msg("tie2", T0 + 10), msg("early2", T0 + 5)])
    everything = history.query("#chan", "", limit=10, newest=False)
    assert ids(everything) == ["earlier", "early", "early2", "late1", "late2", "tie", "tie2"]
    assert [row.time for row in everything or ()] == sorted(row.time for row in everything or ())
    assert ids(history.search([("#chan", "")], limit=10, timeout=TIMEOUT)) == []  # no text
    history.append([msg("said", T0 + 3, "back in time")])
    found = history.search([("#chan", "")], text="back time", limit=10, timeout=TIMEOUT)
    assert ids(found) == ["said"]
    fts_is_consistent(history)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=8),
        min_size=1,
        max_size=5,
    )
)
def test_any_order_of_times_is_stored_in_time_then_arrival_order(
    request: pytest.FixtureRequest, backend: str, batches: list[list[int]]
) -> None:
    """Batches of lines whose times (in ms) repeat and go back: the buffer reads them back
    sorted by time, ties in the order they arrived, and the search index agrees."""
    storage: AnyStorage
    if backend == "postgres":  # one database for the examples, emptied for each
        storage = PostgresStorage(request.getfixturevalue("postgres_url"))
        storage.open()
        empty(storage.url)
    else:
        storage = SqliteStorage(":memory:")
        storage.open()
    history = storage.history()
    arrived: list[tuple[int, str]] = []
    for number, times in enumerate(batches):
        rows = [msg(f"{number}.{i}", T0 + ms / 1000, "word") for i, ms in enumerate(times)]
        history.append(rows)
        arrived += [(ms, row.msgid) for ms, row in zip(times, rows, strict=True)]
    expected = [msgid for _, msgid in sorted(arrived, key=lambda pair: pair[0])]
    assert ids(history.query("#chan", "", limit=100, newest=False)) == expected
    assert search(history, "word") == expected
    for ms, msgid in arrived:
        later = history.query("#chan", "", after=Anchor(msgid=msgid), limit=100, newest=False)
        assert ids(later) == expected[expected.index(msgid) + 1 :]
        strictly_later = [m for t, m in sorted(arrived, key=lambda p: p[0]) if t > ms]
        after_time = history.query(
            "#chan", "", after=Anchor(time=T0 + ms / 1000), limit=100, newest=False
        )
        assert ids(after_time) == strictly_later
    fts_is_consistent(history)
    storage.close()


def test_odd_times_are_clamped_not_refused(history: SqliteHistory) -> None:
    history.append([msg("zero", -5.0), msg("nan", math.nan), msg("big", 1e300)])
    everything = history.query("#chan", "", limit=10, newest=False)
    assert ids(everything) == ["zero", "nan", "big"]
    assert everything is not None
    assert everything[0].time == 0.0
    for bound in (math.inf, -math.inf, math.nan, 1e300, -1.0):
        history.query("#chan", "", after=Anchor(time=bound), limit=3, newest=False)
        history.query("#chan", "", before=Anchor(time=bound), limit=3, newest=True)
        history.targets([("#chan", "")], bound, 0, 5)
        history.search([("#chan", "")], after=bound, before=bound, limit=5, timeout=TIMEOUT)
    if isinstance(history, SqliteHistory):
        assert millis(math.inf) == (1 << (63 - SHIFT)) - 1


def test_find(ten: SqliteHistory) -> None:
    found = ten.find("#chan", "", "m4")
    assert found is not None
    assert (found.msgid, found.text, found.time) == ("m4", "line 4", T0 + 4)
    assert ten.find("#chan", "", "nope") is None
    assert ten.find("#other", "", "m4") is None


# -- private conversations, targets ------------------------------------------------------------


def pm(msgid: str, time: float, text: str, sender: str, recipient: str) -> list[StoredMessage]:
    """Both parties' copies of one private message between accounts."""
    return [
        msg(msgid, time, text, target=f"~a:{sender}", peer=recipient, sender=sender),
        msg(msgid, time, text, target=f"~a:{recipient}", peer=sender, sender=sender),
    ]


def test_private_buffers_have_two_owners_and_redact_removes_both(history: SqliteHistory) -> None:
    history.append(
        pm("p1", T0, "secret plan", "alice", "bob") + pm("p2", T0 + 1, "ok", "bob", "alice")
    )
    assert ids(history.query("~a:alice", "bob", limit=5, newest=True)) == ["p1", "p2"]
    assert ids(history.query("~a:bob", "alice", limit=5, newest=True)) == ["p1", "p2"]
    assert history.find("~a:bob", "alice", "p1") is not None
    assert history.redact("p1") == 2
    assert ids(history.query("~a:alice", "bob", limit=5, newest=True)) == ["p2"]
    assert ids(history.query("~a:bob", "alice", limit=5, newest=True)) == ["p2"]
    assert history.search([("~a:alice", "")], text="secret", limit=5, timeout=TIMEOUT) == []
    assert history.redact("p1") == 0
    assert history.redact("never") == 0
    fts_is_consistent(history)


def test_targets(history: SqliteHistory) -> None:
    history.append(
        [
            msg("c1", T0 + 1, "x", target="#one"),
            msg("c2", T0 + 5, "x", target="#two"),
            msg("c3", T0 + 3, "x", target="#one"),
            *pm("p1", T0 + 4, "x", "alice", "bob"),
            *pm("p2", T0 + 2, "x", "carol", "alice"),
            *pm("p3", T0 + 6, "x", "dave", "erin"),  # nothing to do with alice
        ]
    )
    keys = [("#one", ""), ("#two", ""), ("~a:alice", ""), ("#never", "")]
    # oldest first; the limit counts from the first bound given (as BETWEEN pages)
    assert history.targets(keys, T0, T0 + 10, 10) == [
        ("~a:alice", "carol", T0 + 2),
        ("#one", "", T0 + 3),
        ("~a:alice", "bob", T0 + 4),
        ("#two", "", T0 + 5),
    ]
    assert history.targets(keys, T0, T0 + 10, 2) == [
        ("~a:alice", "carol", T0 + 2),
        ("#one", "", T0 + 3),
    ]
    assert history.targets(keys, T0 + 10, T0, 2) == [
        ("~a:alice", "bob", T0 + 4),
        ("#two", "", T0 + 5),
    ]
    # strictly between; a buffer counts by its latest line, even one after the window
    assert history.targets(keys, T0 + 1, T0 + 3, 10) == [("~a:alice", "carol", T0 + 2)]
    assert history.targets(keys, T0, T0 + 2.5, 10) == [("~a:alice", "carol", T0 + 2)]
    assert history.targets(keys, T0, T0 + 3.5, 10) == [
        ("~a:alice", "carol", T0 + 2),
        ("#one", "", T0 + 3),
    ]
    assert history.targets([("~a:alice", "bob")], T0, T0 + 10, 10) == [("~a:alice", "bob", T0 + 4)]
    assert history.targets(keys, T0, T0 + 10, 0) == []
    assert history.targets([], T0, T0 + 10, 10) == []


# -- search ----------------------------------------------------------------------------------


@pytest.fixture
def chat(history: SqliteHistory) -> SqliteHistory:
    history.append(
        [
            msg("s1", T0 + 1, "The quick brown fox"),
            msg("s2", T0 + 2, "a lazy dog and a FOX", sender="bob"),
            msg("s3", T0 + 3, "Café au lait, s'il vous plaît"),
            msg("s4", T0 + 4, "fox in another room", target="#other"),
            msg("s5", T0 + 5, command="JOIN", sender="fox"),
            msg("s6", T0 + 6, 'quotes "fox" * NEAR(x y) AND OR NOT col:fox ^fox', sender="bob"),
            msg("s7", T0 + 7, "日本語 のテキスト fox", sender="carol"),
            *pm("s8", T0 + 8, "a private fox", "alice", "bob"),
        ]
    )
    return history


def search(
    history: HistoryStore,
    text: str = "",
    *,
    sender: str = "",
    after: float | None = None,
    before: float | None = None,
    keys: Sequence[tuple[str, str]] = (("#chan", ""),),
) -> list[str]:
    found = history.search(
        keys, text=text, sender=sender, after=after, before=before, limit=100, timeout=TIMEOUT
    )
    return ids(found)


def test_search_matches_every_word_ignoring_case_and_diacritics(chat: SqliteHistory) -> None:
    assert search(chat, "fox") == ["s1", "s2", "s6", "s7"]
    assert search(chat, "FOX quick") == ["s1"]
    assert search(chat, "fox cat") == []
    assert search(chat, "cafe") == ["s3"]
    assert search(chat, "PLAIT") == ["s3"]
    assert search(chat, "日本語") == ["s7"]
    assert search(chat, "qui") == []  # whole words


def test_search_by_sender(chat: SqliteHistory) -> None:
    assert search(chat, sender="bob") == ["s2", "s6"]
    assert search(chat, "fox", sender="bob") == ["s2", "s6"]
    assert search(chat, "lazy", sender="alice") == []
    assert search(chat, sender="fox") == []  # a JOIN has no text to search
    assert search(chat, sender="nobody") == []
    # the word that stands for a sender in the index, typed in a line, is not that sender
    chat.append([msg("s9", T0 + 9, "from626f62 says hi", sender="dave")])
    assert search(chat, sender="bob") == ["s2", "s6"]


def test_an_empty_search_gives_the_lines_with_text(chat: SqliteHistory) -> None:
    assert search(chat) == ["s1", "s2", "s3", "s6", "s7"]
    assert search(chat, "   ") == ["s1", "s2", "s3", "s6", "s7"]
    keys = [("#chan", ""), ("#other", ""), ("~a:bob", "")]
    assert search(chat, keys=keys) == ["s1", "s2", "s3", "s4", "s6", "s7", "s8"]


def test_search_only_looks_in_the_given_buffers(chat: SqliteHistory) -> None:
    assert search(chat, "fox", keys=[("#other", "")]) == ["s4"]
    assert search(chat, "fox", keys=[("~a:bob", "")]) == ["s8"]
    assert search(chat, "fox", keys=[("~a:bob", "alice")]) == ["s8"]
    assert search(chat, "fox", keys=[("~a:bob", "carol")]) == []
    assert search(chat, "fox", keys=[("~a:carol", "")]) == []
    assert search(chat, "fox", keys=[]) == []
    assert search(chat, "fox", keys=[("#nowhere", "")]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"', []),
        ('"fox', ["s1", "s2", "s6", "s7"]),
        ("fox*", ["s1", "s2", "s6", "s7"]),
        ("*", []),
        ("NEAR(", ["s6"]),
        ("NEAR(fox quick)", []),  # words "near", "fox", "quick": no line has all three
        ("NEAR", ["s6"]),
        ("AND", ["s2", "s6"]),
        ("fox AND dog", ["s2"]),
        ("fox OR nothing", []),
        ("NOT", ["s6"]),
        ("fox NOT", ["s6"]),
        ("col:fox", ["s6"]),
        ("^fox", ["s1", "s2", "s6", "s7"]),
        ("text:fox", []),
        ("(fox", ["s1", "s2", "s6", "s7"]),
        ("fox)", ["s1", "s2", "s6", "s7"]),
        ("{text}: fox", []),
        ("+-", []),
        ("\x00fox\x00", ["s1", "s2", "s6", "s7"]),
        ("\N{EMOJI MODIFIER FITZPATRICK TYPE-1-2}", []),
        ("fox " * 50, ["s1", "s2", "s6", "s7"]),
    ],
)
def test_search_reads_hostile_text_as_words(
    chat: SqliteHistory, text: str, expected: list[str]
) -> None:
    assert search(chat, text) == expected


def test_search_words() -> None:
    assert search_words('he said "NEAR(a b)" * x_y café') == [
        "he",
        "said",
        "NEAR",
        "a",
        "b",
        "x",
        "y",
        "café",
    ]
    assert search_words("fox fox") == ["fox"]
    assert search_words("") == []


def test_a_word_the_tokenizer_splits_is_no_match_not_an_error(chat: SqliteHistory) -> None:
    # U+1E900 (Adlam, Unicode 9) is a letter to Python but not to SQLite 3.40's unicode61:
    # the FTS5 string would hold two words, a phrase, which detail=none cannot answer.
    assert search(chat, "fox\U0001e900quick") == []


def test_search_times_and_limit(chat: SqliteHistory) -> None:
    assert search(chat, "fox", after=T0 + 1, before=T0 + 7) == ["s2", "s6"]
    assert search(chat, "fox", after=T0 + 7) == []
    found = chat.search([("#chan", "")], text="fox", limit=2, timeout=TIMEOUT)
    assert ids(found) == ["s6", "s7"]  # the newest, oldest first
    assert ids(chat.search([("#chan", "")], limit=2, timeout=TIMEOUT)) == ["s6", "s7"]
    assert chat.search([("#chan", "")], text="fox", limit=0, timeout=TIMEOUT) == []


def test_a_long_search_is_stopped(history: SqliteHistory) -> None:
    words = ["alpha", "beta", "gamma", "delta"]
    history.append([msg(f"m{i}", T0 + i / 1000, f"{words[i % 4]} common") for i in range(20000)])
    history.append([msg("elsewhere", T0 + 100, "common", target="#other")])
    with pytest.raises(StorageTimeout, match="ran out"):  # every match is read, none kept
        history.search([("#other", "")], text="common", limit=10, before=T0 + 50, timeout=0.0)
    with pytest.raises(StorageTimeout):
        history.search([("#chan", "")], limit=10**6, timeout=0.0)
    # nothing is wrong with the store afterwards
    assert len(history.search([("#chan", "")], text="alpha", limit=10, timeout=TIMEOUT)) == 10
    assert ids(history.query("#chan", "", limit=1, newest=True)) == ["m19999"]


def test_a_search_that_the_progress_handler_misses_is_interrupted_at_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FTS5 reads a word's whole doclist within one virtual-machine step, where the
    progress handler never looks at the clock (30 ms for two common words over 300,000
    lines): a clock thread interrupts the connection from the deadline on. Here the
    handler never looks, and the search is a query of some seconds."""
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = storage.history()
    history.append([msg("m1", T0, "alpha")])
    monkeypatch.setattr("hubbub.storage.sqlite_history._PROGRESS_STEPS", 10**9)

    def endless(conn: sqlite3.Connection, *_: object) -> list[StoredMessage]:
        conn.execute(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000000) "
            "SELECT count(*) FROM c"
        ).fetchall()
        return []

    monkeypatch.setattr(SqliteHistory, "_search_text", staticmethod(endless))
    started = time.monotonic()
    with pytest.raises(StorageTimeout, match="ran out"):
        history.search([("#chan", "")], text="alpha", limit=10, timeout=0.1)
    assert time.monotonic() - started < 1.0
    monkeypatch.undo()  # the interrupt reaches no later statement
    assert ids(history.search([("#chan", "")], text="alpha", limit=10, timeout=TIMEOUT)) == ["m1"]
    storage.close()


def test_a_search_that_cannot_start_in_time_is_stopped(tmp_path: Path) -> None:
    """SQLite's search lock (PostgreSQL's pool: tests/storage/test_postgres.py)."""
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = storage.history()
    with history._search_lock, pytest.raises(StorageTimeout, match="did not start"):
        history.search([("#chan", "")], text="x", limit=10, timeout=0.05)
    assert history.search([("#chan", "")], text="x", limit=10, timeout=TIMEOUT) == []
    storage.close()


def test_reads_do_not_wait_for_a_search(tmp_path: Path) -> None:
    """A search holds a connection of its own: CHATHISTORY reads go on meanwhile."""
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = storage.history()
    history.append([msg("m1", T0, "hello")])
    with history._search_lock:  # (a search under way)
        rows = history.query("#chan", "", limit=10, newest=True)
    assert rows is not None
    assert [r.msgid for r in rows] == ["m1"]
    storage.close()


# -- retention -------------------------------------------------------------------------------


def fill(history: SqliteHistory, target: str, count: int, start: float = T0) -> None:
    history.append(
        [msg(f"{target}-{i}", start + i, f"word{i} text", target=target) for i in range(count)]
    )


def test_purge_by_age(history: SqliteHistory) -> None:
    fill(history, "#a", 10)
    fill(history, "#b", 10, start=T0 + 5)
    assert history.purge(older_than=T0 + 7, max_rows=0, batch=3) == 7 + 2
    assert ids(history.query("#a", "", limit=1, newest=False)) == ["#a-7"]
    assert ids(history.query("#b", "", limit=1, newest=False)) == ["#b-2"]
    assert history.purge(older_than=T0 + 7, max_rows=0) == 0
    assert search(history, "word1", keys=[("#a", "")]) == []
    fts_is_consistent(history)


def test_purge_by_count(history: SqliteHistory) -> None:
    fill(history, "#a", 10)
    fill(history, "#b", 3)
    history.append(pm("p", T0, "x", "alice", "bob"))
    assert history.purge(older_than=0, max_rows=4, batch=2) == 6
    assert ids(history.query("#a", "", limit=10, newest=False)) == ["#a-6", "#a-7", "#a-8", "#a-9"]
    assert len(history.query("#b", "", limit=10, newest=False) or ()) == 3
    assert len(history.query("~a:bob", "alice", limit=10, newest=False) or ()) == 1
    assert history.purge(older_than=0, max_rows=0) == 0
    fts_is_consistent(history)


def test_purge_with_overrides(history: SqliteHistory) -> None:
    fill(history, "#keep", 10)
    fill(history, "#short", 10)
    fill(history, "#few", 10)
    fill(history, "#plain", 10)
    overrides = {"#keep": (0.0, 0), "#short": (T0 + 8, 0), "#few": (0.0, 2), "#absent": (1.0, 1)}
    removed = history.purge(older_than=T0 + 5, max_rows=3, overrides=overrides, batch=4)
    assert removed == 8 + 8 + 7
    assert len(history.query("#keep", "", limit=100, newest=False) or ()) == 10
    assert ids(history.query("#short", "", limit=100, newest=False)) == ["#short-8", "#short-9"]
    assert ids(history.query("#few", "", limit=100, newest=False)) == ["#few-8", "#few-9"]
    assert ids(history.query("#plain", "", limit=100, newest=False)) == [
        "#plain-7",
        "#plain-8",
        "#plain-9",
    ]
    fts_is_consistent(history)


def test_purge_drops_empty_buffers_and_history_goes_on(history: SqliteHistory) -> None:
    fill(history, "#a", 3)
    history.append(pm("p", T0, "x", "alice", "bob"))
    assert history.purge(older_than=T0 + 100, max_rows=0) == 5
    assert buffer_count(history) == 0
    fill(history, "#a", 2, start=T0 + 200)  # the writer forgot the dropped buffer's id
    assert ids(history.query("#a", "", limit=5, newest=True)) == ["#a-0", "#a-1"]
    assert search(history, "word1", keys=[("#a", "")]) == ["#a-1"]


# -- read markers ----------------------------------------------------------------------------


def test_markers_only_move_forward(history: SqliteHistory) -> None:
    assert history.get_marker("alice", "#chan") is None
    assert history.markers("alice") == {}
    assert history.set_marker("alice", "#chan", T0 + 5.1234) == T0 + 5.123
    assert history.set_marker("alice", "#chan", T0 + 1) == T0 + 5.123
    assert history.get_marker("alice", "#chan") == T0 + 5.123
    assert history.set_marker("alice", "#chan", T0 + 6) == T0 + 6
    assert history.set_marker("alice", "bob", T0 + 2) == T0 + 2
    assert history.set_marker("carol", "#chan", T0 + 1) == T0 + 1
    assert history.markers("alice") == {"#chan": T0 + 6, "bob": T0 + 2}
    assert history.get_marker("bob", "#chan") is None


# -- the database ----------------------------------------------------------------------------


def test_history_survives_reopening_with_the_accounts(
    same_database: Callable[[], AnyStorage],
) -> None:
    first = same_database()
    first.open()
    first.history().append([msg("a", T0, "kept")])
    first.close()
    second = same_database()
    second.open()
    history: SqliteHistory = second.history()  # type: ignore[assignment]
    assert ids(history.query("#chan", "", limit=5, newest=True)) == ["a"]
    history.append([msg("b", T0 + 1, "kept too")])  # ids go on after the stored ones
    assert search(history, "kept") == ["a", "b"]
    second.close()


def test_a_version_2_database_is_migrated_with_its_accounts(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    old_database(path, 2)
    db = SqliteStorage(path)
    db.open()
    assert db.schema_version == len(MIGRATIONS)
    assert [r.name for r in db.list_accounts()] == ["alice"]
    history = db.history()
    history.append([msg("a", T0, "new")])
    assert search(history, "new") == ["a"]
    db.close()


def test_connections_of_its_own_durable_and_unmapped(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = storage.history()
    assert history._writer is not None
    assert history._reader is not None
    assert history._writer is not storage._conn
    assert history._reader is not history._writer
    for conn in (history._writer, history._reader):
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 3  # EXTRA
        assert conn.execute("PRAGMA mmap_size").fetchone()[0] == 0
    assert history._reader.execute("PRAGMA query_only").fetchone()[0] == 1
    history.append([msg("a", T0, "x")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db"]
    storage.close()
    with pytest.raises(StorageError, match="not open"):
        history.query("#chan", "", limit=1, newest=True)
    with pytest.raises(StorageError, match="not open"):
        history.append([msg("b", T0, "x")])
    history.close()  # idempotent


def test_history_needs_an_open_storage(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not open"):
        SqliteStorage(tmp_path / "h.db").history()
    memory = SqliteStorage(":memory:")
    memory.open()
    history = memory.history()
    memory.close()
    with pytest.raises(StorageError, match="not open"):
        history.search([("#chan", "")], limit=1, timeout=TIMEOUT)


def test_reads_go_on_while_a_writer_appends(same_database: Callable[[], AnyStorage]) -> None:
    storage = same_database()
    storage.open()
    history = storage.history()
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        seen = 0
        try:
            while not done.is_set():
                rows = history.query("#chan", "", limit=50, newest=True) or []
                assert len(rows) >= min(seen, 50)
                seen = len(rows)
                history.search([("#chan", "")], text="line", limit=20, timeout=TIMEOUT)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for batch in range(30):
        history.append([msg(f"m{batch}-{i}", T0 + batch + i / 100, "line") for i in range(50)])
        storage.ensure_setting(f"k{batch}", "v")  # the accounts' connection writes too
    done.set()
    reader.join(TIMEOUT)
    assert errors == []
    assert len(history.search([("#chan", "")], text="line", limit=2000, timeout=TIMEOUT)) == 1500
    storage.close()


def test_a_commit_waits_for_a_read_in_progress(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = storage.history()
    history.append([msg("a", T0, "first")])
    other = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
    other.execute("BEGIN")
    assert other.execute("SELECT count(*) FROM history").fetchone() == (1,)  # holds a read lock
    appended: list[BaseException | None] = []

    def append() -> None:
        try:
            history.append([msg("b", T0 + 1, "second")])
            appended.append(None)
        except BaseException as exc:  # pragma: no cover - reported below
            appended.append(exc)

    writer = threading.Thread(target=append)
    writer.start()
    writer.join(0.3)
    assert writer.is_alive()  # the commit waits for the reader...
    other.execute("COMMIT")
    writer.join(TIMEOUT)
    assert appended == [None]  # ...and succeeds once it is done
    assert ids(history.query("#chan", "", limit=5, newest=True)) == ["a", "b"]
    other.close()
    storage.close()


def test_a_full_disk_is_an_error_and_stores_nothing(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = storage.history()
    history.append([msg("a", T0, "first")])
    writer = history._writer
    assert writer is not None
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count={pages}")
    big = [msg(f"b{i}", T0 + 1 + i, "x" * 500, target="#new") for i in range(200)]
    with pytest.raises(StorageError, match="full"):
        history.append(big)
    writer.execute("PRAGMA max_page_count=1073741823")
    assert ids(history.query("#chan", "", limit=5, newest=True)) == ["a"]  # nothing half-stored
    assert history.query("#new", "", limit=5, newest=True) == []
    history.append(big[:1])  # the buffer made in the failed transaction is made again
    assert ids(history.query("#new", "", limit=5, newest=True)) == ["b0"]
    fts_is_consistent(history)
    storage.close()


DAMAGE_IN_USE = """
import os, sys
from pathlib import Path
from hubbub.storage import SqliteStorage, StorageError
from hubbub.storage.base import StoredMessage

path = Path(sys.argv[1])
storage = SqliteStorage(path)
storage.open()
history = storage.history()
line = StoredMessage("#c", "", "m1", 1.0, "PRIVMSG", "a", "", ":a PRIVMSG #c :hi", "", "hi")
history.append([line])
for file in path.parent.glob(path.name + "*"):
    os.truncate(file, 0)
for name, call in [
    ("append", lambda: history.append([line._replace(msgid="m2")])),
    ("query", lambda: history.query("#c", "", limit=5, newest=True)),
    ("search", lambda: history.search([("#c", "")], text="hi", limit=5, timeout=5)),
]:
    try:
        print(name, "gave", call())
    except StorageError as exc:
        print(name, "refused:", exc)
"""


def test_files_cut_short_in_use_are_an_error_not_a_crash(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", DAMAGE_IN_USE, str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    lines = child.stdout.splitlines()
    assert len(lines) == 3, child.stdout
    assert lines[0].startswith("append refused: "), child.stdout
    for line in lines[1:]:  # an emptied file reads as an empty database or an error
        assert " refused: " in line or line.endswith(" gave []"), child.stdout


# -- query plans -----------------------------------------------------------------------------


def test_every_query_is_a_search_of_an_index(tmp_path: Path) -> None:
    """The statements the reader runs use an index or the primary key (SEARCH), never a scan
    of history, and never sort: the figures of docs/history.md hold at any size."""
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = storage.history()
    fill(history, "#a", 50)
    history.append(pm("p", T0, "x y", "alice", "bob"))
    reader = history._reader
    assert reader is not None
    statements: list[str] = []
    reader.set_trace_callback(statements.append)
    history.query("#a", "", limit=10, newest=True)
    history.query(
        "#a", "", after=Anchor(msgid="#a-3"), before=Anchor(time=T0 + 20), limit=5, newest=False
    )
    history.query("#a", "", limit=10, newest=True, messages_only=True, not_before=T0)
    history.find("#a", "", "#a-4")
    history.targets([("#a", ""), ("~a:alice", "")], T0, T0 + 100, 10)
    history.search(
        [("#a", ""), ("~a:alice", "")], text="word1 text", sender="alice", limit=5, timeout=TIMEOUT
    )
    history.search([("#a", "")], limit=5, timeout=TIMEOUT)
    reader.set_trace_callback(None)
    selects = [  # without those of FTS5 itself, on its own tables
        s for s in statements if s.lstrip().upper().startswith("SELECT") and "'main'." not in s
    ]
    assert len(selects) >= 10
    check = sqlite3.connect(tmp_path / "h.db")
    for statement in selects:
        plan = [row[3] for row in check.execute("EXPLAIN QUERY PLAN " + statement)]
        assert all(not step.startswith("SCAN") or "VIRTUAL TABLE" in step for step in plan), (
            statement,
            plan,
        )
        assert not any("TEMP B-TREE" in step for step in plan), (statement, plan)
    check.close()
    storage.close()


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` cannot be written for a while: read-only with its directory for a user, made
    immutable (``chattr +i``) for root, who ignores permissions."""
    if os.geteuid() != 0:
        path.chmod(0o400)
        path.parent.chmod(0o500)
        try:
            yield
        finally:
            path.parent.chmod(0o700)
            path.chmod(0o600)
        return
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"root cannot make a file unwritable here: {exc}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)


def test_an_unwritable_file_is_an_error_and_history_recovers(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    storage = SqliteStorage(path)
    storage.open()
    history = storage.history()
    history.append([msg("a", T0, "first")])
    with unwritable(path):
        with pytest.raises(StorageError):
            history.append([msg("b", T0 + 1, "second")])
        with pytest.raises(StorageError):
            history.set_marker("alice", "#chan", T0)
    history.append([msg("c", T0 + 2, "third")])
    assert ids(history.query("#chan", "", limit=5, newest=True)) == ["a", "c"]
    assert search(history, "second") == []
    fts_is_consistent(history)
    storage.close()


def block(
    first: int, size: int, time: float, words: str = "w", target: str = "#chan"
) -> StoredMessage:
    """``size`` lines relayed together, msgids ``b-<first>``..., texts "<words> <n>"."""
    texts = [f"{words} {first + k}" for k in range(size)]
    return StoredMessage(
        target, "", f"b-{first:x}", time, "PRIVMSG", "alice", "alice",
        f":alice!u@h PRIVMSG {target} :{texts[0]}", "", "\n".join(texts), size,
    )  # fmt: skip


def test_a_block_is_one_row_read_back_as_its_lines(history: SqliteHistory) -> None:
    history.append([block(1, 4, T0), msg("x", T0 + 1, "after")])
    rows = history.query("#chan", "", limit=10, newest=False)
    assert ids(rows) == ["b-1", "b-2", "b-3", "b-4", "x"]
    assert rows is not None
    assert rows[2].line == ":alice!u@h PRIVMSG #chan :w 3"
    assert rows[2].text == "w 3"
    assert {row.size for row in rows} == {1}
    assert ids(history.query("#chan", "", after=Anchor(msgid="b-2"), limit=2, newest=False)) == [
        "b-3",
        "b-4",
    ]
    assert ids(history.query("#chan", "", before=Anchor(msgid="b-3"), limit=10, newest=True)) == [
        "b-1",
        "b-2",
    ]
    assert ids(history.query("#chan", "", limit=3, newest=True)) == ["b-3", "b-4", "x"]
    found = history.find("#chan", "", "b-4")
    assert found is not None
    assert found.text == "w 4"
    assert history.find("#chan", "", "b-5") is None
    if isinstance(history, SqliteHistory):
        with history._writing() as conn:
            assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == 2


def test_a_search_matches_lines_of_a_block_not_the_block(history: SqliteHistory) -> None:
    texts = ["the quick fox", "a lazy dog", "fox and dog"]
    history.append(
        [
            StoredMessage(
                "#chan", "", "b-a", T0, "PRIVMSG", "alice", "", ":a!u@h PRIVMSG #chan :" + texts[0],
                "", "\n".join(texts), 3,
            )
        ]
    )  # fmt: skip
    assert search(history, "fox") == ["b-a", "b-c"]
    assert search(history, "fox dog") == ["b-c"]
    assert search(history, "quick lazy") == []  # words of two lines are not one line's


def test_redacting_a_line_of_a_block_keeps_the_others(history: SqliteHistory) -> None:
    history.append([block(1, 5, T0, "word")])
    assert history.redact("b-3") == 1
    assert ids(history.query("#chan", "", limit=10, newest=False)) == ["b-1", "b-2", "b-4", "b-5"]
    assert search(history, "word") == ["b-1", "b-2", "b-4", "b-5"]
    assert ids(history.query("#chan", "", after=Anchor(msgid="b-4"), limit=5, newest=False)) == [
        "b-5"
    ]
    assert history.redact("b-3") == 0
    assert history.redact("b-1") == 1
    assert history.redact("b-5") == 1
    assert ids(history.query("#chan", "", limit=10, newest=False)) == ["b-2", "b-4"]


def test_retention_by_count_cuts_a_block(history: SqliteHistory) -> None:
    history.append([block(1, 4, T0, "old"), block(5, 4, T0 + 1, "new")])
    assert history.purge(older_than=0, max_rows=6) == 2
    assert ids(history.query("#chan", "", limit=10, newest=False)) == [
        "b-3", "b-4", "b-5", "b-6", "b-7", "b-8",
    ]  # fmt: skip
    assert search(history, "old") == ["b-3", "b-4"]


def test_a_block_longer_than_a_row_is_cut_into_rows(history: SqliteHistory) -> None:
    size = MAX_BLOCK * 2 + 3
    history.append([block(0x100, size, T0)])
    rows = history.query("#chan", "", limit=size + 5, newest=False)
    assert rows is not None
    assert len(rows) == size
    assert [row.msgid for row in rows] == [f"b-{0x100 + k:x}" for k in range(size)]
    last = f"b-{0x100 + size - 1:x}"
    found = history.find("#chan", "", last)
    assert found is not None
    assert found.text == f"w {0x100 + size - 1}"
    history.append([msg("next", T0, "same millisecond")])
    assert ids(history.query("#chan", "", limit=2, newest=True)) == [last, "next"]


@pytest.mark.parametrize("count", [1, 3, 63, 64, 65, 150, 200])
def test_any_number_of_rows_is_stored_in_one_append(history: SqliteHistory, count: int) -> None:
    # (SQLite inserts them 64 rows to a statement, the rest in powers of two)
    rows = [msg(f"n{i}", T0 + i / 1000, f"word{i} common") for i in range(count)]
    history.append(rows)
    assert history.query("#chan", "", limit=count + 1, newest=False) == rows
    found = history.search([("#chan", "")], text="common", limit=count + 1, timeout=TIMEOUT)
    assert len(found) == count
    assert ids(
        history.search([("#chan", "")], text=f"word{count - 1}", limit=5, timeout=TIMEOUT)
    ) == [f"n{count - 1}"]
    fts_is_consistent(history)


def test_a_malformed_block_is_refused(history: SqliteHistory) -> None:
    bad = block(1, 3, T0)._replace(text="one\ntwo")
    with pytest.raises(StorageError):
        history.append([bad])
    with pytest.raises(StorageError):
        history.append([block(1, 3, T0)._replace(msgid="no-number-here-x")])
    assert history.query("#chan", "", limit=5, newest=True) == []


def test_a_version_4_history_is_migrated_to_blocks(tmp_path: Path) -> None:
    """Rows stored one per line before blocks existed keep their msgids, order and search."""
    path = tmp_path / "h.db"
    old_database(path, 4)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO history_buffers (id, target, peer) VALUES (1, '#chan', '')")
    for i, msgid in enumerate(["n-18c-1f", "n-18c-20", "custom"]):
        conn.execute(
            "INSERT INTO history (id, buffer, time, msgid, command, sender, account, line, tags,"
            " text) VALUES (?, 1, ?, ?, 'PRIVMSG', 'alice', '', ?, '', ?)",
            ((millis(T0 + i) << SHIFT), millis(T0 + i), msgid, f":a!u@h PRIVMSG #chan :t{i}",
             f"old text {i}"),
        )  # fmt: skip
    conn.execute("INSERT INTO history_text (rowid, text) SELECT id, text FROM history_searched")
    conn.close()
    db = SqliteStorage(path)
    db.open()
    assert db.schema_version == len(MIGRATIONS)
    history = db.history()
    assert ids(history.query("#chan", "", limit=5, newest=False)) == [
        "n-18c-1f",
        "n-18c-20",
        "custom",
    ]
    assert ids(
        history.query("#chan", "", after=Anchor(msgid="n-18c-1f"), limit=5, newest=False)
    ) == [
        "n-18c-20",
        "custom",
    ]
    assert search(history, "old text") == ["n-18c-1f", "n-18c-20", "custom"]
    assert history.redact("custom") == 1
    db.close()


def test_the_search_index_merges_sixteen_segments_at_a_time(tmp_path: Path) -> None:
    db = SqliteStorage(tmp_path / "h.db")
    db.open()
    try:
        db.history().append([msg("m-1", 1.0, "hello")])
    finally:
        db.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "h.db")) as conn:
        found = conn.execute("SELECT v FROM history_text_config WHERE k = 'automerge'").fetchall()
    assert found == [(FTS_AUTOMERGE,)]
