"""The Redis bus against a real redis-server: two cores (sans-I/O servers driven line by
line) linked through Redis streams, nick claims, leases and a Redis restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol, Self, TypeVar

import pytest
from redis.exceptions import RedisError

from hubbub.cluster.redis_bus import KEPT_VERSION_SECONDS, RedisBus, RedisUnavailable, _id
from hubbub.server.core import Server
from tests.cluster.redisserver import RedisServer, free_port
from tests.server.harness import Client, make_server
from tests.server.test_multiline import send_batch
from tests.timeouts import TIMEOUT

LEASE = 1.0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most the test timeout) until ``condition`` holds: what the bus does happens
    on the event loop, in its own tasks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Node:
    def __init__(
        self, redis: RedisServer, name: str, lease: float = LEASE, stream_maxlen: int = 100_000
    ) -> None:
        self.server: Server = make_server()
        self.bus = RedisBus(redis.url, name, lease=lease, stream_maxlen=stream_maxlen)
        self.link = self.server.join_cluster(self.bus, name)
        self.dead = False

    async def start(self) -> Node:
        await self.bus.start(self.link)
        return self

    async def client(self, nick: str, caps: str = "") -> Client:
        return await registered(self.server, nick, caps)

    def die(self) -> None:
        """The node dies without a word: its tasks stop, its lease is left to run out (and
        ``stop`` only closes its connections)."""
        self.dead = True
        _freeze(self)

    async def stop(self) -> None:
        await (self.bus.close() if self.dead else self.bus.stop(1.0))


class Stoppable(Protocol):
    """What ``running`` starts and stops: a node of the cluster in a test."""

    async def start(self) -> Self: ...

    async def stop(self) -> None: ...


N = TypeVar("N", bound=Stoppable)


@asynccontextmanager
async def running(*nodes: N) -> AsyncIterator[tuple[N, ...]]:
    """Start ``nodes`` in their order; stop every one started when the block ends, even on a
    failure (a node left running would go on talking to Redis in the next test)."""
    started: list[N] = []
    try:
        for node in nodes:
            started.append(await node.start())
        yield tuple(started)
    finally:
        for node in started:
            await node.stop()


async def registered(server: Server, nick: str, caps: str = "") -> Client:
    """A new client of ``server``, registered as ``nick`` (with ``caps`` asked first)."""
    client = Client(server)
    if caps:
        client.send("CAP LS 302", f"CAP REQ :{caps}")
    client.send(f"NICK {nick}", "USER u 0 * :Real", *(["CAP END"] if caps else []))
    seen: list[str] = []
    await until(lambda: any(" 001 " in line for line in _more(client, seen)), f"{nick} 001")
    return client


def _more(client: Client, seen: list[str]) -> list[str]:
    seen.extend(client.lines())
    return seen


async def received(client: Client, want: str) -> list[str]:
    """The lines ``client`` received until one contains ``want``."""
    seen: list[str] = []
    await until(lambda: any(want in line for line in _more(client, seen)), repr(want))
    return seen


async def in_room(a: Node, b: Node) -> tuple[Client, Client]:
    """alice on ``a`` and bob on ``b``, both in #room (alice has seen bob join)."""
    alice = await a.client("alice")
    bob = await b.client("bob")
    alice.send("JOIN #room")
    await until(lambda: b.server.find_channel("#room") is not None, "#room on b")
    bob.send("JOIN #room")
    await received(alice, ":bob!~u@")
    return alice, bob


@pytest.fixture
async def nodes(redis: RedisServer) -> AsyncIterator[tuple[Node, Node]]:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        yield a, b


async def test_a_channel_message_crosses_once_per_node(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    alice, bob = await in_room(a, b)
    before = a.bus.written
    alice.send("PRIVMSG #room :hello")
    got = await received(bob, "PRIVMSG #room :hello")
    assert got[-1].startswith(":alice!")
    assert a.bus.written == before + 1


async def test_a_private_message_crosses(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    alice = await a.client("alice")
    bob = await b.client("bob")
    await until(lambda: a.server.network.find_user("bob") is not None, "bob seen on a")
    alice.send("PRIVMSG bob :psst")
    assert (await received(bob, "PRIVMSG bob"))[-1].endswith("PRIVMSG bob :psst")


async def test_one_nick_asked_on_two_nodes_at_once_goes_to_one(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    for round_ in range(20):
        nick = f"race{round_}"
        one, two = Client(a.server), Client(b.server)
        one.send(f"NICK {nick}", "USER u 0 * :R")
        two.send(f"NICK {nick}", "USER u 0 * :R")
        seen: tuple[list[str], list[str]] = ([], [])

        def answered(
            pair: tuple[Client, Client] = (one, two), lines: tuple[list[str], ...] = seen
        ) -> bool:
            return all(
                any(" 001 " in x or " 433 " in x for x in _more(client, got))
                for client, got in zip(pair, lines, strict=True)
            )

        await until(answered, "answers")
        welcomed = [any(" 001 " in x for x in lines) for lines in seen]
        assert sorted(welcomed) == [False, True], seen


async def test_a_dead_node_s_users_quit_within_the_lease(redis: RedisServer) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        alice, bob = await in_room(a, b)
        b.die()  # its tasks stop, its lease is left to run out
        loop = asyncio.get_running_loop()
        start = loop.time()
        await received(alice, "QUIT")
        assert loop.time() - start < LEASE * 2 + 0.5
        assert a.server.network.find_user("bob") is None
        await a.client("bob")  # its nick was given back


async def test_nothing_written_is_lost_when_redis_restarts(own_redis: RedisServer) -> None:
    async with running(Node(own_redis, "a", lease=5.0), Node(own_redis, "b", lease=5.0)) as (a, b):
        alice, bob = await in_room(a, b)
        seen: list[str] = []
        loop = asyncio.get_running_loop()
        restarted: asyncio.Future[None] | None = None
        for i in range(100):
            alice.send(f"PRIVMSG #room :m{i}")
            if i == 10:  # Redis goes away for a second while alice goes on talking
                restarted = loop.run_in_executor(None, own_redis.restart, 1.0)
            await asyncio.sleep(0.02)
        assert restarted is not None
        await restarted
        await until(lambda: any(":m99" in x for x in _more(bob, seen)), "m99")
        texts = [x.rsplit(":", 1)[1] for x in seen if "PRIVMSG #room" in x]
        assert texts == [f"m{i}" for i in range(100)]
        assert a.bus.outages >= 1  # (the restart was seen: the messages waited it out)
        assert a.server.network.find_user("bob") is not None  # nobody was taken for gone


async def test_an_unreachable_redis_is_a_clear_error() -> None:
    server = make_server()
    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0", "a")
    link = server.join_cluster(bus, "a")
    with pytest.raises(RedisUnavailable, match="cannot use Redis"):
        await bus.start(link)


async def test_a_sender_is_told_when_its_message_could_not_be_kept(
    own_redis: RedisServer,
) -> None:
    async with running(Node(own_redis, "a", lease=5.0), Node(own_redis, "b", lease=5.0)) as (a, b):
        a.bus.outbox_limit = 3
        alice, bob = await in_room(a, b)
        await asyncio.get_running_loop().run_in_executor(None, own_redis.stop)
        for i in range(5):
            alice.send(f"PRIVMSG #room :m{i}")
        told = await received(alice, "could not reach")
        assert any("NOTICE alice" in line and "(to #room)" in line for line in told)
        await asyncio.get_running_loop().run_in_executor(None, own_redis.start)
        seen = await received(bob, ":m2")  # the three it kept arrive, in order
        assert [x.rsplit(":", 1)[1] for x in seen if "PRIVMSG" in x] == ["m0", "m1", "m2"]


async def test_a_node_taken_for_gone_comes_back_with_what_it_said_meanwhile(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        alice, bob = await in_room(a, b)
        # a freezes (its tasks stop: no lease, no writes) while alice goes on talking
        _freeze(a)
        alice.send("PRIVMSG #room :said while frozen")
        await received(bob, "QUIT")  # b took a for gone
        assert b.server.network.find_user("alice") is None
        # a thaws: it finds its lease gone, tells its state again, then what waited
        _thaw(a)
        seen = await received(bob, "said while frozen")
        assert any(" JOIN #room" in line and line.startswith(":alice!") for line in seen)
        assert b.server.network.find_user("alice") is not None


async def test_a_nick_taken_while_a_node_was_cut_off_stays_with_its_new_holder(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        alice = await a.client("alice")
        await until(lambda: b.server.network.find_user("alice") is not None, "alice on b")
        _freeze(a)  # a freezes
        await until(lambda: b.server.network.find_user("alice") is None, "alice gone from b")
        other = await b.client("alice")  # the nick is free again: b gives it out
        a.bus._spawn(a.bus._write())  # a thaws
        a.bus._spawn(a.bus._read())
        a.bus._spawn(a.bus._keep_lease())
        seen = await received(alice, "you are now Guest")
        assert any(" NICK Guest" in line for line in seen)
        # (the holder named as text, not as the bytes Redis answered: audit F6)
        assert "cluster: alice was taken by node b meanwhile" in caplog.messages
        guest = a.server.network.users[a.server.fold(alice.session.user.nick)]
        assert guest.nick.startswith("Guest")
        await until(
            lambda: b.server.network.find_user(guest.nick) is not None, "the guest seen on b"
        )
        await until(lambda: a.server.network.find_user("alice") is not None, "b's alice seen on a")
        theirs = a.server.network.find_user("alice")
        assert theirs is not None
        assert theirs.session is None  # (b's user, seen on a)
        assert other.session.user.nick == "alice"


async def test_a_record_that_cannot_be_applied_does_not_stop_the_reader(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    alice = await a.client("alice")
    bob = await b.client("bob")
    await until(lambda: a.server.network.find_user("bob") is not None, "bob seen on a")
    # A record no node could apply (its kind is not even a name) reaches b first.
    odd = {"n": "z", "k": ["user"], "t": 0.0, "s": 1}
    await a.bus._client.xadd(a.bus.stream, {"r": json.dumps(odd)})
    alice.send("PRIVMSG bob :still there?")
    assert (await received(bob, "PRIVMSG bob"))[-1].endswith(":still there?")


def _stop_renewing(node: Node) -> None:
    """Stop ``node``'s lease task (the test renews the lease itself, when it chooses)."""
    for task in list(node.bus._tasks):
        if task.get_coro().__name__ == "_keep_lease":  # type: ignore[union-attr]
            task.cancel()


async def _taken_for_gone(a: Node, b: Node) -> None:
    """b takes a for gone (a's lease ran out): a's users quit on b."""
    await a.bus._client.delete(a.bus.lease_key("a"))
    b.link.node_gone("a")
    assert b.server.network.find_user("alice") is None


async def test_a_burst_told_while_a_write_is_under_way_is_not_lost(redis: RedisServer) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        _stop_renewing(a)
        await a.client("alice")
        await until(lambda: b.server.network.find_user("alice") is not None, "alice on b")
        # a's next write to Redis stays under way until the gate opens
        gate, under_way = asyncio.Event(), asyncio.Event()
        pipeline = a.bus._client.pipeline

        def slow_pipeline(*args: object, **kwargs: object) -> object:
            pipe = pipeline(*args, **kwargs)
            execute = pipe.execute

            async def held(*args: object, **kwargs: object) -> object:
                under_way.set()
                await gate.wait()
                return await execute(*args, **kwargs)

            pipe.execute = held
            return pipe

        a.bus._client.pipeline = slow_pipeline
        a.server.network.set_away(a.server.network.users[a.server.fold("alice")], "out")
        await asyncio.wait_for(under_way.wait(), TIMEOUT)
        await _taken_for_gone(a, b)
        await a.bus._rejoin()  # (what the lease task does: a finds its lease gone, bursts)
        gate.set()
        await until(lambda: b.server.network.find_user("alice") is not None, "alice back on b")


async def test_a_burst_owed_is_told_even_if_redis_fails_on_the_way(redis: RedisServer) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        _stop_renewing(a)
        await a.client("alice")
        await until(lambda: b.server.network.find_user("alice") is not None, "alice on b")
        await _taken_for_gone(a, b)
        hsetnx = a.bus._client.hsetnx
        failed: list[bool] = []

        async def flaky(*args: object) -> object:  # (Redis goes away right after the lease)
            if not failed:
                failed.append(True)
                raise RedisError("connection lost")
            return await hsetnx(*args)

        a.bus._client.hsetnx = flaky
        with pytest.raises(RedisError):
            await a.bus._rejoin()
        await a.bus._rejoin()  # the lease is there now, but the burst is still owed
        await until(lambda: b.server.network.find_user("alice") is not None, "alice back on b")


async def _claimed(node: Node, nick: str) -> bytes | None:
    holder: bytes | None = await node.bus._client.hget(node.bus.nicks, nick)
    return holder


async def test_a_dead_node_s_claims_are_freed_even_if_nobody_knew_its_users(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        Client(b.server).send("NICK ghost")  # a connection that never registers
        await until(lambda: b.link.holds("ghost"), "ghost claimed on b")
        b.die()
        loop = asyncio.get_running_loop()
        start, deadline = loop.time(), loop.time() + TIMEOUT
        while await _claimed(a, "ghost") is not None:
            assert loop.time() < deadline, "b's claim on ghost was never freed"
            await asyncio.sleep(0.05)
        assert loop.time() - start < LEASE * 2 + 0.5
        await a.client("ghost")


async def test_a_node_that_comes_back_as_it_is_taken_for_gone_keeps_its_nicks(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        await b.client("bob")
        await until(lambda: a.server.network.find_user("bob") is not None, "bob on a")
        _stop_renewing(b)
        await b.bus._client.delete(b.bus.lease_key("b"))  # b was away longer than its lease
        # b comes back at the worst moment: right after a looked at b's lease
        came_back: list[bool] = []
        client = a.bus._client

        def hooked(name: str) -> Callable[..., object]:
            real = getattr(client, name)

            async def call(*args: object) -> object:
                result = await real(*args)
                if not came_back and b.bus.lease_key("b") in args:
                    came_back.append(False)
                    await b.bus._rejoin()
                    came_back[0] = True  # (only now: the test looks once b is back)
                return result

            return call

        for name in ("exists", "eval"):
            setattr(client, name, hooked(name))
        await until(lambda: came_back == [True], "a looking at b's lease")

        async def renew() -> None:  # b is alive again: it keeps its lease from now on
            while True:
                await asyncio.sleep(LEASE / 4)
                await b.bus._rejoin()

        renewing = asyncio.ensure_future(renew())
        try:
            await until(lambda: a.server.network.find_user("bob") is not None, "bob back on a")
            assert await _claimed(a, "bob") == b"b"  # b's user still holds its nick
        finally:
            renewing.cancel()


async def test_a_full_outbox_drops_messages_but_never_a_change_of_the_network(
    own_redis: RedisServer,
) -> None:
    async with running(Node(own_redis, "a", lease=5.0), Node(own_redis, "b", lease=5.0)) as (a, b):
        a.bus.outbox_limit = 3
        alice = await a.client("alice", "batch draft/multiline")
        bob = await b.client("bob")
        alice.send("JOIN #room", "JOIN #other")
        await until(lambda: b.server.find_channel("#other") is not None, "#other on b")
        bob.send("JOIN #room")
        await received(alice, ":bob!~u@")
        await asyncio.get_running_loop().run_in_executor(None, own_redis.stop)
        for i in range(5):
            alice.send(f"PRIVMSG #room :m{i}")
        send_batch(alice, "#room", "one", "two")  # a multiline message: told too
        alice.send("PART #other :bye", "AWAY :gone")
        told = await received(alice, "could not reach")
        await asyncio.get_running_loop().run_in_executor(None, own_redis.start)
        theirs = b.server.network.find_user("alice")
        assert theirs is not None
        await until(lambda: theirs.away == "gone", "alice away on b")  # (after the rest)
        seen = bob.lines()
        assert [x.rsplit(":", 1)[1] for x in seen if "PRIVMSG" in x] == ["m0", "m1", "m2"]
        told += alice.lines()
        assert sum("could not reach" in line for line in told) == 3, "\n".join(told)
        other = b.server.find_channel("#other")
        assert other is None or not other.members  # alice's PART was not dropped


def _stop_reading(node: Node) -> None:
    """Stop ``node``'s reader (it falls behind the stream; its writes and lease go on)."""
    for task in list(node.bus._tasks):
        if task.get_coro().__name__ == "_read":  # type: ignore[union-attr]
            task.cancel()


async def test_a_node_that_fell_behind_the_trimmed_stream_reads_the_network_again(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b", stream_maxlen=50)) as (a, b):
        bob = await b.client("bob")
        bob.send("JOIN #room")
        await until(lambda: a.server.find_channel("#room") is not None, "#room on a")
        alice, dave = await a.client("alice"), await a.client("dave")
        carol = await b.client("carol")
        for user in (alice, dave, carol):
            user.send("JOIN #room")
        room, theirs = a.server.find_channel("#room"), b.server.find_channel("#room")
        assert room is not None
        assert theirs is not None
        await until(lambda: len(theirs.members) == 4, "all on b")
        bob.send("MODE #room +o alice")
        await until(lambda: "alice" in [u.nick for u, m in room.members.items() if "o" in m], "+o")
        await until(lambda: len(room.members) == 4, "all on a")
        alice.lines()
        dave.lines()
        _stop_reading(a)
        # What a misses: a quit, a topic, a deop and a kick, then far more than the stream keeps
        carol.send("QUIT :bye")
        for line in ("TOPIC #room :while a was away", "MODE #room -o alice", "KICK #room dave"):
            bob.send(line)  # (each waits for Redis to admit it)
            await received(bob, line.split()[0] + " #room")
        for i in range(300):
            bob.send(f"PRIVMSG #room :filler {i}")
        await until(lambda: not b.bus._outbox, "b's records written")
        first = await a.bus._client.xrange(a.bus.stream, count=1)
        assert _id(first[0][0]) > _id(a.bus.last_id)  # (a's next entry was trimmed away)
        a.bus._spawn(a.bus._read())
        await until(lambda: a.server.network.find_user("carol") is None, "carol gone on a")
        await until(lambda: room.topic == "while a was away", "the topic on a")
        await until(lambda: a.server.network.find_user("bob") in room.members, "bob back on a")
        assert room.members[a.server.network.users[a.server.fold("bob")]] == "o"
        assert dave.session.user not in room.members
        assert "o" not in room.members[alice.session.user]
        told = alice.lines()
        assert any("NOTICE alice" in line and "missed" in line for line in told), told
        assert any(" KICK #room dave" in line for line in dave.lines())


async def test_a_connection_that_leaves_before_registering_gives_its_nick_back(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    half = Client(b.server)
    half.send("NICK early")  # claimed; the client leaves before USER
    await until(lambda: b.link.holds("early"), "early claimed on b")
    b.server.quit(half.session, "Connection reset by peer")
    hasty = Client(b.server)
    hasty.send("NICK hasty")  # the client leaves while Redis is still deciding
    b.server.quit(hasty.session, "Connection reset by peer")
    # (once the claim is answered, only the reader, the writer and the lease task are left)
    await until(lambda: len(b.bus._tasks) == 3, "hasty's claim answered")
    await until(lambda: not b.bus._outbox and not b.link.held, "b's claims given back")
    assert await _claimed(a, "early") is None
    assert await _claimed(a, "hasty") is None
    await a.client("early")
    await a.client("hasty")


def _freeze(node: Node) -> None:
    """``node``'s bus stops: its tasks are cancelled (no lease, no reads, no writes), as for
    a node frozen, cut off from Redis or dead; :func:`_thaw` starts them again."""
    for task in list(node.bus._tasks):
        task.cancel()


def _thaw(node: Node) -> None:
    """``node``'s bus goes on (after its tasks were cancelled: a node frozen or cut off)."""
    node.bus._spawn(node.bus._write())
    node.bus._spawn(node.bus._read())
    node.bus._spawn(node.bus._keep_lease())
    node.bus._wake.set()


async def test_a_node_taken_for_gone_claims_its_channels_again(redis: RedisServer) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        alice = await a.client("alice")
        alice.send("JOIN #solo")
        await until(lambda: b.server.find_channel("#solo") is not None, "#solo on b")
        token = a.link.tokens[a.server.fold("#solo")]
        _freeze(a)  # a freezes
        await until(lambda: b.server.find_channel("#solo") is None, "#solo gone from b")
        await until(lambda: not b.bus._outbox, "b gave #solo's claim back")
        assert await a.bus._client.hget(a.bus.channels, "#solo") is None
        _thaw(a)
        await until(lambda: b.server.find_channel("#solo") is not None, "#solo back on b")
        # the channel lives again, under its claim: no other node may make it anew
        assert await a.bus._client.hget(a.bus.channels, "#solo") == token.encode()


async def test_a_channel_made_anew_while_its_node_was_cut_off_is_one_channel_after(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        alice = await a.client("alice")
        bob = await b.client("bob")
        alice.send("JOIN #solo")
        await until(lambda: b.server.find_channel("#solo") is not None, "#solo on b")
        _freeze(a)  # a freezes
        await until(lambda: b.server.find_channel("#solo") is None, "#solo gone from b")
        bob.send("JOIN #solo")  # made anew on b, bob its operator
        await received(bob, " JOIN #solo")
        folded = b.server.fold("#solo")
        _thaw(a)
        await until(lambda: a.link.tokens.get(folded) == b.link.tokens[folded], "one claim")

        def both_in(server: Server) -> bool:
            solo = server.find_channel("#solo")
            return solo is not None and len(solo.members) == 2

        await until(lambda: both_in(a.server) and both_in(b.server), "both in #solo on both")


def _told(node: Node) -> bool:
    """Whether ``node`` knows #room with the topic and ban alice gave it (see ``_race``)."""
    room = node.server.find_channel("#room")
    return room is not None and room.topic == "kept" and bool(room.lists["b"])


async def _race(a: Node, b: Node, c: Node) -> tuple[Client, Client, Client, str]:
    """alice (a) makes #room with a topic and a ban (two changes counted), then leaves it,
    its last member, while bob (b) joins it, in one step of the loop (neither node reads
    the other meanwhile): a gives the claim back before bob's JOIN reaches it. Waits until
    every node is done with #room; alice, bob, carol (c, not in #room) and the token."""
    alice = await a.client("alice")
    bob = await b.client("bob")
    carol = await c.client("carol")
    alice.send("JOIN #room", "TOPIC #room :kept", "MODE #room +b x!*@*")
    await until(lambda: _told(b) and _told(c), "#room's state on b and c")
    token = a.link.tokens[a.server.fold("#room")]
    alice.send("PART #room")
    bob.send("JOIN #room")
    assert a.server.find_channel("#room") is None
    await until(lambda: _told(a), "#room made again on a, with its state")

    def settled() -> bool:
        return all(not n.bus._outbox for n in (a, b, c)) and all(
            n.server.find_channel("#room") is not None for n in (a, b, c)
        )

    await until(settled, "every node done with #room")
    return alice, bob, carol, token


async def test_a_join_racing_the_last_part_on_another_node_keeps_one_channel(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b"), Node(redis, "c")) as (a, b, c):
        _, _, carol, token = await _race(a, b, c)
        folded = a.server.fold("#room")
        assert await a.bus._client.hget(a.bus.channels, "#room") == token.encode()
        for node in (a, b, c):
            room = node.server.find_channel("#room")
            assert room is not None
            assert (room.topic, [e.mask for e in room.lists["b"]]) == ("kept", ["x!*@*"])
            assert {u.nick: m for u, m in room.members.items()} == {"bob": ""}
            assert node.link.tokens[folded] == token
        carol.send("JOIN #room")  # joins that channel, not as its operator
        got = await received(carol, " 366 carol #room ")
        assert any(" 332 carol #room kept" in line for line in got), got

        def carol_in(node: Node) -> bool:
            room = node.server.find_channel("#room")
            return room is not None and {u.nick: m for u, m in room.members.items()} == {
                "bob": "",
                "carol": "",
            }

        await until(lambda: all(carol_in(n) for n in (a, b, c)), "carol in #room everywhere")
        assert await a.bus._client.hget(a.bus.channels, "#room") == token.encode()


async def test_a_channel_claimed_again_keeps_its_version_count(redis: RedisServer) -> None:
    async with running(Node(redis, "a"), Node(redis, "b"), Node(redis, "c")) as (a, b, c):
        _, bob, _, token = await _race(a, b, c)
        client = a.bus._client
        count = a.bus.versions + token
        assert await client.get(count) == b"2"  # kept when a gave the claim back...
        assert await client.pttl(count) == -1  # ...and for good once claimed again
        folded = a.server.fold("#room")
        assert [n.link.versions[folded] for n in (a, b, c)] == [2, 2, 2]
        bob.send("MODE #room +n")  # refused (no operator), admitted as the third change
        await received(bob, " 482 ")
        await until(lambda: all(n.link.versions.get(folded) == 3 for n in (a, b, c)), "version 3")
        assert await client.get(count) == b"3"


async def test_a_channel_s_count_outlives_its_claim_a_while(redis: RedisServer) -> None:
    async with running(Node(redis, "a")) as (a,):
        alice = await a.client("alice")
        alice.send("JOIN #room", "TOPIC #room :one")
        await received(alice, " TOPIC #room ")
        token = a.link.tokens[a.server.fold("#room")]
        alice.send("PART #room")
        await until(lambda: not a.bus._outbox, "the claim given back")
        client = a.bus._client
        assert await client.hget(a.bus.channels, "#room") is None
        assert await client.get(a.bus.versions + token) == b"1"
        assert 0 < await client.pttl(a.bus.versions + token) <= KEPT_VERSION_SECONDS * 1000


async def test_a_count_redis_lost_is_raised_to_what_the_node_knows(redis: RedisServer) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        alice, _ = await in_room(a, b)
        alice.send("TOPIC #room :one", "TOPIC #room :two")
        folded = a.server.fold("#room")
        await until(lambda: b.link.versions.get(folded) == 2, "two changes on b")
        token = a.link.tokens[folded]
        await a.bus._client.delete(a.bus.versions + token)  # (a restart without its data)
        alice.send("TOPIC #room :three")
        await until(lambda: b.link.versions.get(folded) == 3, "the third change on b")
        assert a.link.versions[folded] == 3
        assert await a.bus._client.get(a.bus.versions + token) == b"3"


Held = list[tuple[object, ...]]


def _hold_reading(node: Node) -> Held:
    """``node`` reads on, but applies nothing until :func:`_let_go` (as if far behind)."""
    held: Held = []
    node.bus._apply = lambda *entry: held.append(entry)  # type: ignore[method-assign]
    return held


def _hold_writing(node: Node) -> Held:
    """``node``'s records wait (as behind a slow connection) until :func:`_let_go`."""
    held: Held = []
    node.bus.publish = lambda *record: held.append(record)  # type: ignore[method-assign]
    return held


def _let_go(node: Node, reading: Held | None = None, writing: Held | None = None) -> None:
    """``node`` applies what it read and writes what it made while held, in order."""
    if reading is not None:
        del node.bus._apply
        for entry in reading:
            node.bus._apply(*entry)  # type: ignore[arg-type]
    if writing is not None:
        del node.bus.publish
        for record in writing:
            node.bus.publish(*record)  # type: ignore[arg-type]


def _room(node: Node) -> tuple[str, str, list[str], dict[str, str]] | None:
    """What ``node`` shows of #room: topic, flags, bans, members with their modes."""
    room = node.server.find_channel("#room")
    if room is None:
        return None
    members = {u.nick: m for u, m in room.members.items()}
    return room.topic, "".join(sorted(room.flags)), [e.mask for e in room.lists["b"]], members


@pytest.mark.parametrize("join_first", [True, False])
async def test_a_channel_made_anew_on_a_third_node_in_the_race_becomes_the_old_one(
    redis: RedisServer, join_first: bool
) -> None:
    lease = 10.0  # (b's and c's readers stop a while: no node is taken for gone here)
    nodes = (Node(redis, "a", lease), Node(redis, "b", lease), Node(redis, "c", lease))
    async with running(*nodes) as (a, b, c):
        alice = await a.client("alice")
        bob = await b.client("bob")
        carol = await c.client("carol")
        alice.send("JOIN #room", "TOPIC #room :kept", "MODE #room +b x!*@*")
        await until(lambda: _told(b) and _told(c), "#room's state on b and c")
        token = a.link.tokens[a.server.fold("#room")]
        reading = {b: _hold_reading(b)}  # b still sees alice in #room when bob joins it
        writing = None if join_first else _hold_writing(b)  # (bob's JOIN after c's channel)
        alice.send("PART #room")
        await until(
            lambda: c.server.find_channel("#room") is None and not a.bus._outbox,
            "alice's PART applied on c, the claim given back",
        )
        reading[c] = _hold_reading(c)  # c has applied the PART, not bob's JOIN
        reading[a] = _hold_reading(a)  # (nor a: it would claim #room again first)
        bob.send("JOIN #room")
        if join_first:
            await until(lambda: not b.bus._outbox, "bob's JOIN written")
        assert await a.bus._client.hget(a.bus.channels, "#room") is None
        carol.send("JOIN #room")  # made anew on c: the claim was given back
        await received(carol, " JOIN #room")
        assert _room(c) == ("", "nt", [], {"carol": "o"})
        anew = c.link.tokens[c.server.fold("#room")]
        await until(lambda: not c.bus._outbox, "c's channel written")
        assert await a.bus._client.hget(a.bus.channels, "#room") != token.encode()
        _let_go(b, reading[b], writing)
        _let_go(c, reading[c])
        _let_go(a, reading[a])
        expected = ("kept", "nt", ["x!*@*"], {"bob": "", "carol": "o"})
        folded = a.server.fold("#room")

        def merged() -> bool:
            return all(
                _room(n) == expected and n.link.tokens.get(folded) == token and not n.bus._outbox
                for n in (a, b, c)
            )

        await until(merged, "one #room, the old one's state and claim, on every node")
        assert await a.bus._client.hget(a.bus.channels, "#room") == token.encode()
        count = int(await a.bus._client.get(a.bus.versions + token))
        assert [n.link.versions[folded] for n in (a, b, c)] == [count] * 3
        # the count of the claim c gave up goes, as a released one's (no key kept for good)
        assert await a.bus._client.exists(a.bus.versions + anew)
        assert 0 < await a.bus._client.pttl(a.bus.versions + anew) <= KEPT_VERSION_SECONDS * 1000
        bob.send("MODE #room +n")  # refused, and counted once, on the one count
        await until(
            lambda: all(n.link.versions[folded] == count + 1 for n in (a, b, c)), "one more"
        )


async def test_a_user_renamed_to_a_nick_still_held_here_takes_it_once_it_is_let_go(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        alice = await a.client("alice")
        bobby = await b.client("bobby")
        await until(lambda: a.server.network.find_user("bobby") is not None, "bobby on a")
        _freeze(a)  # a freezes
        await until(lambda: b.server.network.find_user("alice") is None, "alice gone from b")
        bobby.send("NICK alice")  # the nick is free again: b gives it out
        await received(bobby, " NICK alice")
        last = (await b.bus._client.xrevrange(b.bus.stream, count=1))[0][0]
        a.bus._spawn(a.bus._read())  # a thaws, and hears b before it renews its lease
        await until(lambda: a.bus.last_id == last, "b's rename read on a")
        assert a.server.network.find_user("alice") is alice.session.user
        a.bus._spawn(a.bus._write())
        a.bus._spawn(a.bus._keep_lease())
        await received(alice, "you are now Guest")

        def theirs_on_a() -> bool:
            user = a.server.network.find_user("alice")
            return user is not None and a.link.owner.get(user) == "b"

        await until(theirs_on_a, "b's alice known as alice on a")
        guest = alice.session.user.nick
        await until(lambda: b.server.network.find_user(guest) is not None, "the guest on b")
        await until(lambda: not a.bus._outbox and not b.bus._outbox, "a and b written")
        assert a.server.network.find_user("bobby") is None  # (not left behind by its old nick)
        assert [u.nick for u in a.link.owner] == ["alice"]


async def test_a_redis_outage_longer_than_the_lease_is_no_netsplit(
    own_redis: RedisServer,
) -> None:
    async with running(Node(own_redis, "a"), Node(own_redis, "b")) as (a, b):
        alice, bob = await in_room(a, b)
        alice.lines(), bob.lines()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, own_redis.stop)
        # Every lease runs out while Redis is down (it keeps their time to live); a change
        # made meanwhile waits in a's outbox, behind the burst a tells once Redis is back.
        await until(lambda: not a.bus.up and not b.bus.up, "Redis seen down")
        user = a.server.network.users[a.server.fold("alice")]
        a.link.held.add(a.server.fold("alicia"))
        a.server.network.change_nick(user, "alicia", a.server.fold("alicia"))
        await asyncio.sleep(LEASE * 1.5)
        await loop.run_in_executor(None, own_redis.start)
        await until(lambda: a.bus.up and b.bus.up, "Redis seen back")
        await until(lambda: not a.bus._owed and not b.bus._owed, "both bursts told")
        await asyncio.sleep(LEASE * 2)  # (past the grace: leases judged again)
        await until(lambda: not a.bus._outbox and not b.bus._outbox, "a and b written")
        await until(lambda: b.bus.last_id == a.bus.last_id, "b read all")
        seen = alice.lines() + bob.lines()
        assert not [line for line in seen if " QUIT " in line], seen  # nobody taken for gone
        assert [u.nick for u in b.link.owner] == ["alicia"]  # (no user left under its old nick)
        assert [u.nick for u in a.link.owner] == ["bob"]
        assert await _claimed(a, "alicia") == b"a"
