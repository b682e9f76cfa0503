"""The host's lanes of threads: password work in one thread of its own at a lower CPU
priority, searches in another, the rest in the event loop's pool (see
:data:`hubbub.server.core.Lane`)."""

from __future__ import annotations

import asyncio
import os
import threading

from hubbub.net.app import HASH_NICE, App
from hubbub.server.core import Lane
from tests.conftest import make_config
from tests.timeouts import TIMEOUT


def where() -> tuple[str, int]:
    """The calling thread's name and nice value."""
    return threading.current_thread().name, os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id()
    )


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
        assert not storage_thread.startswith(("hubbub-hash", "hubbub-search"))
        assert storage_nice == base
        # the lowered priority stays with the hashing thread, not with the server's
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    finally:
        await app.stop("test over")
