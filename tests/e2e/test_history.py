"""History over real sockets and a real ``hubbub serve`` process: what a sender saw
acknowledged survives ``kill -9``; history, search and read markers survive a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hubbub.protocol.message import Message
from tests.e2e.ircclient import IRCTestClient
from tests.e2e.serving import serve
from tests.timeouts import TIMEOUT

CAPS = "draft/chathistory batch message-tags server-time echo-message soju.im/search"


async def connect(port: int, nick: str, caps: str = CAPS) -> IRCTestClient:
    client = await IRCTestClient.connect("127.0.0.1", port)
    await client.register(nick, caps)
    return client


async def batch_of(client: IRCTestClient, request: str) -> list[Message]:
    """Send ``request``; the messages of the batch that answers it."""
    await client.send(request)
    start = await client.expect(lambda m: m.command == "BATCH" and m.params[0][0] == "+")
    ref = start.params[0][1:]
    lines = await client.collect_until(lambda m: m.command == "BATCH" and m.params[0] == "-" + ref)
    return [m for m in lines if m.command != "BATCH"]


def unflooded(tmp_path: Path) -> str:
    """A config file without flood control (the test sends hundreds of lines at once)."""
    conf = tmp_path / "hubbub.toml"
    conf.write_text(
        f'[[listen]]\naddress = "127.0.0.1:0"\n[limits]\nflood = false\n'
        f'[storage]\npath = "{tmp_path / "h.db"}"\n'
    )
    return str(conf)


async def test_every_acknowledged_message_survives_kill_9(tmp_path: Path) -> None:
    """In a registered channel, whose history outlives the server (an unregistered one's
    is read from its creation on, and a restart makes it anew)."""
    from tests.e2e.test_chanserv import ask_chanserv, register_account

    conf = unflooded(tmp_path)
    count = 300
    async with serve("--config", conf, cwd=tmp_path) as (proc, port):
        alice = await connect(port, "alice")
        listener = await connect(port, "bob", "")
        await register_account(alice)
        await alice.send("JOIN #durable")
        await alice.expect("366")
        assert "registered" in await ask_chanserv(alice, "REGISTER #durable")
        await listener.send("JOIN #durable")
        await listener.expect("366")
        # Messages sent in a stream, as a busy client sends them: each echo acknowledges one.
        await alice.send(*[f"PRIVMSG #durable :line {i}" for i in range(count)])
        acked: list[str] = []
        while len(acked) < count:
            msg = await alice.expect("PRIVMSG")
            acked.append(msg.tags["msgid"])
        proc.kill()  # SIGKILL right after the last acknowledgement: no clean shutdown
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert proc.returncode == -9
        await alice.close()
        await listener.close()
    async with serve("--config", conf, cwd=tmp_path) as (_, port):
        alice = await connect(port, "alice")
        await alice.send("JOIN #durable")
        await alice.expect("366")
        got = await batch_of(alice, f"CHATHISTORY LATEST #durable * {count}")
        assert [m.tags["msgid"] for m in got] == acked
        assert [m.params[1] for m in got] == [f"line {i}" for i in range(count)]
        found = await batch_of(alice, "SEARCH in=#durable;text=299")
        assert [m.params[1] for m in found] == ["line 299"]
        await alice.close()


async def test_history_of_a_private_conversation_follows_the_account(tmp_path: Path) -> None:
    """Two connections of one account (SASL) read the same private history; a third user
    reads none of it."""
    from tests.e2e.test_accounts_e2e import PASSWORD
    from tests.server.saslclient import b64, plain

    db = tmp_path / "h.db"
    async with serve("--listen", "127.0.0.1:0", "--db", str(db), cwd=tmp_path) as (_, port):
        owner = await connect(port, "dana")
        await owner.send(f"REGISTER * * {PASSWORD}")
        assert (await owner.expect("REGISTER")).params[0] == "SUCCESS"
        friend = await connect(port, "erin")
        await friend.send("PRIVMSG dana :are you there?")
        await owner.expect("PRIVMSG")
        await owner.send("PRIVMSG erin :yes")
        await owner.expect("PRIVMSG")  # (the echo: stored)
        await owner.close()
        laptop = await IRCTestClient.connect("127.0.0.1", port)
        await laptop.send("CAP LS 302", f"CAP REQ :{CAPS} sasl", "NICK dana2", "USER u 0 * :R")
        ack = await laptop.expect(lambda m: m.command == "CAP" and m.params[1] in ("ACK", "NAK"))
        assert ack.params[1] == "ACK", ack
        await laptop.send("AUTHENTICATE PLAIN")
        await laptop.expect("AUTHENTICATE")
        await laptop.send(f"AUTHENTICATE {b64(plain('dana', PASSWORD))}")
        done = await laptop.expect(lambda m: m.command in ("903", "904"))
        assert done.command == "903", done
        await laptop.send("CAP END")
        await laptop.expect(lambda m: m.command in ("376", "422"))
        got = await batch_of(laptop, "CHATHISTORY LATEST erin * 10")
        assert [m.params[1] for m in got] == ["are you there?", "yes"]
        stranger = await connect(port, "mallory")
        got = await batch_of(stranger, "CHATHISTORY LATEST erin * 10")
        assert got == []
        for client in (laptop, friend, stranger):
            await client.close()


async def test_every_subcommand_answers_as_the_echoes_said(tmp_path: Path) -> None:
    """The conformance suites' check: the echoes of ten messages (with event-playback, of
    topics too) are what each CHATHISTORY subcommand gives back, msgid and time included."""
    conf = unflooded(tmp_path)
    async with serve("--config", conf, cwd=tmp_path) as (_, port):
        client = await connect(port, "bar", CAPS + " labeled-response draft/event-playback")
        await client.send("JOIN #conformance")
        await client.expect("366")
        echoes: list[tuple[str, str, str]] = []
        for i in range(10):
            await client.send(f"TOPIC #conformance :topic {i}")
            topic = await client.expect("TOPIC")
            echoes.append((topic.tags["msgid"], topic.tags["time"], topic.params[-1]))
            await asyncio.sleep(0.003)  # (distinct times, as the suites make them)
            await client.send(f"PRIVMSG #conformance :message {i}")
            said = await client.expect("PRIVMSG")
            echoes.append((said.tags["msgid"], said.tags["time"], said.params[-1]))
            await asyncio.sleep(0.003)
        assert len({time for _, time, _ in echoes}) == len(echoes)

        async def ask(request: str) -> list[tuple[str, str, str]]:
            got = await batch_of(client, request)
            return [
                (m.tags["msgid"], m.tags["time"], m.params[-1])
                for m in got
                if m.command in ("PRIVMSG", "TOPIC")
            ]

        chan = "#conformance"
        assert await ask(f"CHATHISTORY LATEST {chan} * 40") == echoes
        assert await ask(f"CHATHISTORY LATEST {chan} * 5") == echoes[-5:]
        assert await ask(f"CHATHISTORY LATEST {chan} msgid={echoes[4][0]} 40") == echoes[5:]
        assert await ask(f"CHATHISTORY LATEST {chan} timestamp={echoes[4][1]} 40") == echoes[5:]
        assert await ask(f"CHATHISTORY BEFORE {chan} msgid={echoes[6][0]} 40") == echoes[:6]
        assert await ask(f"CHATHISTORY BEFORE {chan} timestamp={echoes[6][1]} 2") == echoes[4:6]
        assert await ask(f"CHATHISTORY AFTER {chan} msgid={echoes[3][0]} 40") == echoes[4:]
        assert await ask(f"CHATHISTORY AFTER {chan} timestamp={echoes[3][1]} 3") == echoes[4:7]
        first, last = echoes[0], echoes[-1]
        assert (
            await ask(f"CHATHISTORY BETWEEN {chan} msgid={first[0]} msgid={last[0]} 40")
            == (echoes[1:-1])
        )
        assert (
            await ask(f"CHATHISTORY BETWEEN {chan} msgid={last[0]} msgid={first[0]} 3")
            == (echoes[-4:-1])
        )
        assert (
            await ask(f"CHATHISTORY BETWEEN {chan} timestamp={first[1]} timestamp={last[1]} 3")
            == echoes[1:4]
        )
        assert await ask(f"CHATHISTORY AROUND {chan} msgid={echoes[7][0]} 1") == [echoes[7]]
        assert await ask(f"CHATHISTORY AROUND {chan} msgid={echoes[7][0]} 3") == echoes[6:9]
        assert echoes[7] in await ask(f"CHATHISTORY AROUND {chan} timestamp={echoes[7][1]} 3")
        await client.close()
