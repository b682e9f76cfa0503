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
from tests.server import twins
from tests.server.harness import Client, FakeClock, make_server

TAGS = re.compile(r"(time|msgid)=[^; ]*")


@pytest.fixture(autouse=True, params=twins.TWINS)
def scan_twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with each build's block scan: the C twin and the Python one."""
    monkeypatch.setattr(fastpath, "scan_block", twins.scan_block(request.param))
    return str(request.param)


SCRIPT: list[tuple[str, str]] = [
    # (sender, line) in the world of :func:`world`
    ("alice", "PRIVMSG #room :hello everyone"),
    ("alice", "PRIVMSG #room ::starts with a colon"),
    ("alice", "PRIVMSG #room :x"),
    ("alice", "NOTICE #mixed :a notice"),
    ("alice", "PRIVMSG bob :direct"),
    ("alice", "PRIVMSG carol :you are away"),  # 301: the full handler
    ("alice", "PRIVMSG #room :" + "y" * 460),  # cut to fit: the full handler
    ("alice", "PRIVMSG #nowhere :lost"),
    ("alice", "PRIVMSG #mod :the operator speaks"),
    ("bob", "PRIVMSG #mod :the voiced speak"),
    ("carol", "PRIVMSG #mod :moderated out"),
    ("dave", "NOTICE #mod :moderated out, quietly"),
    ("bob", "PRIVMSG #bans :a banned member"),
    ("alice", "NOTICE #bans :an operator, banned or not"),
    ("carol", "PRIVMSG #bans :a banned outsider"),
    ("dave", "PRIVMSG #bans :a banned outsider with an exception"),
    ("erin", "PRIVMSG #bans :an outsider where -n"),
    ("erin", "PRIVMSG #room :an outsider where +n"),
    ("dave", "PRIVMSG #secret :an outsider to a secret channel"),
    ("dave", "NOTICE #SECRET :an outsider to a secret channel, quietly"),
    ("bob", "PRIVMSG #Secret :a member of a secret channel"),
    ("alice", "PRIVMSG @#room :to the operators"),
    ("bob", "PRIVMSG +#mod :to the voiced and up"),
    ("carol", "PRIVMSG @#mod :to the operators, moderated out"),
    ("dave", "PRIVMSG @#mixed :to the operators, with tags"),
    ("alice", "PRIVMSG NickServ :HELP"),
    ("bob", "PRIVMSG nickserv :INFO"),
    ("dave", "NOTICE NickServ :notices are not answered"),
    ("erin", "PRIVMSG DAVE :direct, with tags"),
    ("carol", "PRIVMSG #room :away, yet speaking"),
]
FAST = [
    # the lines of SCRIPT the fast path relays: the rest take the full handler
    "PRIVMSG #room :hello everyone",
    "PRIVMSG #room ::starts with a colon",
    "PRIVMSG #room :x",
    "NOTICE #mixed :a notice",
    "PRIVMSG bob :direct",
    "PRIVMSG #mod :the operator speaks",
    "PRIVMSG #mod :the voiced speak",
    "NOTICE #bans :an operator, banned or not",
    "PRIVMSG #bans :a banned outsider with an exception",
    "PRIVMSG #bans :an outsider where -n",
    "PRIVMSG #Secret :a member of a secret channel",
    "PRIVMSG DAVE :direct, with tags",
    "PRIVMSG #room :away, yet speaking",
]

REFUSED = [
    # the texts of SCRIPT that nobody hears (answered with an error, or not at all)
    "lost",
    "moderated out",
    "moderated out, quietly",
    "a banned member",
    "a banned outsider",
    "an outsider where +n",
    "an outsider to a secret channel",
    "an outsider to a secret channel, quietly",
    "to the operators, moderated out",
]


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
    _, clients = world("echo-message")
    for sender, line in SCRIPT:
        clients[sender].send(line)
    monkeypatch.undo()
    return outputs(clients)


def test_fast_path_output_matches_the_full_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bytes] = []
    fast = conversation(True, monkeypatch, taken)
    assert taken == [line.encode() for line in FAST]  # the fast path ran, where it may
    slow = conversation(False, monkeypatch, [])
    assert fast == slow
    said = [line for lines in fast for line in lines]
    for _, line in SCRIPT:  # and what may be said was said, and only that
        target, text = line.split(" ", 1)[1].split(" :", 1)
        if target.lower() != "nickserv":
            said_as = f" {target} :{text[:400]}".lower()  # (a long text is cut to fit)
            heard = any(
                s.lower().endswith(said_as) or (len(text) > 400 and said_as in s) for s in said
            )
            assert heard is (text not in REFUSED), line


def test_the_refusals_the_full_handler_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worlds of these tests say what they mean to (each refusal is the right one)."""
    _, clients = world("")
    expected = {
        ("carol", "PRIVMSG #mod :x"): "404",
        ("bob", "PRIVMSG #bans :x"): "404",
        ("carol", "PRIVMSG #bans :x"): "404",
        ("erin", "PRIVMSG #room :x"): "404",
        ("dave", "PRIVMSG #secret :x"): "403",
        ("carol", "PRIVMSG @#mod :x"): "404",
        ("alice", "PRIVMSG carol :x"): "301",
    }
    for (sender, line), code in expected.items():
        clients[sender].lines()
        clients[sender].send(line)
        assert [m.command for m in clients[sender].messages()] == [code], line


# -- whole blocks: relay_block ------------------------------------------------------------


SENDER_CAPS = ["", "echo-message", "echo-message server-time", "echo-message message-tags"]
SENDERS = ["alice", "bob", "carol", "dave", "erin"]
CAPS = {
    "alice": "",
    "bob": "",
    "carol": "",
    "dave": "message-tags server-time",
    "erin": "server-time",
}


def world(
    sender_caps: str, bot: bool = False, sender: str = "alice"
) -> tuple[Server, dict[str, Client]]:
    """Five clients (``sender`` with ``sender_caps`` too, and a bot when ``bot``) in
    channels where every reason for a message to go or not holds for one of them:

    - #room: alice, bob, carol (nobody takes tags); +n: erin and dave are outsiders
    - #tagged: alice, dave; #mixed: alice, bob, dave, erin (three renderings)
    - #mod: +m; alice its operator, bob voiced, carol and dave neither
    - #bans: -n; alice its operator; bob a banned member; carol a banned outsider, dave one
      with a ban exception, erin an outsider not banned
    - #secret: +s -n; alice, bob (the others must not learn it exists)

    carol is away; NickServ (a service user) is on the network.
    """
    server = make_server(clock=FakeClock())
    clients = {}
    for name in SENDERS:
        caps = " ".join(filter(None, [CAPS[name], sender_caps if name == sender else ""]))
        clients[name] = Client(server).register(name, caps=caps)
    alice, bob, carol, dave, erin = clients.values()
    for name in ("alice", "bob", "carol"):
        clients[name].send("JOIN #room")  # nobody takes tags
    for name in ("alice", "dave"):
        clients[name].send("JOIN #tagged")
    for name in ("alice", "bob", "dave", "erin"):
        clients[name].send("JOIN #mixed")  # three renderings
    for name in ("alice", "bob", "carol", "dave"):
        clients[name].send("JOIN #mod")
    alice.send("MODE #mod +m", "MODE #mod +v bob")
    for name in ("alice", "bob"):
        clients[name].send("JOIN #bans", "JOIN #secret")
    alice.send("MODE #bans -n", "MODE #bans +bb bob!*@* carol!*@*", "MODE #bans +b dave!*@*")
    alice.send("MODE #bans +e DAVE!*@*", "MODE #secret +s-n")
    carol.send("AWAY :out")
    if bot:
        clients[sender].send(f"MODE {sender} +B")
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
    server, clients = world("")
    block = b"PRIVMSG BOB :one\r\nPRIVMSG BOB :two words\nPRIVMSG BOB ::three\r\n"
    assert server.receive_block(clients["alice"].session, block)
    assert clients["bob"].lines() == [
        f":alice!~u@{HOST} PRIVMSG bob :one",
        f":alice!~u@{HOST} PRIVMSG bob :two words",
        f":alice!~u@{HOST} PRIVMSG bob ::three",
    ]
    assert bytes(clients["bob"].sink.data).endswith(b"::three\r\n")


def test_a_block_to_a_channel_reaches_every_member_and_echoes() -> None:
    server, clients = world("echo-message")
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
    server, clients = world("")
    assert not server.receive_block(clients["alice"].session, block)
    assert all(not c.lines() for c in clients.values())


def test_recipients_with_tags_get_a_time_and_a_msgid_per_line() -> None:
    server, clients = world("echo-message message-tags", bot=True)
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
TARGETS += ["nobody", "#nowhere", "#mod", "#bans", "#BANS", "#secret", "@#room", "+#mod", "@#mixed"]
TARGETS += ["NickServ", "nickserv"]
TEXTS = ["hi", "two words", ":colon", "", "x" * 440, "y" * 500, "caf\u00e9", "a\rb", "nul\x00"]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SENDERS),
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
    sender: str,
    sender_caps: str,
    bot: bool,
    lines: list[tuple[str, str, str, str]],
    uniform: bool,
) -> None:
    if uniform:  # the case relay_block takes: one kind, one target
        lines = [(lines[0][0], lines[0][1], text, end) for _, _, text, end in lines]
    block = "".join(f"{cmd} {target} :{text}{end}" for cmd, target, text, end in lines).encode()
    server, clients = world(sender_caps, bot, sender)
    deliver_block(server, clients[sender].session, block, use_block=True)
    fast = outputs(clients)
    server, clients = world(sender_caps, bot, sender)
    with mock.patch.object(core_module, "relay", return_value=False):
        deliver_block(server, clients[sender].session, block, use_block=False)
    assert fast == outputs(clients)


@pytest.mark.parametrize(
    ("sender", "target"),
    [
        ("alice", "#mod"),  # an operator in a moderated channel
        ("bob", "#mod"),  # voiced there
        ("alice", "#bans"),  # an operator where bans are set
        ("dave", "#bans"),  # a banned outsider with an exception, where -n
        ("erin", "#bans"),  # an outsider, where -n
        ("bob", "#secret"),  # a member of a secret channel
        ("erin", "dave"),  # to a user who takes tags
    ],
)
def test_blocks_that_may_be_said_are_relayed_whole(sender: str, target: str) -> None:
    block = f"PRIVMSG {target} :one\r\nPRIVMSG {target} :two\r\n".encode()
    server, clients = world("echo-message", sender=sender)
    assert server.receive_block(clients[sender].session, block)
    fast = outputs(clients)
    server, clients = world("echo-message", sender=sender)
    with mock.patch.object(core_module, "relay", return_value=False):
        deliver_block(server, clients[sender].session, block, use_block=False)
    assert fast == outputs(clients)
    assert sum(" :two" in line for lines in fast for line in lines) >= 2  # it was heard


@pytest.mark.parametrize(
    ("sender", "target"),
    [
        ("carol", "#mod"),  # moderated, not voiced
        ("dave", "#mod"),
        ("bob", "#bans"),  # a banned member
        ("carol", "#bans"),  # a banned outsider
        ("erin", "#room"),  # an outsider, where +n
        ("dave", "#secret"),  # an outsider to a secret channel
        ("alice", "@#room"),  # a status target
        ("bob", "+#mod"),
        ("alice", "NickServ"),  # a service
    ],
)
def test_blocks_that_need_an_answer_are_left_to_the_full_handler(sender: str, target: str) -> None:
    block = f"PRIVMSG {target} :one\r\nPRIVMSG {target} :two\r\n".encode()
    server, clients = world("echo-message", sender=sender)
    assert not server.receive_block(clients[sender].session, block)
    assert all(not c.lines() for c in clients.values())
    deliver_block(server, clients[sender].session, block, use_block=False)  # (per line)
    fast = outputs(clients)
    server, clients = world("echo-message", sender=sender)
    with mock.patch.object(core_module, "relay", return_value=False):
        deliver_block(server, clients[sender].session, block, use_block=False)
    assert fast == outputs(clients)
    assert fast[SENDERS.index(sender)]  # the sender was answered (or echoed)
