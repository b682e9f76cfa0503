"""A sans-I/O server with history (SQLite in memory) and a writer the test commits by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from hubbub.config import HistorySection
from hubbub.server.core import Server
from hubbub.server.history import History, attach
from hubbub.storage import SqliteStorage
from hubbub.storage.base import StoredMessage
from tests.server.harness import Client, FakeClock, make_server


class ManualRecorder:
    """Stores each batch at once but reports it committed only on :meth:`commit`, so the
    moment between a message and its commit (when its sender is held) is observable."""

    def __init__(self, history_store: Any) -> None:
        self.store = history_store
        self.seq = 0
        self.history: History | None = None
        self.batches: list[int] = []

    def submit(self, rows: Sequence[StoredMessage]) -> int:
        self.store.append(list(rows))
        self.seq += len(rows)
        self.batches.append(len(rows))
        return self.seq

    @property
    def pending(self) -> int:
        assert self.history is not None
        return self.seq - self.history.committed_seq

    def commit(self) -> None:
        assert self.history is not None
        self.history.committed(self.seq, True)


def make_store() -> Any:
    """The history store the core tests use: SQLite in memory (the list-based one until
    the SQLite store exists)."""
    if hasattr(SqliteStorage, "history"):
        storage = SqliteStorage(":memory:")
        storage.open()
        return storage.history()
    from tests.storage.memory_history import MemoryHistory

    return MemoryHistory()


def server_with_history(
    clock: FakeClock | None = None, *, auto_commit: bool = True, **history: Any
) -> tuple[Server, ManualRecorder]:
    """A harness server keeping history in an in-memory database; ``history`` overrides
    ``[history]`` keys. With ``auto_commit`` every batch is reported committed at once."""
    server = make_server(clock)
    if history:
        config = dataclasses.replace(
            server.config, history=dataclasses.replace(HistorySection(), **history)
        )
        server.apply_config(config)
    store = make_store()
    recorder: ManualRecorder = AutoRecorder(store) if auto_commit else ManualRecorder(store)
    recorder.history = attach(server, store, recorder)
    return server, recorder


class AutoRecorder(ManualRecorder):
    """Reports each batch committed as soon as it is stored."""

    def submit(self, rows: Sequence[StoredMessage]) -> int:
        seq = super().submit(rows)
        assert self.history is not None
        self.history.committed(seq, True)
        return seq


def joined(server: Server, nick: str, *channels: str, caps: str = "") -> Client:
    """A registered client in ``channels``, its output so far read."""
    client = Client(server).register(nick, caps)
    for channel in channels:
        client.send(f"JOIN {channel}")
    client.lines()
    return client
