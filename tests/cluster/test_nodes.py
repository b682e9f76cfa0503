"""End to end: two or three real ``hubbub serve`` processes joined through a real
redis-server, with raw IRC clients on loopback (issue 15's "checked by")."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis

from hubbub.passwords import hash_password
from hubbub.protocol.casemap import Folded
from hubbub.protocol.message import Message
from hubbub.server.sasl import make_scram_credentials
from hubbub.storage import AccountRecord, SqliteStorage
from tests.cluster.redisserver import RedisServer, free_port
from tests.e2e.ircclient import IRCTestClient
from tests.e2e.serving import serve
from tests.e2e.test_accounts_e2e import PASSWORD
from tests.e2e.test_chanserv import ask_chanserv, from_chanserv, register_account
from tests.e2e.test_history import batch_of, connect
from tests.e2e.test_postgres_e2e import logged_in
from tests.server.saslclient import b64, plain
from tests.timeouts import TIMEOUT


def node_config(
    directory: Path, redis: RedisServer, node: str, lease: float, storage_url: str = ""
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hubbub.toml"
    storage = f'\n[storage]\nurl = "{storage_url}"\n' if storage_url else ""
    path.write_text(
        f"""
[server]
name = "irc.cluster.test"

[limits]
flood = false
exempt = ["127.0.0.1"]

[cluster]
redis = "{redis.url}"
node_id = "{node}"
lease = {lease}
{storage}"""
    )
    return path


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path,
    redis: RedisServer,
    names: str = "ab",
    lease: float = 2.0,
    storage_url: str = "",
    logs: dict[str, list[str]] | None = None,
) -> AsyncIterator[dict[str, tuple[asyncio.subprocess.Process, int]]]:
    """Nodes ``names`` (one letter each), all listening; yields name -> (process, port).
    Each has its own SQLite file (``<tmp_path>/<name>/hubbub.db``), or all share the
    PostgreSQL database ``storage_url``. ``logs`` gets each node's log, by name."""
    async with contextlib.AsyncExitStack() as stack:
        nodes: dict[str, tuple[asyncio.subprocess.Process, int]] = {}
        for name in names:
            directory = tmp_path / name
            config = node_config(directory, redis, name, lease, storage_url)
            db = [] if storage_url else ["--db", str(directory / "hubbub.db")]
            nodes[name] = await stack.enter_async_context(
                serve(
                    "--config",
                    str(config),
                    "--listen",
                    "127.0.0.1:0",
                    *db,
                    cwd=directory,
                    log=None if logs is None else logs.setdefault(name, []),
                )  # fmt: skip
            )
        yield nodes


async def client(port: int, nick: str, caps: str = "") -> IRCTestClient:
    c = await IRCTestClient.connect("127.0.0.1", port)
    await c.register(nick, caps)
    return c


async def sees_in(viewer: IRCTestClient, channel: str, nick: str) -> None:
    """Wait until ``viewer``'s node shows ``nick`` in ``channel`` (a JOIN on another node
    takes a trip through Redis to get there)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        await viewer.send(f"NAMES {channel}")
        names = await viewer.collect_until("366")
        found = [m.params[-1] for m in names if m.command == "353"]
        if any(nick in [x.lstrip("@+") for x in n.split()] for n in found):
            return
        assert loop.time() < deadline, f"{nick} never shown in {channel}"
        await asyncio.sleep(0.05)


def is_register_answer(m: Message) -> bool:
    """``REGISTER SUCCESS ...`` or ``FAIL REGISTER ...``."""
    return m.command == "REGISTER" or (m.command == "FAIL" and m.params[:1] == ("REGISTER",))


def is_privmsg(text: str) -> Callable[[Message], bool]:
    return lambda m: m.command == "PRIVMSG" and m.params[-1] == text


def joined(nick: str) -> Callable[[Message], bool]:
    return lambda m: m.command == "JOIN" and (m.source or "").startswith(nick + "!")


async def alice_and_bob_in_room(
    nodes: dict[str, tuple[asyncio.subprocess.Process, int]], alice_caps: str = ""
) -> tuple[IRCTestClient, IRCTestClient]:
    """alice on node a (with ``alice_caps``) and bob on node b, both in #room, each seeing
    the other there."""
    alice = await client(nodes["a"][1], "alice", alice_caps)
    bob = await client(nodes["b"][1], "bob")
    await alice.send("JOIN #room")
    await alice.expect("366")
    await sees_in(bob, "#room", "alice")
    await bob.send("JOIN #room")
    await bob.expect("366")
    await alice.expect(joined("bob"))
    return alice, bob


async def test_channel_and_private_messages_cross_three_nodes(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with cluster(tmp_path, redis, "abc") as nodes:
        alice = await client(nodes["a"][1], "alice")
        bob = await client(nodes["b"][1], "bob")
        carol = await client(nodes["c"][1], "carol")
        await alice.send("JOIN #room")
        await alice.expect("366")
        for other in (bob, carol):
            await sees_in(other, "#room", "alice")
            await other.send("JOIN #room")
            names = await other.collect_until("366")
            assert any(m.command == "353" and "@alice" in m.params[-1].split() for m in names)
            await alice.expect(joined(other.nick))
        await alice.send("PRIVMSG #room :hello everyone")
        for other in (bob, carol):
            got = await other.expect(is_privmsg("hello everyone"))
            assert got.source is not None
            assert got.source.startswith("alice!")
        await carol.send("PRIVMSG bob :just you")
        got = await bob.expect("PRIVMSG")
        assert (got.params, (got.source or "").split("!")[0]) == (("bob", "just you"), "carol")
        await alice.send("WHOIS carol")
        whois = await alice.collect_until("318")
        assert any(m.command == "311" and m.params[1] == "carol" for m in whois)
        for c in (alice, bob, carol):
            await c.close()


async def test_a_nick_taken_on_one_node_is_refused_on_the_other(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with cluster(tmp_path, redis, "ab") as nodes:
        alice = await client(nodes["a"][1], "alice")
        other = await IRCTestClient.connect("127.0.0.1", nodes["b"][1])
        await other.send("NICK alice", "USER u 0 * :R")
        assert (await other.expect("433")).params[1] == "alice"
        # Both at the same instant, round after round: exactly one of the two gets it.
        for i in range(10):
            one = await IRCTestClient.connect("127.0.0.1", nodes["a"][1])
            two = await IRCTestClient.connect("127.0.0.1", nodes["b"][1])
            lines = (f"NICK same{i}", "USER u 0 * :R")
            await asyncio.gather(one.send(*lines), two.send(*lines))
            answers = await asyncio.gather(
                *(c.expect(lambda m: m.command in ("001", "433")) for c in (one, two))
            )
            assert sorted(m.command for m in answers) == ["001", "433"]
            await one.close()
            await two.close()
        await alice.close()
        await other.close()


async def test_a_ban_set_on_one_node_stops_a_user_on_the_other(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with cluster(tmp_path, redis, "ab") as nodes:
        alice, bob = await alice_and_bob_in_room(nodes)
        await alice.send("MODE #room +b bob!*@*")
        mode = await bob.expect("MODE")
        assert mode.params == ("#room", "+b", "bob!*@*")
        await bob.send("PRIVMSG #room :let me speak")
        assert (await bob.expect("404")).params[1] == "#room"
        await alice.send("KICK #room bob :go")
        kick = await bob.expect("KICK")
        assert kick.params[:2] == ("#room", "bob")
        await bob.send("JOIN #room")
        assert (await bob.expect("474")).params[1] == "#room"  # banned, on its own node too
        await alice.close()
        await bob.close()


async def test_kill_9_of_a_node_makes_its_users_quit_within_the_lease(
    tmp_path: Path, redis: RedisServer
) -> None:
    lease = 2.0
    async with cluster(tmp_path, redis, "ab", lease=lease) as nodes:
        alice, bob = await alice_and_bob_in_room(nodes)
        loop = asyncio.get_running_loop()
        start = loop.time()
        os.kill(nodes["b"][0].pid, signal.SIGKILL)
        quit_ = await alice.expect("QUIT", timeout=lease * 2 + TIMEOUT / 2)
        took = loop.time() - start
        assert (quit_.source or "").startswith("bob!")
        assert took <= lease + lease / 3 + 1.0, took  # the lease, one check period, slack
        await alice.send("NICK bob")  # its nick is free again
        assert (await alice.expect("NICK")).params == ("bob",)
        await alice.close()


async def test_restarting_redis_mid_traffic_loses_no_acknowledged_message(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    async with cluster(tmp_path, own_redis, "ab", lease=5.0) as nodes:
        alice, bob = await alice_and_bob_in_room(nodes, "echo-message")
        loop = asyncio.get_running_loop()
        restarted: asyncio.Future[None] | None = None
        acknowledged: list[str] = []
        for i in range(60):
            await alice.send(f"PRIVMSG #room :m{i}")
            echo = await alice.expect("PRIVMSG")  # echo-message: the server took it
            acknowledged.append(echo.params[-1])
            if i == 10:  # Redis goes away for a second while alice goes on talking
                restarted = loop.run_in_executor(None, own_redis.restart, 1.0)
            await asyncio.sleep(0.03)
        assert restarted is not None
        await restarted
        got: list[Message] = []
        while len(got) < len(acknowledged):
            got.append(await bob.expect("PRIVMSG"))
        assert [m.params[-1] for m in got] == acknowledged
        await alice.close()
        await bob.close()


async def test_one_channel_joined_on_two_nodes_at_once_has_one_operator(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with cluster(tmp_path, redis, "ab") as nodes:
        alice = await client(nodes["a"][1], "alice")
        bob = await client(nodes["b"][1], "bob")
        for i in range(10):
            channel = f"#race{i}"
            await asyncio.gather(alice.send(f"JOIN {channel}"), bob.send(f"JOIN {channel}"))
            replies = await asyncio.gather(*(c.collect_until("366") for c in (alice, bob)))
            ops = {
                name
                for burst in replies
                for m in burst
                if m.command == "353"
                for name in m.params[-1].split()
                if name.startswith("@")
            }
            assert len(ops) <= 1, (channel, replies)
            await sees_in(alice, channel, "bob")
            await sees_in(bob, channel, "alice")
            seen = []
            for c in (alice, bob):
                await c.send(f"NAMES {channel}")
                names = [m for m in await c.collect_until("366") if m.command == "353"]
                seen.append(sorted(names[0].params[-1].split()))
            assert seen[0] == seen[1]  # both nodes agree on who made it
            assert len([x for x in seen[0] if x.startswith("@")]) == 1, (channel, seen)
        await alice.close()
        await bob.close()


async def test_workers_share_one_port_and_make_one_network(
    tmp_path: Path, redis: RedisServer
) -> None:
    port = free_port()
    config = node_config(tmp_path, redis, "w", 2.0)
    log: list[str] = []
    async with serve(
        "--config", str(config), "--listen", f"127.0.0.1:{port}", "--workers", "2",
        "--db", str(tmp_path / "hubbub.db"), cwd=tmp_path, log=log,
    ) as (proc, bound):  # fmt: skip
        assert bound == port
        listening = f"listening on irc://127.0.0.1:{port}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while "".join(log).count(listening) < 2:  # (the second worker may start later)
            assert loop.time() < deadline, "".join(log)
            await asyncio.sleep(0.05)
        clients = [await client(port, f"user{i}") for i in range(12)]
        for c in clients:
            await c.send("JOIN #all")
            await c.expect("366")
        for c in clients[1:]:
            await sees_in(c, "#all", "user0")
        await sees_in(clients[0], "#all", "user5")
        await clients[0].send("PRIVMSG #all :to every worker")
        for c in clients[1:]:
            await c.expect(is_privmsg("to every worker"))
        # The workers share one database: the message is kept once, not once per worker.
        reader = await connect(port, "reader")
        await reader.send("JOIN #all")
        await reader.expect("366")
        loop_deadline = loop.time() + TIMEOUT
        while True:  # (kept once committed, 20 ms later at most)
            got = await batch_of(reader, "CHATHISTORY LATEST #all * 50")
            texts = [m.params[-1] for m in got if m.command == "PRIVMSG"]
            if texts or loop.time() > loop_deadline:
                break
            await asyncio.sleep(0.05)
        assert texts == ["to every worker"]
        for c in [*clients, reader]:
            await c.close()
        proc.send_signal(signal.SIGTERM)  # the parent passes it on to the workers
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, "".join(log)
    joined = "".join(log)
    assert "joined the cluster as node w0" in joined
    assert "joined the cluster as node w1" in joined
    assert joined.count(listening) == 2  # one port, two workers


async def test_two_operators_on_two_nodes_end_with_one_topic(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with cluster(tmp_path, redis, "ab") as nodes:
        alice, bob = await alice_and_bob_in_room(nodes)
        await alice.send("MODE #room +o bob")
        await bob.expect("MODE")
        for i in range(10):
            await asyncio.gather(
                alice.send(f"TOPIC #room :alice {i}"), bob.send(f"TOPIC #room :bob {i}")
            )
            # each sees both changes, in the one order the cluster admitted them

            async def two_topics(c: IRCTestClient) -> list[str]:
                return [(await c.expect("TOPIC")).params[1] for _ in range(2)]

            orders = await asyncio.gather(two_topics(alice), two_topics(bob))
            assert orders[0] == orders[1], orders
        await alice.close()
        await bob.close()


def test_check_config_reports_the_cluster_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[cluster]\nredis = "redis://127.0.0.1:1/0"\nlease = 0.1\n')
    result = subprocess.run(
        [sys.executable, "-m", "hubbub", "check-config", str(bad)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        f"{bad}: cluster.node_id: required with redis: give each node of the cluster its own"
        in lines
    )
    assert any(
        line.startswith(f"{bad}: cluster.lease: must be between 1 and 300") for line in lines
    )


async def test_workers_need_a_cluster(tmp_path: Path) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hubbub", "serve", "--workers", "2", "--listen", "127.0.0.1:6999"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "--workers needs [cluster] redis" in result.stderr


async def test_a_node_whose_redis_does_not_answer_does_not_start(tmp_path: Path) -> None:
    config = tmp_path / "hubbub.toml"
    config.write_text(f'[cluster]\nredis = "redis://127.0.0.1:{free_port()}/0"\nnode_id = "x"\n')
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "hubbub",
            "serve",
            "--config",
            str(config),
            "--listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "cannot start: cluster.redis: cannot use Redis" in result.stderr
    # (logged first: accounts are this node's own without a shared database)
    assert "config: storage.url: warning:" in result.stderr


async def serve_and_fail(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``hubbub serve --config config ARGS`` run to its end (a node that must not start),
    killed, and the test failed, if it has not ended within the test timeout."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hubbub", "serve", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=config.parent,
    )


async def test_a_node_that_cannot_listen_exits_without_joining(
    tmp_path: Path, redis: RedisServer
) -> None:
    """Audit F4: a node whose port was taken joined the cluster first, then never exited
    (its bus's reader did not end on cancellation). It binds before it joins now, and
    exits 1 as a node without [cluster] does; even with the node_id of the node on that
    port (the audit's case), whose users stay where they are."""
    async with cluster(tmp_path, redis, "ab") as nodes:
        alice, bob = await alice_and_bob_in_room(nodes)
        port = nodes["a"][1]
        for name in ("c", "a"):
            config = node_config(tmp_path / f"late-{name}", redis, name, 2.0)
            result = await serve_and_fail(config, "--listen", f"127.0.0.1:{port}")
            assert result.returncode == 1, result.stderr
            assert "cannot start: [Errno 98] Address already in use" in result.stderr
            assert "joined the cluster" not in result.stderr
        assert await cluster_members(redis) == {"a", "b"}
        await still_together(alice, bob)


async def still_together(alice: IRCTestClient, bob: IRCTestClient) -> None:
    """After a lease's time (a node taken for gone would have had alice quit on b's node by
    then), bob on b still reaches alice on a; both close."""
    await asyncio.sleep(2.0 * 1.5)
    await bob.send("PRIVMSG alice :still there?")
    await alice.expect(is_privmsg("still there?"))
    await alice.close()
    await bob.close()


async def test_a_node_with_the_node_id_of_a_live_node_does_not_start(
    tmp_path: Path, redis: RedisServer
) -> None:
    """Audit F4: a node started with a live node's node_id took its place (its users
    quit on the other nodes). It exits 1 with a clear error, and the live node's users
    stay."""
    async with cluster(tmp_path, redis, "ab") as nodes:
        alice, bob = await alice_and_bob_in_room(nodes)
        config = node_config(tmp_path / "twin", redis, "a", 2.0)
        result = await serve_and_fail(config, "--listen", "127.0.0.1:0")
        assert result.returncode == 1, result.stderr
        assert "cannot start: cluster.node_id 'a' is taken" in result.stderr
        await still_together(alice, bob)


async def test_a_node_with_another_casemapping_does_not_start(
    tmp_path: Path, redis: RedisServer
) -> None:
    """Audit F6: a node on ``ascii`` among rfc1459 nodes joined, and ``cm[N`` there and
    ``cm{N`` on the others were two users. It exits 1 with a clear error."""
    async with cluster(tmp_path, redis, "a"):
        config = node_config(tmp_path / "odd", redis, "c", 2.0)
        text = config.read_text().replace("[server]\n", '[server]\ncasemapping = "ascii"\n')
        config.write_text(text)
        result = await serve_and_fail(config, "--listen", "127.0.0.1:0")
        assert result.returncode == 1, result.stderr
        assert (
            "cannot start: server.casemapping is 'ascii' here but 'rfc1459' on the other "
            "nodes of the network (every node must have the same)"
        ) in result.stderr


async def cluster_members(redis: RedisServer) -> set[str]:
    """The nodes the test's Redis holds for joined (``hubbub:nodes``)."""
    client: Any = aioredis.from_url(redis.url, decode_responses=True)
    try:
        return set(await client.smembers("hubbub:nodes"))
    finally:
        await client.aclose()


async def test_history_search_and_accounts_are_the_same_on_every_node(
    tmp_path: Path, redis: RedisServer, postgres_url: str
) -> None:
    """Nodes sharing one PostgreSQL: each message is kept once, whichever node its sender
    is on, so CHATHISTORY and SEARCH answer the same on every node; an account registered
    on one node logs in on the other at once."""
    async with cluster(tmp_path, redis, "ab", storage_url=postgres_url) as nodes:
        alice = await connect(nodes["a"][1], "alice")
        bob = await connect(nodes["b"][1], "bob")
        await alice.send(f"REGISTER * * {PASSWORD}")
        assert (await alice.expect("REGISTER")).params[0] == "SUCCESS"
        await alice.send("JOIN #room")
        await alice.expect("366")
        await sees_in(bob, "#room", "alice")
        await bob.send("JOIN #room")
        await bob.expect("366")
        await alice.expect(joined("bob"))
        await alice.send(*[f"PRIVMSG #room :from a {i} zebra" for i in range(5)])
        await bob.send(*[f"PRIVMSG #room :from b {i}" for i in range(5)])
        for _ in range(5):  # (the echoes: each is sent once its message is kept)
            await alice.expect(lambda m: m.command == "PRIVMSG" and "from a" in m.params[-1])
            await bob.expect(lambda m: m.command == "PRIVMSG" and "from b" in m.params[-1])
        for _ in range(5):
            await alice.expect(lambda m: m.command == "PRIVMSG" and "from b" in m.params[-1])
            await bob.expect(lambda m: m.command == "PRIVMSG" and "from a" in m.params[-1])
        answers = []
        for viewer in (alice, bob):
            got = await batch_of(viewer, "CHATHISTORY LATEST #room * 50")
            lines = [(m.tags["msgid"], m.params[-1]) for m in got if m.command == "PRIVMSG"]
            found = await batch_of(viewer, "SEARCH in=#room;text=zebra")
            hits = [m.tags["msgid"] for m in found if m.command == "PRIVMSG"]
            answers.append((lines, hits))
        assert answers[0] == answers[1]
        lines, hits = answers[0]
        assert sorted(text for _, text in lines) == sorted(
            [f"from a {i} zebra" for i in range(5)] + [f"from b {i}" for i in range(5)]
        )  # each once
        assert len(hits) == 5
        dana = await logged_in(nodes["b"][1], "dana", "alice")  # registered on node a
        for c in (alice, bob, dana):
            await c.close()


async def test_a_read_marker_set_on_one_node_is_known_and_told_on_the_other(
    tmp_path: Path, redis: RedisServer, postgres_url: str
) -> None:
    """Nodes sharing one PostgreSQL: one account logged in twice on node a and once on b.
    A MARKREAD on a reaches the account's connections on both nodes, b answers it when
    asked, and so does a connection that logs in on b afterwards (b had the account's
    markers in memory and never read the table again: it answered ``*``)."""
    caps = "draft/read-marker batch server-time message-tags"
    async with cluster(tmp_path, redis, "ab", storage_url=postgres_url) as nodes:
        owner = await connect(nodes["a"][1], "owner")
        await owner.send(f"REGISTER * * {PASSWORD}")
        assert (await owner.expect("REGISTER")).params[0] == "SUCCESS"
        x = await logged_in(nodes["a"][1], "x", "owner", caps)
        y = await logged_in(nodes["b"][1], "y", "owner", caps)
        z = await logged_in(nodes["a"][1], "z", "owner", caps)
        for each in (x, y, z):
            await each.send("JOIN #mk")
            await each.expect("366")
        await sees_in(y, "#mk", "z")
        stamp = "2026-01-01T00:00:00.000Z"
        await x.send(f"MARKREAD #mk timestamp={stamp}")
        for each in (x, z, y):  # (y was never told)
            got = await each.expect("MARKREAD")
            assert got.params == ("#mk", f"timestamp={stamp}"), got
        await y.send("MARKREAD #mk")
        assert (await y.expect("MARKREAD")).params == ("#mk", f"timestamp={stamp}")  # (was *)
        w = await logged_in(nodes["b"][1], "w", "owner", caps)
        await w.send("MARKREAD #mk")
        assert (await w.expect("MARKREAD")).params == ("#mk", f"timestamp={stamp}")  # (was *)
        await y.send("MARKREAD #mk timestamp=2025-01-01T00:00:00.000Z")  # never back
        assert (await y.expect("MARKREAD")).params == ("#mk", f"timestamp={stamp}")
        for each in (owner, x, y, z, w):
            await each.close()


async def test_one_channel_registered_on_two_nodes_at_once_has_one_founder(
    tmp_path: Path, redis: RedisServer, postgres_url: str
) -> None:
    """Nodes sharing one PostgreSQL: two operators of one channel, on two nodes, ask
    ChanServ to register it at the same instant, round after round. The database's key
    decides: one is told it is registered to them, the other that it is already
    registered, and both nodes (and the database) name the same founder."""
    async with cluster(tmp_path, redis, "ab", storage_url=postgres_url) as nodes:
        alice = await connect(nodes["a"][1], "alice")
        bob = await connect(nodes["b"][1], "bob")
        for c in (alice, bob):
            await register_account(c)
        for i in range(5):
            channel = f"#reg{i}"
            await alice.send(f"JOIN {channel}")
            await alice.expect("366")
            await sees_in(bob, channel, "alice")
            await bob.send(f"JOIN {channel}")
            await bob.expect("366")
            await alice.expect(joined("bob"))
            await alice.send(f"MODE {channel} +o bob")
            await bob.expect("MODE")
            line = f"PRIVMSG ChanServ :REGISTER {channel}"
            await asyncio.gather(alice.send(line), bob.send(line))
            answers = await asyncio.gather(*(c.expect(from_chanserv) for c in (alice, bob)))
            texts = [m.params[1] for m in answers]
            won = [t for t in texts if t.startswith(f"{channel} is now registered to ")]
            lost = [t for t in texts if t == f"{channel} is already registered."]
            assert (len(won), len(lost)) == (1, 1), texts
            founder = won[0].rsplit(" ", 1)[1].rstrip(".")
            for c in (alice, bob):
                info = await ask_chanserv(c, f"INFO {channel}")
                assert info.startswith(f"{channel} is registered to {founder} since"), info
        with psycopg.connect(postgres_url, autocommit=True) as pg:
            rows = pg.execute("SELECT folded, founder FROM channels ORDER BY folded").fetchall()
        assert len(rows) == 5
        await alice.close()
        await bob.close()


async def test_one_account_name_is_one_account_on_nodes_with_a_database_each(
    tmp_path: Path, redis: RedisServer
) -> None:
    """Nodes with a SQLite file each: an account name registered on both at the same
    instant goes to one (Redis decides), and an account both files had before is refused
    login on the node that does not hold its name (which logs it at start)."""
    password_hash, scram = hash_password(PASSWORD), make_scram_credentials(PASSWORD)
    for name in "ab":
        (tmp_path / name).mkdir()
        storage = SqliteStorage(tmp_path / name / "hubbub.db")
        storage.open()
        record = AccountRecord("carol", Folded("carol"), password_hash, scram, 1.0)
        assert storage.create_account(record)
        storage.close()
    logs: dict[str, list[str]] = {}
    async with cluster(tmp_path, redis, "ab", logs=logs) as nodes:  # (a starts first)
        assert not any("also registered on node" in line for line in logs["a"])
        assert any(
            "'carol'" in line and "also registered on node a" in line for line in logs["b"]
        ), logs["b"]
        await logged_in(nodes["a"][1], "one", "carol")
        refused = await IRCTestClient.connect("127.0.0.1", nodes["b"][1])
        await refused.send("CAP LS 302", "CAP REQ :sasl", "NICK two", "USER u 0 * :R")
        await refused.expect(lambda m: m.command == "CAP" and m.params[1] == "ACK")
        await refused.send("AUTHENTICATE PLAIN")
        await refused.expect("AUTHENTICATE")
        await refused.send(f"AUTHENTICATE {b64(plain('carol', PASSWORD))}")
        assert (await refused.expect(lambda m: m.command in ("903", "904"))).command == "904"
        alice = await connect(nodes["a"][1], "alice")
        bob = await connect(nodes["b"][1], "bob")
        for i in range(5):
            line = f"REGISTER same{i} * {PASSWORD}"
            await asyncio.gather(alice.send(line), bob.send(line))
            answers = await asyncio.gather(*(c.expect(is_register_answer) for c in (alice, bob)))
            assert sorted(m.command for m in answers) == ["FAIL", "REGISTER"], answers
            [fail] = [m for m in answers if m.command == "FAIL"]
            assert fail.params[:2] == ("REGISTER", "ACCOUNT_EXISTS"), fail
            for c in (alice, bob):  # (the winner logs out; the loser is told it was not in)
                await c.send("PRIVMSG NickServ :LOGOUT")
                await c.expect(lambda m: m.command == "NOTICE" and "logged" in m.params[-1])
        for c in (refused, alice, bob):
            await c.close()
