"""The example plugin examples/seen.py, loaded from its file into a harness server and used
by its clients (tests/e2e/test_plugins.py runs it over real sockets)."""

from __future__ import annotations

import logging

import pytest

from tests.server.harness import Client, FakeClock, make_server
from tests.server.pluginhelpers import EXAMPLES, Plugged

SEEN = EXAMPLES / "seen.py"


def seen_plugin(**settings: object) -> tuple[Plugged, FakeClock]:
    clock = FakeClock()
    plugged = Plugged(make_server(clock))
    assert plugged.load(SEEN, settings={"seen": {"channels": ["#lobby"], **settings}}) == []
    return plugged, clock


def joined(plugged: Plugged, nick: str, *channels: str) -> Client:
    client = plugged.client(nick)
    for channel in channels:
        client.send(f"JOIN {channel}")
    client.messages()
    return client


def answers(client: Client, line: str, command: str = "PRIVMSG") -> list[tuple[str, str]]:
    """(target, text) of what Seen says to ``client`` once it sent ``line``."""
    client.messages()
    client.send(line)
    return [
        (m.params[0], m.params[1])
        for m in client.messages()
        if m.command == command and (m.source or "").startswith("Seen!")
    ]


def ask(client: Client, question: str) -> str:
    """Seen's answer to ``question`` asked in #lobby."""
    ((target, text),) = answers(client, f"PRIVMSG #lobby :{question}")
    assert target == "#lobby"
    return text


def test_seen_in_a_channel() -> None:
    plugged, clock = seen_plugin()
    lobby = plugged.network.find_channel("#lobby")
    assert lobby is not None
    assert [(u.nick, m) for u, m in lobby.members.items()] == [("Seen", "o")]
    alice = joined(plugged, "alice", "#lobby")
    bob = joined(plugged, "bob", "#lobby")
    assert ask(bob, "!seen alice") == (
        "alice was last seen just now, joining #lobby. alice is online now."
    )
    alice.send("PRIVMSG #lobby :hi all")
    clock.advance(125)
    assert ask(bob, "!seen Alice") == (
        "alice was last seen 2 minutes ago, saying 'hi all' in #lobby. alice is online now."
    )
    alice.send("QUIT :bye")
    clock.advance(3600 * 5)
    assert ask(bob, "!seen alice") == "alice was last seen 5 hours ago, quitting (Quit: bye)."
    assert ask(bob, "!seen bob") == "That is you."
    assert ask(bob, "!seen seen") == "I am right here."
    assert ask(bob, "!seen") == "Ask me !seen <nick>"
    assert ask(bob, "!seen a b") == "Ask me !seen <nick>"
    assert ask(bob, "!seen nobody") == "I have not seen nobody."
    assert answers(bob, "PRIVMSG #lobby :seen alice?") == []
    assert answers(bob, "NOTICE #lobby :!seen alice") == []  # a notice is never answered


def test_seen_in_private() -> None:
    plugged, _ = seen_plugin()
    joined(plugged, "alice", "#lobby")
    bob = joined(plugged, "bob")
    answer = "alice was last seen just now, joining #lobby. alice is online now."
    assert answers(bob, "PRIVMSG Seen :alice", "NOTICE") == [("bob", answer)]
    assert answers(bob, "PRIVMSG Seen :!seen alice", "NOTICE") == [("bob", answer)]
    assert answers(bob, "NOTICE Seen :alice", "NOTICE") == []


def test_it_tells_only_what_it_saw_in_its_channels() -> None:
    plugged, _ = seen_plugin()
    bob = joined(plugged, "bob", "#lobby")
    carol = joined(plugged, "carol", "#secret")
    carol.send("PRIVMSG #secret :the plans")
    assert ask(bob, "!seen carol") == "carol is online, but I have not seen them in my channels."
    carol.send("QUIT :gone")  # carol shared no channel with it
    assert ask(bob, "!seen carol") == "I have not seen carol."
    alice = joined(plugged, "alice", "#lobby")
    alice.send("NICK alicia")
    assert ask(bob, "!seen alice") == "alice was last seen just now, changing nick to alicia."
    alice.send("PART #lobby :later")
    assert ask(bob, "!seen alicia") == (
        "alicia was last seen just now, leaving #lobby. alicia is online now."
    )
    alice.send("JOIN #lobby")
    lobby = plugged.network.find_channel("#lobby")
    assert lobby is not None
    plugged.network.kick(None, lobby, alice.session.user, "out")
    assert ask(bob, "!seen alicia") == (
        "alicia was last seen just now, being kicked from #lobby. alicia is online now."
    )


def test_it_forgets_the_least_recently_seen_first() -> None:
    plugged, _ = seen_plugin(max_entries=2)
    ann = joined(plugged, "ann", "#lobby")
    joined(plugged, "ben", "#lobby")
    cat = joined(plugged, "cat", "#lobby")
    # ann was the first seen of three: forgotten (what is said is remembered before the
    # answer: asking makes one the most recently seen)
    assert ask(cat, "!seen ann") == "ann is online, but I have not seen them in my channels."
    assert ask(ann, "!seen cat") == (
        "cat was last seen just now, saying '!seen ann' in #lobby. cat is online now."
    )


def test_a_long_message_is_quoted_short() -> None:
    plugged, _ = seen_plugin()
    alice = joined(plugged, "alice", "#lobby")
    bob = joined(plugged, "bob", "#lobby")
    alice.send("PRIVMSG #lobby :" + "x" * 200)
    assert "'" + "x" * 79 + "…'" in ask(bob, "!seen alice")


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"nick": ""}, "plugins.seen.nick must be a nick"),
        ({"channels": ["lobby"]}, 'plugins.seen.channels must be channel names ("#lobby")'),
        ({"channels": "#lobby"}, 'plugins.seen.channels must be channel names ("#lobby")'),
        ({"max_entries": 0}, "plugins.seen.max_entries must be a positive integer"),
        ({"max_entries": True}, "plugins.seen.max_entries must be a positive integer"),
        ({"chanels": []}, "unknown key plugins.seen.chanels"),
    ],
)
def test_a_bad_table_is_refused(
    table: dict[str, object], error: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    plugged = Plugged()
    (problem,) = plugged.load(SEEN, settings={"seen": table})
    assert problem == f"plugin seen: setup failed (ValueError: {error}); not loaded"
    assert plugged.network.find_user("Seen") is None


def test_time_ago() -> None:
    plugged, _ = seen_plugin()
    module = plugged.module("seen")
    assert [module.ago(s) for s in (0, 4, 5, 61, 7200, 86400 * 3)] == [
        "just now",
        "just now",
        "5 seconds ago",
        "1 minute ago",
        "2 hours ago",
        "3 days ago",
    ]
