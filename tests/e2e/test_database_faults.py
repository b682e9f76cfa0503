"""The database under a real ``hubbub serve`` process: damaged while the server runs, it costs
only what needs it; on SIGTERM the writes in flight finish or are refused before it closes;
a fatal signal is never silent."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from hubbub.protocol.message import Message
from hubbub.storage import SqliteStorage
from tests.e2e.ircclient import IRCTestClient
from tests.e2e.serving import serve
from tests.e2e.test_accounts_e2e import PASSWORD, register_account, sasl_plain
from tests.timeouts import TIMEOUT

LISTEN = ("--listen", "127.0.0.1:0")


async def read_to_end(client: IRCTestClient) -> list[Message]:
    """Every message until the server closes the connection."""
    seen: list[Message] = []
    while True:
        try:
            seen.append(await client.read_message())
        except (EOFError, ConnectionError):
            return seen


def cut_short(db: Path) -> list[str]:
    """Truncate the database and every file beside it (journal, WAL, shared-memory index) to
    nothing, as a full disk, a careless script or an attacker might; their names."""
    files = sorted(db.parent.glob(db.name + "*"))
    for file in files:
        os.truncate(file, 0)
    return [file.name for file in files]


async def test_a_damaged_database_costs_only_what_needs_it(tmp_path: Path) -> None:
    db = tmp_path / "hubbub.db"
    log: list[str] = []
    async with serve(*LISTEN, "--db", str(db), cwd=tmp_path, log=log) as (proc, port):
        await register_account("127.0.0.1", port, "alice")
        talker = await IRCTestClient.connect("127.0.0.1", port)
        await talker.register("talker")
        listener = await IRCTestClient.connect("127.0.0.1", port)
        await listener.register("listener")

        assert "hubbub.db" in cut_short(db)

        newcomer = await IRCTestClient.connect("127.0.0.1", port)
        await newcomer.register("carol")
        await newcomer.send(f"REGISTER * * {PASSWORD}")
        answer = await newcomer.expect(lambda m: m.command in ("FAIL", "REGISTER"))
        assert answer.command == "FAIL"
        assert answer.params[:3] == ("REGISTER", "TEMPORARILY_UNAVAILABLE", "carol")

        # Chat goes on, and logging in to an account the server knows still works.
        await talker.send("PRIVMSG listener :still here")
        said = await listener.expect("PRIVMSG")
        assert said.params == ("listener", "still here")
        await talker.send("JOIN #room")
        await listener.send("JOIN #room")
        await talker.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("lis"))
        await listener.send("PRIVMSG #room :me too")
        assert (await talker.expect("PRIVMSG")).params == ("#room", "me too")
        client = await IRCTestClient.connect("127.0.0.1", port)
        done = await sasl_plain(client, "alice2", "alice", PASSWORD)
        assert done.command == "903", done

        assert proc.returncode is None
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
        for each in (talker, listener, newcomer, client):
            await each.close()
    failed = [line for line in log if "could not store the new account 'carol'" in line]
    assert len(failed) == 1, log
    assert " ERROR " in failed[0]
    assert not any("Traceback" in line for line in log), "".join(log)


async def test_sigterm_finishes_or_refuses_writes_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "hubbub.db"
    log: list[str] = []
    nicks = [f"user{i}" for i in range(4)]
    acknowledged: list[str] = []
    async with serve(*LISTEN, "--db", str(db), cwd=tmp_path, log=log) as (proc, port):
        clients = [await IRCTestClient.connect("127.0.0.1", port) for _ in nicks]
        for client, nick in zip(clients, nicks, strict=True):
            await client.register(nick)
        for client in clients:  # hashing and storing four passwords takes a while
            client.writer.write(f"REGISTER * * {PASSWORD}\r\n".encode())
        await asyncio.gather(*(client.writer.drain() for client in clients))
        proc.send_signal(signal.SIGTERM)
        for client, nick in zip(clients, nicks, strict=True):
            seen = await read_to_end(client)
            assert seen, nick
            assert seen[-1].command == "ERROR", (nick, seen)
            if any(m.command == "REGISTER" and m.params[0] == "SUCCESS" for m in seen):
                acknowledged.append(nick)
            await client.close()
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
    assert not any("Traceback" in line for line in log), "".join(log)
    storage = SqliteStorage(db)
    storage.open()
    stored = {record.name for record in storage.list_accounts()}
    storage.close()
    assert set(acknowledged) <= stored, (acknowledged, stored)


async def test_a_fatal_signal_leaves_a_stack_trace(tmp_path: Path) -> None:
    log: list[str] = []
    async with serve(*LISTEN, "--db", str(tmp_path / "h.db"), cwd=tmp_path, log=log) as (
        proc,
        _,
    ):
        proc.send_signal(signal.SIGBUS)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == -signal.SIGBUS
    assert any("Fatal Python error: Bus error" in line for line in log), "".join(log)
