"""The relay counters are exact, however the messages arrive: in blocks (many lines in one
read, relayed as one event) or one by one. Counted from the network's events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubbub.config import Config
from hubbub.net.app import App
from tests.e2e.conformance import join
from tests.e2e.ircclient import IRCTestClient
from tests.scrape import metrics_config, scrape

AppFactory = Callable[[Config], Any]

BLOCK = 50
"""Lines sent in one write."""
SINGLE = 20
"""Lines sent one at a time, each only once the last one arrived."""


async def privmsgs(client: IRCTestClient, count: int) -> list[str]:
    """The texts of the next ``count`` PRIVMSGs ``client`` receives."""
    texts: list[str] = []
    while len(texts) < count:
        msg = await client.expect("PRIVMSG")
        texts.append(msg.params[1])
    return texts


async def test_relayed_messages_are_counted_exactly(app_factory: AppFactory) -> None:
    app: App = await app_factory(metrics_config())
    host, port = app.address("irc")
    alice, bob, carol = [await IRCTestClient.connect(host, port) for _ in range(3)]
    for client, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        await client.register(nick)
    await join("#room", alice, bob, carol)

    # A block: one write, so the server reads many lines at once.
    await alice.send_raw(b"".join(f"PRIVMSG #room :block {i}\r\n".encode() for i in range(BLOCK)))
    expected = [f"block {i}" for i in range(BLOCK)]
    assert await privmsgs(bob, BLOCK) == expected
    assert await privmsgs(carol, BLOCK) == expected
    # One by one.
    for i in range(SINGLE):
        await alice.send(f"PRIVMSG #room :single {i}")
        assert await privmsgs(bob, 1) == [f"single {i}"]
        assert await privmsgs(carol, 1) == [f"single {i}"]
    # And a block to a user.
    await alice.send_raw(b"".join(f"NOTICE bob :direct {i}\r\n".encode() for i in range(BLOCK)))
    for _ in range(BLOCK):
        await bob.expect("NOTICE")

    got = await scrape(app)
    lines = BLOCK + SINGLE
    assert got['hubbub_messages_relayed_total{command="PRIVMSG"}'] == lines
    assert got['hubbub_message_deliveries_total{command="PRIVMSG"}'] == 2 * lines
    assert got['hubbub_messages_relayed_total{command="NOTICE"}'] == BLOCK
    assert got['hubbub_message_deliveries_total{command="NOTICE"}'] == BLOCK
    assert got['hubbub_events_total{event="joined"}'] == 3
    for client in (alice, bob, carol):
        await client.close()
