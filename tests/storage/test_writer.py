"""The history writer: order, group commit, sequence numbers, backpressure figures, failures
and closing, against a store whose appends the test holds up or makes fail."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from hubbub.storage import SqliteStorage
from hubbub.storage.base import StorageError, StoredMessage
from hubbub.storage.sqlite_history import SqliteHistory
from hubbub.storage.writer import HistoryWriter
from tests.timeouts import TIMEOUT


def lines(*msgids: str) -> list[StoredMessage]:
    return [
        StoredMessage("#c", "", msgid, 1.0, "PRIVMSG", "a", "", f":a PRIVMSG #c :{msgid}")
        for msgid in msgids
    ]


class FakeStore:
    """Records each append's batch; ``hold()`` makes the next appends wait for ``release()``;
    ``fail`` holds exceptions for the next appends to raise."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail: list[Exception] = []
        self.entered = threading.Semaphore(0)
        self._gate = threading.Event()
        self._gate.set()
        self.threads: set[str] = set()

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def append(self, rows: Sequence[StoredMessage]) -> None:
        self.threads.add(threading.current_thread().name)
        self.entered.release()
        assert self._gate.wait(TIMEOUT)
        if self.fail:
            raise self.fail.pop(0)
        self.batches.append([row.msgid for row in rows])

    def wait_entered(self) -> None:
        assert self.entered.acquire(timeout=TIMEOUT)

    @property
    def stored(self) -> list[str]:
        return [msgid for batch in self.batches for msgid in batch]


class Done:
    """The on_done calls, and the thread they came from."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []
        self.threads: set[str] = set()

    def __call__(self, seq: int, ok: bool) -> None:
        self.calls.append((seq, ok))
        self.threads.add(threading.current_thread().name)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def done() -> Done:
    return Done()


@pytest.fixture
def writer(store: FakeStore, done: Done) -> Iterator[HistoryWriter]:
    writer = HistoryWriter(store, done, max_pending=5)
    yield writer
    store.release()
    assert writer.close(TIMEOUT)


def test_lines_are_stored_in_order_with_running_sequence_numbers(
    writer: HistoryWriter, store: FakeStore, done: Done
) -> None:
    assert writer.submit(lines("a", "b")) == 2
    assert writer.submit(lines("c")) == 3
    assert writer.submit([]) == 3
    assert writer.submit(lines("d", "e", "f")) == 6
    assert writer.wait(6, TIMEOUT)
    assert store.stored == ["a", "b", "c", "d", "e", "f"]
    assert writer.pending == 0
    seqs = [seq for seq, _ in done.calls]
    assert seqs == sorted(seqs)
    assert done.calls[-1] == (6, True)
    assert all(ok for _, ok in done.calls)
    assert done.threads == store.threads == {"hubbub-history-writer"}


def test_lines_submitted_during_a_slow_append_are_committed_together(
    writer: HistoryWriter, store: FakeStore, done: Done
) -> None:
    store.hold()
    writer.submit(lines("a"))
    store.wait_entered()  # "a" is being appended
    writer.submit(lines("b", "c"))
    writer.submit(lines("d"))
    writer.submit(lines("e", "f", "g"))
    assert writer.pending == 7
    assert writer.overloaded  # more than 5
    assert not writer.wait(1, 0.01)
    store.release()
    assert writer.wait(7, TIMEOUT)
    assert store.batches == [["a"], ["b", "c", "d", "e", "f", "g"]]
    assert done.calls == [(1, True), (7, True)]
    assert writer.pending == 0
    assert not writer.overloaded


def test_a_failing_database_loses_those_lines_logs_once_and_goes_on(
    store: FakeStore, done: Done, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hubbub.history")
    writer = HistoryWriter(store, done, retry=0.05)  # (FakeStore has no probe: one interval)
    store.fail = [StorageError("disk full"), ValueError("a bug")]
    for name in ("a", "b"):
        seq = writer.submit(lines(name))
        assert writer.wait(seq, TIMEOUT)
        assert wait_until(lambda: not writer.failing_fast)
    assert done.calls == [(1, False), (2, False)]
    assert writer.lost == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "disk full" in errors[0].getMessage()
    writer.submit(lines("d", "e"))
    assert writer.wait(4, TIMEOUT)
    assert done.calls[-1] == (4, True)
    assert store.stored == ["d", "e"]
    recovered = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in recovered] == ["history is stored again (2 lines were lost)"]
    # a new streak of failures is told again
    store.fail = [StorageError("disk full again")]
    assert writer.wait(writer.submit(lines("f")), TIMEOUT)
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 2
    assert writer.close(TIMEOUT)


class DownStore(FakeStore):
    """A database that is away: while ``down``, an append waits ``delay`` seconds (a
    connection pool's timeout) and fails, and so does a probe (counted)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.down = threading.Event()
        self.appends = 0
        self.probes: list[float] = []

    def append(self, rows: Sequence[StoredMessage]) -> None:
        self.appends += 1
        if self.down.is_set():
            time.sleep(self.delay)
            raise StorageError("no connection to PostgreSQL: timeout")
        super().append(rows)

    def probe(self) -> None:
        self.probes.append(time.monotonic())
        if self.down.is_set():
            time.sleep(self.delay)
            raise StorageError("no connection to PostgreSQL: timeout")


def wait_until(check: Callable[[], bool]) -> bool:
    """Poll ``check`` (a thread's doing: nothing to wait on) for up to TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_once_the_database_fails_batches_are_lost_at_once_until_a_probe_sees_it_back(
    done: Done,
) -> None:
    """A database that cannot be reached fails slowly (each append waits the pool's
    timeout), and senders wait for their lines to be done: after the first failure the
    writer loses each batch at once, without the store, and probes it once per ``retry``
    seconds on another thread until it answers; then lines are stored again."""
    store = DownStore(delay=0.5)
    writer = HistoryWriter(store, done, retry=0.1)
    try:
        store.down.set()
        began = time.monotonic()
        assert writer.wait(writer.submit(lines("first")), TIMEOUT)
        assert time.monotonic() - began >= 0.5  # (the first failure costs the timeout)
        slowest = 0.0
        for i in range(10):
            began = time.monotonic()
            assert writer.wait(writer.submit(lines(f"lost{i}")), TIMEOUT)
            slowest = max(slowest, time.monotonic() - began)
        assert slowest < 0.1, slowest  # (was 0.5 s a batch: every one waited for the pool)
        assert done.calls[-1] == (11, False)
        assert writer.lost == 11
        assert store.appends == 1
        assert wait_until(lambda: len(store.probes) >= 2)  # probing meanwhile, one at a time
        gaps = [b - a for a, b in zip(store.probes, store.probes[1:], strict=False)]
        assert all(gap >= 0.1 for gap in gaps), gaps
        store.down.clear()
        assert wait_until(lambda: not writer.failing_fast)
        assert writer.wait(writer.submit(lines("back")), TIMEOUT)
        assert done.calls[-1] == (12, True)
        assert store.stored == ["back"]
    finally:
        store.down.clear()
        assert writer.close(TIMEOUT)


def test_a_failing_on_done_does_not_stop_the_writer(
    store: FakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    def on_done(seq: int, ok: bool) -> None:
        raise RuntimeError("oops")

    writer = HistoryWriter(store, on_done)
    assert writer.wait(writer.submit(lines("a")), TIMEOUT)
    assert writer.wait(writer.submit(lines("b")), TIMEOUT)
    assert store.stored == ["a", "b"]
    assert writer.close(TIMEOUT)
    assert any("on_done failed" in r.getMessage() for r in caplog.records)


def test_close_commits_what_is_queued(store: FakeStore, done: Done) -> None:
    writer = HistoryWriter(store, done)
    store.hold()
    writer.submit(lines("a"))
    store.wait_entered()
    writer.submit(lines("b", "c"))
    closed: list[bool] = []
    closer = threading.Thread(target=lambda: closed.append(writer.close(TIMEOUT)))
    closer.start()
    with writer._cond:  # close() tells the writer's condition that it is closing
        assert writer._cond.wait_for(lambda: writer.closed, TIMEOUT)
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit([])
    store.release()
    closer.join(TIMEOUT)
    assert closed == [True]
    assert store.batches == [["a"], ["b", "c"]]
    assert done.calls == [(1, True), (3, True)]
    assert writer.pending == 0
    assert writer.close(TIMEOUT)  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(lines("d"))


def test_close_of_an_idle_writer_and_close_timing_out(store: FakeStore, done: Done) -> None:
    idle = HistoryWriter(store, done)
    assert idle.close(TIMEOUT)
    assert store.batches == []
    stuck = HistoryWriter(store, done)
    store.hold()
    stuck.submit(lines("a"))
    store.wait_entered()
    assert not stuck.close(0.01)  # the append is still running
    store.release()
    assert stuck.close(TIMEOUT)
    assert store.stored == ["a"]


def test_many_threads_submitting(writer: HistoryWriter, store: FakeStore) -> None:
    def submit(n: int) -> None:
        for i in range(200):
            writer.submit(lines(f"{n}-{i}"))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert writer.wait(800, TIMEOUT)
    assert len(store.stored) == 800
    for n in range(4):  # each thread's lines in the order it submitted them
        mine = [m for m in store.stored if m.startswith(f"{n}-")]
        assert mine == [f"{n}-{i}" for i in range(200)]


def test_with_the_sqlite_history(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = storage.history()
    done = Done()
    writer = HistoryWriter(history, done)
    rows = [
        line._replace(time=1.0 + i / 10, text=f"word{i}")
        for i, line in enumerate(lines(*map(str, range(50))))
    ]
    for first in range(0, 50, 7):
        writer.submit(rows[first : first + 7])
    assert writer.close(TIMEOUT)
    assert done.calls[-1] == (50, True)
    stored = history.query("#c", "", limit=100, newest=False)
    assert stored == rows
    storage.close()


class Counted:
    """A store, counting the appends handed to it."""

    def __init__(self, store: SqliteHistory) -> None:
        self.store = store
        self.appends = 0

    def append(self, rows: Sequence[StoredMessage]) -> None:
        self.appends += 1
        self.store.append(rows)

    def probe(self) -> None:
        self.store.probe()


def test_a_damaged_sqlite_file_fails_fast_too(tmp_path: Path, done: Done) -> None:
    """The same path for SQLite: once an append failed (here the file was cut short, as a
    full disk may leave it), batches are lost without going to the file, and the probe
    (a write lock and a read, writing nothing) keeps failing while the file is damaged."""
    storage = SqliteStorage(tmp_path / "h.db")
    storage.open()
    history = Counted(storage.history())
    writer = HistoryWriter(history, done, retry=0.05)
    try:
        assert writer.wait(writer.submit(lines("kept")), TIMEOUT)
        for file in tmp_path.glob("h.db*"):
            os.truncate(file, 0)
        with pytest.raises(StorageError):
            history.probe()
        for i in range(5):
            assert writer.wait(writer.submit(lines(f"lost{i}")), TIMEOUT)
        assert done.calls == [(1, True)] + [(2 + i, False) for i in range(5)]
        assert history.appends == 2  # ("kept", then the first failure: no more)
        assert writer.failing_fast
    finally:
        assert writer.close(TIMEOUT)
        storage.close()


def test_a_commit_interval_gathers_a_steady_stream_but_not_a_lone_line(
    store: FakeStore, done: Done
) -> None:
    """After a commit, lines wait out the interval to be committed together; a line after
    a quiet spell does not wait; ``full`` lines waiting do not wait either."""
    writer = HistoryWriter(store, done, interval=TIMEOUT, full=3)
    try:
        assert writer.wait(writer.submit(lines("lone")), TIMEOUT)  # no earlier commit: at once
        writer.submit(lines("a"))
        writer.submit(lines("b"))
        assert not writer.wait(3, 0.2)  # within the interval: gathered, not committed yet
        writer.submit(lines("c"))  # three waiting: full, so they go now
        assert writer.wait(4, TIMEOUT)
        assert store.batches == [["lone"], ["a", "b", "c"]]
        writer.submit(lines("d"))  # within the interval again...
    finally:
        assert writer.close(TIMEOUT / 2)  # ...but closing does not wait it out
    assert store.batches[-1] == ["d"]
