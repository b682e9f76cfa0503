"""The network layer on its own: one event per change, after the change, to every
subscriber in order; later(); services; msgids. No sockets: the sans-I/O harness."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from hubbub.protocol.framing import LineBuffer
from hubbub.server import core as core_module
from hubbub.server import fastpath
from hubbub.server.channel import Channel
from hubbub.server.core import Server
from hubbub.server.events import (
    AccountChanged,
    AwayChanged,
    ChannelModesChanged,
    Event,
    HostChanged,
    Invited,
    Joined,
    Kicked,
    ModeChange,
    NickChanged,
    Parted,
    Quit,
    RealnameChanged,
    Registered,
    Relayed,
    Stamp,
    TopicChanged,
    UserModesChanged,
)
from hubbub.server.network import Network, node_id
from hubbub.server.session import Session
from hubbub.server.user import User
from tests.cloaks import HOST
from tests.fuzz.invariants import check_invariants
from tests.server.harness import Client, FakeClock, ask, make_server

E = TypeVar("E")


class Recorder:
    """A subscriber that keeps every event, and what :attr:`probe` saw of the state while
    the event was being emitted."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.seen: list[Any] = []
        self.probe: Callable[[Event], Any] = lambda event: None

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.seen.append(self.probe(event))

    def only(self, kind: type[E]) -> E:
        """The one event recorded since the last call, which must be a ``kind``."""
        assert len(self.events) == 1, self.events
        event = self.events[0]
        assert isinstance(event, kind), event
        self.events.clear()
        self.seen.clear()
        return event

    def take(self) -> list[Event]:
        """The events recorded since the last call."""
        events = self.events[:]
        self.events.clear()
        self.seen.clear()
        return events


class World:
    """A server with three registered clients (alice and bob in #room, alice its
    operator) and a recorder subscribed after local delivery."""

    def __init__(self, caps: str = "") -> None:
        self.clock = FakeClock()
        self.server = make_server(clock=self.clock)
        self.network = self.server.network
        self.alice = Client(self.server).register("alice", caps=caps)
        self.bob = Client(self.server).register("bob", caps=caps)
        self.carol = Client(self.server).register("carol", caps=caps)
        self.alice.send("JOIN #room")
        self.bob.send("JOIN #room")
        for client in (self.alice, self.bob, self.carol):
            client.lines()
        self.recorder = Recorder()
        self.network.subscribe(self.recorder)

    def user(self, nick: str) -> User:
        user = self.network.find_user(nick)
        assert user is not None, nick
        return user

    def channel(self, name: str) -> Channel:
        channel = self.network.find_channel(name)
        assert channel is not None, name
        return channel


@pytest.fixture
def world() -> World:
    return World()


def check_stamp(stamp: Stamp, world: World) -> None:
    assert stamp.time == world.clock.now
    assert stamp.msgid.startswith(node_id(world.server.name) + "-")


# -- subscribers --------------------------------------------------------------------------------


def test_each_subscriber_hears_each_event_in_order_after_local_delivery(world: World) -> None:
    heard: list[str] = []
    bob_session = world.bob.session

    def before(event: Event) -> None:  # (before local delivery: bob has nothing queued yet)
        heard.append(f"first {type(event).__name__} {len(bob_session.outbuf)}")

    def after(event: Event) -> None:
        heard.append(f"last {type(event).__name__} {len(bob_session.outbuf)}")

    world.network.subscribe(after)
    world.network.subscribe(before, first=True)
    world.carol.send("JOIN #room")
    world.alice.send("TOPIC #room :hello")
    assert heard == [
        "first Joined 0",
        "last Joined 1",
        "first TopicChanged 1",
        "last TopicChanged 2",
    ]
    assert [type(e) for e in world.recorder.take()] == [Joined, TopicChanged]


def test_an_unsubscribed_subscriber_hears_nothing_more(world: World) -> None:
    world.network.unsubscribe(world.recorder)
    world.network.unsubscribe(world.recorder)  # (not subscribed: nothing happens)
    world.carol.send("JOIN #room", "PRIVMSG #room :hi")
    assert world.recorder.events == []
    assert world.alice.lines()  # the others still do


def test_a_subscriber_that_raises_is_logged_and_the_others_still_hear(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("a plugin's bug")

    second = Recorder()
    world.network.subscribe(broken, first=True)  # before local delivery, too
    world.network.subscribe(broken)
    world.network.subscribe(second)
    with caplog.at_level(logging.ERROR, logger="hubbub.network"):
        world.carol.send("JOIN #room", "PRIVMSG #room :still here")
    failures = [r for r in caplog.records if r.name == "hubbub.network"]
    assert len(failures) == 4  # two subscribers, two events
    assert "failed on Joined" in failures[0].getMessage()
    assert failures[0].exc_info is not None
    assert [type(e) for e in world.recorder.take()] == [Joined, Relayed]
    assert [type(e) for e in second.take()] == [Joined, Relayed]
    assert world.bob.lines() == [
        f":carol!~u@{HOST} JOIN #room",
        f":carol!~u@{HOST} PRIVMSG #room :still here",
    ]
    check_invariants(world.server)


def test_later_runs_after_every_subscriber_has_heard_the_event(world: World) -> None:
    log: list[str] = []
    network = world.network

    def first(event: Event) -> None:
        log.append(f"first {type(event).__name__}")
        if isinstance(event, Joined):
            network.later(lambda: log.append("work"))
            network.later(lambda: network.set_topic(None, event.channel, "later", "server"))

    def second(event: Event) -> None:
        log.append(f"second {type(event).__name__}")

    network.subscribe(first)
    network.subscribe(second)
    world.carol.send("JOIN #room")
    assert log == [
        "first Joined",
        "second Joined",
        "work",
        "first TopicChanged",  # a change made later is an event like any other
        "second TopicChanged",
    ]
    assert world.channel("#room").topic == "later"


def test_later_runs_at_once_when_nothing_is_being_emitted(world: World) -> None:
    log: list[str] = []
    world.network.later(lambda: log.append("now"))
    assert log == ["now"]


def test_later_work_that_raises_is_logged_and_the_rest_runs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []
    network = world.network

    def fail() -> None:
        raise RuntimeError("deferred bug")

    def schedule(event: Event) -> None:
        network.later(fail)
        network.later(lambda: log.append("ran"))

    network.subscribe(schedule)
    with caplog.at_level(logging.ERROR, logger="hubbub.network"):
        world.carol.send("AWAY :lunch")
        network.later(fail)  # (outside an event too)
    assert log == ["ran"]
    assert [r.getMessage().startswith("deferred work") for r in caplog.records] == [True, True]
    check_invariants(world.server)


# -- nicks and users ----------------------------------------------------------------------------


def test_registration_emits_registered_once_the_user_is_on_the_network(world: World) -> None:
    network = world.network
    world.recorder.probe = lambda e: (network.find_user("dave"), network.user_count)
    dave = Client(world.server)
    dave.send("NICK dave")
    assert world.recorder.events == []  # a nick claim is not a change others see
    dave.send("USER u 0 * :Dave")
    assert world.recorder.seen == [(dave.session.user, 4)]
    assert world.recorder.only(Registered) == Registered(dave.session.user)


def test_a_nick_change_keeps_the_index_and_remembers_the_old_nick(world: World) -> None:
    network, alice = world.network, world.user("alice")
    fold = world.server.fold
    old_prefix = alice.prefix
    network.change_nick(alice, "Alicia", fold("Alicia"))
    event = world.recorder.only(NickChanged)
    assert (event.user, event.old_nick, event.old_prefix) == (alice, "alice", old_prefix)
    check_stamp(event.stamp, world)
    assert network.find_user("ALICIA") is alice
    assert network.find_user("alice") is None
    assert alice.prefix == f"Alicia!~u@{HOST}"
    # the old nick is free again
    Client(world.server).register("alice")
    check_invariants(world.server)


def test_the_state_is_changed_before_subscribers_hear_of_it(world: World) -> None:
    network, alice = world.network, world.user("alice")
    fold = world.server.fold
    world.recorder.probe = lambda e: (
        fold("alice") in network.users,
        network.users.get(fold("Alicia")) is alice,
        alice.prefix,
        network.whowas[0].nick,
    )
    network.change_nick(alice, "Alicia", fold("Alicia"))
    assert world.recorder.seen == [(False, True, f"Alicia!~u@{HOST}", "alice")]


def test_a_nick_change_of_case_only_keeps_one_index_entry(world: World) -> None:
    network, alice = world.network, world.user("alice")
    before = dict(network.users)
    world.alice.send("NICK ALICE")
    event = world.recorder.only(NickChanged)
    assert (event.user, event.old_nick, alice.nick) == (alice, "alice", "ALICE")
    assert network.users == before  # same key, same user
    assert alice.prefix == f"ALICE!~u@{HOST}"
    assert world.bob.lines() == [f":alice!~u@{HOST} NICK ALICE"]
    assert network.whowas[0].nick == "alice"
    check_invariants(world.server)


def test_quit_emits_the_channels_and_peers_the_user_had(world: World) -> None:
    network, bob = world.network, world.user("bob")
    world.bob.send("JOIN #solo")
    world.carol.send("JOIN #other")
    world.bob.send("JOIN #other")
    world.carol.send("JOIN #invite", "INVITE bob #invite")
    room, solo, other = (world.channel(c) for c in ("#room", "#solo", "#other"))
    assert world.channel("#invite").invitees == {bob}
    world.recorder.take()
    users_before = network.user_count
    world.bob.send("QUIT :gone fishing")
    event = world.recorder.only(Quit)
    assert (event.user, event.reason) == (bob, "Quit: gone fishing")
    assert event.channels == (room, solo, other)  # in the order it joined them
    assert event.peers == {world.user("alice"), world.user("carol")}
    check_stamp(event.stamp, world)
    assert network.find_channel("#solo") is None  # it had no one else
    assert bob.channels == {}
    assert world.channel("#invite").invitees == set()
    assert network.user_count == users_before - 1
    assert [c for c, _ in ask(world.alice, "WHOWAS bob")][:1] == ["314"]
    check_invariants(world.server)


def test_quit_state_as_subscribers_see_it(world: World) -> None:
    network, bob = world.network, world.user("bob")
    world.bob.send("JOIN #solo")
    room = world.channel("#room")
    world.recorder.take()
    count = network.user_count
    world.recorder.probe = lambda e: (
        network.find_user("bob"),
        bob in room.members,
        network.find_channel("#solo"),
        network.whowas[0].nick,
        network.user_count,
    )
    network.quit(bob, "direct")
    assert isinstance(world.recorder.events[0], Quit)
    assert world.recorder.seen == [(None, False, None, "bob", count - 1)]
    world.recorder.take()
    network.quit(bob, "again")  # not on the network any more: nothing happens
    assert world.recorder.events == []


def test_user_changes_each_emit_one_event(world: World) -> None:
    network, carol = world.network, world.user("carol")
    world.recorder.probe = lambda e: (carol.modes, carol.away, carol.realname, carol.prefix)
    invisible = network.invisible_count

    network.set_user_modes(carol, "iw", "")
    assert world.recorder.seen == [("iw", None, "Real Name", carol.prefix)]
    assert world.recorder.only(UserModesChanged) == UserModesChanged(carol, "iw", "")
    assert network.invisible_count == invisible + 1

    network.set_user_modes(carol, "o", "i")
    assert world.recorder.only(UserModesChanged) == UserModesChanged(carol, "o", "i")
    assert carol in network.opers
    assert network.invisible_count == invisible
    network.set_user_modes(carol, "", "o")
    world.recorder.only(UserModesChanged)
    assert carol not in network.opers

    network.set_away(carol, "lunch")
    away = world.recorder.only(AwayChanged)
    assert (away.user, away.away) == (carol, "lunch")
    check_stamp(away.stamp, world)
    network.set_away(carol, None)
    assert world.recorder.only(AwayChanged).away is None

    network.set_realname(carol, "Carol C")
    realname = world.recorder.only(RealnameChanged)
    assert (realname.user, realname.realname, carol.realname) == (carol, "Carol C", "Carol C")

    old_prefix = carol.prefix
    world.recorder.probe = lambda e: carol.prefix
    network.change_host(carol, "~cc", "new.host")
    host = world.recorder.events[0]
    assert world.recorder.seen == ["carol!~cc@new.host"]
    assert world.recorder.only(HostChanged) == host
    assert (host.user, host.old_prefix) == (carol, old_prefix)
    check_invariants(world.server)


def test_set_account_emits_only_a_change_of_a_registered_user(world: World) -> None:
    network, carol = world.network, world.user("carol")
    world.recorder.probe = lambda e: carol.account
    network.set_account(carol, "carol")
    assert world.recorder.seen == ["carol"]
    event = world.recorder.only(AccountChanged)
    assert (event.user, event.account) == (carol, "carol")
    check_stamp(event.stamp, world)
    network.set_account(carol, "carol")  # no change
    assert world.recorder.events == []
    network.set_account(carol, None)
    assert world.recorder.only(AccountChanged).account is None

    newcomer = Client(world.server)
    newcomer.send("NICK newcomer")
    user = newcomer.session.user
    network.set_account(user, "early")  # (SASL before registration: the welcome says it)
    assert user.account == "early"
    assert world.recorder.events == []


# -- channels -----------------------------------------------------------------------------------


def test_join_makes_a_channel_with_its_creator_as_operator(world: World) -> None:
    network, carol, bob = world.network, world.user("carol"), world.user("bob")
    world.recorder.probe = lambda e: (
        network.find_channel("#new"),
        dict(e.channel.members) if isinstance(e, Joined) else None,
    )
    channel = network.join(carol, "#New")
    event = world.recorder.only(Joined)
    assert (event.user, event.channel, event.created) == (carol, channel, True)
    check_stamp(event.stamp, world)
    assert channel.name == "#New"
    assert network.find_channel("#NEW") is channel
    assert channel.members == {carol: "o"}
    assert carol.channels[channel.folded] is channel

    network.join(bob, "#new")
    event = world.recorder.only(Joined)
    assert (event.user, event.created) == (bob, False)
    assert channel.members == {carol: "o", bob: ""}
    check_invariants(world.server)


def test_join_state_as_subscribers_see_it(world: World) -> None:
    network, carol = world.network, world.user("carol")
    world.recorder.probe = lambda e: (
        network.find_channel("#new") is not None,
        dict(e.channel.members) if isinstance(e, Joined) else None,
        "#new" in carol.channels,
    )
    network.join(carol, "#new")
    assert world.recorder.seen == [(True, {carol: "o"}, True)]


def test_joining_ends_the_invitation(world: World) -> None:
    network, alice, carol = world.network, world.user("alice"), world.user("carol")
    room = world.channel("#room")
    world.recorder.probe = lambda e: (carol.invited, set(room.invitees))
    network.invite(alice, carol, room)
    assert world.recorder.seen == [(frozenset({room.folded}), {carol})]
    world.recorder.only(Invited)
    network.join(carol, "#room")
    world.recorder.only(Joined)
    assert carol.invited == frozenset()
    assert room.invitees == set()


def test_invite_emits_invited(world: World) -> None:
    network, alice, carol = world.network, world.user("alice"), world.user("carol")
    room = world.channel("#room")
    network.invite(alice, carol, room)
    event = world.recorder.only(Invited)
    assert (event.by, event.target, event.channel) == (alice, carol, room)
    check_stamp(event.stamp, world)


def test_parting_or_kicking_the_last_member_ends_the_channel(world: World) -> None:
    network, alice, bob = world.network, world.user("alice"), world.user("bob")
    room = world.channel("#room")
    world.recorder.probe = lambda e: (network.find_channel("#room"), dict(room.members))

    network.part(bob, room, "bye")
    event = world.recorder.events[0]
    assert world.recorder.seen == [(room, {alice: "o"})]
    assert world.recorder.only(Parted) == event
    assert (event.user, event.channel, event.reason) == (bob, room, "bye")
    assert "#room" not in bob.channels

    network.invite(alice, bob, room)
    world.recorder.take()
    network.kick(None, room, alice, "by the server")
    kick = world.recorder.events[0]
    assert world.recorder.seen == [(None, {})]  # gone before anyone hears of it
    assert world.recorder.only(Kicked) == kick
    assert (kick.by, kick.channel, kick.target, kick.reason) == (None, room, alice, "by the server")
    check_stamp(kick.stamp, world)
    assert alice.channels == {}
    assert bob.invited == frozenset()  # an invitation ends with its channel
    assert room.invitees == set()
    check_invariants(world.server)


def test_kick_and_part_through_lines(world: World) -> None:
    network = world.network
    world.carol.send("JOIN #room")
    world.recorder.take()
    world.alice.send("KICK #room carol :out")
    kick = world.recorder.only(Kicked)
    assert (kick.by, kick.target, kick.reason) == (world.user("alice"), world.user("carol"), "out")
    world.bob.send("PART #room")
    world.alice.send("PART #room :last")
    parts = world.recorder.take()
    assert [type(e) for e in parts] == [Parted, Parted]
    assert [(e.user.nick, e.reason) for e in parts if isinstance(e, Parted)] == [
        ("bob", ""),
        ("alice", "last"),
    ]
    assert network.channels == {}
    check_invariants(world.server)


def test_set_topic_emits_topic_changed(world: World) -> None:
    network, alice = world.network, world.user("alice")
    room = world.channel("#room")
    world.recorder.probe = lambda e: (room.topic, room.topic_setter)
    network.set_topic(alice, room, "news", alice.prefix)
    assert world.recorder.seen == [("news", alice.prefix)]
    event = world.recorder.only(TopicChanged)
    assert (event.by, event.channel, event.topic, event.setter) == (
        alice,
        room,
        "news",
        alice.prefix,
    )
    assert room.topic_time == int(world.clock.now)


def test_channel_modes_are_applied_then_announced_once(world: World) -> None:
    network, alice, bob = world.network, world.user("alice"), world.user("bob")
    room = world.channel("#room")
    world.recorder.probe = lambda e: (
        set(room.flags),
        room.key,
        room.limit,
        {m: [x.mask for x in entries] for m, entries in room.lists.items()},
        room.members[bob],
    )
    changes: list[ModeChange] = [
        ("+", "m", None),
        ("-", "t", None),
        ("+", "s", None),
        ("+", "k", "sesame"),
        ("+", "l", "5"),
        ("+", "b", "*!*@Bad.Example"),
        ("+", "e", "good!*@*"),
        ("+", "I", "friend!*@*"),
        ("+", "v", "BOB"),
        ("+", "o", "bob"),
    ]
    world.clock.advance(7)
    network.change_channel_modes(alice, room, changes, alice.prefix)
    expected_lists = {"b": ["*!*@Bad.Example"], "e": ["good!*@*"], "I": ["friend!*@*"]}
    assert world.recorder.seen == [({"n", "m", "s"}, "sesame", 5, expected_lists, "ov")]
    event = world.recorder.only(ChannelModesChanged)
    assert (event.by, event.channel, event.changes) == (alice, room, tuple(changes))
    check_stamp(event.stamp, world)
    ban = room.lists["b"][0]
    assert (ban.setter, ban.time) == (alice.prefix, int(world.clock.now))
    assert world.bob.lines() == [
        f":alice!~u@{HOST} MODE #room +m-t+sklbeIvo sesame 5 *!*@Bad.Example good!*@* "
        "friend!*@* BOB bob"
    ]

    network.change_channel_modes(
        None,
        room,
        [("-", "k", None), ("-", "l", None), ("-", "b", "*!*@bad.example"), ("-", "o", "bob")],
        "irc.test",
    )
    event = world.recorder.only(ChannelModesChanged)
    assert event.by is None
    assert len(event.changes) == 4
    assert (room.key, room.limit, room.lists["b"], room.members[bob]) == (None, None, (), "v")

    network.change_channel_modes(alice, room, [], alice.prefix)  # nothing: no event
    assert world.recorder.events == []
    check_invariants(world.server)


def test_mode_lines_emit_one_event_per_command(world: World) -> None:
    world.alice.send("MODE #room +mv-t bob", "MODE #room +b-b x!*@* y!*@*")
    events = world.recorder.take()
    assert [type(e) for e in events] == [ChannelModesChanged, ChannelModesChanged]
    world.alice.send("MODE #room +b-b z!*@* z!*@*")  # (what holds at its end: nothing)
    assert world.recorder.take() == []
    first = events[0]
    assert isinstance(first, ChannelModesChanged)
    assert first.changes == (("+", "m", None), ("+", "v", "bob"), ("-", "t", None))


def msgid_of(event: Event) -> str:
    if isinstance(event, Relayed):
        return event.msgids[0]
    assert not isinstance(event, Registered | UserModesChanged)
    return event.stamp.msgid


def test_the_events_of_a_sequence_of_changes_come_in_order(world: World) -> None:
    network, alice, carol = world.network, world.user("alice"), world.user("carol")
    fold = world.server.fold
    channel = network.join(carol, "#seq")
    network.set_topic(carol, channel, "t", carol.prefix)
    network.change_channel_modes(carol, channel, [("+", "m", None)], carol.prefix)
    network.invite(carol, alice, channel)
    network.join(alice, "#seq")
    network.change_nick(carol, "caroline", fold("caroline"))
    network.relay(carol, "PRIVMSG", channel, "hi")
    network.kick(carol, channel, alice, "bye")
    network.part(carol, channel, "")
    events = world.recorder.take()
    assert [type(e) for e in events] == [
        Joined,
        TopicChanged,
        ChannelModesChanged,
        Invited,
        Joined,
        NickChanged,
        Relayed,
        Kicked,
        Parted,
    ]
    ids = [msgid_of(e) for e in events]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda m: int(m.rsplit("-", 1)[1], 16))
    check_invariants(world.server)


# -- relayed messages ---------------------------------------------------------------------------


def test_relay_emits_one_event_with_the_wire_bytes(world: World) -> None:
    network, alice, bob = world.network, world.user("alice"), world.user("bob")
    room = world.channel("#room")
    event = network.relay(alice, "PRIVMSG", room, "hello", status="@", client_tags={"+x": "1"})
    assert world.recorder.only(Relayed) is event
    assert (event.source, event.command, event.target, event.shown, event.status) == (
        alice,
        "PRIVMSG",
        room,
        "@#room",
        "@",
    )
    assert event.time == world.clock.now
    assert len(event.msgids) == 1
    assert dict(event.tags) == {"+x": "1"}
    assert event.wire == f":alice!~u@{HOST} PRIVMSG @#room :hello\r\n".encode()
    assert event.texts == ["hello"]

    network.set_user_modes(alice, "B", "")
    network.set_account(alice, "acct")
    world.recorder.take()
    event = network.relay(alice, "NOTICE", bob, "x" * 600)  # cut to fit a line
    assert dict(event.tags) == {"account": "acct", "bot": ""}
    head = f":alice!~u@{HOST} NOTICE bob :"
    assert event.wire == f"{head}{'x' * (510 - len(head))}\r\n".encode()
    assert len(event.wire) == 512
    tagmsg = network.relay(alice, "TAGMSG", bob, None, client_tags={"+typing": "active"})
    assert tagmsg.wire == f":alice!~u@{HOST} TAGMSG bob\r\n".encode()
    assert tagmsg.texts == [""]


def test_relay_wire_gives_each_line_its_own_msgid(world: World) -> None:
    network, alice = world.network, world.user("alice")
    room = world.channel("#room")
    wire = b"".join(f":{alice.prefix} PRIVMSG #room :{i}\r\n".encode() for i in range(3))
    event = network.relay_wire(alice, "PRIVMSG", room, "#room", "", wire, 3)
    assert world.recorder.only(Relayed) is event
    assert len(set(event.msgids)) == 3
    assert event.texts == ["0", "1", "2"]
    assert network.msgid() not in event.msgids  # the ids were taken
    assert world.bob.lines() == [line.decode() for line in wire.split(b"\r\n")[:-1]]


@pytest.mark.parametrize("caps", ["", "message-tags server-time"])
def test_a_subscriber_sees_every_relayed_message_of_both_paths(
    caps: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever way a message takes (a line or a block read straight from its bytes, or
    the full handler) and whatever its recipients asked for, the network's subscribers
    hear it with a msgid and a time."""
    world = World(caps)
    server, alice, bob = world.server, world.alice, world.bob
    taken: list[bytes] = []
    real = fastpath.relay

    def spy(server: Server, session: Session, line: bytes) -> bool:
        if real(server, session, line):
            taken.append(line)
            return True
        return False

    monkeypatch.setattr(core_module, "relay", spy)
    sent: list[tuple[float, str]] = []

    per_line = ["PRIVMSG #room :one", "NOTICE #room :two", "PRIVMSG bob :three", "NOTICE carol ::4"]
    alice.send(*per_line)
    assert taken == [line.encode() for line in per_line]  # the per-line fast path took them
    sent += [(world.clock.now, line.split(" :", 1)[1]) for line in per_line]

    world.clock.advance(1.5)
    blocks = [
        (
            alice,
            b"PRIVMSG #room :b1\r\nPRIVMSG #room :b2\nPRIVMSG #room ::b3\r\n",
            ["b1", "b2", ":b3"],
        ),
        (bob, b"NOTICE carol :b4\r\nNOTICE carol :b5\r\n", ["b4", "b5"]),
    ]
    for client, block, texts in blocks:
        assert server.receive_block(client.session, block)
        sent += [(world.clock.now, text) for text in texts]
    assert len(taken) == len(per_line)  # (not line by line)

    world.clock.advance(2.25)
    full = [
        ("@+draft/react=yes PRIVMSG #room :tagged", ["tagged"]),
        ("PRIVMSG bob,carol :to two", ["to two", "to two"]),
        ("PRIVMSG @#room :to the operators", ["to the operators"]),
        ("NOTICE +#room :to the voiced", ["to the voiced"]),
        ("PRIVMSG #room :" + "\u00e9t\u00e9", ["\u00e9t\u00e9"]),
    ]
    for line, texts in full:
        alice.send(line)
        sent += [(world.clock.now, text) for text in texts]
    assert len(taken) == len(per_line)  # the full handler did these

    events = [e for e in world.recorder.take() if isinstance(e, Relayed)]
    assert sum(len(e.msgids) for e in events) == len(sent) == 4 + 5 + 6
    msgids = [msgid for e in events for msgid in e.msgids]
    assert len(set(msgids)) == len(msgids)
    node = node_id(server.name)
    assert all(msgid.startswith(f"{node}-") for msgid in msgids)
    assert [(e.time, text) for e in events for text in e.texts] == sent
    received = bob.messages()
    assert [m.params[-1] for m in received if m.command in ("PRIVMSG", "NOTICE")] == [
        "one",
        "two",
        "three",
        "b1",
        "b2",
        ":b3",
        "tagged",
        "to two",
        "\u00e9t\u00e9",
    ]
    if caps:  # what bob was shown is what the subscribers heard
        assert {m.tags["msgid"] for m in received} <= set(msgids)
    else:
        assert all(not m.tags for m in received)


def test_nick_claims_and_monitors_are_not_events(world: World) -> None:
    network = world.network
    client = Client(world.server)
    user = client.session.user
    fold = world.server.fold
    network.claim_nick(user, "early", fold("early"))
    assert network.users[fold("early")] is user
    assert network.find_user("early") is None
    network.release_nick(user)
    assert fold("early") not in network.users
    network.claim_nick(user, "early", fold("early"))
    network.forget(user)
    assert fold("early") not in network.users
    network.monitor(world.alice.session, [fold("early")])
    assert network.monitors == {fold("early"): {world.alice.session}}
    network.unmonitor(world.alice.session, [fold("early")])
    assert network.monitors == {}
    assert world.recorder.events == []


# -- services -----------------------------------------------------------------------------------


class EchoBot:
    """A service that remembers what it hears and answers it with a NOTICE."""

    def __init__(self, network: Network, log: list[str]) -> None:
        self.network = network
        self.log = log
        self.heard: list[Relayed] = []
        self.user: User | None = None

    def on_message(self, event: Relayed) -> None:
        self.heard.append(event)
        self.log.append(f"service {' '.join(event.texts)}")
        assert self.user is not None
        if event.command == "PRIVMSG" and isinstance(event.source, User):
            for text in event.texts:
                self.network.relay(self.user, "NOTICE", event.source, f"you said {text}")


def add_echo_bot(world: World, log: list[str]) -> tuple[EchoBot, User]:
    bot = EchoBot(world.network, log)
    bot.user = world.network.add_service("EchoBot", bot, "services.test")
    return bot, bot.user


def test_a_service_is_a_user_without_a_connection_not_counted(world: World) -> None:
    network = world.network
    lusers_before = ask(world.alice, "LUSERS")
    counts = network.stats()
    bot, user = add_echo_bot(world, [])
    event = world.recorder.only(Registered)
    assert event.user is user
    assert (user.session, user.service, user.nick) == (None, bot, "EchoBot")
    assert user.prefix == "EchoBot!service@services.test"
    assert "B" in user.modes
    assert network.find_user("echobot") is user
    assert network.stats() == counts
    assert ask(world.alice, "LUSERS") == lusers_before
    whois = ask(world.alice, "WHOIS EchoBot")
    assert whois[0][0] == "311"
    with pytest.raises(ValueError, match="taken"):
        network.add_service("echobot", bot, "services.test")
    with pytest.raises(ValueError, match="taken"):
        network.add_service("alice", bot, "services.test")
    check_invariants(world.server)


def test_a_message_to_a_service_reaches_it_alone_then_its_answer_everyone(world: World) -> None:
    log: list[str] = []
    bot, bot_user = add_echo_bot(world, log)
    world.recorder.take()
    world.recorder.probe = lambda e: log.append(f"recorder {' '.join(getattr(e, 'texts', []))}")
    # the fast path leaves it to the full handler (which says what follows meanwhile)
    assert not fastpath.relay(world.server, world.alice.session, b"PRIVMSG EchoBot :hello")
    assert world.recorder.events == []
    world.alice.send("PRIVMSG EchoBot :hello")
    events = world.recorder.take()
    # what is said to a service is between them; its answer is an ordinary message
    assert [(type(e), e.source.nick) for e in events if isinstance(e, Relayed)] == [
        (Relayed, "EchoBot"),
    ]
    assert [e.texts for e in bot.heard] == [["hello"]]
    assert log == ["service hello", "recorder you said hello"]
    assert world.alice.lines() == [":EchoBot!service@services.test NOTICE alice :you said hello"]
    assert bot_user.session is None


def test_a_block_of_messages_to_a_service_takes_the_full_handler(world: World) -> None:
    log: list[str] = []
    bot, _ = add_echo_bot(world, log)
    world.recorder.take()
    block = b"PRIVMSG EchoBot :one\r\nPRIVMSG EchoBot :two\r\n"
    assert not world.server.receive_block(world.alice.session, block)
    assert world.recorder.events == []
    assert bot.heard == []
    world.server.receive(world.alice.session, LineBuffer().feed(block))
    assert [e.texts for e in bot.heard] == [["one"], ["two"]]
    assert log == ["service one", "service two"]
    assert world.alice.lines() == [
        ":EchoBot!service@services.test NOTICE alice :you said one",
        ":EchoBot!service@services.test NOTICE alice :you said two",
    ]


class Answerer:
    """A service in a channel that answers each user's message there."""

    def __init__(self, network: Network, name: str, log: list[str]) -> None:
        self.network, self.name, self.log = network, name, log
        self.user = network.add_service(name, self, "services.test")

    def on_message(self, event: Relayed) -> None:
        self.log.append(f"{self.name} hears {event.source.nick}: {event.texts[0]}")
        if event.source.service is None and isinstance(event.target, Channel):
            self.network.relay(self.user, "PRIVMSG", event.target, f"{self.name} answers")


def test_services_hear_a_message_before_the_answers_to_it(world: World) -> None:
    """Work deferred by a change made in deferred work waits for what was deferred
    before it: the second service hears the question before the first one's answer."""
    log: list[str] = []
    network = world.network
    one, two = Answerer(network, "One", log), Answerer(network, "Two", log)
    room = world.channel("#room")
    network.join(one.user, "#room")
    network.join(two.user, "#room")
    world.bob.lines()
    world.alice.send("PRIVMSG #room :question")
    assert log == [
        "One hears alice: question",
        "Two hears alice: question",
        "Two hears One: One answers",
        "One hears Two: Two answers",
    ]
    assert world.bob.lines() == [
        f":alice!~u@{HOST} PRIVMSG #room :question",
        ":One!service@services.test PRIVMSG #room :One answers",
        ":Two!service@services.test PRIVMSG #room :Two answers",
    ]
    assert [m for m in room.members if m.service is not None] == [one.user, two.user]


def test_nickserv_is_a_service_user(world: World) -> None:
    nickserv = world.network.find_user("NickServ")
    assert nickserv is not None
    assert nickserv.service is not None
    assert nickserv.session is None
    world.alice.send("PRIVMSG NickServ :HELP")
    assert world.recorder.events == []  # (what is said to a service is heard by it alone)
    assert world.alice.lines() == [
        f":NickServ!NickServ@services.{world.server.name} NOTICE alice "
        ":Accounts are not available on this server."
    ]


# -- ids and stamps -----------------------------------------------------------------------------


def test_msgids_are_unique_and_name_the_node(world: World) -> None:
    network = world.network
    node = node_id(world.server.name)
    ids = [network.msgid() for _ in range(5000)] + [network.stamp().msgid for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(f"{node}-") for i in ids)


def test_msgids_differ_across_restarts_and_nodes() -> None:
    clock = FakeClock()
    first = Network(clock, "aaaa", 1_700_000_000.0)
    restarted = Network(clock, "aaaa", 1_700_000_000.001)
    other_node = Network(clock, "bbbb", 1_700_000_000.0)
    ids = [{n.msgid() for _ in range(1000)} for n in (first, restarted, other_node)]
    assert all(len(s) == 1000 for s in ids)
    assert not ids[0] & ids[1]
    assert not ids[0] & ids[2]
    assert not ids[1] & ids[2]
    assert node_id("irc.example") != node_id("irc2.example")
    assert len(node_id("irc.example")) == 4


def test_stamp_is_the_time_now_and_a_new_msgid() -> None:
    clock = FakeClock(1234.5)
    network = Network(clock, "node", 1000.0)
    first = network.stamp()
    assert first == Stamp(1234.5, first.msgid)
    clock.advance(1.25)
    second = network.stamp()
    assert second.time == 1235.75
    assert second.msgid != first.msgid
    assert first.msgid.startswith("node-")


# -- the handlers make their changes through the network ----------------------------------------


def test_every_change_a_client_makes_is_one_event(world: World) -> None:
    network = world.network
    world.alice.send("INVITE carol #room")
    world.carol.send("JOIN #room")
    world.alice.send("TOPIC #room :topic", "MODE #room +v carol")
    world.carol.send("AWAY :away", "AWAY", "SETNAME :New Name", "MODE carol +i")
    world.carol.send("NICK caroline", "PART #room :bye")
    world.bob.send("NOTICE #room :n", "PRIVMSG alice :p")
    events = world.recorder.take()
    assert [type(e).__name__ for e in events] == [
        "Invited",
        "Joined",
        "TopicChanged",
        "ChannelModesChanged",
        "AwayChanged",
        "AwayChanged",
        "RealnameChanged",
        "UserModesChanged",
        "NickChanged",
        "Parted",
        "Relayed",
        "Relayed",
    ]
    assert network.find_user("caroline") is world.carol.session.user
    check_invariants(world.server)


def test_what_is_said_to_a_service_is_heard_by_it_alone() -> None:
    """A password sent to NickServ reaches NickServ (and the sender's echo), never the
    other subscribers: metrics, plugins and, later, history do not hear it."""
    server = make_server()
    heard: list[Event] = []
    server.network.subscribe(heard.append)
    alice = Client(server).register("alice", caps="echo-message")
    alice.send("PRIVMSG NickServ :IDENTIFY alice secret-password")
    assert not [e for e in heard if isinstance(e, Relayed)]
    lines = alice.lines()
    assert any("PRIVMSG NickServ :IDENTIFY" in line for line in lines)  # the echo
    assert any("NOTICE alice" in line for line in lines)  # NickServ answered
    alice.send("PRIVMSG alice :to myself")
    assert [e.texts for e in heard if isinstance(e, Relayed)] == [["to myself"]]
