"""Account names claimed in a real Redis by nodes that each have a database of their own
(SQLite, no shared PostgreSQL): cores driven line by line, linked by the Redis bus. One name
is one account in the whole network: registered on two nodes at once, it goes to one; a
deleted account's name is free again; an account both databases had is refused login where
another node holds its name; a Redis that lost its data gets the names again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis as redis_sync

from hubbub.cluster.redis_bus import RedisBus, _text
from hubbub.protocol.casemap import Folded
from hubbub.server.accounts import AccountService, Outcome, attach
from hubbub.server.core import Server
from hubbub.storage import SqliteStorage
from tests.cluster.redisserver import RedisServer
from tests.cluster.test_redis_bus import _more, registered, running, until
from tests.server.accounthelpers import add_account, service
from tests.server.harness import Client, make_server
from tests.server.saslclient import b64, plain

LEASE = 1.0
PASSWORD = "correct-horse"


class Node:
    """A core with accounts in a SQLite database of its own, a node of the cluster."""

    def __init__(
        self, redis: RedisServer, name: str, *accounts: str, db: Path | None = None
    ) -> None:
        self.server: Server = make_server()
        self.storage = SqliteStorage(db if db is not None else ":memory:")
        self.storage.open()
        accounts_here = AccountService(self.storage)
        accounts_here.load(self.storage.list_accounts(), self.server.fold)  # (as the app does)
        attach(self.server, accounts_here)
        for account in accounts:
            add_account(self.server, account, PASSWORD)
        self.bus = RedisBus(redis.url, name, lease=LEASE)
        self.link = self.server.join_cluster(self.bus, name)

    @property
    def accounts(self) -> AccountService:
        return service(self.server)

    async def start(self) -> Node:
        """Join, and wait until the names of its accounts are claimed (as the app does)."""
        await self.bus.start(self.link)
        claimed: list[bool] = []
        self.accounts.when_claimed(lambda: claimed.append(True))
        await until(lambda: bool(claimed), "the account names claimed")
        return self

    async def stop(self) -> None:
        await self.bus.stop(1.0)
        self.storage.close()

    async def client(self, nick: str, caps: str = "") -> Client:
        return await registered(self.server, nick, caps)


def held(redis: RedisServer) -> dict[str, str]:
    """The account names claimed in Redis, with their holders."""
    client = redis_sync.Redis.from_url(redis.url)
    try:
        found = client.hgetall("hubbub:accounts")
        return {_text(k): _text(v) for k, v in found.items()}
    finally:
        client.close()


async def answer(client: Client, seen: list[str]) -> str:
    """The line answering a ``REGISTER``: ``REGISTER SUCCESS ...`` or ``FAIL REGISTER ...``."""

    def found() -> bool:
        return any(" REGISTER " in line for line in _more(client, seen))

    await until(found, "an answer to REGISTER")
    return next(line for line in seen if " REGISTER " in line)


async def sasl_plain(node: Node, nick: str, account: str) -> str:
    """The numeric that ends a SASL PLAIN login to ``account`` by a new client."""
    client = Client(node.server)
    client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :R")
    client.lines()
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain(account, PASSWORD))}")
    seen: list[str] = []
    await until(lambda: any(" 903 " in x or " 904 " in x for x in _more(client, seen)), "SASL")
    return next(x.split()[1] for x in seen if " 903 " in x or " 904 " in x)


async def test_one_account_name_registered_on_two_nodes_at_once_goes_to_one(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a"), Node(redis, "b")) as (a, b):
        one, two = await a.client("one"), await b.client("two")
        for round_ in range(10):
            name = f"race{round_}"
            seen: tuple[list[str], list[str]] = ([], [])
            one.send(f"REGISTER {name} * {PASSWORD}")
            two.send(f"REGISTER {name} * {PASSWORD}")
            answers = [await answer(c, got) for c, got in zip((one, two), seen, strict=True)]
            won = [" REGISTER SUCCESS " in x for x in answers]
            assert sorted(won) == [False, True], answers
            loser = answers[won.index(False)]
            assert "FAIL REGISTER ACCOUNT_EXISTS" in loser, loser
            winner = (a, b)[won.index(True)]
            assert held(redis)[name] == ("a", "b")[won.index(True)]
            stored = [n.storage.get_account(Folded(name)) is not None for n in (a, b)]
            assert stored == [winner is a, winner is b]
            for client in (one, two):  # (log out for the next round)
                client.send("PRIVMSG NickServ :LOGOUT")
            await until(
                lambda: one.session.user.account is None and two.session.user.account is None,
                "logged out",
            )
        # One after the other: the second node refuses at once what the first has.
        seen1: list[str] = []
        one.send(f"REGISTER alone * {PASSWORD}")
        assert " REGISTER SUCCESS " in await answer(one, seen1)
        seen2: list[str] = []
        two.send(f"REGISTER Alone * {PASSWORD}")
        assert "FAIL REGISTER ACCOUNT_EXISTS" in await answer(two, seen2)


async def test_a_deleted_account_may_be_registered_again_on_another_node(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a", "alice"), Node(redis, "b")) as (a, b):
        assert held(redis) == {"alice": "a"}
        record = a.accounts.records[Folded("alice")]
        outcomes: list[Outcome] = []
        a.accounts.delete(a.server, record, outcomes.append)  # (as the admin API does)
        assert outcomes == [Outcome.DONE]
        await until(lambda: "alice" not in held(redis), "the name given back")
        bob = await b.client("bob")
        seen: list[str] = []
        bob.send(f"REGISTER alice * {PASSWORD}")
        assert " REGISTER SUCCESS " in await answer(bob, seen)
        assert held(redis) == {"alice": "b"}
        assert await sasl_plain(b, "other", "alice") == "903"
        assert await sasl_plain(a, "other", "alice") == "904"  # (a has no alice any more)


async def test_an_account_both_databases_had_is_refused_login_where_the_name_is_not_held(
    redis: RedisServer,
) -> None:
    async with running(Node(redis, "a", "carol"), Node(redis, "b", "carol", "dave")) as (a, b):
        assert held(redis) == {"carol": "a", "dave": "b"}
        assert b.accounts.conflicts == {"carol": "a"}
        assert await sasl_plain(a, "one", "carol") == "903"
        assert await sasl_plain(b, "two", "carol") == "904"
        assert await sasl_plain(b, "three", "dave") == "903"
        five = await b.client("five")
        five.lines()
        five.send(f"PRIVMSG NickServ :IDENTIFY carol {PASSWORD}")
        told = [line for line in five.lines() if "NOTICE five" in line]
        assert any("registered on another server of this network" in x for x in told), told
        assert five.session.user.account is None


async def test_a_node_started_again_gives_back_what_it_deleted_meanwhile(
    redis: RedisServer, tmp_path: Path
) -> None:
    db = tmp_path / "a.db"
    a = await Node(redis, "a", "alice", "bob", db=db).start()
    await a.stop()
    offline = SqliteStorage(db)  # (``hubbub account delete`` while the node is down)
    offline.open()
    assert offline.delete_account(Folded("bob"))
    offline.close()
    assert held(redis) == {"alice": "a", "bob": "a"}
    async with running(Node(redis, "a", db=db)) as (again,):
        assert held(redis) == {"alice": "a"}


async def test_a_redis_that_lost_its_data_gets_the_names_again(redis: RedisServer) -> None:
    async with running(Node(redis, "a", "alice")) as (a,):
        assert held(redis) == {"alice": "a"}
        redis.flush()  # (restarted without its append-only file)
        await until(lambda: held(redis) == {"alice": "a"}, "alice claimed again")
        assert a.accounts.conflicts == {}
        assert await sasl_plain(a, "one", "alice") == "903"


async def test_a_registration_while_redis_is_down_is_refused_not_held(
    own_redis: RedisServer,
) -> None:
    async with running(Node(own_redis, "a")) as (a,):
        alice = await a.client("alice")
        await asyncio.get_running_loop().run_in_executor(None, own_redis.stop)
        seen: list[str] = []
        alice.send(f"REGISTER * * {PASSWORD}")
        assert "FAIL REGISTER TEMPORARILY_UNAVAILABLE" in await answer(alice, seen)
        assert a.storage.get_account(Folded("alice")) is None
        await asyncio.get_running_loop().run_in_executor(None, own_redis.start)
        await until(lambda: a.bus.up, "Redis back")
        seen = []
        alice.send(f"REGISTER * * {PASSWORD}")
        assert " REGISTER SUCCESS " in await answer(alice, seen)
        assert held(own_redis) == {"alice": "a"}
