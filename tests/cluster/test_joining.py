"""Joining the cluster, against a real redis-server: who may join (a node_id of its own, the
network's casemapping), and a bus that stops when it is told to."""

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


def node(redis: RedisServer, name: str, casemapping: str = "rfc1459") -> Node:
    """A node whose settings say ``casemapping`` (as net/app.py gives them)."""
    made = Node(redis, name)
    made.bus.settings = {"server.casemapping": casemapping}
    return made


async def test_a_node_with_the_node_id_of_a_live_node_is_refused(redis: RedisServer) -> None:
    """Audit F4: a second node started with a live node's node_id took its nick claims and
    said hello under its name (the other nodes quit its users). It is refused now, and the
    live node keeps its lease, its claims and its users everywhere."""
    async with running(node(redis, "a"), node(redis, "b")) as (a, b):
        alice, bob = await in_room(a, b)
        twin = node(redis, "a")
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
    async with running(node(redis, "b")) as (b,):
        a = await node(redis, "a").start()
        await a.client("alice")
        a.die()
        again = node(redis, "a")
        again.link.started = a.link.started + 5  # (a later run: the tests' clocks stand still)
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with running(again):
            assert loop.time() - began < LEASE + 0.5
            await again.client("carol")
            await until(lambda: b.server.find_user("carol") is not None, "carol on b")
            assert b.server.find_user("alice") is None  # (the earlier run's users are gone)
        await a.stop()


async def test_a_node_whose_casemapping_is_not_the_networks_is_refused(
    redis: RedisServer,
) -> None:
    """Audit F6: with one node on ``ascii``, ``cm[N`` there and ``cm{N`` on an rfc1459 node
    were two users (the claims are keyed by the folded nick), invisible to each other. A
    node whose casemapping is not the network's does not join; a network stopped whole
    may start again with another."""
    async with running(node(redis, "a")) as (a,):
        odd = node(redis, "c", "ascii")
        with pytest.raises(
            ClusterRefused,
            match="server.casemapping is 'ascii' here but 'rfc1459' on the other nodes",
        ):
            await asyncio.wait_for(odd.bus.start(odd.link), TIMEOUT)
        async with redis_client(redis) as client:
            assert await client.smembers("hubbub:nodes") == {b"a"}
            assert await client.exists("hubbub:lease:c") == 0
        async with running(node(redis, "b")):  # (the network's own casemapping joins)
            pass
    async with running(node(redis, "c", "ascii")):  # (nobody left: a new network)
        late = node(redis, "a")
        with pytest.raises(ClusterRefused, match="'rfc1459' here but 'ascii'"):
            await asyncio.wait_for(late.bus.start(late.link), TIMEOUT)


async def test_two_nodes_with_other_casemappings_starting_at_once_make_one_network(
    redis: RedisServer,
) -> None:
    """The first to join sets the network's settings, in the same step as it joins: of two
    nodes that start at the same instant, one is refused."""
    for _ in range(5):
        redis.flush()
        nodes = [node(redis, "a"), node(redis, "c", "ascii")]
        results = await asyncio.gather(
            *(n.bus.start(n.link) for n in nodes), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in results) == ["ClusterRefused", "NoneType"]
        for n, result in zip(nodes, results, strict=True):
            if result is None:
                await n.stop()


async def test_the_bus_stops_though_a_redis_reply_drops_its_cancellation(
    redis: RedisServer,
) -> None:
    """Audit F4: Python 3.11's ``asyncio.wait_for``, which redis-py awaits replies with,
    drops a cancellation that comes in the same turn as the reply (CPython gh-86296): the
    bus's reader went on, and a node whose start failed never exited (``asyncio.run``
    waits for every task it cancels). Its loops stop all the same."""
    a = await node(redis, "a").start()
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
