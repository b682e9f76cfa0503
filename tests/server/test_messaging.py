"""PRIVMSG, NOTICE and TAGMSG through the full handler (src/hubbub/server/commands/messaging.py):
how their targets are checked. (Each distinct target once: tests/server/test_sendq.py.)"""

from __future__ import annotations

import pytest

from hubbub.server.core import Server
from tests.server.accounthelpers import server_with_accounts
from tests.server.harness import Client, ask, make_server

NO_SUCH_NICK = "No such nick/channel"


@pytest.fixture
def server() -> Server:
    return make_server()


@pytest.fixture
def alice(server: Server) -> Client:
    """alice, with message-tags, echo-message and labeled-response, in #c."""
    client = Client(server).register("alice", caps="message-tags echo-message labeled-response")
    client.send("JOIN #c")
    client.messages()
    return client


@pytest.mark.parametrize("tags", ["", "@+typing=active "])
def test_tagmsg_to_a_missing_target_is_answered_with_or_without_client_tags(
    alice: Client, tags: str
) -> None:
    assert ask(alice, f"{tags}TAGMSG nosuchnick") == [
        ("401", ("alice", "nosuchnick", NO_SUCH_NICK))
    ]
    assert ask(alice, f"{tags}TAGMSG #nowhere") == [
        ("403", ("alice", "#nowhere", "No such channel"))
    ]


def test_a_labeled_tagmsg_without_client_tags_to_a_missing_nick_gets_the_labeled_401(
    alice: Client,
) -> None:
    """Not ACK: the label goes on the one reply there is."""
    alice.messages()
    alice.send("@label=z TAGMSG nosuchnick")
    [reply] = alice.messages()
    assert (reply.command, reply.params) == ("401", ("alice", "nosuchnick", NO_SUCH_NICK))
    assert reply.tags.get("label") == "z"


def test_a_tagmsg_without_client_tags_is_checked_but_not_relayed(
    server: Server, alice: Client
) -> None:
    bob = Client(server).register("bob", caps="message-tags")
    bob.send("JOIN #c")
    bob.messages()
    alice.messages()
    assert ask(alice, "TAGMSG #c,bob,nosuchnick") == [
        ("401", ("alice", "nosuchnick", NO_SUCH_NICK))
    ]
    assert bob.lines() == []  # (nothing to relay: no echo, no delivery)
    alice.send("@label=v TAGMSG bob")
    assert [(m.command, m.tags.get("label")) for m in alice.messages()] == [("ACK", "v")]
    outsider = Client(server).register("out", caps="message-tags")
    assert ask(outsider, "TAGMSG #c") == [("404", ("out", "#c", "Cannot send to channel"))]  # +n
    alice.send("@+typing=active TAGMSG bob")  # with a client tag: relayed as before
    assert [m.command for m in bob.messages()] == ["TAGMSG"]


def test_client_tags_whose_keys_break_the_grammar_are_not_relayed(
    server: Server, alice: Client
) -> None:
    bob = Client(server).register("bob", caps="message-tags")
    bob.send("JOIN #c")
    bob.messages()
    alice.send("@+=x;+;+a!b=1;+é=1;+/=1;+-=1;+a,b=1;+draft/react=ok;+example.com/x-y=2 TAGMSG #c")
    got = [m for m in bob.messages() if m.command == "TAGMSG"]
    assert len(got) == 1
    assert {k: v for k, v in got[0].tags.items() if k.startswith("+")} == {
        "+-": "1",
        "+draft/react": "ok",
        "+example.com/x-y": "2",
    }
    alice.send("@+=x;+a!b=1 TAGMSG #c")  # (nothing valid left: nothing to relay)
    assert [m for m in bob.messages() if m.command == "TAGMSG"] == []


def test_no_ctcp_mode_keeps_out_ctcp_but_action(server: Server, alice: Client) -> None:
    """``+C``: ``ACTION`` passes, any other CTCP is ``404`` (a NOTICE one is dropped without
    a reply), in a plain line (through the fast path's refusal), a tagged one and a
    multiline batch alike; other text is untouched."""
    bob = Client(server).register("bob")
    bob.send("JOIN #c")
    assert [c for c, _ in ask(alice, "MODE #c +C")] == ["MODE"]
    bob.messages()
    assert ask(bob, "PRIVMSG #c :\x01ACTION waves\x01") == []
    assert ask(bob, "PRIVMSG #c :\x01ACTION\x01") == []
    assert ask(bob, "PRIVMSG #c :\x01VERSION\x01") == [
        ("404", ("bob", "#c", "Cannot send CTCP (+C)"))
    ]
    assert [c for c, _ in ask(bob, "PRIVMSG #c,alice :\x01PING 1\x01")] == ["404"]
    assert ask(bob, "NOTICE #c :\x01PING 1\x01") == []
    assert ask(bob, "PRIVMSG #c :plain \x01text") == []
    said = [m.params[1] for m in alice.messages() if m.command == "PRIVMSG"]
    assert said == ["\x01ACTION waves\x01", "\x01ACTION\x01", "\x01PING 1\x01", "plain \x01text"]
    carol = Client(server).register("carol", caps="draft/multiline batch message-tags")
    carol.send("JOIN #c")
    carol.send(
        "BATCH +m draft/multiline #c",
        "@batch=m PRIVMSG #c :hello",
        "@batch=m PRIVMSG #c :\x01PING 2\x01",
        "BATCH -m",
    )
    assert "404" in [m.command for m in carol.messages()]
    assert [m.params[1] for m in alice.messages() if m.command == "PRIVMSG"] == []
    assert [c for c, _ in ask(alice, "MODE #c")][0] == "324"
    assert ask(alice, "MODE #c")[0][1][2] == "+Cnt"


def test_small_ircv3_departures_an_audit_found(server: Server) -> None:
    """SETNAME without a parameter gets the spec's FAIL, not 461; a label without a value
    is no label (it "has a required value"); MONITOR + t1,T1 answers one target once."""
    client = Client(server).register("lab", caps="labeled-response batch message-tags")
    client.send("SETNAME")
    [fail] = client.messages()
    assert (fail.command, fail.params[:2]) == ("FAIL", ("SETNAME", "INVALID_REALNAME"))
    for line in ("@label PING x", "@label= PING x"):
        client.send(line)
        [pong] = client.messages()
        assert (pong.command, "label" in pong.tags) == ("PONG", False)
    client.send("MONITOR + t1,t2,T1")
    [offline] = [m for m in client.messages() if m.command == "731"]
    assert offline.params[1] == "t1,t2"


def test_a_service_notice_has_a_time_and_a_msgid_of_its_own() -> None:
    server = server_with_accounts()
    client = Client(server).register("rm", caps="message-tags server-time")
    client.send("NS INFO nobody", "NS INFO nobody")
    notices = [m for m in client.messages() if m.command == "NOTICE"]
    assert len(notices) == 2
    assert all("time" in m.tags for m in notices)
    assert notices[0].tags["msgid"] != notices[1].tags["msgid"]


@pytest.mark.parametrize("targets", [":", ",", ",,"])
def test_a_message_that_names_no_target_gets_411(alice: Client, targets: str) -> None:
    """``PRIVMSG , :x`` names no one, as ``PRIVMSG : x`` does: ERR_NORECIPIENT, not ACK."""
    text = "" if targets == ":" else " :x"
    assert ask(alice, f"PRIVMSG {targets}{text}") == [
        ("411", ("alice", "No recipient given (PRIVMSG)"))
    ]
    assert ask(alice, f"NOTICE {targets}{text}") == []  # (never an error to a NOTICE)


@pytest.mark.parametrize("command", ["JOIN", "PART"])
@pytest.mark.parametrize("channels", [":", ",", ",,"])
def test_join_or_part_that_names_no_channel_gets_461(
    alice: Client, command: str, channels: str
) -> None:
    assert ask(alice, f"{command} {channels}") == [
        ("461", ("alice", command, "Not enough parameters"))
    ]
