"""Joining and leaving the cluster, against a real redis-server: a bus that stops when it
is told to."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cluster.redisserver import RedisServer
from tests.cluster.test_redis_bus import Node
from tests.timeouts import TIMEOUT


async def test_the_bus_stops_though_a_redis_reply_drops_its_cancellation(
    redis: RedisServer,
) -> None:
    """Audit F4: Python 3.11's ``asyncio.wait_for``, which redis-py awaits replies with,
    drops a cancellation that comes in the same turn as the reply (CPython gh-86296): the
    bus's reader went on, and a node whose start failed never exited (``asyncio.run``
    waits for every task it cancels). Its loops stop all the same."""
    a = await Node(redis, "a").start()
    bus = a.bus
    reading = asyncio.Event()
    real = bus._reader.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real(*args, **kwargs)
        execute = pipe.execute

        async def execute_dropping_cancel() -> Any:
            reading.set()
            try:
                return await execute()
            except asyncio.CancelledError:  # (as wait_for does when the reply came too)
                return [[], []]

        pipe.execute = execute_dropping_cancel
        return pipe

    bus._reader.pipeline = pipeline
    reading.clear()
    await asyncio.wait_for(reading.wait(), TIMEOUT)
    await asyncio.wait_for(bus.stop(1.0), TIMEOUT)
    assert not bus._tasks, [t.get_coro() for t in bus._tasks]
