"""TEMPORARY placeholder (replaced by the helper's writer at merge)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from hubbub.storage.base import HistoryStore, StorageError, StoredMessage


class HistoryWriter:
    def __init__(
        self, store: HistoryStore, on_done: Callable[[int, bool], None], max_pending: int = 100_000
    ) -> None:
        self.store = store
        self.on_done = on_done
        self._queue: list[StoredMessage] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def submit(self, rows: Sequence[StoredMessage]) -> int:
        with self._cond:
            self._queue.extend(rows)
            self._seq += len(rows)
            self._cond.notify()
            return self._seq

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue and self._closing:
                    return
                rows, self._queue = self._queue, []
                seq = self._seq
            try:
                self.store.append(rows)
                ok = True
            except StorageError:
                ok = False
            self.on_done(seq, ok)

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
