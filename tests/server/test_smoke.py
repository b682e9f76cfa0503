"""The first end-to-end walk through the core without sockets."""

from __future__ import annotations

from tests.server.harness import Client, make_server


def test_register_join_and_talk() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #chat")
    assert [m.command for m in alice.messages()] == ["JOIN", "353", "366"]
    bob.send("JOIN #chat")
    bob.messages()
    joined = alice.messages()
    assert joined[0].command == "JOIN"
    assert joined[0].source == "bob!~u@127.0.0.1"
    bob.send("PRIVMSG #chat :hello there")
    got = alice.messages()
    assert [(m.command, m.params) for m in got] == [("PRIVMSG", ("#chat", "hello there"))]
    assert bob.messages() == []
