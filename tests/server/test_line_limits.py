"""No line the server sends is longer than 512 bytes (CR LF included, tags excluded).

Modern IRC caps a line at 512 bytes without its tags; a client may cut or drop a longer one.
What users choose (nicks, user names, real names, hosts, topics, reasons, masks, lists of
names) goes into the server's replies next to a long server name and long prefixes, so the
test below gives everything its longest allowed form, runs every command in the command
table with long parameters and then scripted uses of each reply that carries user text,
and measures every line every client received.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import pytest

from hubbub.config import LimitsSection, OperSection, ServerSection, default_config
from hubbub.protocol.message import MAX_LINE_BYTES, Message, parse
from hubbub.server.accounts import AccountService, attach
from hubbub.server.commands import COMMANDS
from hubbub.server.core import Server
from hubbub.server.session import PeerInfo
from hubbub.storage import SqliteStorage
from tests.server.accounthelpers import add_account
from tests.server.harness import Client, FakeClock, FakeSink, ask
from tests.server.saslclient import b64, plain

SERVER_NAME = ("s" * 50 + ".example.org")[:63].rstrip(".")
"""A server name of the longest allowed length (63)."""
LONG_HOST = "h" * 56 + ".example"
"""A 64-character host (HOSTLEN)."""
ALL_CAPS = (
    "account-notify account-tag away-notify batch cap-notify chghost echo-message "
    "extended-join extended-monitor invite-notify labeled-response message-tags multi-prefix "
    "server-time setname userhost-in-names sasl"
)
MOTD = "\n".join(["short line", "m" * 700, "wörd " * 150, "é" * 300])


def fit_input(line: str) -> str:
    """``line`` cut to the longest line a client may send (510 bytes before CR LF)."""
    data = line.encode()[: MAX_LINE_BYTES - 2]
    return data.decode("utf-8", "ignore")


def nick_of(i: int) -> str:
    """A 30-character nick (NICKLEN)."""
    return f"N{i:03d}" + "n" * 26


class HostClient(Client):
    """A harness client whose connection has a long host name and a long IPv6 address."""

    def __init__(self, server: Server, i: int) -> None:
        self.server = server
        self.sink = FakeSink()
        peer = PeerInfo(
            ip=f"2001:db8:{0x1000 + i:04x}:ffff:ffff:ffff:ffff:ffff",  # (a /64 each)
            secure=True,
            hostname=LONG_HOST,
            certfp="f" * 64,
        )
        session = server.connect(self.sink, peer)
        assert session is not None
        self.session = session
        self._read = 0

    def sign_on(self, nick: str, realname: str, caps: str = "") -> HostClient:
        if caps:
            self.send("CAP LS 302", f"CAP REQ :{caps}")
        self.send(f"NICK {nick}", fit_input("USER " + "u" * 40 + " 0 * :" + realname))
        if caps:
            self.send("CAP END")
        assert "001" in self.commands()
        return self


def long_server() -> Server:
    config = default_config()
    config = dataclasses.replace(
        config,
        server=ServerSection(
            name=SERVER_NAME,
            network="N" * 200,
            motd=MOTD,
            description="d" * 500,
            admin_name="a" * 500,
            admin_location="l" * 500,
            admin_email="e" * 500,
        ),
        limits=LimitsSection(flood=False, monitor=20, max_channels=100, max_clients_per_ip=100),
        opers=(OperSection(name="o" * 30, password="p" * 100),),
    )
    server = Server(config, clock=FakeClock())
    storage = SqliteStorage(":memory:")
    storage.open()
    attach(server, AccountService(storage))
    return server


def too_long(clients: Sequence[Client]) -> list[bytes]:
    """Every line any of ``clients`` received that is over 512 bytes without its tags."""
    found = []
    for client in clients:
        client.server.flush()
        for line in bytes(client.sink.data).split(b"\r\n"):
            body = line.split(b" ", 1)[1] if line.startswith(b"@") else line
            if len(body) + 2 > MAX_LINE_BYTES:
                found.append(line)
    return found


def test_every_line_fits_in_512_bytes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    server = long_server()
    add_account(server, nick_of(0))
    chan = "#" + "c" * 63  # CHANNELLEN: 64
    wide = "#" + "é" * 31  # 63 bytes
    realname = "r" * 500  # cut to the limit
    clients: list[HostClient] = []
    for i in range(24):
        caps = ALL_CAPS if i % 2 == 0 else ""
        name = realname if i % 3 else "é" * 500
        clients.append(HostClient(server, i).sign_on(nick_of(i), name, caps))
    op, member, other = clients[0], clients[1], clients[2]
    for client in clients:
        client.send(f"JOIN {chan},{wide}")
    op.send("AUTHENTICATE PLAIN")  # (registered: SASL 3.2 re-authentication)
    op.send(f"AUTHENTICATE {b64(plain(nick_of(0), 'correct-horse'))}")
    op.send(f"OPER {'o' * 30} {'p' * 100}")
    masks = [f"{nick_of(90 + i)}!{'~' + 'u' * 17}@{LONG_HOST}" for i in range(3)]
    for mode in "beI":
        op.send(f"MODE {chan} +{mode * 3} {' '.join(masks)}")  # (three fill an input line)
    op.send(fit_input(f"MODE {chan} +b " + "*!*@" + "x" * 600))  # a longer mask than any host
    op.send(f"MODE {chan} +vvvvvv {' '.join(nick_of(i) for i in range(1, 7))}")
    op.send(f"MODE {chan} +k {'k' * 23}", f"MODE {chan} +l 999", f"MODE {wide} +k {'é' * 23}")
    op.send(fit_input(f"TOPIC {chan} :" + "t" * 500), fit_input(f"TOPIC {wide} :" + "é" * 500))
    for client in clients:
        client.send(fit_input("AWAY :" + "a" * 500))
    member.send(fit_input("SETNAME :" + "é" * 500), "SETNAME :" + "s" * 390)
    op.send("MONITOR + " + ",".join(nick_of(i) for i in range(10)))
    op.send("MONITOR + " + ",".join(nick_of(i) for i in range(10, 20)))

    # Every command in the table, with the longest parameters of each kind.
    text = "x" * 500
    targets = [nick_of(1), chan, wide, "y" * 480, "*", f"{chan},{wide}"]
    for command in sorted(COMMANDS):
        if command == "QUIT":
            continue
        forms = [command, f"{command} :{text}", f"{command} {'z' * 490} z z z"]
        for target in targets:
            forms += [f"{command} {target}", f"{command} {target} :{text}"]
            forms += [f"{command} {target} {nick_of(2)} :{text}"]
        for form in forms:
            for client in (other, member):  # (a channel op would do more: op has its turn)
                client.send(fit_input(form))
                client.session.login_failures = 0  # so OPER guesses leave it connected
                assert not client.closed, form
        other.send(f"NICK {nick_of(2)}")

    member.send(f"JOIN {chan},{wide} {'k' * 23},{'é' * 23}")  # (it left with PART)
    channel = server.find_channel(chan)
    assert channel is not None
    assert member.session.user in channel.members

    # Each reply that carries user text, on purpose.
    op.send(f"NICK {nick_of(50)}", f"NICK {nick_of(0)}")
    for line in (
        f"WHOIS {nick_of(1)}",
        f"WHOIS {nick_of(0)}",
        f"WHO {chan}",
        f"WHO {wide} %tcuihsnfdlaor,{'9' * 400}",
        "WHO *",
        f"WHOWAS {nick_of(50)}",
        f"NAMES {chan}",
        f"NAMES {wide}",
        "LIST",
        f"TOPIC {chan}",
        f"MODE {chan}",
        f"MODE {wide}",
        f"MODE {chan} b",
        f"MODE {chan} e",
        f"MODE {chan} I",
        f"USERHOST {' '.join(nick_of(i) for i in range(1, 6))}",
        f"ISON {' '.join(nick_of(i) for i in range(15))}",
        "MONITOR L",
        "MONITOR S",
        "MONITOR + " + ",".join(nick_of(i) for i in range(20, 36)),
        "MOTD",
        "VERSION",
        "ADMIN",
        "INFO",
        "LINKS",
        "LUSERS",
        "HELP",
        "CAP LS 302",
        "CAP LIST",
        fit_input("CAP REQ :" + "bogus-cap " * 60),
        fit_input(f"PRIVMSG {chan} :" + text),
        fit_input(f"PRIVMSG {nick_of(1)} :" + text),
        fit_input(f"NOTICE {wide} :" + "é" * 300),
        fit_input(f"WALLOPS :{text}"),
        fit_input("PRIVMSG NickServ :INFO " + nick_of(0)),
        fit_input(f"KICK {chan} {nick_of(3)} :" + text),
        f"INVITE {nick_of(3)} {chan}",
        fit_input(f"PART {chan} :" + text),
        f"JOIN {chan} {'k' * 23}",
        fit_input(f"KILL {nick_of(4)} :" + text),
        f"CHGHOST {nick_of(5)} {'v' * 56}.example",
        f"CHGHOST {nick_of(6)} {'w' * 56}.example",
    ):
        op.send(line)
    # A plain PRIVMSG of the longest allowed line from a long prefix: too long to relay as it
    # is, the fast path hands it to the full handler, which cuts the text.
    member.send(fit_input(f"PRIVMSG {chan} :" + text))
    block = (fit_input(f"NOTICE {chan} :{text}") + "\n").encode()
    assert server.receive_block(member.session, block) is False
    for client in clients[8:12]:
        client.send(fit_input("QUIT :" + text))
    op.send("MONITOR C", "MONITOR + " + ",".join(nick_of(i) for i in range(8, 12)))
    server.shutdown("x" * 500)

    assert too_long(clients) == []
    seen = {parse(line).command.encode() for line in op.sink.data.decode().split("\r\n")[:-1]}
    wanted = "005 301 302 303 311 312 314 319 322 324 330 332 333 341 346 348 352 353 354 367 372"
    wanted += " 671 730 731 732 734 AUTHENTICATE CHGHOST KICK MODE NOTICE PART QUIT SETNAME TOPIC"
    assert {w.encode() for w in wanted.split()} <= seen  # (every scripted reply was made)
    cut = [r for r in caplog.records if r.name == "hubbub.protocol"]
    assert cut == []  # only fitted parameters, never a line cut anywhere
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def test_lists_are_split_not_cut() -> None:
    """NAMES and MONITOR lists of long entries go out whole, over several lines."""
    server = long_server()
    chan = "#" + "c" * 63
    clients = [HostClient(server, i).sign_on(nick_of(i), "r", ALL_CAPS) for i in range(20)]
    for client in clients:
        client.send(f"JOIN {chan}")
    viewer = clients[0]
    viewer.lines()
    viewer.send(f"MONITOR + {','.join(nick_of(i) for i in range(10))}")
    viewer.send(f"MONITOR + {','.join(nick_of(i) for i in range(10, 20))}")
    viewer.send(f"NAMES {chan}", "MONITOR S")
    got = viewer.messages()
    names = [name for m in got if m.command == "353" for name in m.params[3].split()]
    assert len([m for m in got if m.command == "353"]) > 1
    assert sorted(names) == sorted(
        ("@" if i == 0 else "") + f"{nick_of(i)}!~{'u' * 17}@{LONG_HOST}" for i in range(20)
    )
    end_of_names = [m.command for m in got].index("366")
    status = [m for m in got[end_of_names:] if m.command == "730"]  # (MONITOR S)
    online = [e for m in status for e in m.params[1].split(",")]
    assert sorted(online) == sorted(f"{nick_of(i)}!~{'u' * 17}@{LONG_HOST}" for i in range(20))
    assert len(status) > 1
    assert too_long([viewer]) == []


def test_long_ban_masks_are_announced_in_several_mode_lines() -> None:
    server = long_server()
    chan = "#" + "c" * 63
    op = HostClient(server, 1).sign_on(nick_of(1), "r")
    member = HostClient(server, 2).sign_on(nick_of(2), "r")
    op.send(f"JOIN {chan}")
    member.send(f"JOIN {chan}")
    masks = [f"{nick_of(90 + i)}!~{'u' * 17}@{LONG_HOST}" for i in range(3)]
    member.lines()
    op.send(f"MODE {chan} +bbb {' '.join(masks)}")  # 424 bytes in, 538 bytes as one line out
    got = member.messages()
    assert len(got) == 2
    assert {m.command for m in got} == {"MODE"}
    assert [mask for m in got for mask in m.params[2:]] == masks
    assert all(set(m.params[1]) == {"+", "b"} for m in got)
    assert too_long([member, op]) == []
    assert [c for c, p in ask(op, f"MODE {chan} b") if c == "367"] == ["367"] * 3


def test_user_real_name_is_cut_to_the_setname_limit() -> None:
    server = long_server()
    client = HostClient(server, 1).sign_on(nick_of(1), "r" * 480)
    assert client.session.user.realname == "r" * server.limits.realnamelen
    assert server.limits.realnamelen == 390
    assert any("NAMELEN=390" in m.params for m in ask_raw(client, "VERSION"))
    assert ask(client, "SETNAME :" + "s" * 391) == [
        ("FAIL", ("SETNAME", "INVALID_REALNAME", "Realname is not valid"))
    ]
    assert ask(client, "SETNAME :" + "s" * 390) == []
    assert client.session.user.realname == "s" * 390


def test_realname_limit_is_a_config_key() -> None:
    server = long_server()
    server.apply_config(
        dataclasses.replace(server.config, limits=LimitsSection(flood=False, realnamelen=10))
    )
    client = HostClient(server, 1).sign_on(nick_of(1), "Rupert Giles, librarian")
    assert client.session.user.realname == "Rupert Gil"
    assert ask(client, "SETNAME :Rupert Giles")[0][1][:2] == ("SETNAME", "INVALID_REALNAME")


def ask_raw(client: Client, line: str) -> list[Message]:
    """The messages answering ``line`` (earlier output is discarded)."""
    client.messages()
    client.send(line)
    return client.messages()


def test_user_names_keep_ascii_letters_only() -> None:
    """USERLEN counts characters of ASCII only, so that it bounds bytes too."""
    server = long_server()
    client = HostClient(server, 1)
    client.send("NICK alice", "USER ünïcödé_名前-x 0 * :Alice")
    assert client.session.user.username == "~ncd_-x"
    other = HostClient(server, 2)
    other.send("NICK bob", "USER 名前 0 * :Bob")
    assert other.session.user.username == "~user"  # nothing left: the stand-in


def test_channel_name_length_counts_bytes() -> None:
    server = long_server()
    client = HostClient(server, 1).sign_on("alice", "Alice")
    assert [c for c, _ in ask(client, "JOIN #" + "é" * 31)][:1] == ["JOIN"]  # 63 bytes
    assert ask(client, "JOIN #" + "é" * 32) == [  # 65 bytes, 33 characters
        ("403", ("alice", "#" + "é" * 32, "No such channel"))
    ]


def test_a_command_that_is_not_utf8_is_not_echoed_in_its_fail() -> None:
    server = Server(default_config(), clock=FakeClock())
    alice = Client(server).register("alice")
    alice.send_raw(b"\xff\xfe BADCMD")
    assert [m.params[:2] for m in alice.messages()] == [("*", "INVALID_UTF8")]
    alice.send_raw(b"PRIVMSG alice :caf\xe9")
    assert [m.params[:2] for m in alice.messages()] == [("PRIVMSG", "INVALID_UTF8")]
