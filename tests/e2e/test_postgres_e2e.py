"""A real ``hubbub serve`` on the session's test PostgreSQL (``[storage] url``): accounts
and history are in the database and survive a restart (``kill -9``); a database that cannot
be reached stops the start with one clear line; ``hubbub account`` works on it too; while
it is down, echo-message senders wait for it once, not per message."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from hubbub.protocol.message import Message
from tests.e2e.ircclient import IRCTestClient
from tests.e2e.serving import HUBBUB, serve
from tests.e2e.test_accounts_e2e import PASSWORD
from tests.e2e.test_chanserv import ask_chanserv
from tests.e2e.test_history import CAPS, batch_of, connect
from tests.server.saslclient import b64, plain
from tests.timeouts import TIMEOUT


def config(tmp_path: Path, url: str) -> str:
    conf = tmp_path / "hubbub.toml"
    conf.write_text(
        f'[[listen]]\naddress = "127.0.0.1:0"\n[limits]\nflood = false\n[storage]\nurl = "{url}"\n'
    )
    return str(conf)


async def logged_in(port: int, nick: str, account: str, caps: str = CAPS) -> IRCTestClient:
    """A client logged in to ``account`` with SASL PLAIN (and ``caps``)."""
    client = await IRCTestClient.connect("127.0.0.1", port)
    await client.send("CAP LS 302", f"CAP REQ :{caps} sasl", f"NICK {nick}", "USER u 0 * :R")
    ack = await client.expect(lambda m: m.command == "CAP" and m.params[1] in ("ACK", "NAK"))
    assert ack.params[1] == "ACK", ack
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send(f"AUTHENTICATE {b64(plain(account, PASSWORD))}")
    done = await client.expect(lambda m: m.command in ("903", "904"))
    assert done.command == "903", done
    await client.send("CAP END")
    await client.expect(lambda m: m.command in ("376", "422"))
    return client


async def test_accounts_and_history_in_postgresql_survive_a_restart(
    tmp_path: Path, postgres_url: str
) -> None:
    conf = config(tmp_path, postgres_url)
    log: list[str] = []
    count = 50
    async with serve("--config", conf, cwd=tmp_path, log=log) as (proc, port):
        assert any("storage: postgresql://" in line for line in log), log
        dana = await connect(port, "dana")
        await dana.send(f"REGISTER * * {PASSWORD}")
        assert (await dana.expect("REGISTER")).params[0] == "SUCCESS"
        await dana.send("JOIN #pg")
        await dana.expect("366")
        # (registered: its history is read across the restart, an unregistered one's not)
        assert "registered" in await ask_chanserv(dana, "REGISTER #pg")
        await dana.send(*[f"PRIVMSG #pg :line {i} über" for i in range(count)])
        acked = [(await dana.expect("PRIVMSG")).tags["msgid"] for _ in range(count)]
        got = await batch_of(dana, f"CHATHISTORY LATEST #pg * {count}")
        assert [m.tags["msgid"] for m in got] == acked, "".join(log)
        found = await batch_of(dana, "SEARCH in=#pg;text=UBER;limit=1")
        assert [m.params[1] for m in found] == [f"line {count - 1} über"]
        proc.kill()  # no clean shutdown: what was acknowledged is committed
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        await dana.close()
    async with serve("--config", conf, cwd=tmp_path) as (_, port):
        dana = await logged_in(port, "dana_", "dana")  # the account is still there
        await dana.send("JOIN #pg")
        await dana.expect("366")
        got = await batch_of(dana, f"CHATHISTORY LATEST #pg * {count}")
        assert [m.tags["msgid"] for m in got] == acked
        assert [m.params[1] for m in got] == [f"line {i} über" for i in range(count)]
        found = await batch_of(dana, "SEARCH in=#pg;text=49")
        assert [m.tags["msgid"] for m in found] == [acked[49]]
        await dana.close()


def test_an_unreachable_database_stops_the_start_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = f"postgresql://hubbub:s3cret-pw@127.0.0.1:{port}/hubbub"
        result = subprocess.run(
            [*HUBBUB, "serve", "--config", config(tmp_path, url)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 2,
            cwd=tmp_path,
            check=False,
        )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line or "error" in line]
    assert len(errors) == 1, result.stderr
    assert (
        "cannot start: cannot connect to PostgreSQL at postgresql://hubbub@127.0.0.1:"
        in (errors[0])
    )
    assert "s3cret-pw" not in result.stderr


def test_the_account_command_works_on_the_database(tmp_path: Path, postgres_url: str) -> None:
    conf = config(tmp_path, postgres_url)

    def account(*args: str, password: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*HUBBUB, "account", "--config", conf, "--direct", *args],
            input=password,
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 2,
            cwd=tmp_path,
            check=False,
        )

    made = account("create", "erin", "--password-stdin", password=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    listed = account("list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("erin\t")
    assert account("delete", "erin").returncode == 0
    assert "0 accounts" in account("list").stderr


@contextlib.contextmanager
def database_away(url: str) -> Iterator[None]:
    """PostgreSQL refuses the database at ``url`` for the block (its connections cut, new
    ones refused), as while it is down: the server's pool waits ``connect_timeout`` for a
    connection, then fails."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def test_while_postgresql_is_away_echoes_wait_for_it_once_not_per_message(
    tmp_path: Path, postgres_url: str
) -> None:
    """An echo-message sender is held until its line is committed. While PostgreSQL is down
    each commit waited the pool's ``connect_timeout`` (two of them for a line queued behind
    another): the sender froze for that long with every message, PING included. Now the
    first failure is the only wait: the lines after it are lost at once (as the docs say of
    an outage) and their echoes go out at once, until the writer's probe sees the database
    back; then lines are kept again."""
    conf = tmp_path / "hubbub.toml"
    conf.write_text(
        '[[listen]]\naddress = "127.0.0.1:0"\n[limits]\nflood = false\n'
        f'[storage]\nurl = "{postgres_url}"\nconnect_timeout = 2.0\n'
    )
    loop = asyncio.get_running_loop()
    async with serve("--config", str(conf), cwd=tmp_path) as (_, port):
        sender = await connect(port, "sender")
        await sender.send("JOIN #room")
        await sender.expect("366")
        await sender.send("PRIVMSG #room :before")
        await sender.expect(said("before"))
        with database_away(postgres_url):
            await sender.send("PRIVMSG #room :first")  # (how the writer learns: one wait)
            await sender.expect(said("first"), TIMEOUT)
            waits = []
            for i in range(5):
                began = loop.time()
                await sender.send(f"PRIVMSG #room :lost {i}", f"PING :p{i}")
                await sender.expect(said(f"lost {i}"))
                await sender.expect("PONG")
                waits.append(loop.time() - began)
            assert max(waits) < 1.0, waits  # (was 2 to 4 s each: the pool's timeout)
        deadline = loop.time() + TIMEOUT * 2
        kept: list[str] = []
        for i in itertools.count():  # back: kept again once the probe sees it (1 s apart)
            await sender.send(f"PRIVMSG #room :after {i}")
            await sender.expect(said(f"after {i}"))
            got = await batch_of(sender, "CHATHISTORY LATEST #room * 50")
            kept = [m.params[-1] for m in got if m.command == "PRIVMSG"]
            if f"after {i}" in kept:
                break
            assert loop.time() < deadline, kept
            await asyncio.sleep(0.2)
        assert kept[0] == "before"
        assert not [text for text in kept if text.startswith("lost")]
        await sender.close()


def said(text: str) -> Callable[[Message], bool]:
    return lambda m: m.command == "PRIVMSG" and m.params[-1] == text
