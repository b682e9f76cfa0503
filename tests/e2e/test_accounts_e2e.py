"""Accounts over real sockets: REGISTER, SASL PLAIN and SCRAM-SHA-256 from a raw client, what
a second client sees, and an account that survives ``kill -9`` of a ``hubbub serve`` process."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.config import AccountsSection, Config, StorageSection
from hubbub.net.app import App
from hubbub.protocol.message import Message
from tests.cloaks import HOST
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.e2e.serving import serve
from tests.server.saslclient import ScramClient, b64, plain
from tests.timeouts import TIMEOUT

PASSWORD = "correct-horse"

AppFactory = Callable[[Config], Any]


def config_with_db(path: Path) -> Config:
    return dataclasses.replace(make_config(), storage=StorageSection(path=str(path)))


@pytest.fixture
async def app(app_factory: AppFactory, tmp_path: Path) -> App:
    started: App = await app_factory(config_with_db(tmp_path / "h.db"))
    return started


async def connect(host: str, port: int) -> IRCTestClient:
    return await IRCTestClient.connect(host, port)


def numeric(code: str) -> Callable[[Message], bool]:
    return lambda m: m.command == code


async def register_account(host: str, port: int, nick: str, password: str = PASSWORD) -> None:
    """Connect, register ``nick`` as an account with REGISTER, and leave."""
    client = await connect(host, port)
    await client.register(nick)
    await client.send(f"REGISTER * * {password}")
    logged_in = await client.expect("900")
    assert logged_in.params[2] == nick
    success = await client.expect("REGISTER")
    assert success.params[:2] == ("SUCCESS", nick)
    await client.send("QUIT")
    await client.close()


async def sasl_start(client: IRCTestClient, nick: str, mechanism: str) -> None:
    await client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :Real")
    ack = await client.expect(lambda m: m.command == "CAP" and m.params[1] in ("ACK", "NAK"))
    assert ack.params[1] == "ACK", ack
    await client.send(f"AUTHENTICATE {mechanism}")
    plus = await client.expect("AUTHENTICATE")
    assert plus.params == ("+",)


async def sasl_plain(client: IRCTestClient, nick: str, user: str, password: str) -> Message:
    """A SASL PLAIN exchange; returns the closing numeric (903 or 904)."""
    await sasl_start(client, nick, "PLAIN")
    await client.send(f"AUTHENTICATE {b64(plain(user, password))}")
    return await client.expect(lambda m: m.command in ("903", "904"))


async def sasl_scram(client: IRCTestClient, nick: str, user: str, password: str) -> Message:
    """A SASL SCRAM-SHA-256 exchange; returns the closing numeric (903 or 904)."""
    await sasl_start(client, nick, "SCRAM-SHA-256")
    scram = ScramClient(user, password)
    await client.send(f"AUTHENTICATE {b64(scram.first())}")
    server_first = await client.expect("AUTHENTICATE")
    await client.send(f"AUTHENTICATE {b64(scram.final(base64.b64decode(server_first.params[0])))}")
    reply = await client.expect(lambda m: m.command in ("AUTHENTICATE", "904"))
    if reply.command == "904":
        return reply
    assert scram.check(base64.b64decode(reply.params[0])), "server signature is wrong"
    await client.send("AUTHENTICATE +")
    return await client.expect(lambda m: m.command in ("903", "904"))


async def test_cap_ls_offers_accounts(app: App) -> None:
    client = await connect(*app.address())
    await client.send("CAP LS 302")
    lines = await client.collect_until(lambda m: m.command == "CAP" and m.params[2] != "*")
    caps = " ".join(m.params[-1] for m in lines).split()
    assert "sasl=PLAIN,SCRAM-SHA-256" in caps
    assert {"account-notify", "account-tag", "extended-join"} <= {c.split("=")[0] for c in caps}
    assert "draft/account-registration=before-connect,custom-account-name" in caps
    await client.close()


async def test_register_then_sasl_plain_and_scram(app: App) -> None:
    host, port = app.address()
    await register_account(host, port, "alice")
    for mechanism in (sasl_plain, sasl_scram):
        client = await connect(host, port)
        done = await mechanism(client, "alice", "alice", PASSWORD)
        assert done.command == "903", done
        await client.send("CAP END")
        welcome = await client.expect("001")
        assert welcome.params[0] == "alice"
        await client.send("WHOIS alice")
        whois = await client.expect("330")
        assert whois.params[1:3] == ("alice", "alice")
        await client.close()


async def test_wrong_password_is_904(app: App) -> None:
    host, port = app.address()
    await register_account(host, port, "alice")
    for mechanism in (sasl_plain, sasl_scram):
        client = await connect(host, port)
        done = await mechanism(client, "alice", "alice", "not-the-password")
        assert done.command == "904", done
        await client.send("CAP END")
        await client.expect("001")  # a failed login still lets the client in
        await client.close()
    client = await connect(host, port)
    done = await sasl_plain(client, "ghost", "ghost", PASSWORD)
    assert done.command == "904"
    await client.close()


async def test_pipelined_login_finishes_before_welcome(app: App) -> None:
    host, port = app.address()
    await register_account(host, port, "alice")
    client = await connect(host, port)
    await client.send(
        "CAP LS 302",
        "CAP REQ :sasl",
        "NICK alice",
        "USER u 0 * :Real",
        "AUTHENTICATE PLAIN",
        f"AUTHENTICATE {b64(plain('alice', PASSWORD))}",
        "CAP END",
    )
    seen = await client.collect_until("001")
    commands = [m.command for m in seen if m.command not in ("CAP", "AUTHENTICATE")]
    assert commands == ["900", "903", "001"], seen
    await client.close()


async def test_what_a_second_client_sees(app: App) -> None:
    host, port = app.address()
    await register_account(host, port, "alice")
    watcher = await connect(host, port)
    await watcher.register("bob", caps="account-notify account-tag extended-join")
    await watcher.send("JOIN #room")
    await watcher.expect("366")

    alice = await connect(host, port)
    done = await sasl_plain(alice, "alice", "alice", PASSWORD)
    assert done.command == "903"
    await alice.send("CAP END")
    await alice.expect("001")
    await alice.send("JOIN #room")
    await alice.expect("366")
    join = await watcher.expect("JOIN")
    assert join.params == ("#room", "alice", "Real")  # extended-join: account and realname

    await alice.send("PRIVMSG #room :hello")
    msg = await watcher.expect("PRIVMSG")
    assert msg.tags.get("account") == "alice"

    await alice.send("NS LOGOUT")
    await alice.expect("901")
    logout = await watcher.expect("ACCOUNT")
    assert (logout.source, logout.params) == (f"alice!~u@{HOST}", ("*",))
    await alice.send("NS IDENTIFY alice " + PASSWORD)
    await alice.expect("900")
    login = await watcher.expect("ACCOUNT")
    assert login.params == ("alice",)
    await alice.close()
    await watcher.close()


async def test_a_stranger_on_a_registered_nick_is_renamed(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    """Nick protection over sockets: alice registers and leaves, a stranger takes her nick,
    is warned by NickServ and renamed to a guest nick by the server's timer."""
    config = dataclasses.replace(
        config_with_db(tmp_path / "h.db"), accounts=AccountsSection(nick_grace=1)
    )
    app: App = await app_factory(config)
    host, port = app.address()
    await register_account(host, port, "alice")
    stranger = await connect(host, port)
    await stranger.register("alice")
    warning = await stranger.expect("NOTICE")
    assert (warning.source or "").startswith("NickServ!")
    assert "registered to the account alice" in warning.params[1]
    renamed = await stranger.expect("NICK")
    assert (renamed.source or "").startswith("alice!")
    assert re.fullmatch(r"Guest\d{5}", renamed.params[0])
    await stranger.send("WHOIS alice")
    assert (await stranger.expect("401")).params[1] == "alice"  # the nick is free again
    await stranger.close()


# -- durability: a real process, killed -----------------------------------------------------


async def test_account_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    async with serve("--listen", "127.0.0.1:0", "--db", str(db), cwd=tmp_path) as (proc, port):
        client = await connect("127.0.0.1", port)
        await client.register("durable")
        await client.send(f"REGISTER * * {PASSWORD}")
        success = await client.expect("REGISTER")
        assert success.params[:2] == ("SUCCESS", "durable")
        proc.kill()  # SIGKILL right after the acknowledgement: no clean shutdown
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert proc.returncode == -9
        await client.close()
    async with serve("--listen", "127.0.0.1:0", "--db", str(db), cwd=tmp_path) as (_, port):
        client = await connect("127.0.0.1", port)
        done = await sasl_scram(client, "durable", "durable", PASSWORD)
        assert done.command == "903", done
        await client.close()
        client = await connect("127.0.0.1", port)
        done = await sasl_plain(client, "again", "durable", PASSWORD)
        assert done.command == "903", done
        await client.close()
