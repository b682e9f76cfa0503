"""The server's registered channels (src/hubbub/server/chanregistry.py): a channel turned into
a record and back, and writes through to the database that leave its newest state there
whatever order they finish in."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from hubbub.protocol.casemap import Folded
from hubbub.server.channel import Channel, ListEntry
from hubbub.server.chanregistry import ChannelRegistry, Registered, restore, snapshot
from hubbub.server.core import Server
from hubbub.storage import SqliteStorage
from hubbub.storage.base import ChannelRecord
from tests.server.accounthelpers import defer
from tests.server.harness import make_server

CHAT = Folded("#chat")


@pytest.fixture
def storage() -> SqliteStorage:
    storage = SqliteStorage(":memory:")
    storage.open()
    return storage


@pytest.fixture
def server() -> Server:
    return make_server()


def record(**fields: object) -> ChannelRecord:
    base = ChannelRecord("#Chat", CHAT, "alice", 1700000000.0)
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_a_channel_becomes_a_record_and_back() -> None:
    channel = Channel("#chat", CHAT, 1700000500.0)
    channel.topic, channel.topic_setter, channel.topic_time = "hello", "alice!a@h", 1700000400
    channel.flags = {"n", "t", "s", "m"}
    channel.key, channel.limit, channel.history = "sesame", 12, "public"
    channel.set_list("b", [ListEntry("*!*@bad", "alice", 1)])
    channel.set_list("e", [ListEntry("a:friend", "alice", 2)])
    channel.set_list("I", [ListEntry("a:*", "alice", 3)])
    kept = snapshot(channel, record(access=(("bob", "op"),)))
    assert kept == record(
        topic="hello",
        topic_setter="alice!a@h",
        topic_time=1700000400.0,
        modes="mnst",
        key="sesame",
        limit=12,
        bans=("*!*@bad",),
        excepts=("a:friend",),
        invexes=("a:*",),
        access=(("bob", "op"),),
        history="public",
    )
    again = Channel("#CHAT", CHAT, 1700009999.0)
    restore(again, kept, "ChanServ")
    assert (again.name, again.name_bytes, again.created) == ("#Chat", b"#Chat", 1700000000)
    assert (again.topic, again.topic_setter, again.topic_time) == ("hello", "alice!a@h", 1700000400)
    assert (again.flags, again.key, again.limit, again.history) == (
        {"m", "n", "s", "t"},
        "sesame",
        12,
        "public",
    )
    assert again.lists["b"] == (ListEntry("*!*@bad", "ChanServ", 1700000000),)
    assert snapshot(again, kept) == kept


def test_restore_takes_no_parameter_modes_and_no_unknown_history() -> None:
    channel = Channel("#chat", CHAT, 0)
    restore(channel, record(modes="ntkz", key="", limit=0, history="forever"), "ChanServ")
    assert (channel.flags, channel.key, channel.limit) == ({"n", "t"}, None, None)
    assert channel.history == "default"


def test_writes_store_the_newest_state_whatever_order_they_run_in(
    server: Server, storage: SqliteStorage
) -> None:
    jobs = defer(server)
    registry = ChannelRegistry(storage)
    answers: list[Registered] = []
    registry.register(server, record(topic="1"), answers.append)
    jobs.run()
    registry.update(server, record(topic="2"))
    registry.update(server, record(topic="3"))  # (a write is waiting: no other is asked for)
    registry.update(server, record(topic="4", name="#a", folded=Folded("#a")))  # (not ours)
    assert len(jobs.jobs) == 1
    registry.update(server, record(topic="5"))
    assert jobs.run() == 1
    assert answers == ["created"]
    assert [r.topic for r in storage.list_channels()] == ["5"]


def test_changes_of_many_channels_are_written_one_transaction_at_a_time(
    server: Server, storage: SqliteStorage
) -> None:
    """An attack audit: 120 operators churning their registered channels' topics and bans
    queued a write each, and another user's history waited 473 ms behind them. Now one
    write is under way at a time, holding every channel changed before it began."""
    jobs = defer(server)
    registry = ChannelRegistry(storage)
    names = [f"#c{i}" for i in range(5)]
    for name in names:
        registry.register(server, record(name=name, folded=Folded(name)), lambda _: None)
    jobs.run()
    transactions = 0
    write_channels = storage.write_channels

    def counted(saved: Sequence[ChannelRecord], deleted: Sequence[Folded]) -> None:
        nonlocal transactions
        transactions += 1
        write_channels(saved, deleted)

    storage.write_channels = counted  # type: ignore[method-assign]
    done: list[bool] = []
    for round_ in range(3):
        for name in names:
            registry.update(
                server, record(name=name, folded=Folded(name), topic=str(round_)), done.append
            )
    # One write, of #c0 (the first changed), not begun: it takes #c0's later changes; the
    # other channels wait for the next.
    assert len(jobs.jobs) == 1
    jobs.jobs.pop(0)()
    assert (transactions, len(jobs.jobs)) == (1, 1)
    jobs.jobs.pop(0)()
    assert (transactions, len(jobs.jobs)) == (2, 0)
    assert done == [True] * 15
    registry.update(server, record(name="#c0", folded=Folded("#c0"), topic="a"))
    first = jobs.jobs.pop(0)
    registry.update(server, record(name="#c1", folded=Folded("#c1"), topic="b"))
    assert jobs.jobs == []  # (#c1 waits for the write under way)
    first()
    assert len(jobs.jobs) == 1
    jobs.run()
    assert transactions == 4
    assert {r.name: r.topic for r in storage.list_channels()} == {
        "#c0": "a",
        "#c1": "b",
        "#c2": "2",
        "#c3": "2",
        "#c4": "2",
    }


def test_changes_while_the_registration_waits_are_created_with_it(
    server: Server, storage: SqliteStorage
) -> None:
    jobs = defer(server)
    registry = ChannelRegistry(storage)
    answers: list[Registered] = []
    registry.register(server, record(topic="1"), answers.append)
    registry.update(server, record(topic="2"))  # (no write of its own: the creation has it)
    assert len(jobs.jobs) == 1
    assert jobs.run() == 1
    assert answers == ["created"]
    assert [r.topic for r in storage.list_channels()] == ["2"]


class _Racing:
    """A store whose creation lets a test act while it runs (in the worker thread)."""

    def __init__(self, store: SqliteStorage, during: Callable[[], None]) -> None:
        self.store = store
        self.during = during

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def create_channel(self, created: ChannelRecord) -> bool:
        self.during()
        return self.store.create_channel(created)


def test_a_change_while_the_creation_runs_is_written_after_it(
    server: Server, storage: SqliteStorage
) -> None:
    jobs = defer(server)
    registry = ChannelRegistry(storage)
    registry.store = _Racing(storage, lambda: registry.update(server, record(topic="later")))
    stored: list[Folded] = []
    registry.stored = stored.append
    answers: list[Registered] = []
    registry.register(server, record(topic="first"), answers.append)
    assert jobs.run() == 2  # the creation, then the write of what changed meanwhile
    assert answers == ["created"]
    assert [r.topic for r in storage.list_channels()] == ["later"]
    assert stored == [CHAT, CHAT]


def test_a_channel_registered_elsewhere_first_is_refused_and_not_overwritten(
    server: Server, storage: SqliteStorage
) -> None:
    """Two nodes sharing a database register one channel at once: the database keeps the
    first; the later node's cache takes that one instead of its own, and later changes there
    never replace the winner's row with the loser's registration."""
    jobs = defer(server)
    registry = ChannelRegistry(storage)
    stored: list[Folded] = []
    registry.stored = stored.append
    answers: list[Registered] = []
    registry.register(server, record(founder="bob", topic="bob's"), answers.append)
    registry.update(server, record(founder="bob", topic="bob's, changed"))
    registry.refresh(server, CHAT)  # (the other node said it wrote it: read after ours)
    storage.create_channel(record(topic="alice's"))  # the other node, first
    jobs.run()
    assert answers == ["exists"]
    assert stored == []  # (nothing written here: the others are not told anything)
    kept = registry.get(CHAT)
    assert kept is not None
    assert (kept.founder, kept.topic) == ("alice", "alice's")
    assert [(r.founder, r.topic) for r in storage.list_channels()] == [("alice", "alice's")]


def test_a_drop_while_the_registration_waits_is_refused(
    server: Server, storage: SqliteStorage
) -> None:
    jobs = defer(server)
    registry = ChannelRegistry(storage)
    registry.register(server, record(), lambda outcome: None)
    dropped: list[bool] = []
    registry.drop(server, CHAT, dropped.append)
    assert dropped == [False]
    jobs.run()
    assert registry.get(CHAT) is not None
    assert len(storage.list_channels()) == 1


def test_a_drop_while_a_write_waits_leaves_nothing(server: Server, storage: SqliteStorage) -> None:
    jobs = defer(server)
    registry = ChannelRegistry(storage)
    registry.register(server, record(), lambda outcome: None)
    jobs.run()
    registry.update(server, record(topic="late"))
    dropped: list[bool] = []
    registry.drop(server, CHAT, dropped.append)
    registry.update(server, record(topic="after the drop"))  # (not registered: ignored)
    assert registry.get(CHAT) is None
    jobs.run()
    assert dropped == [True]
    assert storage.list_channels() == []


def test_a_failed_registration_is_withdrawn_and_a_failed_drop_kept(
    server: Server, storage: SqliteStorage, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ChannelRegistry(storage)
    registry.load([record()])
    storage.close()
    answers: list[Registered | bool] = []
    registry.register(server, record(name="#other", folded=Folded("#other")), answers.append)
    registry.drop(server, CHAT, answers.append)
    registry.update(server, record(topic="only in memory"))
    assert answers == ["failed", False]
    assert registry.get(Folded("#other")) is None
    kept = registry.get(CHAT)
    assert kept is not None
    assert kept.topic == "only in memory"  # (the next change writes it all again)
    assert len([r for r in caplog.records if r.name == "hubbub.chanserv"]) == 3


def test_founded_by(storage: SqliteStorage) -> None:
    registry = ChannelRegistry(storage)
    registry.load([record(), record(name="#b", folded=Folded("#b"), founder="bob")])
    assert [r.name for r in registry.founded_by("alice")] == ["#Chat"]
    assert registry.founded_by("carol") == []
