"""PRIVMSG, NOTICE and AWAY over real sockets.

Written from https://modern.ircdocs.horse/#privmsg-message, #notice-message, #away-message and
the STATUSMSG / TARGMAX ISUPPORT tokens.
"""

from __future__ import annotations

import asyncio

import pytest

from hubbub.protocol.message import parse
from tests.e2e.conformance import Net, commands, drain, join, mask, reply_to
from tests.e2e.ircclient import IRCTestClient
from tests.timeouts import TIMEOUT


@pytest.mark.parametrize("command", ["PRIVMSG", "NOTICE"])
async def test_message_to_user(net: Net, command: str) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await alice.send(f"{command} bob :hello there")
    msg = await bob.expect(command)
    assert msg.source == mask("alice")
    assert msg.params == ("bob", "hello there")
    await alice.assert_nothing_pending()  # no echo without echo-message


@pytest.mark.parametrize("command", ["PRIVMSG", "NOTICE"])
async def test_message_to_channel_reaches_everyone_but_the_sender(net: Net, command: str) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    outsider = await net.client("dave")
    await join("#room", alice, bob, carol)
    await alice.send(f"{command} #room :hi all")
    for c in (bob, carol):
        msg = await c.expect(command)
        assert msg.source == mask("alice")
        assert msg.params == ("#room", "hi all")
    await alice.assert_nothing_pending()
    await outsider.assert_nothing_pending()


async def test_message_target_is_case_insensitive(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#Room", alice, bob)
    await alice.send("PRIVMSG BOB :nick", "PRIVMSG #ROOM :chan")
    first_msg = await bob.expect("PRIVMSG")
    assert first_msg.params == ("bob", "nick")
    second = await bob.expect("PRIVMSG")
    assert second.params[1] == "chan"
    assert second.params[0].lower() == "#room"


async def test_several_targets(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice, carol)
    await alice.send("PRIVMSG bob,#room :to both")
    assert (await bob.expect("PRIVMSG")).params == ("bob", "to both")
    assert (await carol.expect("PRIVMSG")).params == ("#room", "to both")


async def test_too_many_targets_407(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "PRIVMSG a,b,c,d,e,f,g,h,i,j :spam")
    # TARGMAX PRIVMSG:4 is advertised; ERR_TOOMANYTARGETS, or 401s per target
    assert commands(got)[:1] in (["407"], ["401"]), got


async def test_no_such_nick_401(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "PRIVMSG nobody :hello")
    assert commands(got) == ["401"]
    # "<client> <nickname> :No such nick/channel"
    assert got[0].params[:2] == ("alice", "nobody")
    assert len(got[0].params) == 3


async def test_no_such_channel(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "PRIVMSG #nowhere :hello")
    # irctest accepts ERR_NOSUCHNICK, ERR_NOSUCHCHANNEL or ERR_CANNOTSENDTOCHAN
    assert commands(got) in (["401"], ["403"], ["404"]), got
    assert got[0].params[:2] == ("alice", "#nowhere")


async def test_no_recipient_411(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "PRIVMSG")
    assert commands(got) in (["411"], ["461"]), got


@pytest.mark.parametrize("line", ["PRIVMSG bob", "PRIVMSG bob :"])
async def test_no_text_412(net: Net, line: str) -> None:
    alice = await net.client("alice")
    await net.client("bob")
    got = await reply_to(alice, line)
    # ERR_NOTEXTTOSEND "<client> :No text to send"
    assert commands(got) in (["412"], ["461"]), got


@pytest.mark.parametrize(
    "line", ["NOTICE nobody :x", "NOTICE #nowhere :x", "NOTICE", "NOTICE bob", "NOTICE #closed :x"]
)
async def test_notice_never_gets_an_error_reply(net: Net, line: str) -> None:
    """Modern IRC: "automatic replies MUST NEVER be sent in response to a NOTICE"."""
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#closed", bob)
    assert await reply_to(alice, line) == []


async def test_cannot_send_to_channel_from_outside_404(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    got = await reply_to(bob, "PRIVMSG #room :let me in")
    # +n is on by default; ERR_CANNOTSENDTOCHAN "<client> <channel> :Cannot send to channel"
    assert commands(got) == ["404"]
    assert got[0].params[:2] == ("bob", "#room")
    await alice.assert_nothing_pending()


async def test_statusmsg_reaches_only_ops(net: Net) -> None:
    alice = await net.client("alice")  # op
    bob = await net.client("bob")  # voiced
    carol = await net.client("carol")  # plain
    await join("#room", alice, bob, carol)
    await alice.send("MODE #room +v bob")
    await bob.expect("MODE")
    await drain(carol)
    await drain(alice)
    await carol.send("PRIVMSG @#room :ops only")
    msg = await alice.expect("PRIVMSG")
    assert msg.params == ("@#room", "ops only")
    assert msg.source == mask("carol")
    await bob.assert_nothing_pending()
    await carol.send("NOTICE +#room :voices and ops")
    assert (await bob.expect("NOTICE")).params == ("+#room", "voices and ops")
    assert (await alice.expect("NOTICE")).params == ("+#room", "voices and ops")


async def test_away_replies(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    got = await reply_to(bob, "AWAY :out to lunch")
    # RPL_NOWAWAY "<client> :You have been marked as being away"
    assert commands(got) == ["306"]
    assert got[0].params[0] == "bob"
    assert len(got[0].params) == 2
    got = await reply_to(alice, "PRIVMSG bob :are you there?")
    # RPL_AWAY "<client> <nick> :<message>"
    assert commands(got) == ["301"]
    assert got[0].params == ("alice", "bob", "out to lunch")
    assert (await bob.expect("PRIVMSG")).params[1] == "are you there?"
    # NOTICE never triggers RPL_AWAY
    assert await reply_to(alice, "NOTICE bob :fyi") == []
    await bob.expect("NOTICE")
    got = await reply_to(bob, "AWAY")
    # RPL_UNAWAY "<client> :You are no longer marked as being away"
    assert commands(got) == ["305"]
    assert got[0].params[0] == "bob"
    assert len(got[0].params) == 2
    got = await reply_to(alice, "PRIVMSG bob :back?")
    assert got == []


async def test_message_with_special_characters_is_relayed_intact(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    text = ":leading colon, unicode \u00e9\u4e2d\U0001f600 and  two  spaces "
    await alice.send(f"PRIVMSG bob :{text}")
    assert (await bob.expect("PRIVMSG")).params == ("bob", text)


async def test_ctcp_is_relayed(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await alice.send("PRIVMSG bob :\x01ACTION waves\x01")
    assert (await bob.expect("PRIVMSG")).params[1] == "\x01ACTION waves\x01"


async def read_raw_line(client: IRCTestClient) -> bytes:
    line = await asyncio.wait_for(client.reader.readline(), TIMEOUT)
    assert line, "connection closed"
    return line


async def test_relayed_lines_fit_in_512_bytes(net: Net) -> None:
    """Modern IRC: a message, CR LF included and tags excluded, is at most 512 bytes; a server
    relaying a maximal line from a client must truncate it (or refuse it with 417) rather than
    send its recipients a longer line."""
    alice = await net.client("alice")
    bob = await net.client("bob")
    prefix = "PRIVMSG bob :"
    text = "x" * (510 - len(prefix))
    await alice.send(prefix + text)
    await alice.send("PING :after")
    reply = await alice.expect(lambda m: m.command in ("417", "PONG"))
    if reply.command == "417":
        return  # refused outright: acceptable
    raw = await read_raw_line(bob)
    body = raw.split(b" ", 1)[1] if raw.startswith(b"@") else raw
    assert len(body) <= 512, f"relayed line is {len(body)} bytes"
    msg = parse(body.decode().rstrip("\r\n"))
    assert msg.command == "PRIVMSG"
    assert text.startswith(msg.params[1])
    assert len(msg.params[1]) >= 400
