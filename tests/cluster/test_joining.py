"""Joining the cluster, against a real redis-server: who may join (a node_id of its own),
and a bus that stops when it is told to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis

from hubbub.cluster.redis_bus import ClusterRefused
from tests.cluster.redisserver import RedisServer
from tests.cluster.test_redis_bus import LEASE, Node, in_room, received, running, until
from tests.timeouts import TIMEOUT


@asynccontextmanager
async def redis_client(redis: RedisServer) -> AsyncIterator[Any]:
    """A client of the test's Redis, to look at what the nodes left there."""
    client = aioredis.from_url(redis.url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_node_with_the_node_id_of_a_live_node_is_refused(redis: RedisServer) -> None:
    """Audit F4: a second node started with a live node's node_id took its nick claims and
    said hello under its name (the other nodes quit its users). It is refused now, and the
    live node keeps its lease, its claims and its users everywhere."""
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        alice, bob = await in_room(a, b)
        twin = Node(redis, "a")
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(ClusterRefused, match="cluster.node_id 'a' is taken"):
            await asyncio.wait_for(twin.bus.start(twin.link), TIMEOUT)
        assert loop.time() - began < LEASE + 0.5  # (seen renewing within a third of it)
        await asyncio.sleep(LEASE * 1.5)  # (b would have taken a for gone by now)
        assert b.server.find_user("alice") is not None
        async with redis_client(redis) as client:
            assert await client.hget("hubbub:nicks", "alice") == b"a"
            assert await client.exists("hubbub:lease:a") == 1
        bob.send("PRIVMSG alice :still there?")
        await received(alice, "still there?")


async def test_a_node_killed_and_started_again_takes_its_lease_once_it_runs_out(
    redis: RedisServer,
) -> None:
    """A lease nobody renews is an earlier run of the node that did not stop cleanly: the
    new run waits for it to run out (at most the lease), then joins."""
    async with running(Node(redis, "b")) as (b,):
        a = await Node(redis, "a").start()
        await a.client("alice")
        a.die()
        again = Node(redis, "a")
        again.link.started = a.link.started + 5  # (a later run: the tests' clocks stand still)
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with running(again):
            assert loop.time() - began < LEASE + 0.5
            await again.client("carol")
            await until(lambda: b.server.find_user("carol") is not None, "carol on b")
            assert b.server.find_user("alice") is None  # (the earlier run's users are gone)
        await a.stop()


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
