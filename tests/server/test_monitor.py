"""MONITOR (IRCv3 monitor and extended-monitor), line by line."""

from __future__ import annotations

import pytest

from hubbub.protocol.message import MAX_LINE_BYTES, parse
from hubbub.server.core import Server
from tests.cloaks import HOST
from tests.server.harness import Client, ask, make_server, replies

BOB = f"bob!~u@{HOST}"


@pytest.fixture
def server() -> Server:
    return make_server()


@pytest.fixture
def foo(server: Server) -> Client:
    return Client(server).register("foo")


def test_add_reports_online_and_offline(server: Server, foo: Client) -> None:
    Client(server).register("bob")
    assert ask(foo, "MONITOR + bob,baz") == [
        ("730", ("foo", BOB)),
        ("731", ("foo", "baz")),
    ]


def test_add_keeps_the_case_the_client_sent_for_offline_targets(foo: Client) -> None:
    assert ask(foo, "MONITOR + Baz,QUX") == [("731", ("foo", "Baz,QUX"))]


def test_watchers_hear_of_connect_and_quit(server: Server, foo: Client) -> None:
    foo.send("MONITOR + bob")
    foo.messages()
    bob = Client(server).register("bob")
    assert replies(foo) == [("730", ("foo", BOB))]
    bob.send("QUIT :bye")
    assert replies(foo) == [("731", ("foo", "bob"))]
    Client(server).register("bob")
    assert replies(foo) == [("730", ("foo", BOB))]


def test_targets_are_case_folded(server: Server, foo: Client) -> None:
    foo.send("MONITOR + BOB")
    foo.messages()
    Client(server).register("bob")
    assert replies(foo) == [("730", ("foo", BOB))]
    assert server.network.monitors == {server.fold("bob"): {foo.session}}


def test_nick_changes(server: Server, foo: Client) -> None:
    foo.send("MONITOR + qux")
    foo.messages()
    baz = Client(server).register("baz")
    assert replies(foo) == []
    baz.send("NICK qux")
    assert replies(foo) == [("730", ("foo", f"qux!~u@{HOST}"))]
    baz.send("NICK QUX")  # a case change is no news
    assert replies(foo) == []
    baz.send("NICK bazbat")
    assert replies(foo) == [("731", ("foo", "QUX"))]


def test_remove_is_silent_and_stops_notifications(server: Server, foo: Client) -> None:
    foo.send("MONITOR + bob")
    assert ask(foo, "MONITOR - bob") == []
    bob = Client(server).register("bob")
    bob.send("QUIT")
    assert replies(foo) == []
    assert server.network.monitors == {}
    assert foo.session.monitoring == set()


def test_two_watchers_one_removes(server: Server, foo: Client) -> None:
    bar = Client(server).register("bar")
    foo.send("MONITOR + qux")
    bar.send("MONITOR + qux")
    foo.messages()
    assert ask(bar, "MONITOR - qux") == []
    Client(server).register("qux")
    assert replies(foo) == [("730", ("foo", f"qux!~u@{HOST}"))]
    assert replies(bar) == []


def test_clear_and_list(foo: Client) -> None:
    assert ask(foo, "MONITOR L") == [("733", ("foo", "End of MONITOR list"))]
    foo.send("MONITOR + qux,bazbat")
    assert ask(foo, "MONITOR L") == [
        ("732", ("foo", "bazbat,qux")),
        ("733", ("foo", "End of MONITOR list")),
    ]
    assert ask(foo, "MONITOR - qux") == []
    assert ask(foo, "MONITOR l") == [
        ("732", ("foo", "bazbat")),
        ("733", ("foo", "End of MONITOR list")),
    ]
    assert ask(foo, "MONITOR C") == []
    assert ask(foo, "MONITOR L") == [("733", ("foo", "End of MONITOR list"))]


def test_status(server: Server, foo: Client) -> None:
    Client(server).register("bob")
    foo.send("MONITOR + bob,baz")
    assert ask(foo, "MONITOR S") == [("730", ("foo", BOB)), ("731", ("foo", "baz"))]


def test_masks_and_invalid_nicks_are_not_monitored(server: Server, foo: Client) -> None:
    assert ask(foo, "MONITOR + *!username@127.0.0.1,#chan,ok") == [("731", ("foo", "ok"))]
    assert foo.session.monitoring == {server.fold("ok")}
    Client(server).register("bar")
    assert replies(foo) == []


def test_adding_twice_keeps_one_entry(server: Server, foo: Client) -> None:
    foo.send("MONITOR + bob", "MONITOR + BOB")
    assert ask(foo, "MONITOR L") == [
        ("732", ("foo", "bob")),
        ("733", ("foo", "End of MONITOR list")),
    ]


def test_list_full() -> None:
    server = make_server(monitor=2)
    foo = Client(server).register("foo")
    assert ask(foo, "MONITOR + a,b,c,d") == [
        ("734", ("foo", "2", "c,d", "Monitor list is full.")),
        ("731", ("foo", "a,b")),
    ]
    # targets already on the list still fit, and are reported
    assert ask(foo, "MONITOR + A") == [("731", ("foo", "A"))]
    assert len(foo.session.monitoring) == 2


def test_limit_is_advertised() -> None:
    server = make_server(monitor=7)
    foo = Client(server)
    foo.send("NICK foo", "USER u 0 * :Real Name")
    isupport = [t for m in foo.messages() if m.command == "005" for t in m.params[1:-1]]
    assert "MONITOR=7" in isupport


def test_watcher_quitting_leaves_no_trace(server: Server, foo: Client) -> None:
    foo.send("MONITOR + bob,baz")
    foo.send("QUIT")
    assert server.network.monitors == {}
    Client(server).register("bob")  # nothing to deliver, nothing to crash


def test_long_lists_are_split() -> None:
    server = make_server(monitor=500)
    foo = Client(server).register("foo")
    nicks = [f"someone_with_a_long_nick{i:03d}" for i in range(60)]
    for start in range(0, 60, 10):
        foo.send("MONITOR + " + ",".join(nicks[start : start + 10]))
    foo.lines()
    foo.send("MONITOR L")
    lines = foo.lines()
    listed = [m.params[1] for m in map(parse, lines) if m.command == "732"]
    assert len(listed) > 1
    assert sorted(",".join(listed).split(",")) == nicks
    assert all(len(line.encode()) + 2 <= MAX_LINE_BYTES for line in lines)


def test_errors(foo: Client) -> None:
    assert ask(foo, "MONITOR") == [("461", ("foo", "MONITOR", "Not enough parameters"))]
    assert ask(foo, "MONITOR +") == [("461", ("foo", "MONITOR", "Not enough parameters"))]
    assert ask(foo, "MONITOR X") == [("400", ("foo", "MONITOR", "X", "Unknown subcommand"))]


def test_extended_monitor_away(server: Server) -> None:
    foo = Client(server).register("foo", caps="extended-monitor away-notify")
    plain = Client(server).register("plain", caps="away-notify")
    foo.send("MONITOR + bar")
    plain.send("MONITOR + bar")
    bar = Client(server).register("bar")
    foo.messages()
    plain.messages()
    bar.send("AWAY :afk")
    got = foo.messages()
    assert [(m.source, m.command, m.params) for m in got] == [(f"bar!~u@{HOST}", "AWAY", ("afk",))]
    assert [m.command for m in plain.messages()] == []
    bar.send("AWAY")
    assert [(m.command, m.params) for m in foo.messages()] == [("AWAY", ())]
