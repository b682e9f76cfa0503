"""The example plugin examples/seen.py, loaded from its file by the plugin manager, on a
harness server with the fake network layer (tests/e2e/test_plugins.py runs it over a real
socket)."""

from __future__ import annotations

import logging

import pytest

from hubbub.server.user import User
from tests.server.harness import FakeClock, make_server
from tests.server.pluginhelpers import EXAMPLES, Plugged

SEEN = EXAMPLES / "seen.py"


def seen_plugin(**settings: object) -> tuple[Plugged, FakeClock, User]:
    clock = FakeClock()
    plugged = Plugged(make_server(clock))
    assert plugged.load(SEEN, settings={"seen": {"channels": ["#lobby"], **settings}}) == []
    bot = plugged.network.find_user(str(settings.get("nick", "Seen")))
    assert bot is not None
    return plugged, clock, bot


def ask(plugged: Plugged, user: User, where: str, question: str) -> str:
    """What the service answers ``user`` asking ``question`` in channel ``where``."""
    network = plugged.network
    channel = network.find_channel(where)
    assert channel is not None
    before = len(network.said())
    network.relay(user, "PRIVMSG", channel, question)
    answers = [s for s in network.said()[before:] if s[0] != user.nick]
    assert len(answers) == 1, answers
    assert answers[0][1:3] == ("PRIVMSG", channel.name)
    return answers[0][3]


def test_seen_in_a_channel() -> None:
    plugged, clock, bot = seen_plugin()
    network = plugged.network
    lobby = network.find_channel("#lobby")
    assert lobby is not None
    assert network.members(lobby) == [bot]
    alice, bob = network.add_user("alice"), network.add_user("bob")
    network.join(alice, "#lobby")
    network.join(bob, "#lobby")
    assert ask(plugged, bob, "#lobby", "!seen alice") == (
        "alice was last seen just now, joining #lobby. alice is online now."
    )
    network.relay(alice, "PRIVMSG", lobby, "hi all")
    clock.advance(125)
    assert ask(plugged, bob, "#lobby", "!seen Alice") == (
        "alice was last seen 2 minutes ago, saying 'hi all' in #lobby. alice is online now."
    )
    network.quit(alice, "bye")
    clock.advance(3600 * 5)
    assert ask(plugged, bob, "#lobby", "!seen alice") == (
        "alice was last seen 5 hours ago, quitting (bye)."
    )
    assert ask(plugged, bob, "#lobby", "!seen bob") == "That is you."
    assert ask(plugged, bob, "#lobby", "!seen seen") == "I am right here."
    assert ask(plugged, bob, "#lobby", "!seen") == "Ask me !seen <nick>"
    assert ask(plugged, bob, "#lobby", "!seen a b") == "Ask me !seen <nick>"
    assert ask(plugged, bob, "#lobby", "!seen nobody") == "I have not seen nobody."


def test_seen_in_private() -> None:
    plugged, _, bot = seen_plugin()
    network = plugged.network
    alice, bob = network.add_user("alice"), network.add_user("bob")
    network.join(alice, "#lobby")
    network.relay(bob, "PRIVMSG", bot, "alice")
    network.relay(bob, "PRIVMSG", bot, "!seen alice")
    network.relay(bob, "NOTICE", bot, "alice")  # a notice is never answered
    answer = "alice was last seen just now, joining #lobby. alice is online now."
    assert network.said("Seen") == [("Seen", "NOTICE", "bob", answer)] * 2


def test_it_tells_only_what_it_saw_in_its_channels() -> None:
    plugged, _, _ = seen_plugin()
    network = plugged.network
    alice, bob, carol = (network.add_user(n) for n in ("alice", "bob", "carol"))
    network.join(bob, "#lobby")
    secret = network.join(carol, "#secret")
    network.relay(carol, "PRIVMSG", secret, "the plans")
    assert ask(plugged, bob, "#lobby", "!seen carol") == (
        "carol is online, but I have not seen them in my channels."
    )
    network.quit(carol, "gone")  # carol shared no channel with it
    assert ask(plugged, bob, "#lobby", "!seen carol") == "I have not seen carol."
    network.join(alice, "#lobby")
    network.change_nick(alice, "alicia")
    assert ask(plugged, bob, "#lobby", "!seen alice") == (
        "alice was last seen just now, changing nick to alicia."
    )
    lobby = network.find_channel("#lobby")
    assert lobby is not None
    network.part(alice, lobby, "later")
    assert ask(plugged, bob, "#lobby", "!seen alicia") == (
        "alicia was last seen just now, leaving #lobby. alicia is online now."
    )


def test_it_forgets_the_least_recently_seen_first() -> None:
    plugged, _, _ = seen_plugin(max_entries=2)
    network = plugged.network
    users = [network.add_user(nick) for nick in ("ann", "ben", "cat")]
    for user in users:
        network.join(user, "#lobby")
    answer = ask(plugged, users[2], "#lobby", "!seen ann")
    assert answer == "ann is online, but I have not seen them in my channels."
    assert ask(plugged, users[0], "#lobby", "!seen ben").startswith("ben was last seen")


def test_a_long_message_is_quoted_short() -> None:
    plugged, _, _ = seen_plugin()
    network = plugged.network
    alice, bob = network.add_user("alice"), network.add_user("bob")
    network.join(alice, "#lobby")
    network.join(bob, "#lobby")
    lobby = network.find_channel("#lobby")
    assert lobby is not None
    network.relay(alice, "PRIVMSG", lobby, "x" * 200)
    answer = ask(plugged, bob, "#lobby", "!seen alice")
    assert "'" + "x" * 79 + "…'" in answer


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
    plugged, _, _ = seen_plugin()
    module = plugged.module("seen")
    assert [module.ago(s) for s in (0, 4, 5, 61, 7200, 86400 * 3)] == [
        "just now",
        "just now",
        "5 seconds ago",
        "1 minute ago",
        "2 hours ago",
        "3 days ago",
    ]
