"""IRCv3 capabilities over real sockets, each checked with clients that differ in what they
negotiated.

Written from the IRCv3 specifications (https://ircv3.net/irc/): capability-negotiation,
cap-notify, message-tags, message-ids, server-time, echo-message, labeled-response, batch,
multi-prefix, userhost-in-names, extended-join, away-notify, invite-notify, setname,
no-implicit-names, monitor, extended-monitor, bot-mode, utf8-only and standard-replies.
"""

from __future__ import annotations

import calendar
import re
import time

import pytest

from hubbub.protocol.message import Message
from tests.e2e.conformance import (
    SERVER_NAME,
    Net,
    commands,
    drain,
    drain_all,
    first,
    isupport,
    join,
    mask,
    names_in,
    only,
    reply_to,
)
from tests.e2e.ircclient import IRCTestClient

CAP_LINE = re.compile(r"[a-z0-9./-]+(=\S*)?")
SERVER_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


async def cap_ls(client: IRCTestClient, version: str = "302") -> tuple[list[Message], set[str]]:
    """Send CAP LS; return its reply lines and the capability names (values stripped)."""
    await client.send(f"CAP LS {version}".strip())
    lines = [await client.expect("CAP")]
    while len(lines[-1].params) == 4 and lines[-1].params[2] == "*":
        lines.append(await client.expect("CAP"))
    names = {tok.partition("=")[0] for line in lines for tok in line.params[-1].split()}
    return lines, names


# -- capability negotiation ---------------------------------------------------------------------


async def test_cap_ls_302_format(net: Net) -> None:
    client = await net.raw()
    lines, names = await cap_ls(client)
    for i, line in enumerate(lines):
        assert line.source == SERVER_NAME
        assert line.params[:2] == ("*", "LS")
        last = i == len(lines) - 1
        # "CAP * LS * :caps" on every line but the last, "CAP * LS :caps" on the last
        assert len(line.params) == (3 if last else 4), line
        for token in line.params[-1].split():
            assert CAP_LINE.fullmatch(token), token
        assert len(line.serialize().encode()) + 2 <= 512
    expected = {
        "message-tags",
        "server-time",
        "echo-message",
        "labeled-response",
        "batch",
        "multi-prefix",
        "userhost-in-names",
        "extended-join",
        "away-notify",
        "invite-notify",
        "setname",
        "extended-monitor",
    }
    assert expected <= names, expected - names
    assert "draft/no-implicit-names" in names or "no-implicit-names" in names


async def test_cap_ls_offers_every_capability_issue_4_requires(net: Net) -> None:
    """account-notify, account-tag and chghost are part of the IRCv3 deliverable too."""
    client = await net.raw()
    _, names = await cap_ls(client)
    missing = {"account-notify", "account-tag", "chghost"} - names
    assert not missing, f"not offered: {sorted(missing)}"


async def test_cap_req_several_and_list(net: Net) -> None:
    client = await net.raw()
    await cap_ls(client)
    got = await reply_to(client, "CAP REQ :multi-prefix server-time echo-message")
    ack = first(got, "CAP")
    assert ack.params[:2] == ("*", "ACK")
    assert set(ack.params[2].split()) == {"multi-prefix", "server-time", "echo-message"}
    got = await reply_to(client, "CAP LIST")
    listed = {t for m in only(got, "CAP") for t in m.params[-1].split()}
    assert {"multi-prefix", "server-time", "echo-message"} <= listed
    assert listed <= {"multi-prefix", "server-time", "echo-message", "cap-notify"}
    await client.send("NICK alice", "USER user 0 * :x", "CAP END")
    await client.expect("001")
    got = await reply_to(client, "CAP LIST")
    assert first(got, "CAP").params[:2] == ("alice", "LIST")


async def test_cap_req_is_all_or_nothing(net: Net) -> None:
    client = await net.raw()
    await cap_ls(client)
    got = await reply_to(client, "CAP REQ :multi-prefix bogus-capability")
    nak = first(got, "CAP")
    # "CAP * NAK :<the whole requested list>"
    assert nak.params[:2] == ("*", "NAK")
    assert nak.params[2].split() == ["multi-prefix", "bogus-capability"]
    got = await reply_to(client, "CAP LIST")
    listed = {t for m in only(got, "CAP") for t in m.params[-1].split()}
    assert "multi-prefix" not in listed
    await client.send("NICK alice", "USER user 0 * :x", "CAP END")
    await client.expect("376")
    other = await net.client("bob")
    await join("#room", client, other)
    await reply_to(client, "MODE #room +v alice")
    got = await reply_to(client, "NAMES #room")
    assert "@+alice" not in names_in(got)
    assert "@alice" in names_in(got)


async def test_cap_req_disable(net: Net) -> None:
    client = await net.client("alice", caps="multi-prefix server-time")
    got = await reply_to(client, "CAP REQ :-multi-prefix")
    ack = first(got, "CAP")
    assert ack.params[:2] == ("alice", "ACK")
    assert ack.params[2].split() == ["-multi-prefix"]
    got = await reply_to(client, "CAP LIST")
    listed = {t for m in only(got, "CAP") for t in m.params[-1].split()}
    assert "multi-prefix" not in listed
    assert "server-time" in listed


async def test_cap_notify_is_implicit_with_302_and_can_be_requested(net: Net) -> None:
    client = await net.raw()
    await cap_ls(client, "302")
    got = await reply_to(client, "CAP REQ cap-notify")
    ack = first(got, "CAP")
    assert ack.params[1] == "ACK"
    assert ack.params[2].split() == ["cap-notify"]


async def test_cap_ls_after_registration_uses_nick(net: Net) -> None:
    client = await net.client("alice")
    got = await reply_to(client, "CAP LS 302")
    assert first(got, "CAP").params[:2] == ("alice", "LS")


# -- message-tags, msgid, server-time ----------------------------------------------------------


async def test_message_tags_relay_by_capability(net: Net) -> None:
    """Modelled on irctest's message_tags testBasic."""
    alice = await net.client("alice", caps="message-tags")
    bob = await net.client("bob", caps="message-tags echo-message")
    carol = await net.client("carol")
    dave = await net.client("dave", caps="server-time")
    await join("#test", alice, bob, carol, dave)

    await alice.send("@+baz=bat;fizz=buzz PRIVMSG #test hi")
    bob_msg = await bob.expect("PRIVMSG")
    assert bob_msg.params == ("#test", "hi")
    assert bob_msg.tags["+baz"] == "bat"
    assert bob_msg.tags.get("msgid")
    assert "fizz" not in bob_msg.tags  # a non-client-only tag is never relayed
    raw = await carol.reader.readline()
    assert raw.startswith(b":"), raw  # carol gets no tags at all
    dave_msg = await dave.expect("PRIVMSG")
    assert set(dave_msg.tags) == {"time"}
    await alice.assert_nothing_pending()

    await bob.send("@+bat=baz;+fizz=buzz PRIVMSG #test :hi yourself")
    echo = await bob.expect("PRIVMSG")
    relay = await alice.expect("PRIVMSG")
    for msg in (echo, relay):
        assert msg.params == ("#test", "hi yourself")
        assert msg.tags["+bat"] == "baz"
        assert msg.tags["+fizz"] == "buzz"
    assert echo.tags["msgid"] == relay.tags["msgid"]
    carol_msg = await carol.expect("PRIVMSG")
    assert dict(carol_msg.tags) == {}


async def test_tagmsg_and_escaping(net: Net) -> None:
    alice = await net.client("alice", caps="message-tags")
    bob = await net.client("bob", caps="message-tags echo-message")
    carol = await net.client("carol")
    dave = await net.client("dave", caps="server-time")
    await join("#test", alice, bob, carol, dave)
    await bob.send(r"@+buzz=fizz\:buzz;cat=dog;+steel=wootz TAGMSG #test")
    echo = await bob.expect("TAGMSG")
    relay = await alice.expect("TAGMSG")
    for msg in (echo, relay):
        assert msg.params == ("#test",)
        assert msg.source == mask("bob")
        assert msg.tags["+buzz"] == "fizz;buzz"
        assert msg.tags["+steel"] == "wootz"
        assert "cat" not in msg.tags
    assert echo.tags["msgid"] == relay.tags["msgid"]
    # TAGMSG only goes to clients with message-tags
    await carol.assert_nothing_pending()
    await dave.assert_nothing_pending()


@pytest.mark.parametrize(
    ("tag", "value"),
    [("+typing", "active"), ("+draft/react", "l\U0001f603l"), ("+draft/reply", "")],
)
async def test_client_only_tags(net: Net, tag: str, value: str) -> None:
    alice = await net.client("alice", caps="message-tags")
    bob = await net.client("bob", caps="message-tags")
    carol = await net.client("carol", caps="server-time")
    await join("#test", alice, bob, carol)
    sent_value = value or "abc123"
    await alice.send(f"@{tag}={sent_value} TAGMSG #test")
    msg = await bob.expect("TAGMSG")
    assert msg.tags[tag] == sent_value
    await alice.send(f"@{tag}={sent_value} PRIVMSG #test :with a tag")
    msg = await bob.expect("PRIVMSG")
    assert msg.tags[tag] == sent_value
    plain = await carol.expect("PRIVMSG")  # carol never saw the TAGMSG
    assert plain.params == ("#test", "with a tag")
    assert tag not in plain.tags
    # to a user, too
    await alice.send(f"@{tag}={sent_value} TAGMSG bob")
    msg = await bob.expect("TAGMSG")
    assert msg.params == ("bob",)
    assert msg.tags[tag] == sent_value
    await alice.send(f"@{tag}={sent_value} TAGMSG carol")
    await carol.assert_nothing_pending()


async def test_msgid_is_unique_and_shared(net: Net) -> None:
    alice = await net.client("alice", caps="message-tags echo-message")
    bob = await net.client("bob", caps="message-tags")
    await join("#test", alice, bob)
    ids = set()
    for i in range(3):
        await alice.send(f"PRIVMSG #test :message {i}")
        echo = await alice.expect("PRIVMSG")
        relay = await bob.expect("PRIVMSG")
        assert echo.tags["msgid"] == relay.tags["msgid"]
        ids.add(relay.tags["msgid"])
    await alice.send("PRIVMSG bob :direct")
    ids.add((await bob.expect("PRIVMSG")).tags["msgid"])
    assert len(ids) == 4


async def test_server_time_format(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob", caps="server-time")
    carol = await net.client("carol")
    await join("#test", alice, bob, carol)
    await alice.send("PRIVMSG #test :what time is it")
    msg = await bob.expect("PRIVMSG")
    stamp = msg.tags["time"]
    assert SERVER_TIME.fullmatch(stamp), stamp
    when = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(when - time.time()) < 60
    raw = await carol.reader.readline()
    assert raw.startswith(b":")
    # server-time also tags JOIN and other relayed events
    await alice.send("PART #test")
    part = await bob.expect("PART")
    assert SERVER_TIME.fullmatch(part.tags["time"])


# -- echo-message -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["PRIVMSG", "NOTICE"])
async def test_echo_message(net: Net, command: str) -> None:
    alice = await net.client("alice", caps="echo-message")
    bob = await net.client("bob")
    await join("#test", alice, bob)
    await alice.send(f"{command} #test :to the channel")
    echo = await alice.expect(command)
    assert echo.source == mask("alice")
    assert echo.params == ("#test", "to the channel")
    await alice.send(f"{command} bob :to bob")
    echo = await alice.expect(command)
    assert echo.source == mask("alice")
    assert echo.params == ("bob", "to bob")
    # bob did not ask for echo-message
    await bob.send(f"{command} alice :no echo")
    got = await drain(bob)
    assert [m.params for m in got] == [("#test", "to the channel"), ("bob", "to bob")]
    assert all(m.source == mask("alice") for m in got)  # no echo of bob's own message
    assert (await alice.expect(command)).params == ("alice", "no echo")


async def test_echo_message_to_self_arrives_twice(net: Net) -> None:
    """A message to oneself is delivered (as to any target) and echoed: two copies, as irctest
    expects."""
    alice = await net.client("alice", caps="echo-message")
    got = await reply_to(alice, "PRIVMSG alice :hello me")
    assert [m.params for m in only(got, "PRIVMSG")] == [("alice", "hello me")] * 2


async def test_message_to_self_without_echo_arrives_once(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "PRIVMSG alice :hello me")
    assert [m.params for m in only(got, "PRIVMSG")] == [("alice", "hello me")]


# -- labeled-response and batch ------------------------------------------------------------------

LABEL_CAPS = "batch labeled-response message-tags"


async def test_label_on_single_reply(net: Net) -> None:
    alice = await net.client("alice", caps=LABEL_CAPS)
    got = await reply_to(alice, "@label=one PING :token")
    assert len(got) == 1
    assert got[0].command == "PONG"
    assert got[0].tags["label"] == "one"
    got = await reply_to(alice, "@label=two PRIVMSG nobody :hello")
    assert commands(got) == ["401"]
    assert got[0].tags["label"] == "two"


async def test_label_without_reply_is_acked(net: Net) -> None:
    alice = await net.client("alice", caps=LABEL_CAPS)
    bob = await net.client("bob")
    got = await reply_to(alice, "@label=quiet PRIVMSG bob :hi")
    assert commands(got) == ["ACK"]
    assert got[0].tags["label"] == "quiet"
    assert got[0].source == SERVER_NAME
    assert got[0].params == ()
    msg = await bob.expect("PRIVMSG")
    assert "label" not in msg.tags


async def test_label_with_echo_message(net: Net) -> None:
    alice = await net.client("alice", caps=LABEL_CAPS + " echo-message")
    bob = await net.client("bob", caps=LABEL_CAPS + " echo-message")
    await join("#test", alice, bob)
    got = await reply_to(alice, "@label=12345;+draft/reply=123 PRIVMSG #test :hi")
    assert commands(got) == ["PRIVMSG"]
    assert got[0].tags["label"] == "12345"
    relay = await bob.expect("PRIVMSG")
    assert "label" not in relay.tags
    assert relay.tags["+draft/reply"] == "123"


async def test_label_with_echo_to_self(net: Net) -> None:
    alice = await net.client("alice", caps=LABEL_CAPS + " echo-message")
    got = await reply_to(alice, "@label=self PRIVMSG alice :hi")
    privmsgs = [m for m in got if m.command == "PRIVMSG"]
    labelled = [m for m in got if m.tags.get("label") == "self"]
    assert len(privmsgs) == 2 or any(m.command == "BATCH" for m in got), got
    assert len(labelled) == 1


async def test_several_replies_come_in_a_labeled_response_batch(net: Net) -> None:
    alice = await net.client("alice", caps=LABEL_CAPS + " server-time")
    got = await reply_to(alice, "@label=12345 JOIN #xyz")
    assert len(got) >= 5, got  # BATCH +, JOIN, 353, 366, BATCH -
    start, end = got[0], got[-1]
    assert start.command == "BATCH"
    assert start.tags["label"] == "12345"
    assert len(start.params) == 2
    assert start.params[0].startswith("+")
    assert start.params[1] == "labeled-response"
    ref = start.params[0][1:]
    assert end.command == "BATCH"
    assert end.params == ("-" + ref,)
    assert "label" not in end.tags
    inner = got[1:-1]
    assert commands(inner)[0] == "JOIN"
    assert "353" in commands(inner)
    assert commands(inner)[-1] == "366"
    for m in inner:
        assert m.tags.get("batch") == ref, m
        assert "label" not in m.tags


async def test_label_ignored_without_the_capability(net: Net) -> None:
    alice = await net.client("alice", caps="message-tags")
    got = await reply_to(alice, "@label=x PING :y")
    assert commands(got) == ["PONG"]
    assert "label" not in got[0].tags


async def test_labeled_whois_is_one_batch(net: Net) -> None:
    alice = await net.client("alice", caps=LABEL_CAPS)
    await net.client("bob")
    got = await reply_to(alice, "@label=w WHOIS bob")
    assert got[0].command == "BATCH"
    assert got[0].tags["label"] == "w"
    ref = got[0].params[0][1:]
    assert got[-1].params == ("-" + ref,)
    assert "311" in commands(got)
    assert "318" in commands(got)
    assert all(m.tags.get("batch") == ref for m in got[1:-1])


# -- multi-prefix, userhost-in-names, extended-join ---------------------------------------------


async def test_multi_prefix_in_names_and_who(net: Net) -> None:
    alice = await net.client("alice", caps="multi-prefix")
    bob = await net.client("bob")
    await join("#test", alice, bob)
    await reply_to(alice, "MODE #test +v alice")
    await drain(bob)
    got = await reply_to(alice, "NAMES #test")
    assert "@+alice" in names_in(got)
    got = await reply_to(bob, "NAMES #test")
    assert "@alice" in names_in(got)
    assert "@+alice" not in names_in(got)
    got = await reply_to(alice, "WHO #test")
    flags = {m.params[5]: m.params[6] for m in only(got, "352")}
    assert flags["alice"] == "H@+"
    got = await reply_to(bob, "WHO #test")
    flags = {m.params[5]: m.params[6] for m in only(got, "352")}
    assert flags["alice"] == "H@"


async def test_userhost_in_names(net: Net) -> None:
    alice = await net.client("alice", caps="userhost-in-names")
    bob = await net.client("bob")
    await join("#test", bob)
    await alice.send("JOIN #test")
    got = await alice.collect_until("366")
    assert names_in(got) == {"@" + mask("bob"), mask("alice")}
    await drain(bob)
    got = await reply_to(bob, "NAMES #test")
    assert names_in(got) == {"@bob", "alice"}


async def test_extended_join(net: Net) -> None:
    alice = await net.client("alice", caps="extended-join")
    bob = await net.client("bob")
    await join("#test", alice, bob)
    carol = await net.raw()
    await carol.send("NICK carol", "USER user 0 * :Carol Real Name")
    await carol.expect("376")
    await carol.send("JOIN #test")
    # "JOIN <channel> <account> :<realname>", account "*" when not logged in
    ext = await alice.expect("JOIN")
    assert ext.source == mask("carol")
    assert ext.params == ("#test", "*", "Carol Real Name")
    plain = await bob.expect("JOIN")
    assert plain.params == ("#test",)


# -- away-notify, invite-notify, setname --------------------------------------------------------


async def test_away_notify(net: Net) -> None:
    alice = await net.client("alice", caps="away-notify")
    bob = await net.client("bob")
    carol = await net.client("carol")
    outsider = await net.client("dave", caps="away-notify")
    await join("#test", alice, bob, carol)
    await bob.send("AWAY :lunch")
    await bob.expect("306")
    msg = await alice.expect("AWAY")
    assert msg.source == mask("bob")
    assert msg.params == ("lunch",)
    await bob.send("AWAY")
    await bob.expect("305")
    msg = await alice.expect("AWAY")
    assert msg.source == mask("bob")
    assert msg.params == ()
    await carol.assert_nothing_pending()
    await outsider.assert_nothing_pending()


async def test_away_notify_on_join_of_away_user(net: Net) -> None:
    alice = await net.client("alice", caps="away-notify")
    bob = await net.client("bob")
    await join("#test", alice)
    await reply_to(bob, "AWAY :not here")
    await bob.send("JOIN #test")
    got = await alice.collect_until("AWAY")
    assert commands(got) == ["JOIN", "AWAY"]
    assert got[1].params == ("not here",)


async def test_invite_notify(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob", caps="invite-notify")
    carol = await net.client("carol")
    dave = await net.client("dave")
    await join("#test", alice, bob, carol)
    await reply_to(alice, "MODE #test +o bob")
    await reply_to(alice, "MODE #test +i")
    await drain_all(bob, carol)
    got = await reply_to(alice, "INVITE dave #test")
    assert commands(got) == ["341"]
    invite = await dave.expect("INVITE")
    assert invite.params == ("dave", "#test")
    # ":<inviter> INVITE <target> <channel>" to channel members with invite-notify
    note = await bob.expect("INVITE")
    assert note.source == mask("alice")
    assert note.params == ("dave", "#test")
    await carol.assert_nothing_pending()


async def test_setname(net: Net) -> None:
    alice = await net.client("alice", caps="setname")
    bob = await net.client("bob", caps="setname")
    carol = await net.client("carol")
    await join("#test", alice, bob, carol)
    await alice.send("SETNAME :Alice In Wonderland")
    own = await alice.expect("SETNAME")
    assert own.source == mask("alice")
    assert own.params == ("Alice In Wonderland",)
    seen = await bob.expect("SETNAME")
    assert seen.params == ("Alice In Wonderland",)
    await carol.assert_nothing_pending()
    got = await reply_to(carol, "WHOIS alice")
    assert first(got, "311").params[-1] == "Alice In Wonderland"


async def test_setname_invalid_realname_fails(net: Net) -> None:
    alice = await net.client("alice", caps="setname")
    got = await reply_to(alice, "SETNAME :" + "r" * 500)
    assert "FAIL" in commands(got) or "417" in commands(got), got
    if "FAIL" in commands(got):
        fail = first(got, "FAIL")
        # FAIL SETNAME INVALID_REALNAME :<description>
        assert fail.params[:2] == ("SETNAME", "INVALID_REALNAME")
    got = await reply_to(alice, "SETNAME :" + "r" * 420)
    fail = first(got, "FAIL")
    assert fail.params[:2] == ("SETNAME", "INVALID_REALNAME")


# -- no-implicit-names --------------------------------------------------------------------------


async def test_no_implicit_names(net: Net) -> None:
    alice = await net.client("alice", caps="draft/no-implicit-names")
    bob = await net.client("bob")
    got = await reply_to(alice, "JOIN #test")
    assert commands(got) == ["JOIN"]
    got = await reply_to(alice, "NAMES #test")
    assert commands(got) == ["353", "366"]
    got = await reply_to(bob, "JOIN #test")
    assert commands(got) == ["JOIN", "353", "366"]


# -- MONITOR + extended-monitor -----------------------------------------------------------------


async def test_extended_monitor_away_and_setname(net: Net) -> None:
    watcher = await net.client("watcher", caps="extended-monitor away-notify setname")
    plain = await net.client("plain", caps="away-notify setname")
    bob = await net.client("bob", caps="setname")
    await reply_to(watcher, "MONITOR + bob")
    await reply_to(plain, "MONITOR + bob")
    await bob.send("AWAY :brb")
    await bob.expect("306")
    msg = await watcher.expect("AWAY")
    assert msg.source == mask("bob")
    assert msg.params == ("brb",)
    await bob.send("SETNAME :Bob Newname")
    await bob.expect("SETNAME")
    msg = await watcher.expect("SETNAME")
    assert msg.params == ("Bob Newname",)
    # no common channel and no extended-monitor: nothing
    await plain.assert_nothing_pending()


# -- bot mode -----------------------------------------------------------------------------------


async def test_bot_mode(net: Net) -> None:
    bot = await net.raw()
    burst = await bot.register("botnick")
    assert isupport(burst)["BOT"] == "B"
    got = await reply_to(bot, "MODE botnick +B")
    mode = first(got, "MODE")
    assert mode.params[0] == "botnick"
    assert "B" in mode.params[1]
    user = await net.client("usernick", caps="message-tags")
    plain = await net.client("plain")

    got = await reply_to(user, "WHOIS botnick")
    bots = only(got, "335")
    # RPL_WHOISBOT "<client> <nick> :<message>"
    assert len(bots) == 1
    assert bots[0].params[:2] == ("usernick", "botnick")
    assert len(bots[0].params) == 3

    await bot.send("PRIVMSG usernick :beep boop")
    msg = await user.expect("PRIVMSG")
    assert msg.params == ("usernick", "beep boop")
    assert "bot" in msg.tags
    await join("#chan", bot, user, plain)
    await bot.send("PRIVMSG #chan :beep boop")
    assert "bot" in (await user.expect("PRIVMSG")).tags
    raw = await plain.reader.readline()
    assert raw.startswith(b":"), raw

    got = await reply_to(user, "WHO #chan")
    flags = {m.params[5]: m.params[6] for m in only(got, "352")}
    assert "B" in flags["botnick"]
    assert "B" not in flags["usernick"]


# -- UTF8ONLY and standard replies ---------------------------------------------------------------


async def test_utf8only(net: Net) -> None:
    alice = await net.raw()
    burst = await alice.register("alice")
    assert "UTF8ONLY" in isupport(burst)
    bob = await net.client("bob")
    await join("#test", alice, bob)
    await alice.send_raw(b"PRIVMSG #test :\xff\xfe latin-1 \xe9\r\n")
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ("PRIVMSG", "INVALID_UTF8")
    assert fail.source == SERVER_NAME
    await bob.assert_nothing_pending()
    await alice.send_raw(b"TOPIC #test :caf\xe9\r\n")
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ("TOPIC", "INVALID_UTF8")
    got = await reply_to(bob, "TOPIC #test")
    assert commands(got) == ["331"]
    await alice.send("PRIVMSG #test :caf\u00e9 is fine")
    assert (await bob.expect("PRIVMSG")).params[1] == "caf\u00e9 is fine"


async def test_fail_carries_label(net: Net) -> None:
    alice = await net.client("alice", caps=LABEL_CAPS)
    await alice.send_raw(b"@label=bad PRIVMSG alice :\xff\r\n")
    fail = await alice.expect("FAIL")
    assert fail.tags.get("label") == "bad"


async def test_extended_monitor_does_not_duplicate_for_channel_peers(net: Net) -> None:
    """A watcher that also shares a channel with the user hears of each change once."""
    watcher = await net.client("watcher", caps="extended-monitor away-notify")
    bob = await net.client("bob")
    await join("#test", watcher, bob)
    await reply_to(watcher, "MONITOR + bob")
    await bob.send("AWAY :brb")
    await bob.expect("306")
    await watcher.expect("AWAY")
    got = await drain(watcher)
    assert only(got, "AWAY") == []
