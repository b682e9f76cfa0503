"""Limits and bad input over real sockets: flood control, line length, invalid UTF-8, garbage,
SendQ, registration and ping timeouts, connections per IP.

Line limits from https://modern.ircdocs.horse/#message-format and ERR_INPUTTOOLONG (417);
INVALID_UTF8 from https://ircv3.net/specs/extensions/utf8-only; tag limits from
https://ircv3.net/specs/extensions/message-tags#size-limit.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

from hubbub.config import Config
from tests.cloaks import HOST
from tests.conftest import make_config
from tests.e2e.conformance import Net, commands, drain, join, mask, reply_to
from tests.e2e.ircclient import IRCTestClient
from tests.timeouts import TIMEOUT


async def assert_closed(client: IRCTestClient) -> None:
    """The server ends the connection (after what it still had to say)."""
    while True:
        try:
            await client.read_message()
        except (EOFError, ConnectionError):
            return


async def still_chatting(a: IRCTestClient, b: IRCTestClient) -> None:
    """``a`` and ``b`` (both registered) can still exchange a private message."""
    await a.send(f"PRIVMSG {b.nick} :still alive?")
    msg = await b.expect("PRIVMSG")
    assert msg.params == (b.nick, "still alive?")


# -- flood control ------------------------------------------------------------------------------


async def test_excess_flood_disconnects(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(flood=True))
    async with Net(app) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        await join("#room", alice, bob)
        await bob.send(*[f"PRIVMSG #room :flood {i}" for i in range(300)])
        error = await bob.expect("ERROR")
        assert "flood" in error.params[-1].lower()
        await assert_closed(bob)
        quit_msg = await alice.expect("QUIT")
        assert quit_msg.source == mask("bob")
        # alice got at most the burst, not all 300
        await still_chatting(carol, alice)


async def test_burst_within_limit_is_served(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(flood=True))
    async with Net(app) as net:
        alice = await net.client("alice")
        await alice.send(*[f"PING :p{i}" for i in range(10)])
        for i in range(10):
            pong = await alice.expect("PONG")
            assert pong.params[-1] == f"p{i}"


async def test_flood_is_throttled_not_dropped(app_factory: Callable[[Config], Any]) -> None:
    """Lines beyond the burst wait their turn (up to the queue limit) rather than vanish."""
    app = await app_factory(make_config(flood=True, flood_burst=5, flood_rate=50.0))
    async with Net(app) as net:
        alice = await net.client("alice")
        await alice.send(*[f"PING :q{i}" for i in range(20)])
        for i in range(20):
            pong = await alice.expect("PONG")
            assert pong.params[-1] == f"q{i}"


# -- line length --------------------------------------------------------------------------------


@pytest.mark.parametrize("flood", [False, True])
async def test_overlong_line_417_and_connection_survives(
    app_factory: Callable[[Config], Any], flood: bool
) -> None:
    app = await app_factory(make_config(flood=flood))
    async with Net(app) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await alice.send("PRIVMSG bob :" + "x" * 600)
        msg = await alice.expect("417")
        # ERR_INPUTTOOLONG "<client> :Input line was too long"
        assert msg.params[0] == "alice"
        assert len(msg.params) == 2
        await bob.assert_nothing_pending()
        await alice.send("PRIVMSG bob :" + "y" * 100_000)  # far beyond any buffer
        assert (await alice.expect("417")).params[0] == "alice"
        await bob.assert_nothing_pending()
        await still_chatting(alice, bob)


async def test_line_of_exactly_512_bytes_is_accepted(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    line = "PRIVMSG bob :"
    line += "z" * (510 - len(line))
    assert len(line) + 2 == 512
    got = await reply_to(alice, line)
    assert "417" not in commands(got)
    msg = await bob.expect("PRIVMSG")
    assert msg.params[1].startswith("zzzz")


async def test_client_tags_over_4094_bytes_417(net: Net) -> None:
    alice = await net.client("alice", caps="message-tags")
    bob = await net.client("bob", caps="message-tags")
    # right at the limit: 4096 bytes of tag section, '@' and the space included
    at_limit = "@+baz={} TAGMSG bob".format("a" * 4089)
    assert at_limit.index("TAGMSG") == 4096
    await alice.send(at_limit)
    relayed = await bob.expect("TAGMSG")
    assert relayed.tags["+baz"] == "a" * 4089
    over = "@+baz={} TAGMSG bob".format("a" * 4090)
    got = await reply_to(alice, over)
    assert commands(got) == ["417"]
    await bob.assert_nothing_pending()


# -- bad bytes ----------------------------------------------------------------------------------


async def test_invalid_utf8_fail_and_connection_survives(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await alice.send_raw(b"PRIVMSG bob :caf\xe9 \xff\xfe\r\n")
    msg = await alice.expect("FAIL")
    # FAIL <command> INVALID_UTF8 [<context>...] :<description>
    assert msg.params[0] == "PRIVMSG"
    assert msg.params[1] == "INVALID_UTF8"
    await bob.assert_nothing_pending()  # never relayed
    await still_chatting(alice, bob)


async def test_invalid_utf8_before_registration(net: Net) -> None:
    client = await net.raw()
    await client.send_raw(b"USER u 0 * :bad \xc3\x28 name\r\n")
    msg = await client.expect(lambda m: m.command in ("FAIL", "001"))
    assert msg.command == "FAIL"
    assert msg.params[:2] == ("USER", "INVALID_UTF8")
    await client.send("NICK alice", "USER user 0 * :good name")
    assert (await client.expect("001")).params[0] == "alice"


async def test_empty_lines_are_ignored(net: Net) -> None:
    alice = await net.client("alice")
    await alice.send_raw(b"\r\n\n\r\n   \r\n")
    await alice.assert_nothing_pending()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02\x03\r\n",
        b":onlyasource\r\n",
        b"@onlytags\r\n",
        b"@a=b :src\r\n",
        b"@\r\n",
        b":\r\n",
        b"PRIVMSG bob :nul\x00inside\r\n",
        b"\xff\xfe\xfd\r\n",
        b"@" + b";" * 300 + b" PING x\r\n",
        b"PRIVMSG\tbob :tab\r\n",
        b"\r\r\r\n",
    ],
)
async def test_garbage_never_kills_the_connection(net: Net, garbage: bytes) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await alice.send_raw(garbage)
    await drain(alice)
    await still_chatting(alice, bob)
    await still_chatting(bob, alice)


@pytest.mark.parametrize(
    "line",
    [
        "NICK :bad nick",
        "JOIN :#a b",
        "PART :#a b",
        "PRIVMSG :a b :hello",
        "WHOIS :a b",
        "WHOWAS :a b",
        "MODE :#a b",
        "MODE :a b",
        "TOPIC :#a b",
        "INVITE :a b #room",
        "KICK #room :a b",
        "NAMES :#a b",
        "WHO :a b",
        "MONITOR + :a b",
        "CAP :A B",
        "HELP :no such topic",
    ],
)
async def test_parameters_with_spaces_are_answered_not_crashed(net: Net, line: str) -> None:
    """A parameter that holds a space can only be a trailing parameter; a reply that repeats it
    as a middle parameter has no wire form. The server must still answer (or ignore), and the
    client must stay connected."""
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    await alice.send(line)
    await drain(alice)
    await still_chatting(alice, bob)


# -- SendQ --------------------------------------------------------------------------------------


async def test_sendq_exceeded_disconnects_only_the_slow_client(
    app_factory: Callable[[Config], Any],
) -> None:
    app = await app_factory(make_config(sendq=16384))
    host, port = app.address()
    async with Net(app) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join("#flood", alice)
        await join("#chat", alice, bob)
        # A client that registers and joins, then never reads, with a tiny receive window.
        slow_mask = f"slowpoke!~u@{HOST}"
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_connect(slow, (host, port)), TIMEOUT)
            await loop.sock_sendall(slow, b"NICK slowpoke\r\nUSER u 0 * :slow\r\nJOIN #flood\r\n")
            await alice.expect(lambda m: m.command == "JOIN" and m.source == slow_mask)
            payload = "w" * 400
            quit_msg = None
            for batch in range(200):  # up to ~4 MB, far more than any socket buffer holds
                await alice.send(*[f"PRIVMSG #flood :{batch} {payload}" for _ in range(50)])
                await alice.send(f"PING :batch{batch}")
                got = await alice.collect_until(
                    lambda m: m.command == "PONG" and m.params[-1].startswith("batch")
                )
                quits = [m for m in got if m.command == "QUIT"]
                if quits:
                    quit_msg = quits[0]
                    break
            assert quit_msg is not None, "the slow client was never disconnected"
            assert quit_msg.source == slow_mask
            assert "sendq" in quit_msg.params[0].lower()
            await still_chatting(alice, bob)
            await still_chatting(bob, alice)
            got = await reply_to(bob, "WHOIS slowpoke")
            assert got[0].command == "401"
        finally:
            slow.close()


# -- timeouts -----------------------------------------------------------------------------------


async def test_registration_timeout(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(registration_timeout=1.0))
    async with Net(app) as net:
        idle = await net.raw()
        await idle.send("NICK idle")  # never sends USER
        error = await idle.expect("ERROR", timeout=TIMEOUT)
        assert "regist" in error.params[-1].lower()
        await assert_closed(idle)


async def test_ping_timeout(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(ping_interval=1.0, ping_timeout=1.0))
    async with Net(app) as net:
        alive = await net.client("alive")
        dead = await net.client("dead")
        await join("#room", alive, dead)

        async def answer_pings(client: IRCTestClient, count: int) -> None:
            for _ in range(count):
                ping = await client.expect("PING")
                await client.send(f"PONG :{ping.params[-1]}")

        # dead gets a PING and does not answer; alive answers each one and outlives it
        ping = await dead.expect("PING")
        assert ping.params
        pinger = asyncio.create_task(answer_pings(alive, 1))
        error = await dead.expect("ERROR")
        assert "ping timeout" in error.params[-1].lower()
        await assert_closed(dead)
        await pinger
        # alive keeps answering PINGs while it waits for dead's QUIT (the two may come in
        # either order)
        while True:
            msg = await alive.read_message()
            if msg.command == "PING":
                await alive.send(f"PONG :{msg.params[-1]}")
            elif msg.command == "QUIT":
                break
        assert msg.source == mask("dead")
        assert "ping timeout" in msg.params[0].lower()
        await answer_pings(alive, 1)
        await alive.assert_nothing_pending()


# -- connections ----------------------------------------------------------------------------------


async def test_max_clients_per_ip(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(max_clients_per_ip=2))
    async with Net(app) as net:
        first = await net.client("first")
        await net.client("second")
        third = await net.raw()
        error = await third.expect("ERROR")
        assert error.params
        await assert_closed(third)
        # once one leaves, there is room again
        await first.send("QUIT")
        await first.expect("ERROR")
        await assert_closed(first)
        fourth = await net.client("fourth")
        await fourth.assert_nothing_pending()


async def test_loopback_throttle_when_not_exempt(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(connect_burst=2, connect_rate=0.01, exempt_loopback=False))
    async with Net(app) as net:
        await net.client("first")
        await net.client("second")
        third = await net.raw()
        error = await third.expect("ERROR")
        assert error.params == ("Too many connections from your IP address too quickly",)
        await assert_closed(third)


async def test_quit_before_registration_with_reason(net: Net) -> None:
    client = await net.raw()
    await client.send("NICK early", "QUIT :just probing")
    error = await client.expect("ERROR")
    assert len(error.params) == 1
    await assert_closed(client)
    # the nick was released
    other = await net.client("early")
    await other.assert_nothing_pending()


async def test_too_many_channels_405(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(max_channels=2))
    async with Net(app) as net:
        alice = await net.client("alice")
        await join("#a", alice)
        await join("#b", alice)
        got = await reply_to(alice, "JOIN #c")
        # ERR_TOOMANYCHANNELS "<client> <channel> :You have joined too many channels"
        assert commands(got) == ["405"]
        assert got[0].params[:2] == ("alice", "#c")


async def test_nicklen_from_config(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config(nicklen=9))
    async with Net(app) as net:
        client = await net.raw()
        burst = await client.register("ninechars")
        assert any("NICKLEN=9" in m.params for m in burst if m.command == "005")
        got = await reply_to(client, "NICK tencharsss")
        assert commands(got) == ["432"]


async def test_shutdown_tells_clients_why(app_factory: Callable[[Config], Any]) -> None:
    app = await app_factory(make_config())
    async with Net(app) as net:
        alice = await net.client("alice")
        await app.stop("maintenance")
        error = await alice.expect("ERROR")
        assert "maintenance" in error.params[-1]
        await assert_closed(alice)
