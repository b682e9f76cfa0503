"""The history writer: one thread that commits lines in groups.

The server hands lines over with :meth:`HistoryWriter.submit`, which never blocks. The thread
takes everything queued at once and stores it with one :meth:`HistoryStore.append` (one
transaction, one fsync), so the cost of a commit is shared by every line that arrived while
the previous one was on its way to disk: the busier the server, the bigger the batches.

Every submitted line gets a sequence number (a running count of lines); ``on_done(seq, ok)``
tells, from the writer thread, that every line up to ``seq`` is stored (``ok``) or lost (the
database failed: logged once per run of failures, and the thread goes on). Pure threading: the
server calls :meth:`submit` from its event loop and hops back to it in ``on_done``.

A failing database costs only what needs it. A store that cannot be reached fails slowly (a
PostgreSQL pool waits ``connect_timeout`` for a connection), and the server holds a sender's
acknowledgement until its lines are done: were every batch to wait that long, an
``echo-message`` client would freeze for as long with each message. So once an append has
failed the writer *fails fast*: it reports every batch lost at once, without handing it to
the store, and a probe thread asks the store (its ``probe``, when it has one) whether it works
again, one attempt per ``retry`` seconds; once it does, batches go to the store again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from hubbub.storage.base import StorageError, StoredMessage

__all__ = ["Appender", "HistoryWriter", "Probed"]

log = logging.getLogger("hubbub.history")


class Appender(Protocol):
    """What the writer needs of a :class:`~hubbub.storage.base.HistoryStore`: ``append``."""

    def append(self, rows: Sequence[StoredMessage]) -> None:
        """Store ``rows`` in one transaction or raise :class:`StorageError`."""


@runtime_checkable
class Probed(Protocol):
    """A store that can tell, without storing anything, whether it would take a write now
    (both of hubbub's do): the writer's probe while it fails fast."""

    def probe(self) -> None:
        """Raise :class:`StorageError` if an append would fail now (the database cannot be
        reached or locked for writing); return otherwise."""


class HistoryWriter:
    """Group commit of history lines on a thread of its own."""

    def __init__(
        self,
        store: Appender,
        on_done: Callable[[int, bool], None],
        max_pending: int = 100_000,
        *,
        interval: float = 0.0,
        full: int = 10_000,
        retry: float = 1.0,
        name: str = "hubbub-history-writer",
    ) -> None:
        """Start the thread. ``on_done(last_seq, ok)`` is called from it after each batch;
        ``max_pending`` is where :attr:`overloaded` starts (nothing is refused here: the
        server applies the backpressure).

        ``interval``: the least time (seconds) from the start of one commit to the start of
        the next, unless ``full`` lines are waiting. A commit has a fixed cost (three
        fsyncs, whatever it holds): under a steady stream, waiting a few milliseconds to
        take more lines at once divides that cost, at the price of as much latency for a
        sender waiting for its acknowledgement. Lines arriving after a quiet spell are
        committed at once.

        ``retry``: while the store fails, the seconds between two probes of it (see the
        module's docstring); batches meanwhile are lost at once rather than waiting for it."""
        self._store = store
        self._on_done = on_done
        self.max_pending = max_pending
        self.interval = interval
        self.full = full
        self._cond = threading.Condition()
        self._queue: list[Sequence[StoredMessage]] = []
        """What was submitted, as it was handed in: a submitted sequence may make its rows
        only when read (the server's are), so they are read here, on the writer's thread."""
        self._submitted = 0
        self._done = 0
        self._closing = False
        self.retry = retry
        self._failing = False
        """A run of failures is under way (logged once; ended by an append that works)."""
        self._fast = False
        """Fail fast: the store failed and the probe has not seen it work since."""
        self._streak = 0
        self._lost = 0
        self._name = name
        self._prober: threading.Thread | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the server's side -------------------------------------------------------------------

    def submit(self, rows: Sequence[StoredMessage]) -> int:
        """Queue ``rows`` without waiting; the sequence number of the last of them (of the
        last line submitted when ``rows`` is empty). Raises ``RuntimeError`` once closed."""
        with self._cond:
            if self._closing:
                raise RuntimeError("the history writer is closed")
            count = len(rows)
            if count:
                queue = self._queue
                queue.append(rows)
                self._submitted += count
                # Wake the thread only when it may be waiting for this: the first lines
                # after it took the queue, or enough to commit before its interval is over.
                # All waiters: the probe thread and callers of wait() wait on the same
                # condition, and a notify() that woke one of them instead of the writer
                # left these lines waiting for the next wake-up (a test caught it).
                if len(queue) == 1 or self._submitted - self._done >= self.full:
                    self._cond.notify_all()
            return self._submitted

    @property
    def pending(self) -> int:
        """Lines submitted and not yet committed (or lost): queued or being appended."""
        with self._cond:
            return self._submitted - self._done

    @property
    def overloaded(self) -> bool:
        """More than ``max_pending`` lines wait: time for the server to slow senders down."""
        return self.pending > self.max_pending

    @property
    def lost(self) -> int:
        """Lines the database refused since the start."""
        with self._cond:
            return self._lost

    @property
    def failing_fast(self) -> bool:
        """True while batches are reported lost without being handed to the store."""
        with self._cond:
            return self._fast

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: :meth:`submit` refuses lines."""
        with self._cond:
            return self._closing

    def wait(self, seq: int, timeout: float | None = None) -> bool:
        """Block until every line up to ``seq`` is done (stored or lost); False if
        ``timeout`` seconds passed first. For tests and shutdown, never the event loop."""
        with self._cond:
            return self._cond.wait_for(lambda: self._done >= seq, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Refuse new lines, commit those queued, and stop the thread; False if it had not
        finished within ``timeout`` seconds (it stops on its own afterwards). Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        began = -1e9
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return  # closing, and nothing left
                due = began + self.interval
                if time.monotonic() < due:  # a steady stream: take more at once
                    self._cond.wait_for(
                        lambda: self._closing or self._submitted - self._done >= self.full,
                        max(0.0, due - time.monotonic()),
                    )
                chunks, self._queue = self._queue, []
                last = self._submitted
                fast = self._fast
            if fast:  # the store is known to fail: do not make the senders wait for it
                ok, count = False, sum(map(len, chunks))
                self._streak += count
            else:
                began = time.monotonic()
                ok, count = self._append(chunks)
            with self._cond:
                self._done = last
                if not ok:
                    self._lost += count
                self._cond.notify_all()
            try:
                self._on_done(last, ok)
            except Exception:
                log.exception("the history writer's on_done failed for line %d", last)

    def _append(self, chunks: list[Sequence[StoredMessage]]) -> tuple[bool, int]:
        """Store the rows of ``chunks``: whether that worked, and how many rows there were.
        Only the writer thread gets here."""
        began = time.monotonic()
        count = sum(map(len, chunks))
        try:
            batch = [row for chunk in chunks for row in chunk]
            self._store.append(batch)
        except Exception as exc:  # StorageError, or a bug in the store: keep the thread
            if not self._failing:
                if isinstance(exc, StorageError):
                    log.error("could not store %d lines of history, they are lost: %s", count, exc)
                else:
                    log.exception("storing %d lines of history failed", count)
            self._failing = True
            self._streak += count
            self._fail_fast()
            return False, count
        if self._failing:
            log.warning("history is stored again (%d lines were lost)", self._streak)
            self._failing = False
            self._streak = 0
        log.debug("stored %d lines of history in %.1f ms", count, (time.monotonic() - began) * 1e3)
        return True, count

    # -- failing fast --------------------------------------------------------------------------

    def _fail_fast(self) -> None:
        """An append failed: lose the next batches at once, and probe the store until it
        works again (on a thread of its own, so that no sender waits for a probe)."""
        with self._cond:
            self._fast = True
            if self._prober is None:
                self._prober = threading.Thread(
                    target=self._probe, name=self._name + "-probe", daemon=True
                )
                self._prober.start()

    def _probe(self) -> None:
        """One attempt per :attr:`retry` seconds; a store without ``probe`` is taken to work
        again after one interval (the next batch is then its probe)."""
        store = self._store
        while True:
            with self._cond:
                if self._cond.wait_for(lambda: self._closing, self.retry):
                    self._prober = None
                    return
            try:
                if isinstance(store, Probed):
                    store.probe()
            except Exception as exc:  # StorageError, or a bug in the store: probe again
                log.debug("history: the store still fails: %s", exc)
                continue
            with self._cond:
                self._fast = False
                self._prober = None
            log.info("history: the store answers again; lines are stored again")
            return
