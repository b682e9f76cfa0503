"""Extended bans (src/hubbub/server/extbans.py): ``a:<account>`` in +b, +e and +I, the mute
``m:<mask>`` in +b and +e, how they are advertised, and how they are checked when set."""

from __future__ import annotations

import pytest

from hubbub.server import fastpath
from hubbub.server.channel import Channel
from hubbub.server.commands.modes import MAX_MASK_WILDCARDS
from hubbub.server.core import Server
from hubbub.server.extbans import ExtbanError, extban_type, normalize_list_mask
from tests.server.harness import Client, ask, make_server

CANNOT_SEND = "Cannot send to channel"
BANNED = "Cannot join channel (+b)"


@pytest.fixture
def server() -> Server:
    return make_server()


def channel_of(server: Server, name: str = "#c") -> Channel:
    found = server.find_channel(name)
    assert found is not None
    return found


def log_in(server: Server, client: Client, account: str | None) -> None:
    """``client`` logged in to ``account`` (None: out), as a login through NickServ or SASL
    leaves it."""
    server.network.set_account(client.session.user, account)
    client.messages()


@pytest.fixture
def op(server: Server) -> Client:
    """alice, operator of #c (which she made)."""
    alice = Client(server).register("alice")
    alice.send("JOIN #c")
    alice.messages()
    return alice


def joined(client: Client, channel: str = "#c") -> Client:
    client.send(f"JOIN {channel}")
    assert "JOIN" in client.commands()
    return client


def said(client: Client) -> list[str]:
    """The texts of the PRIVMSG, NOTICE and TAGMSG lines ``client`` received since last asked."""
    return [
        m.params[-1] if m.command != "TAGMSG" else "TAGMSG"
        for m in client.messages()
        if m.command in ("PRIVMSG", "NOTICE", "TAGMSG")
    ]


# -- advertised ------------------------------------------------------------------------------


def test_isupport_advertises_the_types_and_the_account_one(server: Server) -> None:
    client = Client(server)
    client.send("NICK alice", "USER u 0 * :Real")
    tokens = [p for m in client.messages() if m.command == "005" for p in m.params[1:-1]]
    assert "EXTBAN=,am" in tokens  # no prefix character, then the types
    assert "ACCOUNTEXTBAN=a" in tokens


# -- a: account ------------------------------------------------------------------------------


def test_an_account_ban_keeps_out_whoever_is_logged_in_to_it(server: Server, op: Client) -> None:
    spammer = Client(server).register("innocent")
    other = Client(server).register("other")
    log_in(server, spammer, "SpAmmer")
    assert ask(op, "MODE #c +b a:spammer") == [("MODE", ("#c", "+b", "a:spammer"))]
    assert ask(spammer, "JOIN #c") == [("474", ("innocent", "#c", BANNED))]
    log_in(server, other, "spammer2")  # an account match is exact unless it is a mask
    assert "JOIN" in [c for c, _ in ask(other, "JOIN #c")]
    log_in(server, spammer, None)
    assert "JOIN" in [c for c, _ in ask(spammer, "JOIN #c")]


def test_an_account_ban_silences_a_member_logged_in_to_it(server: Server, op: Client) -> None:
    bob = joined(Client(server).register("bob"))
    op.send("MODE #c +b a:b*")
    op.messages()
    assert ask(bob, "PRIVMSG #c :before logging in") == []
    assert said(op) == ["before logging in"]
    log_in(server, bob, "bobby")
    assert ask(bob, "PRIVMSG #c :after") == [("404", ("bob", "#c", CANNOT_SEND))]
    assert said(op) == []


def test_account_star_is_anyone_logged_in(server: Server, op: Client) -> None:
    op.send("MODE #c +b a:*")
    guest, member = Client(server).register("guest"), Client(server).register("member")
    log_in(server, member, "member")
    assert "JOIN" in [c for c, _ in ask(guest, "JOIN #c")]
    assert ask(member, "JOIN #c") == [("474", ("member", "#c", BANNED))]


def test_an_account_exception_lifts_a_host_ban(server: Server, op: Client) -> None:
    friend, stranger = Client(server).register("friend"), Client(server).register("stranger")
    log_in(server, friend, "Friend")
    op.send("MODE #c +be *!*@* a:friend")
    assert "JOIN" in [c for c, _ in ask(friend, "JOIN #c")]
    assert ask(stranger, "JOIN #c") == [("474", ("stranger", "#c", BANNED))]


def test_an_account_invite_exception_lets_in_to_an_invite_only_channel(
    server: Server, op: Client
) -> None:
    friend, stranger = Client(server).register("friend"), Client(server).register("stranger")
    log_in(server, friend, "friend")
    log_in(server, stranger, "stranger")
    op.send("MODE #c +iI a:FRIEND")
    assert "JOIN" in [c for c, _ in ask(friend, "JOIN #c")]
    assert ask(stranger, "JOIN #c") == [("473", ("stranger", "#c", "Cannot join channel (+i)"))]


# -- m: mute ---------------------------------------------------------------------------------


def test_a_muted_user_joins_but_cannot_speak(server: Server, op: Client) -> None:
    assert ask(op, "MODE #c +b m:bar") == [("MODE", ("#c", "+b", "m:bar!*@*"))]
    bar = joined(Client(server).register("Bar", caps="message-tags"))
    op.messages()
    assert ask(bar, "PRIVMSG #c :hi") == [("404", ("Bar", "#c", CANNOT_SEND))]
    assert ask(bar, "NOTICE #c :hi") == []  # (no error replies to NOTICE)
    assert ask(bar, "@+typing=active TAGMSG #c") == [("404", ("Bar", "#c", CANNOT_SEND))]
    assert said(op) == []
    listed = ("Bar", "#c", "m:bar!*@*", op.session.user.prefix, "1700000000")
    assert ask(bar, "MODE #c +b")[0] == ("367", listed)
    assert ask(op, "MODE #c -b m:bar") == [("MODE", ("#c", "-b", "m:bar!*@*"))]
    bar.messages()
    assert ask(bar, "PRIVMSG #c :free") == []
    assert said(op) == ["free"]


def test_the_fast_path_refuses_a_muted_member(server: Server, op: Client) -> None:
    bar = joined(Client(server).register("bar"))
    op.send("MODE #c +b m:bar!*@*")
    assert not fastpath.relay(server, bar.session, b"PRIVMSG #c :hi")  # the full handler says
    op.send("MODE #c -b m:bar!*@*")
    assert fastpath.relay(server, bar.session, b"PRIVMSG #c :hi")


def test_voice_and_operators_speak_through_a_mute(server: Server, op: Client) -> None:
    bar = joined(Client(server).register("bar"))
    op.send("MODE #c +b m:*!*@*", "MODE #c +v bar")
    op.messages()
    assert ask(bar, "PRIVMSG #c :voiced") == []
    assert said(op) == ["voiced"]
    bar.messages()
    assert ask(op, "PRIVMSG #c :an operator too") == []
    assert said(bar) == ["an operator too"]


def test_a_mute_by_account(server: Server, op: Client) -> None:
    loud = joined(Client(server).register("loud"))
    quiet = joined(Client(server).register("quiet"))
    log_in(server, loud, "loud")
    op.send("MODE #c +b m:a:Loud")
    assert ask(loud, "PRIVMSG #c :x") == [("404", ("loud", "#c", CANNOT_SEND))]
    quiet.messages()
    assert ask(quiet, "PRIVMSG #c :y") == []


def test_a_mute_keeps_outsiders_quiet_where_outside_messages_are_taken(
    server: Server, op: Client
) -> None:
    outsider = Client(server).register("outsider")
    op.send("MODE #c -n+b m:outsider")
    assert ask(outsider, "PRIVMSG #c :x") == [("404", ("outsider", "#c", CANNOT_SEND))]


def test_exceptions_and_mutes(server: Server, op: Client) -> None:
    bar = joined(Client(server).register("bar"))
    op.send("MODE #c +b m:bar")
    op.send("MODE #c +e m:*!*@*")  # a mute exception lifts the mute...
    op.messages()
    assert ask(bar, "PRIVMSG #c :1") == []
    op.send("MODE #c +b bar")  # ...but not a ban
    assert ask(bar, "PRIVMSG #c :2") == [("404", ("bar", "#c", CANNOT_SEND))]
    op.send("MODE #c -e m:*!*@*", "MODE #c +e bar")  # a plain exception lifts both
    op.messages()
    assert ask(bar, "PRIVMSG #c :3") == []
    assert said(op) == ["3"]
    op.send("MODE #c -b bar")
    assert ask(bar, "PRIVMSG #c :4") == []


def test_a_mute_does_not_keep_anyone_out(server: Server, op: Client) -> None:
    op.send("MODE #c +ib m:* *!*@nowhere", "MODE #c +I m:x")  # (refused: not in +I)
    op.messages()
    op.send("MODE #c -i")
    carol = Client(server).register("carol")
    assert "JOIN" in [c for c, _ in ask(carol, "JOIN #c")]


# -- checked when set ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modes", "mask", "why"),
    [
        ("+b", "x:foo", "Unknown extban type 'x' (this server knows a: and m:)"),
        ("+e", "A:foo", "Unknown extban type 'A' (this server knows a: and m:)"),
        ("+b", "a:", "a: needs an account name (or a mask: a:* is anyone logged in)"),
        ("+I", "m:bar", "m: (mute) only applies to bans (+b) and exceptions (+e)"),
        ("+b", "m:", "m: needs a mask or an a: extban"),
        ("+b", "m:m:bar", "m: takes a mask or an a: extban, not another m:"),
        ("+b", "m:r:real", "Unknown extban type 'r' (this server knows a: and m:)"),
    ],
)
def test_a_bad_extban_is_696(op: Client, modes: str, mask: str, why: str) -> None:
    assert ask(op, f"MODE #c {modes} {mask}") == [("696", ("alice", "#c", modes[1], mask, why))]


def test_one_bad_extban_leaves_the_rest_of_the_line(op: Client) -> None:
    unknown = "Unknown extban type 'x' (this server knows a: and m:)"
    assert ask(op, "MODE #c +bbb x:1 a:ok m:a:fine") == [
        ("696", ("alice", "#c", "b", "x:1", unknown)),
        ("MODE", ("#c", "+bb", "a:ok", "m:a:fine")),
    ]


def test_removing_takes_the_same_forms(op: Client) -> None:
    op.send("MODE #c +bb m:bar a:Acc")
    op.messages()
    assert ask(op, "MODE #c -bb m:BAR a:acc") == [("MODE", ("#c", "-bb", "m:bar!*@*", "a:Acc"))]
    assert ask(op, "MODE #c -b x:nothing") == []  # (not there: nothing to say)


def test_list_masks_are_normalized() -> None:
    assert normalize_list_mask("b", "bar") == "bar!*@*"
    assert normalize_list_mask("b", "a::1") == "*!*@a::1"  # an IPv6 host, not an extban
    assert normalize_list_mask("e", "m:u@h") == "m:*!u@h"
    assert normalize_list_mask("I", "a:x*") == "a:x*"
    assert extban_type("a:x") == "a"
    assert extban_type("nick!u@h") == ""
    assert extban_type("1:x") == ""
    with pytest.raises(ExtbanError):
        normalize_list_mask("b", "q:x")


def test_an_empty_mask_is_no_ban_and_a_long_one_is_refused(server: Server, op: Client) -> None:
    op.send("MODE #c +b :")
    assert [m for m in op.messages() if m.command == "MODE"] == []
    op.send("MODE #c b")
    assert [m.command for m in op.messages()] == ["368"]  # (an empty list)
    op.send(f"MODE #c +b a:{'x' * 400}")
    refused = op.messages()
    assert [m.command for m in refused] == ["696"]
    assert refused[0].params[-1] == "Mask too long"
    op.send(f"MODE #c +b {'y' * 240}!*@*")
    assert [m.command for m in op.messages()] == ["MODE"]
    op.send("MODE #c b")
    listed = op.messages()
    assert [m.command for m in listed] == ["367", "368"]
    assert len(f":irc.example 367 alice {' '.join(listed[0].params[1:])}\r\n") <= 512


def test_a_mask_with_too_many_wildcards_is_refused(server: Server, op: Client) -> None:
    """At most MAX_MASK_WILDCARDS ``*`` and ``?`` in an entry as kept (completion counts):
    each one is a step of matching for every user checked, on every message."""
    most = "*a" * (MAX_MASK_WILDCARDS - 3) + "*!*@*"  # 16 with the user and host stars
    assert ask(op, f"MODE #c +b {most}") == [("MODE", ("#c", "+b", most))]
    for mode, mask, kept in (
        ("b", "*a" * (MAX_MASK_WILDCARDS - 2) + "*", "*a" * 14 + "*!*@*"),  # 15 + 2 completed
        ("e", "?" * (MAX_MASK_WILDCARDS + 1) + "!u@h", "?" * 17 + "!u@h"),
        ("I", "a:" + "*x" * (MAX_MASK_WILDCARDS + 1), "a:" + "*x" * 17),
        ("b", "m:" + "*b" * (MAX_MASK_WILDCARDS - 1), "m:" + "*b" * 15 + "!*@*"),
    ):
        text = f"Too many wildcards (at most {MAX_MASK_WILDCARDS})"
        assert ask(op, f"MODE #c +{mode} {mask}") == [("696", ("alice", "#c", mode, kept, text))]
    assert [e.mask for e in channel_of(server).lists["b"]] == [most]
    assert ask(op, f"MODE #c -b {most}") == [("MODE", ("#c", "-b", most))]
