"""The PRIVMSG/NOTICE fast path says exactly what the full handler says."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocol.framing import LineBuffer
from hubbub.server import core as core_module
from hubbub.server import fastpath
from hubbub.server.core import Server
from hubbub.server.session import Session
from tests.cloaks import HOST
from tests.server.harness import Client, FakeClock, make_server

TAGS = re.compile(r"(time|msgid)=[^; ]*")


def conversation(
    use_fast_path: bool, monkeypatch: pytest.MonkeyPatch, taken: list[bytes]
) -> list[list[str]]:
    real = fastpath.relay

    def spy(server: Server, session: Session, line: bytes) -> bool:
        if use_fast_path and real(server, session, line):
            taken.append(line)
            return True
        return False

    monkeypatch.setattr(core_module, "relay", spy)
    server = make_server(clock=FakeClock())
    alice = Client(server).register("alice", caps="echo-message")
    bob = Client(server).register("bob", caps="message-tags server-time")
    carol = Client(server).register("carol")
    for c in (alice, bob, carol):
        c.send("JOIN #room")
    alice.send("PRIVMSG bob :hi bob", "MODE #room +m")
    carol.send("AWAY :gone")
    for c in (alice, bob, carol):
        c.lines()
    alice.send(
        "PRIVMSG #room :hello everyone",
        "PRIVMSG #room ::starts with a colon",
        "PRIVMSG #room :x",
        "NOTICE #room :a notice",
        "PRIVMSG bob :direct",
        "PRIVMSG carol :you are away",  # 301: the full handler
        "PRIVMSG #room :" + "y" * 450,  # cut to fit: the full handler
        "PRIVMSG #nowhere :lost",
    )
    carol.send("PRIVMSG #room :moderated out")
    monkeypatch.undo()
    return [[TAGS.sub(r"\1=*", line) for line in c.lines()] for c in (alice, bob, carol)]


def test_fast_path_output_matches_the_full_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bytes] = []
    fast = conversation(True, monkeypatch, taken)
    assert b"PRIVMSG #room :hello everyone" in taken  # the fast path did run
    assert b"PRIVMSG bob :direct" in taken
    slow = conversation(False, monkeypatch, [])
    assert fast == slow
    assert any("hello everyone" in line for line in fast[2])  # and something was said


# -- whole blocks: relay_block ------------------------------------------------------------


SENDER_CAPS = ["", "echo-message", "echo-message server-time", "echo-message message-tags"]


def block_world(sender_caps: str, bot: bool = False) -> tuple[Server, dict[str, Client]]:
    server = make_server(clock=FakeClock())
    clients = {
        "alice": Client(server).register("alice", caps=sender_caps),
        "bob": Client(server).register("bob"),
        "carol": Client(server).register("carol"),
        "dave": Client(server).register("dave", caps="message-tags server-time"),
        "erin": Client(server).register("erin", caps="server-time"),
    }
    for name in ("alice", "bob", "carol"):
        clients[name].send("JOIN #room")  # nobody takes tags
    for name in ("alice", "dave"):
        clients[name].send("JOIN #tagged")
    for name in ("alice", "bob", "dave", "erin"):
        clients[name].send("JOIN #mixed")  # three renderings
    clients["carol"].send("AWAY :out")
    if bot:
        clients["alice"].send("MODE alice +B")
    for c in clients.values():
        c.lines()
    return server, clients


def deliver_block(server: Server, session: Session, block: bytes, use_block: bool) -> bool:
    taken = use_block and server.receive_block(session, block)
    if not taken:
        lines = LineBuffer().feed(block)
        if lines:
            server.receive(session, lines)
    return taken


def outputs(clients: dict[str, Client]) -> list[list[str]]:
    return [[TAGS.sub(r"\1=*", line) for line in c.lines()] for c in clients.values()]


def test_a_block_of_lines_to_one_user_is_relayed_whole() -> None:
    server, clients = block_world("")
    block = b"PRIVMSG BOB :one\r\nPRIVMSG BOB :two words\nPRIVMSG BOB ::three\r\n"
    assert server.receive_block(clients["alice"].session, block)
    assert clients["bob"].lines() == [
        f":alice!~u@{HOST} PRIVMSG bob :one",
        f":alice!~u@{HOST} PRIVMSG bob :two words",
        f":alice!~u@{HOST} PRIVMSG bob ::three",
    ]
    assert bytes(clients["bob"].sink.data).endswith(b"::three\r\n")


def test_a_block_to_a_channel_reaches_every_member_and_echoes() -> None:
    server, clients = block_world("echo-message")
    assert server.receive_block(clients["alice"].session, b"NOTICE #room :a\r\nNOTICE #room :b\r\n")
    expected = [f":alice!~u@{HOST} NOTICE #room :a", f":alice!~u@{HOST} NOTICE #room :b"]
    assert clients["bob"].lines() == expected
    assert clients["carol"].lines() == expected
    assert clients["alice"].lines() == expected  # echo-message, no tags asked for
    assert clients["dave"].lines() == []


@pytest.mark.parametrize(
    "block",
    [
        b"PRIVMSG carol :away\r\n",  # 301 is due
        b"PRIVMSG bob :x\r\nNOTICE bob :y\r\n",  # two kinds
        b"PRIVMSG bob :x\r\nPRIVMSG carol :y\r\n",  # two targets
        b"PRIVMSG bob :x\r\n\r\n",  # an empty line
        b"PRIVMSG bob :\r\n",  # no text
        b"PRIVMSG bob :caf\xc3\xa9\r\n",  # not ASCII
        b"PRIVMSG bob :a\rb\r\n",  # a CR inside
        b"PRIVMSG bob :x",  # not a complete line
        b"PRIVMSG bob,carol :x\r\n",
        b"PRIVMSG nobody :x\r\n",
        b"PRIVMSG alice :me\r\n",
        b"PRIVMSG bob :" + b"z" * 490 + b"\r\n",  # too long once prefixed: cut by the handler
    ],
)
def test_blocks_the_full_handler_must_see_are_left_alone(block: bytes) -> None:
    server, clients = block_world("")
    assert not server.receive_block(clients["alice"].session, block)
    assert all(not c.lines() for c in clients.values())


def test_recipients_with_tags_get_a_time_and_a_msgid_per_line() -> None:
    server, clients = block_world("echo-message message-tags", bot=True)
    block = b"PRIVMSG #mixed :one\r\nPRIVMSG #mixed :two\r\n"
    assert server.receive_block(clients["alice"].session, block)
    source = f":alice!~u@{HOST} PRIVMSG #mixed"
    assert clients["bob"].lines() == [f"{source} :one", f"{source} :two"]
    erin = clients["erin"].lines()
    assert [line.split(" ", 1)[1] for line in erin] == [f"{source} :one", f"{source} :two"]
    assert all(line.startswith("@time=2023-11-14T22:13:20.000Z ") for line in erin)
    dave = clients["dave"].messages()
    assert [m.params[-1] for m in dave] == ["one", "two"]
    assert all(set(m.tags) == {"time", "msgid", "bot"} for m in dave)
    ids = [m.tags["msgid"] for m in dave]
    assert len(set(ids)) == 2
    echoed = clients["alice"].messages()  # the sender's copy carries the same ids
    assert [m.tags["msgid"] for m in echoed] == ids


TARGETS = ["bob", "BOB", "#room", "#ROOM", "#tagged", "#mixed", "dave", "erin", "carol", "alice"]
TARGETS += ["nobody", "#nowhere"]
TEXTS = ["hi", "two words", ":colon", "", "x" * 440, "y" * 500, "caf\u00e9", "a\rb", "nul\x00"]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SENDER_CAPS),
    st.booleans(),
    st.lists(
        st.tuples(
            st.sampled_from(["PRIVMSG", "NOTICE"]),
            st.sampled_from(TARGETS),
            st.sampled_from(TEXTS),
            st.sampled_from(["\r\n", "\n"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_a_block_gets_what_the_full_handler_says_line_by_line(
    sender_caps: str, bot: bool, lines: list[tuple[str, str, str, str]], uniform: bool
) -> None:
    if uniform:  # the case relay_block takes: one kind, one target
        lines = [(lines[0][0], lines[0][1], text, end) for _, _, text, end in lines]
    block = "".join(f"{cmd} {target} :{text}{end}" for cmd, target, text, end in lines).encode()
    server, clients = block_world(sender_caps, bot)
    deliver_block(server, clients["alice"].session, block, use_block=True)
    fast = outputs(clients)
    server, clients = block_world(sender_caps, bot)
    with mock.patch.object(core_module, "relay", return_value=False):
        deliver_block(server, clients["alice"].session, block, use_block=False)
    assert fast == outputs(clients)
