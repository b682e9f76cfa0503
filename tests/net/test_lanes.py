"""The host's lanes of threads: password work in one thread of its own at a lower CPU
priority, searches in another, the rest of the database work in a few of its own (see
:data:`hubbub.server.core.Lane`)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

from hubbub.net.app import HASH_NICE, STORAGE_THREADS, App
from hubbub.server.core import Lane
from tests.conftest import make_config
from tests.timeouts import TIMEOUT


def where() -> tuple[str, int]:
    """The calling thread's name and nice value."""
    return threading.current_thread().name, os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id()
    )


def gated(
    name: str,
    release: threading.Event | None,
    started: list[str] | None = None,
    finished: list[str] | None = None,
) -> Callable[[], str]:
    """Work that records ``name`` in ``started``, waits for ``release`` (if any), records it
    in ``finished`` and returns it: the moments between can be looked at."""

    def work() -> str:
        if started is not None:
            started.append(name)
        if release is not None:
            release.wait(TIMEOUT)
        if finished is not None:
            finished.append(name)
        return name

    return work


async def run_in(app: App, lane: Lane) -> tuple[str, int]:
    got: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    app.offload(where, got.set_result, lane)
    return await asyncio.wait_for(got, TIMEOUT)


async def test_each_lane_has_its_threads_and_hashing_runs_at_a_lower_priority() -> None:
    app = App(make_config())
    await app.start()
    try:
        base = os.getpriority(os.PRIO_PROCESS, 0)
        hash_thread, hash_nice = await run_in(app, "hash")
        search_thread, search_nice = await run_in(app, "search")
        storage_thread, storage_nice = await run_in(app, "storage")
        assert hash_thread.startswith("hubbub-hash")
        assert hash_nice == min(base + HASH_NICE, 19)
        assert search_thread.startswith("hubbub-search")
        assert search_nice == base
        assert storage_thread.startswith("hubbub-storage")
        assert storage_nice == base
        # the lowered priority stays with the hashing thread, not with the server's
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    finally:
        await app.stop("test over")


async def test_hashing_serves_the_askers_in_turn() -> None:
    """Work of the hash lane is started one key (address block) at a time, round robin,
    and a key that has had none started lately goes first: a flood of checks from one
    address does not make another's wait behind it."""
    app = App(make_config())
    await app.start()
    try:
        order: list[str] = []
        release = threading.Event()
        finished = asyncio.Event()

        def job(name: str) -> Callable[[], str]:
            return gated(name, release)

        def done(name: str) -> None:
            order.append(name)
            if len(order) == 7:
                finished.set()

        for i in range(5):  # a flood from one block, queued first
            app.offload(job(f"flood{i}"), done, "hash", key="2001:db8::/64")
        app.offload(job("victim"), done, "hash", key="192.0.2.7")
        app.offload(job("admin"), done, "hash")
        release.set()
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        # (flood0 started at once; flood1 was queued before the others asked, but its
        # address had just been served)
        assert order == ["flood0", "victim", "admin", "flood1", "flood2", "flood3", "flood4"]
    finally:
        await app.stop("test over")


async def test_work_for_a_client_that_left_never_runs() -> None:
    """Work whose ``gone()`` is true when its turn comes (the client that asked for a
    password check hung up) is dropped unrun, and nothing is called for it; the work
    queued behind it goes on."""
    app = App(make_config())
    await app.start()
    try:
        started: list[str] = []
        answers: list[str] = []
        release = threading.Event()
        finished = asyncio.Event()
        left = {"attacker0", "attacker1"}

        def done(name: str) -> None:
            answers.append(name)
            if name == "victim":
                finished.set()

        app.offload(gated("first", release, started), done, "hash", key="198.51.100.1")
        for i in range(2):
            name = f"attacker{i}"
            app.offload(
                gated(name, None, started),
                done,
                "hash",
                key="2001:db8::/64",
                gone=lambda name=name: name in left,  # type: ignore[misc]
            )
        app.offload(gated("victim", None, started), done, "hash", key="192.0.2.7")
        release.set()
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        assert started == ["first", "victim"]
        assert answers == ["first", "victim"]
    finally:
        await app.stop("test over")


async def test_searches_take_turns_and_what_waits_too_long_never_runs() -> None:
    """The search lane serves the keys in turn too; work given ``within`` that has not
    started by then leaves the queue unrun, and ``late`` is called instead of ``done``."""
    app = App(make_config())
    await app.start()
    try:
        order: list[str] = []
        release = threading.Event()
        finished = asyncio.Event()

        def job(name: str) -> Callable[[], str]:
            return gated(name, release if name == "flood0" else None, started=order)

        answers: list[str] = []

        def done(name: str) -> None:
            answers.append(name)
            if len(answers) == 6:
                finished.set()

        for i in range(3):
            app.offload(job(f"flood{i}"), done, "search", key="2001:db8::/64")
        app.offload(job("victim"), done, "search", key="192.0.2.7")
        app.offload(job("hasty"), done, "search", "198.51.100.1", 0.05, lambda: done("hasty late"))
        app.offload(job("patient"), done, "search", "203.0.113.9", TIMEOUT, lambda: done("no"))
        await asyncio.sleep(0.2)
        assert answers == ["hasty late"]  # (at its time, while flood0 still ran)
        release.set()
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        assert order == ["flood0", "victim", "patient", "flood1", "flood2"]
        assert answers == ["hasty late", "flood0", "victim", "patient", "flood1", "flood2"]
    finally:
        await app.stop("test over")


async def test_storage_work_takes_turns_and_what_is_queued_at_shutdown_still_runs() -> None:
    """A flood of database work from one address (REDACT, MARKREAD) delays another's
    history read by one piece of work per flooding address, not by all of it; and what the
    caches queued for writing when the server stops is written, not dropped."""
    app = App(make_config())
    await app.start()
    order: list[str] = []
    release = threading.Event()

    def job(name: str) -> Callable[[], str]:
        return gated(name, release, finished=order)

    for i in range(STORAGE_THREADS + 3):
        app.offload(job(f"flood{i}"), lambda _: None, "storage", key="2001:db8::/64")
    app.offload(job("victim"), lambda _: None, "storage", key="192.0.2.7")
    app.offload(job("write"), lambda _: None, "storage")
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(app.stop("test over"))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(stopping, TIMEOUT)
    assert sorted(order) == sorted(
        [f"flood{i}" for i in range(STORAGE_THREADS + 3)] + ["victim", "write"]
    )


async def test_storage_work_of_another_address_goes_before_a_flood() -> None:
    app = App(make_config())
    await app.start()
    try:
        started: list[str] = []
        release = threading.Event()
        finished = asyncio.Event()

        def job(name: str) -> Callable[[], str]:
            return gated(name, release, started=started)

        answers: list[str] = []

        def done(name: str) -> None:
            answers.append(name)
            if name == "victim":
                finished.set()

        for i in range(STORAGE_THREADS * 3):
            app.offload(job(f"flood{i}"), done, "storage", key="2001:db8::/64")
        app.offload(job("victim"), done, "storage", key="192.0.2.7")
        await asyncio.sleep(0.05)
        assert len(started) == STORAGE_THREADS  # (the threads are busy with the flood)
        release.set()
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        # then the victim's (its address has had no turn lately), before the rest of the
        # flood
        assert started.index("victim") == STORAGE_THREADS
    finally:
        await app.stop("test over")
