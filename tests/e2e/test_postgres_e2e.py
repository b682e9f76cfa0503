"""A real ``hubbub serve`` on the session's test PostgreSQL (``[storage] url``): accounts
and history are in the database and survive a restart (``kill -9``); a database that cannot
be reached stops the start with one clear line; ``hubbub account`` works on it too."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

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


async def logged_in(port: int, nick: str, account: str) -> IRCTestClient:
    """A client logged in to ``account`` with SASL PLAIN."""
    client = await IRCTestClient.connect("127.0.0.1", port)
    await client.send("CAP LS 302", f"CAP REQ :{CAPS} sasl", f"NICK {nick}", "USER u 0 * :R")
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
