"""Channel seeders (Network.new_channel, PluginAPI.add_channel_seeder): what makes a channel
that a JOIN is about to create, before anyone is told of it; and ServiceHandle.set_modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.server.events import Joined
from tests.server.harness import ask, replies
from tests.server.pluginhelpers import Plugged, write_plugin

SEEDER = """
    SEEN = []

    def setup(api):
        def seed(channel, creator):
            SEEN.append((channel.name, creator.nick))
            if channel.folded == "#kept":
                channel.topic, channel.topic_setter, channel.topic_time = "kept", "Keeper", 5
                channel.flags = {"n", "t", "m"}
                channel.key = "sesame"
                return "v" if creator.nick == "friend" else ""
            if channel.folded == "#broken":
                raise RuntimeError("a bug in the seeder")
            return None

        api.add_channel_seeder(seed)
"""


@pytest.fixture
def plugged(tmp_path: Path) -> Plugged:
    plugged = Plugged()
    assert plugged.load(write_plugin(tmp_path, "keeper", SEEDER)) == []
    return plugged


def test_a_seeded_channel_is_made_before_its_creator_is_told(plugged: Plugged) -> None:
    friend = plugged.client("friend")
    friend.send("JOIN #kept sesame")
    joined = replies(friend)
    assert joined[:3] == [
        ("JOIN", ("#kept",)),
        ("332", ("friend", "#kept", "kept")),
        ("333", ("friend", "#kept", "Keeper", "5")),
    ]
    assert ("353", ("friend", "=", "#kept", "+friend")) in joined  # the seeder's status
    event = next(e for e in plugged.events if isinstance(e, Joined))
    assert event.created
    assert event.channel.flags == {"n", "t", "m"}
    assert plugged.module("keeper").SEEN == [("#kept", "friend")]


def test_the_creator_is_checked_against_what_the_seeder_made(plugged: Plugged) -> None:
    other = plugged.client("other")
    assert ask(other, "JOIN #kept") == [("475", ("other", "#kept", "Cannot join channel (+k)"))]
    assert plugged.network.find_channel("#kept") is None
    other.send("JOIN #kept sesame")
    channel = plugged.network.find_channel("#kept")
    assert channel is not None
    assert channel.members[other.session.user] == ""  # no status from this seeder


def test_a_channel_no_seeder_takes_is_made_as_always(plugged: Plugged) -> None:
    client = plugged.client("alice")
    client.send("JOIN #plain")
    channel = plugged.network.find_channel("#plain")
    assert channel is not None
    assert channel.members[client.session.user] == "o"
    assert channel.flags == {"n", "t"}


def test_a_seeder_that_raises_is_logged_and_passed_over(
    plugged: Plugged, caplog: pytest.LogCaptureFixture
) -> None:
    client = plugged.client("alice")
    client.send("JOIN #broken")
    channel = plugged.network.find_channel("#broken")
    assert channel is not None
    assert channel.members[client.session.user] == "o"
    logged = [r for r in caplog.records if r.name == "hubbub.plugin.keeper"]
    assert [r.getMessage() for r in logged] == [
        "plugin keeper: error in setup.<locals>.seed for #broken"
    ]
    assert logged[0].exc_info is not None
    assert str(logged[0].exc_info[1]) == "a bug in the seeder"


def test_an_unloaded_plugins_seeder_is_gone(plugged: Plugged) -> None:
    seeders = len(plugged.network.seeders)
    assert plugged.load() == []  # (the keeper is no longer named)
    assert len(plugged.network.seeders) == seeders - 1
    client = plugged.client("alice")
    client.send("JOIN #kept")
    assert "332" not in [c for c, _ in replies(client)]


def test_a_service_sets_modes_without_being_an_operator(tmp_path: Path) -> None:
    plugged = Plugged()
    source = """
        from hubbub.server.commands.dispatch import Command

        def setup(api):
            bot = api.add_service("Moder", lambda event: None)

            def voice(ctx):
                bot.set_modes("#room", [("+", "v", ctx.params[0])])

            api.add_command("VOICEME", Command(voice, min_params=1))
    """
    assert plugged.load(write_plugin(tmp_path, "moder", source)) == []
    alice = plugged.client("alice")
    alice.send("JOIN #room")
    alice.messages()
    alice.send("VOICEME alice")
    modes = [m for m in alice.messages() if m.command == "MODE"]
    assert [(m.source or "").split("!")[0] for m in modes] == ["Moder"]  # (not an operator)
    assert modes[0].params == ("#room", "+v", "alice")
    assert ask(alice, "VOICEME nobody") == []  # (a mode for a non-member: skipped)
