"""SEARCH under a flood of searches, over real sockets: the search thread serves the
addresses in turn, a search that cannot start before its deadline (``[history]
search_timeout`` from when it was asked) is answered ``FAIL SEARCH INTERNAL_ERROR timeout``
without running, and an address may have only so many searches waiting (docs/security.md).

The store's search is replaced by a double that holds the flood's searches until the test
lets them go, so that the queue is as long as the test wants."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hubbub.net.app import App
from hubbub.server.commands.history import SEARCHES_PER_ADDRESS
from hubbub.storage.base import StoredMessage
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.timeouts import TIMEOUT

CAPS = "batch message-tags server-time soju.im/search"
FLOOD, VICTIM = "127.0.0.1", "127.0.0.2"


class SlowSearches:
    """The store's ``search``, recording each query's text as it starts; a search for
    ``slow`` waits for :attr:`gate`."""

    def __init__(self, search: Callable[..., list[StoredMessage]]) -> None:
        self.search = search
        self.started: list[str] = []
        self.gate = threading.Event()
        self.running = threading.Event()
        """Set when a slow search has started."""

    def __call__(self, keys: Any, **kw: Any) -> list[StoredMessage]:
        self.started.append(kw["text"])
        if kw["text"] == "slow":
            self.running.set()
            self.gate.wait(TIMEOUT)
        return self.search(keys, **kw)


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., Any]]:
    """Start a server with the given ``[history]`` settings and the double in its store."""
    apps: list[tuple[App, SlowSearches]] = []

    async def started(**history: Any) -> tuple[App, SlowSearches]:
        config = make_config(exempt_loopback=False)  # (loopback: one address like any)
        config = dataclasses.replace(config, history=dataclasses.replace(config.history, **history))
        app = App(config)
        await app.start()
        assert app.server.history is not None
        store = app.server.history.store
        double = SlowSearches(store.search)
        store.search = double  # type: ignore[method-assign]
        apps.append((app, double))
        return app, double

    try:
        yield started
    finally:
        for app, double in apps:
            double.gate.set()
            await app.stop("test over")


async def client(app: App, nick: str, source: str) -> IRCTestClient:
    c = await IRCTestClient.connect(*app.address(), source=source)
    await c.register(nick, CAPS)
    return c


async def answer(c: IRCTestClient) -> str:
    """What the server answered the search sent last: ``batch`` or the FAIL's code and
    context (``INTERNAL_ERROR timeout``)."""
    reply = await c.expect(lambda m: m.command in ("FAIL", "BATCH"))
    if reply.command == "BATCH":
        await c.expect(lambda m: m.command == "BATCH" and m.params[0][0] == "-")
        return "batch"
    return " ".join(reply.params[1:3])


async def queued(app: App, address: str, count: int) -> None:
    """Wait until ``address`` has ``count`` searches waiting or running."""
    assert app.server.history is not None
    searching = app.server.history.searching
    async with asyncio.timeout(TIMEOUT):
        while searching.get(address, 0) != count:  # noqa: ASYNC110 (no event to wait for)
            await asyncio.sleep(0.01)


async def flood(app: App, count: int, double: SlowSearches) -> list[IRCTestClient]:
    """``count`` clients of one address, each with a slow search waiting (the first
    running)."""
    clients = [await client(app, f"flood{i}", FLOOD) for i in range(count)]
    for c in clients:
        await c.send("SEARCH text=slow")
    await queued(app, FLOOD, count)
    await asyncio.to_thread(double.running.wait, TIMEOUT)
    return clients


async def test_another_address_is_served_before_a_flood_of_searches(
    start: Callable[..., Any],
) -> None:
    app, double = await start(search_timeout=TIMEOUT)
    flooders = await flood(app, 4, double)  # one running, three waiting
    victim = await client(app, "victim", VICTIM)
    await victim.send("SEARCH text=quick")
    await queued(app, VICTIM, 1)
    double.gate.set()
    assert await answer(victim) == "batch"
    for c in flooders:
        assert await answer(c) == "batch"
    # The flood's address had its turn lately (its first search): the victim's, which
    # had none, goes before the flood's backlog.
    assert double.started == ["slow", "quick", "slow", "slow", "slow"]


async def test_a_search_that_cannot_start_before_its_deadline_fails_unrun(
    start: Callable[..., Any],
) -> None:
    app, double = await start(search_timeout=0.3)
    flooders = await flood(app, 1, double)
    victim = await client(app, "victim", VICTIM)
    asked = time.monotonic()
    await victim.send("SEARCH text=quick")
    assert await answer(victim) == "INTERNAL_ERROR timeout"
    waited = time.monotonic() - asked
    assert 0.3 <= waited < TIMEOUT / 2  # (answered at its deadline, not after the flood's)
    double.gate.set()
    assert await answer(flooders[0]) == "batch"
    await victim.send("SEARCH text=quick")
    assert await answer(victim) == "batch"  # (asked again once the thread is free)
    assert double.started == ["slow", "quick"]  # the first quick one never ran
    assert app.server.history is not None
    assert app.server.history.searching == {}


async def test_an_address_has_only_so_many_searches_waiting(start: Callable[..., Any]) -> None:
    app, double = await start(search_timeout=TIMEOUT)
    flooders = await flood(app, SEARCHES_PER_ADDRESS, double)
    more = await client(app, "more", FLOOD)
    await more.send("SEARCH text=slow")
    assert await answer(more) == "INTERNAL_ERROR busy"
    victim = await client(app, "victim", VICTIM)  # (another address is not refused)
    await victim.send("SEARCH text=quick")
    await queued(app, VICTIM, 1)
    double.gate.set()
    assert await answer(victim) == "batch"
    for c in flooders:
        assert await answer(c) == "batch"
    assert double.started.count("slow") == SEARCHES_PER_ADDRESS
    assert app.server.history is not None
    assert app.server.history.searching == {}
