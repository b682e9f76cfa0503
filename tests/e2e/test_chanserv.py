"""Extended bans and ChanServ over real sockets: a mute by account in a running server, and a
registered channel that a ``hubbub serve`` process keeps across a restart (its topic, modes,
bans and access list come back; only the access list gets operator status)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hubbub.net.app import App
from hubbub.protocol.casemap import Folded
from hubbub.protocol.isupport import parse_tokens
from hubbub.protocol.message import Message
from hubbub.storage import SqliteStorage
from hubbub.storage.base import ChannelRecord
from tests.e2e.conformance import Net, drain
from tests.e2e.ircclient import IRCTestClient
from tests.e2e.serving import serve
from tests.timeouts import TIMEOUT

PASSWORD = "correct-horse"


def from_chanserv(message: Message) -> bool:
    return message.command == "NOTICE" and (message.source or "").startswith("ChanServ!")


async def register_account(client: IRCTestClient) -> None:
    """Register the client's nick as an account (which logs it in)."""
    await client.send(f"REGISTER * * {PASSWORD}")
    success = await client.expect("REGISTER")
    assert success.params[:2] == ("SUCCESS", client.nick), success


async def ask_chanserv(client: IRCTestClient, line: str) -> str:
    """ChanServ's (first) answer to ``line``."""
    await client.send(f"PRIVMSG ChanServ :{line}")
    return (await client.expect(from_chanserv)).params[1]


async def test_a_mute_by_account_over_real_sockets(hubbub_app: App, net: Net) -> None:
    alice = await net.client("alice")
    loud = await net.raw()
    burst = await loud.register("loud")
    tokens = parse_tokens(p for m in burst if m.command == "005" for p in m.params[1:-1])
    assert tokens["EXTBAN"] == ",am"
    assert tokens["ACCOUNTEXTBAN"] == "a"
    await register_account(loud)
    quiet = await net.client("quiet")
    for client in (alice, loud, quiet):
        await client.send("JOIN #chat")
        await drain(client)
    await alice.send("MODE #chat +b m:a:LOUD")
    mode = await alice.expect("MODE")
    assert mode.params == ("#chat", "+b", "m:a:LOUD")
    await drain(loud)
    await loud.send("PRIVMSG #chat :can anyone hear me")
    refused = await loud.expect("404")
    assert refused.params == ("loud", "#chat", "Cannot send to channel")
    await quiet.send("PRIVMSG #chat :I can be heard")
    heard = await alice.expect("PRIVMSG")
    assert heard.params == ("#chat", "I can be heard")  # (and nothing of loud's came first)


async def connect(port: int, nick: str) -> IRCTestClient:
    client = await IRCTestClient.connect("127.0.0.1", port)
    await client.register(nick)
    return client


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM: the server finishes its writes, then stops."""
    proc.terminate()
    await asyncio.wait_for(proc.wait(), TIMEOUT)
    assert proc.returncode == 0


async def names_of(client: IRCTestClient, channel: str) -> list[str]:
    reply = await client.expect("353")
    assert reply.params[2] == channel
    return reply.params[3].split()


async def test_a_registered_channel_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    args = ("--listen", "127.0.0.1:0", "--db", db)
    async with serve(*args, cwd=tmp_path) as (proc, port):
        bob = await connect(port, "bob")
        await register_account(bob)
        await bob.send("QUIT")
        alice = await connect(port, "alice")
        await register_account(alice)
        await alice.send("JOIN #Chat", "TOPIC #Chat :kept across restarts", "MODE #Chat +mk sesame")
        await alice.send("MODE #Chat +b a:spammer")
        await alice.expect(lambda m: m.command == "MODE" and m.params[1] == "+b")
        assert await ask_chanserv(alice, "REGISTER #chat") == "#Chat is now registered to alice."
        answer = await ask_chanserv(alice, "ACCESS #chat ADD bob op")
        assert answer == "bob is now on the access list of #Chat as op."
        await stop(proc)
        await alice.close()

    async with serve(*args, cwd=tmp_path) as (proc, port):
        carol = await connect(port, "carol")  # not on the access list: brings it back, no @
        await carol.send("JOIN #chat")
        assert (await carol.expect("475")).params[1] == "#Chat"  # the kept key
        await carol.send("JOIN #chat sesame")
        join = await carol.collect_until("366")
        assert join[0].command == "JOIN"
        assert join[0].params[0] == "#Chat"
        topic = next(m for m in join if m.command == "332")
        assert topic.params[2] == "kept across restarts"
        assert next(m for m in join if m.command == "353").params[3] == "carol"
        await carol.send("MODE #chat")
        assert (await carol.expect("324")).params[2:] == ("+mntk", "sesame")
        await carol.send("MODE #chat b")
        assert (await carol.expect("367")).params[2] == "a:spammer"

        bob = await connect(port, "bob")  # on the access list: ChanServ gives it +o
        await bob.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
        await bob.expect("900")
        await bob.send("JOIN #chat sesame")
        mode = await bob.expect("MODE")
        assert (mode.source or "").startswith("ChanServ!")
        assert mode.params == ("#Chat", "+o", "bob")

        for client in (carol, bob):  # empty: the next to come brings it back
            await client.send("PART #chat")
            await client.expect("PART")
        await bob.send("JOIN #chat sesame")
        assert await names_of(bob, "#Chat") == ["@bob"]  # the access list's first joiner
        await carol.close()
        await bob.close()


async def test_what_chanserv_acknowledged_survives_kill_9(tmp_path: Path) -> None:
    """ACCESS ADD/DEL and SET HISTORY are answered once they are in the database (they
    were answered at once and written later: a `kill -9` right after an answered ACCESS
    DEL brought the removed operator back)."""
    db = str(tmp_path / "h.db")
    args = ("--listen", "127.0.0.1:0", "--db", db)
    async with serve(*args, cwd=tmp_path) as (proc, port):
        for nick in ("bob", "carol"):
            client = await connect(port, nick)
            await register_account(client)
            await client.send("QUIT")
        alice = await connect(port, "alice")
        await register_account(alice)
        await alice.send("JOIN #chat")
        assert await ask_chanserv(alice, "REGISTER #chat") == "#chat is now registered to alice."
        answer = await ask_chanserv(alice, "ACCESS #chat ADD bob op")
        assert answer == "bob is now on the access list of #chat as op."
        answer = await ask_chanserv(alice, "ACCESS #chat ADD carol voice")
        assert answer == "carol is now on the access list of #chat as voice."
        answer = await ask_chanserv(alice, "ACCESS #chat DEL bob")
        assert answer == "bob is no longer on the access list of #chat."
        assert await ask_chanserv(alice, "SET #chat HISTORY off") == "History of #chat: off."
        proc.kill()  # SIGKILL right after the last acknowledgement: no clean shutdown
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        await alice.close()

    async with serve(*args, cwd=tmp_path) as (proc, port):
        alice = await connect(port, "alice")
        await alice.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
        await alice.expect("900")
        await alice.send("PRIVMSG ChanServ :ACCESS #chat LIST")
        listed = [(await alice.expect(from_chanserv)).params[1] for _ in range(4)]
        assert listed == [
            "Access list of #chat:",
            "alice founder",
            "carol voice",
            "End of the access list (2).",
        ]
        await alice.send("PRIVMSG ChanServ :INFO #chat")
        info = [(await alice.expect(from_chanserv)).params[1] for _ in range(3)]
        assert "History: off" in info
        await alice.close()


async def test_a_registration_whose_founder_is_gone_is_dropped_at_start(tmp_path: Path) -> None:
    """A database where an older hubbub deleted an account and left its channel and access
    entries: at start-up they go, so the name's next owner inherits neither."""
    db = tmp_path / "h.db"
    storage = SqliteStorage(db)
    storage.open()
    storage.save_channel(
        ChannelRecord(name="#orphan", folded=Folded("#orphan"), founder="gone", registered=1.0)
    )
    storage.close()
    async with serve("--listen", "127.0.0.1:0", "--db", str(db), cwd=tmp_path) as (_, port):
        mallory = await connect(port, "gone")
        await register_account(mallory)
        assert await ask_chanserv(mallory, "INFO #orphan") == "#orphan is not registered."
        await mallory.close()
    storage = SqliteStorage(db)
    storage.open()
    assert storage.list_channels() == []
    storage.close()
