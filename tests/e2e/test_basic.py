"""A first end-to-end check over real TCP sockets."""

from __future__ import annotations

from hubbub.net.app import App
from tests.cloaks import HOST
from tests.e2e.ircclient import IRCTestClient


async def test_two_clients_chat(hubbub_app: App) -> None:
    host, port = hubbub_app.address()
    alice = await IRCTestClient.connect(host, port)
    bob = await IRCTestClient.connect(host, port)
    await alice.register("alice")
    await bob.register("bob")
    await alice.send("JOIN #room")
    await alice.expect("366")
    await bob.send("JOIN #room")
    await bob.expect("366")
    await bob.send("PRIVMSG #room :hello alice")
    msg = await alice.expect("PRIVMSG")
    assert msg.source == f"bob!~user@{HOST}"
    assert msg.params == ("#room", "hello alice")
    await alice.close()
    await bob.close()
