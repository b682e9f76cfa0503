"""Cluster mode in the core, without Redis: two or three cores linked by the in-process bus
(:class:`hubbub.server.cluster.LocalHub`), driven line by line."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.protocol.casemap import Folded
from hubbub.server.accounts import AccountService
from hubbub.server.accounts import attach as attach_accounts
from hubbub.server.chanregistry import ChannelRegistry
from hubbub.server.cluster import ClusterLink, LocalHub
from hubbub.server.core import Server
from hubbub.server.delivery import format_time
from hubbub.server.history import attach
from hubbub.storage import SqliteStorage
from hubbub.storage.base import ChannelRecord
from tests.server.harness import Client, FakeClock, make_server, replies
from tests.server.historyhelpers import AutoRecorder, make_store
from tests.server.saslclient import b64, plain
from tests.server.test_multiline import send_batch


def node(hub: LocalHub, name: str, server: Server | None = None) -> tuple[Server, ClusterLink]:
    """``server`` (a new one by default) joined to ``hub`` as the node ``name``."""
    server = server if server is not None else make_server()
    link = server.join_cluster(hub.bus(name), name)
    hub.join(link)
    hub.pump()
    return server, link


def test_a_channel_message_crosses_to_the_other_node() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    hub.pump()
    alice.send("JOIN #room")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    joined = replies(bob)
    names = [p for c, p in joined if c == "353"]
    assert names, joined
    assert "@alice" in names[0][-1].split()
    assert ("JOIN", ("#room",)) in [(c, p) for c, p in replies(alice)]
    alice.send("PRIVMSG #room :hello from a")
    assert hub.pump() == 1  # one record for the channel, whatever its size
    got = bob.messages()
    assert [(m.command, m.params, m.source) for m in got] == [
        ("PRIVMSG", ("#room", "hello from a"), "alice!~u@" + alice.session.user.host)
    ]


def test_msgids_are_the_same_on_both_nodes() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice", "message-tags echo-message")
    bob = Client(b).register("bob", "message-tags")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    alice.send("JOIN #room")
    hub.pump()
    alice.messages(), bob.messages()
    alice.send("PRIVMSG #room :one")
    hub.pump()
    echo = [m for m in alice.messages() if m.command == "PRIVMSG"]
    got = [m for m in bob.messages() if m.command == "PRIVMSG"]
    assert echo[0].tags["msgid"] == got[0].tags["msgid"]


def test_a_private_message_crosses_and_whois_sees_the_remote_user() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    hub.pump()
    whois = [c for c, _ in replies(_ask(alice, "WHOIS bob"))]
    assert "311" in whois
    alice.send("PRIVMSG bob :psst")
    hub.pump()
    assert [(m.command, m.params) for m in bob.messages()] == [("PRIVMSG", ("bob", "psst"))]


def _ask(client: Client, line: str) -> Client:
    client.messages()
    client.send(line)
    return client


def test_a_nick_held_on_one_node_is_refused_on_the_other() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    Client(a).register("alice")
    # Not yet seen by b (nothing pumped): the claim in the hub still refuses it.
    other = Client(b)
    other.send("NICK alice", "USER u 0 * :R")
    assert "433" in [c for c, _ in replies(other)]
    other.send("NICK alice2")
    assert "001" in [c for c, _ in replies(other)]


def test_a_nick_given_back_may_be_taken_on_the_other_node() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    alice.send("NICK alicia")
    hub.pump()
    Client(b).register("alice")
    alice.send("QUIT :bye")
    hub.pump()
    Client(b).register("alicia")


def test_a_ban_and_a_kick_on_one_node_apply_on_the_other() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    hub.pump()
    alice.send("JOIN #room")
    hub.pump()
    bob = Client(b).register("bob")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    alice.send("MODE #room +b bob!*@*")
    hub.pump()
    assert ("MODE", ("#room", "+b", "bob!*@*")) in replies(bob)
    bob.send("PRIVMSG #room :can you hear me")
    assert "404" in [c for c, _ in replies(bob)]
    assert hub.pump() == 0
    alice.send("KICK #room bob :out")
    hub.pump()
    assert ("KICK", ("#room", "bob", "out")) in replies(bob)
    assert b.find_channel("#room") is not None
    assert b.network.find_user("bob") not in b.find_channel("#room").members  # type: ignore[union-attr]


def test_a_dead_node_s_users_quit_on_the_others() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    hub.pump()
    alice.send("JOIN #room")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    alice.messages()
    hub.kill("b")
    got = alice.messages()
    assert [m.command for m in got] == ["QUIT"]
    assert got[0].source is not None
    assert got[0].source.startswith("bob!")
    assert a.network.find_user("bob") is None
    Client(a).register("bob")  # its claim went with it


def test_a_node_that_missed_records_keeps_the_claim_of_a_channel_it_is_kicked_from() -> None:
    hub = LocalHub()
    a, link = node(hub, "a")
    b, _ = node(hub, "b")
    bob = Client(b).register("bob")
    bob.send("JOIN #room", "MODE #room +k sesame")
    hub.pump()
    dave = Client(a).register("dave")
    dave.send("JOIN #room sesame")
    hub.pump()
    hub.links.remove(link)  # a misses what follows (a stream trimmed past it)
    bob.send("KICK #room dave :out", "TOPIC #room :new")
    hub.pump()
    hub.links.append(link)
    dave.messages()
    link.resync()  # (what the Redis bus does when it finds the gap)
    assert a.find_channel("#room") is not None  # (bob quit here, dave is still in)
    hub.pump()
    got = [(m.command, m.params) for m in dave.messages()]
    assert ("KICK", ("#room", "dave", "Removed while this server was cut off")) in got
    assert any(c == "NOTICE" and "missed" in p[-1] for c, p in got)
    assert hub.channels  # the channel lives on b: its claim was not given back
    room = a.find_channel("#room")
    assert room is not None  # made again here by b's burst, with its state
    assert (room.topic, room.key) == ("new", "sesame")
    assert [u.nick for u in room.members] == ["bob"]


def test_a_node_that_joins_late_learns_the_network() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    alice = Client(a).register("alice")
    alice.send("JOIN #room", "TOPIC #room :the topic", "MODE #room +b x!*@*")
    hub.pump()
    c, _ = node(hub, "c")
    carol = Client(c).register("carol")
    carol.send("JOIN #room")
    got = replies(carol)
    assert ("332", ("carol", "#room", "the topic")) in got
    assert "@alice" in [p for cmd, p in got if cmd == "353"][0][-1].split()
    assert c.find_channel("#room").lists["b"][0].mask == "x!*@*"  # type: ignore[union-attr]
    hub.pump()
    alice.messages()
    carol.send("PRIVMSG #room :hi")
    hub.pump()
    assert [(m.command, m.params) for m in alice.messages()] == [("PRIVMSG", ("#room", "hi"))]


def test_nick_part_topic_and_quit_cross() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    hub.pump()
    alice.send("JOIN #room")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    bob.messages()
    alice.send("NICK alicia", "TOPIC #room :new", "PART #room :later")
    hub.pump()
    assert [(m.command, m.params) for m in bob.messages()] == [
        ("NICK", ("alicia",)),
        ("TOPIC", ("#room", "new")),
        ("PART", ("#room", "later")),
    ]
    alice.send("JOIN #room", "QUIT :bye")
    hub.pump()
    assert [m.command for m in bob.messages()] == ["JOIN", "QUIT"]
    assert b.network.find_user("alicia") is None


def test_one_channel_made_on_two_nodes_at_once_has_one_creator() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    hub.pump()
    alice.send("JOIN #new,#other")
    bob.send("JOIN #new,#third")  # b does not know #new yet: it waits for a's
    assert "JOIN" not in bob.commands()
    hub.pump()
    got = replies(bob)
    names = [p[-1].split() for c, p in got if c == "353" and p[-2] == "#new"]
    assert len(names) == 1
    assert sorted(names[0]) == ["@alice", "bob"]
    assert ("JOIN", ("#third",)) in got  # the rest of the JOIN went on
    hub.pump()
    for server in (a, b):
        room = server.find_channel("#new")
        assert room is not None
        assert {u.nick: m for u, m in room.members.items()} == {"alice": "o", "bob": ""}
    assert set(hub.channels) == {"#new", "#other", "#third"}


def test_a_channel_that_empties_gives_its_claim_back() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    alice.send("JOIN #room")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    alice.send("PART #room")
    hub.pump()
    assert "#room" in hub.channels
    bob.send("PART #room")
    hub.pump()
    assert hub.channels == {}
    bob.send("JOIN #room")  # made again, by b this time: bob is its operator
    hub.pump()
    room = a.find_channel("#room")
    assert room is not None
    assert [(u.nick, m) for u, m in room.members.items()] == [("bob", "o")]


State = tuple[str, list[str], "str | None", "int | None", list[str], dict[str, str]]


def _state(server: Server, name: str) -> State:
    """What a node shows of a channel: topic, flags, key, limit, bans, members and modes."""
    room = server.find_channel(name)
    assert room is not None, server.name
    bans = sorted(e.mask for e in room.lists["b"])
    members = {u.nick: m for u, m in room.members.items()}
    return room.topic, sorted(room.flags), room.key, room.limit, bans, members


Race = tuple[LocalHub, list[tuple[Server, ClusterLink]], dict[str, Client], str]


def _join_racing_the_last_part(part_first: bool) -> Race:
    """Nodes a, b and c; alice (a) made #room with a topic, +m and a ban (three changes
    counted), then left it, its last member, while bob (b, which still saw her there)
    joined it: a made its PART and gave the claim back before bob's JOIN reached it. Every
    record pumped, in either order (``part_first``). The hub, the nodes, the clients (by
    nick: carol, on c, is not in #room) and the channel's token."""
    hub = LocalHub()
    nodes = [node(hub, name) for name in "abc"]
    (a, _), (b, _), (c, _) = nodes
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    carol = Client(c).register("carol")
    alice.send("JOIN #room", "TOPIC #room :kept", "MODE #room +m", "MODE #room +b x!*@*")
    hub.pump()
    token = hub.channels["#room"]
    alice.send("PART #room")
    assert "#room" not in hub.channels  # (released at once by a)
    bob.send("JOIN #room")
    assert ("JOIN", ("#room",)) in replies(bob)
    if not part_first:  # (the stream may have either first)
        hub.queue.reverse()
    hub.pump()
    hub.pump()
    return hub, nodes, {"alice": alice, "bob": bob, "carol": carol}, token


@pytest.mark.parametrize("part_first", [True, False])
def test_a_join_racing_the_last_part_on_another_node_keeps_one_channel(part_first: bool) -> None:
    hub, nodes, clients, token = _join_racing_the_last_part(part_first)
    (a, link_a), (b, link_b), (c, link_c) = nodes
    carol = clients["carol"]
    expected = _state(b, "#room")
    assert expected[0] == "kept"
    assert "m" in expected[1]
    assert expected[4:] == (["x!*@*"], {"bob": ""})
    for server in (a, b, c):
        assert _state(server, "#room") == expected
    fold = a.fold("#room")
    assert hub.channels["#room"] == token  # claimed again, under the channel's own token
    assert link_a.tokens[fold] == link_b.tokens[fold] == link_c.tokens[fold] == token
    # A third node's JOIN joins that channel: not a new one, not as its operator.
    carol.send("JOIN #room")
    got = replies(carol)
    assert ("332", ("carol", "#room", "kept")) in got
    hub.pump()
    for server in (a, b, c):
        assert _state(server, "#room")[-1] == {"bob": "", "carol": ""}
    assert hub.channels["#room"] == token


@pytest.mark.parametrize("part_first", [True, False])
def test_a_channel_claimed_again_keeps_its_version_count(part_first: bool) -> None:
    hub, nodes, clients, token = _join_racing_the_last_part(part_first)
    assert hub.versions[token] == 3  # (kept when a gave the claim back)
    fold = nodes[0][0].fold("#room")
    assert [link.versions[fold] for _, link in nodes] == [3, 3, 3]
    # bob's change (refused: he is no operator) is admitted as the fourth, not the first.
    bob = clients["bob"]
    bob.send("MODE #room +n")
    assert "482" in [c for c, _ in replies(bob)]
    hub.pump()
    assert hub.versions[token] == 4
    assert [link.versions[fold] for _, link in nodes] == [4, 4, 4]


def _third_node_makes_it_anew(join_first: bool, *meanwhile: tuple[str, str]) -> Race:
    """As :func:`_join_racing_the_last_part`, and carol (node c, which had applied alice's
    PART, not bob's JOIN) joins #room in that round trip: the claim was given back, so c
    makes it anew, carol its operator. Then each (nick, line) of ``meanwhile`` is sent
    (before any node heard of the other channel); then every record pumped, bob's JOIN
    in the stream before c's channel (``join_first``) or after c's records."""
    hub = LocalHub()
    nodes = [node(hub, name) for name in "abc"]
    (a, link_a), (b, link_b), (c, link_c) = nodes
    clients = {
        "alice": Client(a).register("alice"),
        "bob": Client(b).register("bob"),
        "carol": Client(c).register("carol"),
    }
    clients["alice"].send(
        "JOIN #room", "TOPIC #room :kept", "MODE #room +m-t", "MODE #room +b x!*@*"
    )
    hub.pump()
    token = hub.channels["#room"]
    clients["alice"].send("PART #room")
    clients["bob"].send("JOIN #room")
    part, join = hub.queue
    hub.queue.clear()
    link_a.written(int(part["s"]))
    link_b.receive(part)
    link_c.receive(part)
    clients["carol"].send("JOIN #room")
    assert ("353", ("carol", "=", "#room", "@carol")) in replies(clients["carol"])
    assert hub.channels["#room"] != token  # (c won a new claim: the old one was given back)
    for nick, line in meanwhile:
        if nick != "bob":
            clients[nick].send(line)
    hub.queue.insert(0 if join_first else len(hub.queue), join)
    for nick, line in meanwhile:  # (after bob's JOIN: node b's records keep their order)
        if nick == "bob":
            clients[nick].send(line)
    while hub.pump():
        pass
    return hub, nodes, clients, token


@pytest.mark.parametrize("join_first", [True, False])
def test_a_channel_made_anew_on_a_third_node_in_the_race_becomes_the_old_one(
    join_first: bool,
) -> None:
    hub, nodes, _, token = _third_node_makes_it_anew(join_first)
    (a, link_a), (b, link_b), (c, link_c) = nodes
    expected = ("kept", ["m", "n"], None, None, ["x!*@*"], {"bob": "", "carol": "o"})
    for server, _ in nodes:
        assert _state(server, "#room") == expected, server
    fold = a.fold("#room")
    assert hub.channels["#room"] == token  # the old claim, given back to it by c
    assert [link.tokens[fold] for _, link in nodes] == [token] * 3
    assert [link.versions[fold] for _, link in nodes] == [hub.versions[token]] * 3


@pytest.mark.parametrize("join_first", [True, False])
def test_changes_made_on_both_sides_of_the_race_end_the_same_everywhere(
    join_first: bool,
) -> None:
    hub, nodes, clients, token = _third_node_makes_it_anew(
        join_first,
        ("carol", "TOPIC #room :carol's"),
        ("carol", "MODE #room +s"),
        ("bob", "TOPIC #room :bob's"),  # (the old channel is -t)
    )
    states = [_state(server, "#room") for server, _ in nodes]
    assert states[0] == states[1] == states[2]
    assert {"m", "s"} <= set(states[0][1])
    fold = nodes[0][0].fold("#room")
    assert [link.tokens[fold] for _, link in nodes] == [token] * 3
    assert [link.versions[fold] for _, link in nodes] == [hub.versions[token]] * 3
    clients["carol"].send("TOPIC #room :after")  # one channel, ordered under one count
    while hub.pump():
        pass
    assert [_state(server, "#room")[0] for server, _ in nodes] == ["after"] * 3


def _alice_taken_behind_a_s_back(hub: LocalHub, link_a: ClusterLink, bobby: Client) -> None:
    """The other nodes take node a for gone (its users' claims are freed) and ``bobby``
    takes the nick alice; a, which never knew it was gone, is back and hears it (and what
    the others did meanwhile)."""
    hub.kill("a")
    bobby.send("NICK alice")
    hub.links.insert(0, link_a)
    hub.pump()


def _renamed_while_taken_for_gone() -> tuple[LocalHub, Server, ClusterLink, Client, Client]:
    """alice (node a) and bobby (node b) in #room; b takes a for gone (alice's claim is
    freed) and bobby takes the nick alice; a, which never knew it was gone, hears it while
    its alice still holds the nick. The hub, a, its link, alice and bobby."""
    hub = LocalHub()
    a, link_a = node(hub, "a")
    b, _ = node(hub, "b")
    alice = Client(a).register("alice")
    bobby = Client(b).register("bobby")
    alice.send("JOIN #room")
    hub.pump()
    bobby.send("JOIN #room")
    hub.pump()
    alice.messages()
    _alice_taken_behind_a_s_back(hub, link_a, bobby)
    return hub, a, link_a, alice, bobby


def test_a_rename_to_a_nick_a_local_user_still_holds_waits_for_it() -> None:
    hub, a, link_a, alice, _ = _renamed_while_taken_for_gone()
    theirs = a.network.find_user("bobby")
    assert theirs is not None  # (known by its old nick until alice lets the nick go)
    assert a.network.find_user("alice") is alice.session.user
    guest = "Guest00001"
    hub.nicks[a.fold(guest)] = "a"  # (what the Redis bus claims for it)
    link_a.rename_lost(a.fold("alice"), guest)  # a finds that its claim was taken
    assert a.network.find_user("bobby") is None
    assert a.network.find_user("alice") is theirs
    assert link_a.owner[theirs] == "b"
    got = [(m.command, m.params, (m.source or "").split("!")[0]) for m in alice.messages()]
    nicks = [g for g in got if g[0] == "NICK"]
    assert nicks == [("NICK", (guest,), "alice"), ("NICK", ("alice",), "bobby")]


def test_a_user_whose_rename_waits_is_followed_by_its_new_nick() -> None:
    hub, a, link_a, alice, bobby = _renamed_while_taken_for_gone()
    theirs = a.network.find_user("bobby")
    bobby.send("PRIVMSG #room :hi", "NICK alyx")  # (the nick alice is not needed any more)
    hub.pump()
    # (not delivered: its lines say alice, a local user's nick here)
    assert "PRIVMSG" not in alice.commands()
    assert a.network.find_user("alyx") is theirs
    assert a.network.find_user("bobby") is None
    bobby.send("QUIT :bye")
    hub.pump()
    assert a.network.find_user("alyx") is None  # no user left behind under an old nick
    assert theirs not in link_a.owner


def test_a_count_the_bus_lost_is_raised_to_what_the_node_knows() -> None:
    hub = LocalHub()
    a, link_a = node(hub, "a")
    b, link_b = node(hub, "b")
    alice = Client(a).register("alice")
    alice.send("JOIN #room", "TOPIC #room :one", "TOPIC #room :two")
    hub.pump()
    token = hub.channels["#room"]
    del hub.versions[token]  # (Redis restarted without its data)
    alice.send("TOPIC #room :three")
    hub.pump()
    assert hub.versions[token] == 3  # the next after what a knew: never back to one
    assert link_a.versions[a.fold("#room")] == link_b.versions[b.fold("#room")] == 3


def test_a_stale_channel_claim_is_taken_over_after_the_wait() -> None:
    hub = LocalHub()
    clock = FakeClock()
    a = make_server(clock)
    link = a.join_cluster(hub.bus("a"), "a")
    hub.join(link)
    hub.channels["#ghost"] = "z/1.000/1"  # a node that claimed it and died
    alice = Client(a).register("alice")
    alice.send("JOIN #ghost")
    assert "JOIN" not in alice.commands()
    clock.advance(link.wait + 1)
    a.tick()
    got = replies(alice)
    assert ("JOIN", ("#ghost",)) in got
    assert hub.channels["#ghost"].startswith("a/")
    room = a.find_channel("#ghost")
    assert room is not None
    assert [(u.nick, m) for u, m in room.members.items()] == [("alice", "o")]


def test_a_node_that_starts_again_under_its_name_drops_its_old_users() -> None:
    hub = LocalHub()
    clock = FakeClock()
    a, _ = node(hub, "a")
    b = make_server(clock)
    hub.join(b.join_cluster(hub.bus("b"), "b"))
    hub.pump()
    alice = Client(a).register("alice")
    Client(b).register("bob")
    alice.send("JOIN #room")
    hub.pump()
    hub.links = [link for link in hub.links if link.node != "b"]  # b crashed...
    clock.advance(2)  # ...and starts again before its lease ran out
    again = make_server(clock)
    hub.join(again.join_cluster(hub.bus("b"), "b"))
    hub.pump()
    assert a.network.find_user("bob") is None
    assert again.network.find_user("alice") is not None  # (a's burst)


def test_a_multiline_message_crosses_as_one_message() -> None:
    hub = LocalHub()
    a, _ = node(hub, "a")
    b, _ = node(hub, "b")
    caps = "draft/multiline batch message-tags server-time"
    alice = Client(a).register("alice", caps)
    rich = Client(b).register("rich", caps)
    plain = Client(b).register("plain")
    hub.pump()
    alice.send("JOIN #room")
    hub.pump()
    rich.send("JOIN #room")
    plain.send("JOIN #room")
    hub.pump()
    rich.messages(), plain.messages(), alice.messages()
    send_batch(alice, "#room", "first", "+ and more", "second")
    assert hub.pump() == 1
    got = rich.messages()
    assert [m.command for m in got] == ["BATCH", "PRIVMSG", "PRIVMSG", "PRIVMSG", "BATCH"]
    assert got[0].params[1:] == ("draft/multiline", "#room")
    assert [m.params[-1] for m in plain.messages()] == ["first", " and more", "second"]


def test_channel_changes_are_admitted_in_one_order() -> None:
    hub = LocalHub()
    a, link_a = node(hub, "a")
    b, link_b = node(hub, "b")
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    hub.pump()
    alice.send("JOIN #room")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    alice.send("MODE #room +o bob")
    hub.pump()
    assert link_a.versions[a.fold("#room")] == link_b.versions[b.fold("#room")] == 1
    # Both operators change the topic at once; b has not heard a's change when it asks.
    alice.send("TOPIC #room :from alice")
    bob.send("TOPIC #room :from bob")
    assert ("TOPIC", ("#room", "from bob")) not in replies(bob)  # b waits: it is behind
    hub.pump()  # a's change reaches b, which asks again and is admitted
    hub.pump()
    for server in (a, b):
        room = server.find_channel("#room")
        assert room is not None
        assert room.topic == "from bob"  # the same last word on both nodes
    assert link_a.versions[a.fold("#room")] == link_b.versions[b.fold("#room")] == 3


def test_a_change_that_changes_nothing_still_moves_the_version_on() -> None:
    hub = LocalHub()
    a, link_a = node(hub, "a")
    b, link_b = node(hub, "b")
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    alice.send("JOIN #room")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    bob.send("MODE #room +m")  # not an operator: refused, but admitted and counted
    assert "482" in [c for c, _ in replies(bob)]
    hub.pump()
    assert link_a.versions[a.fold("#room")] == link_b.versions[b.fold("#room")] == 1
    alice.send("MODE #room +m")
    hub.pump()
    room = b.find_channel("#room")
    assert room is not None
    assert "m" in room.flags


def _room(hub: LocalHub, caps: str = "message-tags echo-message") -> tuple[Client, Client]:
    """alice on node a (with ``caps``), bob on node b, both in #room."""
    a, _ = node(hub, "a", make_server(FakeClock()))
    b, _ = node(hub, "b")
    alice = Client(a).register("alice", caps)
    bob = Client(b).register("bob")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    alice.send("JOIN #room")
    hub.pump()
    alice.messages(), bob.messages()
    return alice, bob


def _said(client: Client) -> list[tuple[str, ...]]:
    return [m.params for m in client.messages() if m.command == "PRIVMSG"]


def test_an_acknowledgement_waits_until_the_bus_has_written_the_message() -> None:
    """Nothing acknowledged is lost with a node: the echo goes out once the record is
    written (the hub's pump here, Redis's reply in a real cluster)."""
    hub = LocalHub()
    alice, bob = _room(hub)
    alice.send("PRIVMSG #room :safe?")
    assert _said(alice) == []  # not written yet: no echo
    alice.send("PING :still-held")
    assert not [m for m in alice.messages() if m.command == "PONG"]
    hub.pump()
    got = alice.messages()
    assert [m.params for m in got if m.command == "PRIVMSG"] == [("#room", "safe?")]
    assert [m.params[-1] for m in got if m.command == "PONG"] == ["still-held"]
    assert _said(bob) == [("#room", "safe?")]


def test_without_an_acknowledgement_nothing_waits_for_the_bus() -> None:
    hub = LocalHub()
    alice, _ = _room(hub, caps="message-tags")
    alice.send("PRIVMSG #room :fire and forget")
    alice.send("PING :now")
    assert [m.params[-1] for m in alice.messages() if m.command == "PONG"] == ["now"]


def test_a_sender_held_a_whole_lease_is_released_and_told() -> None:
    """A bus that cannot write (Redis away) does not freeze its senders: after the lease
    they get their echo and a notice that their messages wait."""
    hub = LocalHub()
    alice, _ = _room(hub)
    server = alice.server
    link = server.cluster
    assert link is not None
    link.wait = 5.0
    alice.send("PRIVMSG #room :into the void")
    assert _said(alice) == []
    clock = server.clock
    assert isinstance(clock, FakeClock)
    clock.advance(6.0)
    server.tick()
    got = alice.messages()
    assert [m.params for m in got if m.command == "PRIVMSG"] == [("#room", "into the void")]
    notices = [m.params[-1] for m in got if m.command == "NOTICE"]
    assert any("cannot be reached" in text for text in notices), notices


def _history_node(hub: LocalHub, name: str, store: object | None = None) -> tuple[Server, Any]:
    """A node keeping history in ``store`` (a new in-memory one by default)."""
    server = make_server()
    store = store if store is not None else make_store()
    recorder = AutoRecorder(store)
    recorder.history = attach(server, store, recorder)  # type: ignore[arg-type]
    node(hub, name, server)
    return server, store


class SharedStore:
    """One history store for every node (as PostgreSQL is): ``shared`` set."""

    shared = True

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _lines(store: Any, target: str, peer: str = "") -> list[str]:
    rows = store.query(target, peer, limit=50, newest=False, messages_only=True)
    return [row.text for row in rows or []]


def test_each_node_s_own_store_keeps_what_it_delivered_and_forgets_a_redaction() -> None:
    hub = LocalHub()
    a, store_a = _history_node(hub, "a")
    b, store_b = _history_node(hub, "b")
    alice = Client(a).register("alice", "message-tags echo-message draft/message-redaction")
    bob = Client(b).register("bob")
    hub.pump()
    for client in (alice, bob):
        client.send("JOIN #room")
        hub.pump()
    alice.send("PRIVMSG #room :kept on both")
    alice.send("PRIVMSG bob :private")
    hub.pump()
    assert _lines(store_a, "#room") == _lines(store_b, "#room") == ["kept on both"]
    msgid = next(m for m in alice.messages() if m.params[-1] == "kept on both").tags["msgid"]
    alice.send(f"REDACT #room {msgid}")
    hub.pump()
    assert _lines(store_a, "#room") == _lines(store_b, "#room") == []


def test_a_shared_store_keeps_each_message_once() -> None:
    """Nodes that share one store (PostgreSQL) each keep what their own users said: a
    channel message once, a private message once per party, by the party's node."""
    hub = LocalHub()
    shared = SharedStore(make_store())
    a, _ = _history_node(hub, "a", shared)
    b, _ = _history_node(hub, "b", shared)
    alice = Client(a).register("alice")
    bob = Client(b).register("bob")
    hub.pump()
    for client in (alice, bob):
        client.send("JOIN #room")
        hub.pump()
    alice.send("PRIVMSG #room :once")
    bob.send("PRIVMSG #room :once too")
    alice.send("PRIVMSG bob :psst")
    hub.pump()
    assert _lines(shared, "#room") == ["once", "once too"]
    history_a, history_b = a.history, b.history
    assert history_a is not None
    assert history_b is not None
    alice_key = history_a.key_of(alice.session.user)
    bob_key = history_b.key_of(bob.session.user)
    assert _lines(shared, alice_key, "bob") == ["psst"]
    assert _lines(shared, bob_key, "alice") == ["psst"]


class SharedAccounts:
    """One account and channel database for every node (as PostgreSQL is)."""

    shared = True

    def __init__(self) -> None:
        self._storage = SqliteStorage(":memory:")
        self._storage.open()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


def test_an_account_made_on_one_node_logs_in_on_another_that_shares_the_database() -> None:
    """A node's account cache hears of an account another node stored in the shared
    database (registered, its password changed, deleted), without waiting for a REHASH."""
    hub = LocalHub()
    shared = SharedAccounts()
    servers = []
    for name in ("a", "b"):
        server = make_server()
        attach_accounts(server, AccountService(shared))
        servers.append(node(hub, name, server)[0])
    a, b = servers
    alice = Client(a).register("alice")
    alice.send("PRIVMSG NickServ :REGISTER correct-horse-9")
    alice.messages()
    hub.pump()
    b_accounts = b.accounts
    assert b_accounts is not None
    assert "alice" in b_accounts.records
    dave = Client(b)
    dave.send("CAP LS 302", "CAP REQ :sasl", "NICK dave", "USER d 0 * :d")
    dave.messages()
    dave.send("AUTHENTICATE PLAIN")
    dave.send(f"AUTHENTICATE {b64(plain('alice', 'correct-horse-9'))}")
    assert [m.command for m in dave.messages()] == ["AUTHENTICATE", "900", "903"]
    alice.send("PRIVMSG NickServ :PASSWORD battery-staple-7")
    alice.messages()
    hub.pump()
    erin = Client(b)
    erin.send("CAP LS 302", "CAP REQ :sasl", "NICK erin", "USER e 0 * :e")
    erin.messages()
    erin.send("AUTHENTICATE PLAIN")
    erin.send(f"AUTHENTICATE {b64(plain('alice', 'battery-staple-7'))}")
    assert [m.command for m in erin.messages()] == ["AUTHENTICATE", "900", "903"]
    service = a.accounts
    assert service is not None
    record = service.records[Folded("alice")]
    service.delete(a, record, lambda outcome: None)  # (as the admin API does)
    hub.pump()
    assert "alice" not in b_accounts.records


def test_a_channel_registration_made_on_one_node_is_known_on_another() -> None:
    hub = LocalHub()
    shared = SharedAccounts()
    servers = []
    for name in ("a", "b"):
        server = make_server()
        server.channel_registry = ChannelRegistry(shared)
        servers.append(node(hub, name, server)[0])
    a, b = servers
    assert a.channel_registry is not None
    assert b.channel_registry is not None
    record = ChannelRecord("#room", Folded("#room"), "alice", 1.0, topic="kept")
    a.channel_registry.register(a, record, lambda ok: None)
    hub.pump()
    found = b.channel_registry.get(Folded("#room"))
    assert found is not None
    assert found.topic == "kept"
    a.channel_registry.drop(a, Folded("#room"), lambda ok: None)
    hub.pump()
    assert b.channel_registry.get(Folded("#room")) is None


def test_a_node_that_missed_records_reads_the_shared_accounts_and_registrations_again() -> None:
    """Among the records a node that fell behind missed may be those saying that another
    node wrote an account or a channel registration: it reads them all again."""
    hub = LocalHub()
    shared = SharedAccounts()
    servers, links = [], []
    for name in ("a", "b"):
        server = make_server()
        attach_accounts(server, AccountService(shared))
        server.channel_registry = ChannelRegistry(shared)
        made, link = node(hub, name, server)
        servers.append(made)
        links.append(link)
    a, b = servers
    alice = Client(a).register("alice")
    hub.pump()
    hub.links.remove(links[1])  # b misses what follows
    alice.send("PRIVMSG NickServ :REGISTER correct-horse-9")
    assert a.channel_registry is not None
    record = ChannelRecord("#room", Folded("#room"), "alice", 1.0, topic="kept")
    a.channel_registry.register(a, record, lambda ok: None)
    hub.pump()
    hub.links.append(links[1])
    assert b.accounts is not None
    assert b.channel_registry is not None
    assert "alice" not in b.accounts.records
    links[1].resync()
    assert "alice" in b.accounts.records
    found = b.channel_registry.get(Folded("#room"))
    assert found is not None
    assert found.topic == "kept"


def test_records_naming_a_user_whose_rename_waits_do_not_reach_the_local_holder() -> None:
    # carol (node c) operates #ops, where alice (a) and bobby (b) are; b and c take a for
    # gone and bobby takes the nick alice. Until a lets its alice's nick go, "alice" in the
    # other nodes' records is bobby: carol's private message to him, her KICK and her +v
    # of him are not for a's own alice.
    hub = LocalHub()
    a, link_a = node(hub, "a")
    b, _ = node(hub, "b")
    c, _ = node(hub, "c")
    alice = Client(a).register("alice")
    bobby = Client(b).register("bobby")
    carol = Client(c).register("carol")
    carol.send("JOIN #ops")
    hub.pump()
    alice.send("JOIN #ops")
    bobby.send("JOIN #ops")
    hub.pump()
    alice.messages()
    _alice_taken_behind_a_s_back(hub, link_a, bobby)
    carol.send("PRIVMSG alice :for bobby only", "MODE #ops +v alice")
    hub.pump()
    theirs = a.network.find_user("bobby")
    room = a.find_channel("#ops")
    assert theirs is not None
    assert room is not None
    assert room.members[alice.session.user] == ""  # (not voiced by a +v of bobby)
    assert room.members[theirs] == "v"
    carol.send("KICK #ops alice :bobby goes")
    hub.pump()
    got = alice.messages()
    assert "for bobby only" not in [m.params[-1] for m in got if m.command == "PRIVMSG"]
    assert [m.params for m in got if m.command == "KICK"] == [("#ops", "bobby", "bobby goes")]
    assert alice.session.user in room.members
    assert theirs not in room.members


def test_a_rename_to_the_old_nick_of_a_user_whose_rename_waits_waits_for_it_too() -> None:
    # bobby (b) took the nick alice while a was taken for gone, and dave (c) then took the
    # nick bobby, free everywhere but here (b's user is still bobby on a): once a's alice
    # lets her nick go, b's user is alice and c's is bobby here too, no one left behind.
    hub = LocalHub()
    a, link_a = node(hub, "a")
    b, _ = node(hub, "b")
    c, _ = node(hub, "c")
    alice = Client(a).register("alice")
    bobby = Client(b).register("bobby")
    dave = Client(c).register("dave")
    hub.pump()
    _alice_taken_behind_a_s_back(hub, link_a, bobby)
    dave.send("NICK bobby")
    hub.pump()
    theirs, his = a.network.find_user("bobby"), a.network.find_user("dave")
    assert theirs is not None
    assert his is not None  # (both wait: bobby's nick is not free here yet)
    guest = "Guest00001"
    hub.nicks[a.fold(guest)] = "a"
    link_a.rename_lost(a.fold("alice"), guest)
    assert a.network.find_user("alice") is theirs
    assert a.network.find_user("bobby") is his
    assert a.network.find_user("dave") is None
    assert sorted(u.nick for u in link_a.owner) == ["alice", "bobby"]
    assert alice.session.user.nick == guest


def _burst_first(hub: LocalHub, link: ClusterLink) -> None:
    """What the Redis bus does when ``link``'s node finds its lease gone: its burst goes
    before the records that wait in its outbox (here: every record not pumped yet), and the
    burst's last record, the list of its users, after them."""
    waiting = list(hub.queue)
    hub.queue.clear()
    link.burst()
    end = [r for r in hub.queue if r["k"] == "bend"]
    hub.queue[:] = [r for r in hub.queue if r["k"] != "bend"] + waiting + end


def _users_of(server: Server, link: ClusterLink, node: str) -> list[str]:
    return sorted(user.nick for user, owner in link.owner.items() if owner == node)


def test_a_burst_before_delayed_records_leaves_one_user_per_user() -> None:
    hub = LocalHub()
    a, link_a = node(hub, "a")
    b, link_b = node(hub, "b")
    alice = Client(a).register("alice")
    carol = Client(a).register("carol")
    Client(a).register("dave")
    bob = Client(b).register("bob")
    alice.send("JOIN #room")
    carol.send("JOIN #room")
    hub.pump()
    bob.send("JOIN #room")
    hub.pump()
    # Redis goes away: what a's users do meanwhile waits in a's outbox...
    alice.send("PART #room :later", "NICK alicia")
    carol.send("PRIVMSG #room :still carol", "NICK alice")  # (the nick alice let go)
    dave = a.network.find_user("dave")
    assert dave is not None
    a.network.quit(dave, "bye")
    bob.messages()
    # ... and a, finding its lease gone, tells its state before it.
    _burst_first(hub, link_a)
    hub.pump()
    assert _users_of(b, link_b, "a") == ["alice", "alicia"]  # (no user left under an old nick)
    room = b.find_channel("#room")
    assert room is not None
    assert sorted(u.nick for u in room.members) == ["alice", "bob"]
    theirs = b.network.find_user("alice")
    assert theirs is not None
    assert link_b.owner.get(theirs) == "a"
    got = [(m.command, m.params) for m in bob.messages()]
    assert ("PRIVMSG", ("#room", "still carol")) in got  # (said before the burst: delivered)
    # The nicks let go are free on b too: a user of b may take them.
    Client(b).register("carol")
    Client(b).register("dave")
    hub.pump()
    assert _users_of(a, link_a, "b") == ["bob", "carol", "dave"]


def test_a_burst_drops_the_users_its_node_no_longer_has() -> None:
    hub = LocalHub()
    a, link_a = node(hub, "a")
    b, link_b = node(hub, "b")
    alice = Client(a).register("alice")
    Client(a).register("carol")
    hub.pump()
    assert _users_of(b, link_b, "a") == ["alice", "carol"]
    alice.send("QUIT :bye")
    hub.queue.clear()  # (a record b never gets: b knows of alice still)
    link_a.burst()
    hub.pump()
    assert _users_of(b, link_b, "a") == ["carol"]
    Client(b).register("alice")


def _markreads(client: Client) -> list[tuple[str, ...]]:
    return [m.params for m in client.messages() if m.command == "MARKREAD"]


def test_a_read_marker_moved_on_one_node_moves_on_every_node_that_shares_the_store() -> None:
    """MARKREAD with one store for every node (PostgreSQL): the account's connections on
    the other node hear it too, and a node's own view never goes back. A node that missed
    the record (or where the account logs in anew) reads the store again."""
    hub = LocalHub()
    shared = SharedStore(make_store())
    a, _ = _history_node(hub, "a", shared)
    b, _ = _history_node(hub, "b", shared)
    caps = "draft/read-marker"
    one = Client(a).register("one", caps)
    two = Client(a).register("two", caps)
    three = Client(b).register("three", caps)
    for client, server in ((one, a), (two, a), (three, b)):
        server.network.set_account(client.session.user, "dana")
        client.send("JOIN #room")
        hub.pump()
    for client in (one, two, three):
        client.messages()
    stamp = format_time(a.clock() - 10)
    one.send(f"MARKREAD #room timestamp={stamp}")
    hub.pump()
    assert _markreads(one) == _markreads(two) == [("#room", f"timestamp={stamp}")]
    assert _markreads(three) == [("#room", f"timestamp={stamp}")]  # (was nothing)
    three.send("MARKREAD #room")
    assert _markreads(three) == [("#room", f"timestamp={stamp}")]  # (was "*")
    older = format_time(a.clock() - 100)  # never back, on either node
    three.send(f"MARKREAD #room timestamp={older}")
    hub.pump()
    assert _markreads(three) == [("#room", f"timestamp={stamp}")]
    assert _markreads(one) == _markreads(two) == []
    link_b = b.cluster
    assert link_b is not None
    hub.links.remove(link_b)  # b misses what follows
    later = format_time(a.clock() - 5)
    two.send(f"MARKREAD #room timestamp={later}")
    hub.pump()
    hub.links.append(link_b)
    assert _markreads(one) == [("#room", f"timestamp={later}")]
    assert _markreads(three) == []
    four = Client(b).register("four", caps)  # a login reads the store, known account or not
    b.network.set_account(four.session.user, "dana")
    assert _markreads(three) == [("#room", f"timestamp={later}")]  # (told as it moved here)
    four.messages()
    four.send("MARKREAD #room")
    assert _markreads(four) == [("#room", f"timestamp={later}")]  # (was the old one)


def test_a_node_that_missed_records_reads_the_read_markers_again() -> None:
    hub = LocalHub()
    shared = SharedStore(make_store())
    a, _ = _history_node(hub, "a", shared)
    b, _ = _history_node(hub, "b", shared)
    link_b = b.cluster
    assert link_b is not None
    one = Client(a).register("one", "draft/read-marker")
    three = Client(b).register("three", "draft/read-marker")
    for client, server in ((one, a), (three, b)):
        server.network.set_account(client.session.user, "dana")
        client.send("JOIN #room")
        hub.pump()
    one.messages(), three.messages()
    hub.links.remove(link_b)
    stamp = format_time(a.clock() - 10)
    one.send(f"MARKREAD #room timestamp={stamp}")
    hub.pump()
    hub.links.append(link_b)
    assert _markreads(three) == []
    link_b.resync()
    assert _markreads(three) == [("#room", f"timestamp={stamp}")]


def test_nodes_with_a_database_each_keep_their_markers_to_themselves() -> None:
    """With a database per node an account logs in on its own node only: its markers are
    that node's, and no record crosses for them."""
    hub = LocalHub()
    a, _ = _history_node(hub, "a")
    b, _ = _history_node(hub, "b")
    one = Client(a).register("one", "draft/read-marker")
    a.network.set_account(one.session.user, "dana")
    one.send("JOIN #room")
    hub.pump()
    one.messages()
    one.send(f"MARKREAD #room timestamp={format_time(a.clock() - 10)}")
    assert hub.pump() == 0
    history_b = b.history
    assert history_b is not None
    assert history_b.markers == {}
