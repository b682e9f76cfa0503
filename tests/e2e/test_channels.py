"""Channel operations over real sockets: JOIN, PART, TOPIC, NAMES, LIST, INVITE, KICK.

Written from https://modern.ircdocs.horse/#channel-operations and the numerics it names.
"""

from __future__ import annotations

import pytest

from tests.e2e.conformance import (
    SERVER_NAME,
    Net,
    commands,
    drain,
    first,
    join,
    mask,
    names_in,
    only,
    reply_to,
)

# -- JOIN ---------------------------------------------------------------------------------------


async def test_join_new_channel_replies(net: Net) -> None:
    alice = await net.client("alice")
    await alice.send("JOIN #room")
    got = await alice.collect_until("366")
    # The JOIN itself, then (no topic) RPL_NAMREPLY(s) and RPL_ENDOFNAMES.
    assert commands(got) == ["JOIN", "353", "366"], got
    assert got[0].source == mask("alice")
    assert got[0].params == ("#room",)
    # RPL_NAMREPLY "<client> <symbol> <channel> :[prefix]<nick>{ [prefix]<nick>}"
    assert got[1].params == ("alice", "=", "#room", "@alice")
    assert got[1].source == SERVER_NAME
    # RPL_ENDOFNAMES "<client> <channel> :End of /NAMES list"
    assert got[2].params[:2] == ("alice", "#room")
    assert len(got[2].params) == 3


async def test_join_is_seen_by_members(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    await bob.send("JOIN #room")
    got = await bob.collect_until("366")
    assert names_in(got) == {"@alice", "bob"}
    seen = await alice.expect("JOIN")
    assert seen.source == mask("bob")
    assert seen.params == ("#room",)


async def test_join_existing_channel_with_topic(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    await reply_to(alice, "TOPIC #room :the topic")
    await bob.send("JOIN #room")
    got = await bob.collect_until("366")
    assert commands(got) == ["JOIN", "332", "333", "353", "366"], got
    # RPL_TOPIC "<client> <channel> :<topic>"
    assert got[1].params == ("bob", "#room", "the topic")
    # RPL_TOPICWHOTIME "<client> <channel> <nick> <setat>"
    assert got[2].params[:2] == ("bob", "#room")
    assert got[2].params[2] in ("alice", mask("alice"))
    assert got[2].params[3].isdigit()


async def test_join_several_channels_and_keys(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#a", alice)
    await join("#b", alice)
    await reply_to(alice, "MODE #a +k keya")
    await reply_to(alice, "MODE #b +k keyb")
    await bob.send("JOIN #a,#b,#c keya,keyb")
    joined = []
    for _ in range(3):
        msg = await bob.expect("JOIN")
        joined.append(msg.params[0])
    assert joined == ["#a", "#b", "#c"]


async def test_join_0_parts_every_channel(net: Net) -> None:
    alice = await net.client("alice")
    await join("#a", alice)
    await join("#b", alice)
    got = await reply_to(alice, "JOIN 0")
    parts = only(got, "PART")
    assert sorted(m.params[0] for m in parts) == ["#a", "#b"]
    assert all(m.source == mask("alice") for m in parts)


@pytest.mark.parametrize("name", ["nohash", "#with space", "#a\x07b"])
async def test_join_invalid_channel_name(net: Net, name: str) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, f"JOIN :{name}" if " " in name else f"JOIN {name}")
    # ERR_NOSUCHCHANNEL or ERR_BADCHANMASK
    assert commands(got)[:1] in (["403"], ["476"]), got
    assert "JOIN" not in commands(got)


async def test_join_channel_name_casemapping(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#Room", alice)
    await bob.send("JOIN #ROOM")
    got = await bob.collect_until("366")
    assert names_in(got) == {"@alice", "bob"}
    # the channel keeps the name it was created with
    assert first(got, "353").params[2] == "#Room"


async def test_join_when_already_on_channel_changes_nothing(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    await reply_to(bob, "JOIN #room")
    await alice.assert_nothing_pending()


# -- PART ---------------------------------------------------------------------------------------


async def test_part_with_and_without_reason(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    await bob.send("PART #room :see you")
    own = await bob.expect("PART")
    assert own.source == mask("bob")
    assert own.params == ("#room", "see you")
    seen = await alice.expect("PART")
    assert seen.params == ("#room", "see you")
    await join("#room", bob)
    await drain(alice)
    await bob.send("PART #room")
    assert (await bob.expect("PART")).params == ("#room",)
    assert (await alice.expect("PART")).params == ("#room",)


async def test_part_errors(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    got = await reply_to(bob, "PART #room")
    # ERR_NOTONCHANNEL "<client> <channel> :You're not on that channel"
    assert commands(got) == ["442"]
    assert got[0].params[:2] == ("bob", "#room")
    got = await reply_to(bob, "PART #nowhere")
    # ERR_NOSUCHCHANNEL "<client> <channel> :No such channel"
    assert commands(got) == ["403"]
    assert got[0].params[:2] == ("bob", "#nowhere")
    got = await reply_to(bob, "PART")
    assert commands(got) == ["461"]
    assert got[0].params[:2] == ("bob", "PART")


async def test_part_several_channels(net: Net) -> None:
    alice = await net.client("alice")
    await join("#a", alice)
    await join("#b", alice)
    got = await reply_to(alice, "PART #a,#b :bye")
    assert [m.params for m in only(got, "PART")] == [("#a", "bye"), ("#b", "bye")]


async def test_empty_channel_disappears(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    await reply_to(alice, "PART #room")
    await bob.send("JOIN #room")
    got = await bob.collect_until("366")
    assert names_in(got) == {"@bob"}  # bob created it afresh and is its operator


# -- TOPIC --------------------------------------------------------------------------------------


async def test_topic_set_query_and_clear(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    got = await reply_to(bob, "TOPIC #room")
    # RPL_NOTOPIC "<client> <channel> :No topic is set"
    assert commands(got) == ["331"]
    assert got[0].params[:2] == ("bob", "#room")

    await alice.send("TOPIC #room :new topic here")
    for c in (alice, bob):
        msg = await c.expect("TOPIC")
        assert msg.source == mask("alice")
        assert msg.params == ("#room", "new topic here")

    got = await reply_to(bob, "TOPIC #room")
    assert commands(got) == ["332", "333"]
    assert got[0].params == ("bob", "#room", "new topic here")
    assert got[1].params[2] in ("alice", mask("alice"))
    assert got[1].params[3].isdigit()

    await alice.send("TOPIC #room :")
    for c in (alice, bob):
        msg = await c.expect("TOPIC")
        assert msg.params[0] == "#room"
        assert msg.params[1:] in ((), ("",))
    got = await reply_to(bob, "TOPIC #room")
    assert commands(got) == ["331"]


async def test_topic_protected_482(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    got = await reply_to(bob, "TOPIC #room :mine now")
    # ERR_CHANOPRIVSNEEDED "<client> <channel> :You're not channel operator"
    assert commands(got) == ["482"]
    assert got[0].params[:2] == ("bob", "#room")
    await alice.assert_nothing_pending()
    await reply_to(alice, "MODE #room -t")
    await drain(bob)
    await bob.send("TOPIC #room :free for all")
    assert (await alice.expect("TOPIC")).params == ("#room", "free for all")


async def test_topic_errors(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    got = await reply_to(bob, "TOPIC #nowhere")
    assert commands(got) == ["403"]
    assert got[0].params[:2] == ("bob", "#nowhere")
    got = await reply_to(bob, "TOPIC #room :outside")
    assert commands(got) == ["442"]
    assert got[0].params[:2] == ("bob", "#room")
    got = await reply_to(bob, "TOPIC")
    assert commands(got) == ["461"]


async def test_topic_is_truncated_to_topiclen(net: Net) -> None:
    alice = await net.client("alice")
    await join("#room", alice)
    await alice.send("TOPIC #room :" + "t" * 450)
    msg = await alice.expect("TOPIC")
    assert msg.params[1] == "t" * 390  # TOPICLEN=390


# -- NAMES --------------------------------------------------------------------------------------


async def test_names_of_a_channel(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice, bob)
    got = await reply_to(carol, "NAMES #room")
    assert commands(got)[-1] == "366"
    assert names_in(got) == {"@alice", "bob"}
    reply = first(got, "353")
    assert reply.params[:3] == ("carol", "=", "#room")
    assert got[-1].params[:2] == ("carol", "#room")


async def test_names_of_unknown_channel_ends_only(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "NAMES #nowhere")
    assert commands(got) == ["366"]
    assert got[0].params[:2] == ("alice", "#nowhere")


async def test_names_hides_secret_channel_and_invisible_users(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#secret", alice, bob)
    await reply_to(alice, "MODE #secret +s")
    got = await reply_to(carol, "NAMES #secret")
    assert commands(got) == ["366"]
    got = await reply_to(bob, "NAMES #secret")
    assert first(got, "353").params[1] == "@"  # the symbol of a secret channel

    await join("#public", alice, bob)
    await reply_to(bob, "MODE bob +i")
    got = await reply_to(carol, "NAMES #public")
    assert names_in(got) == {"@alice"}  # invisible bob is hidden from non-members
    got = await reply_to(alice, "NAMES #public")
    assert names_in(got) == {"@alice", "bob"}


async def test_names_splits_long_replies(net: Net) -> None:
    clients = [await net.client(f"user{i:02d}{'x' * 20}") for i in range(30)]
    await join("#big", *clients)
    got = await reply_to(clients[0], "NAMES #big")
    replies = only(got, "353")
    assert len(replies) > 1
    assert len(names_in(got)) == 30
    for m in replies:
        assert len(m.serialize().encode()) + 2 <= 512


# -- LIST ---------------------------------------------------------------------------------------


async def test_list(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#one", alice)
    await join("#two", alice, bob)
    await reply_to(alice, "TOPIC #two :second channel")
    got = await reply_to(bob, "LIST")
    # RPL_LISTSTART (optional), RPL_LIST "<client> <channel> <client count> :<topic>",
    # RPL_LISTEND "<client> :End of /LIST"
    assert got[-1].command == "323"
    assert got[-1].params[0] == "bob"
    assert len(got[-1].params) == 2
    entries = {m.params[1]: m.params for m in only(got, "322")}
    assert entries["#one"] == ("bob", "#one", "1", "")
    assert entries["#two"] == ("bob", "#two", "2", "second channel")


async def test_list_filters(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#one", alice)
    await join("#two", alice, bob)
    got = await reply_to(bob, "LIST #two")
    assert [m.params[1] for m in only(got, "322")] == ["#two"]
    got = await reply_to(bob, "LIST #one,#two")
    assert sorted(m.params[1] for m in only(got, "322")) == ["#one", "#two"]
    got = await reply_to(bob, "LIST >1")  # ELIST=U
    assert [m.params[1] for m in only(got, "322")] == ["#two"]
    got = await reply_to(bob, "LIST <2")
    assert [m.params[1] for m in only(got, "322")] == ["#one"]


async def test_list_hides_secret_channels_from_outsiders(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#hidden", alice)
    await reply_to(alice, "MODE #hidden +s")
    got = await reply_to(bob, "LIST")
    assert "#hidden" not in [m.params[1] for m in only(got, "322")]
    got = await reply_to(alice, "LIST")
    assert "#hidden" in [m.params[1] for m in only(got, "322")]


# -- INVITE -------------------------------------------------------------------------------------


async def test_invite(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    got = await reply_to(alice, "INVITE bob #room")
    # RPL_INVITING "<client> <nick> <channel>"
    assert commands(got) == ["341"]
    assert got[0].params == ("alice", "bob", "#room")
    msg = await bob.expect("INVITE")
    assert msg.source == mask("alice")
    assert msg.params == ("bob", "#room")


async def test_invite_lets_into_invite_only_channel(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    await reply_to(alice, "MODE #room +i")
    got = await reply_to(bob, "JOIN #room")
    # ERR_INVITEONLYCHAN "<client> <channel> :Cannot join channel (+i)"
    assert commands(got) == ["473"]
    assert got[0].params[:2] == ("bob", "#room")
    await reply_to(alice, "INVITE bob #room")
    await bob.expect("INVITE")
    await bob.send("JOIN #room")
    assert (await bob.expect(lambda m: m.command in ("JOIN", "473"))).command == "JOIN"


async def test_invite_errors(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice, bob)
    got = await reply_to(alice, "INVITE bob #room")
    # ERR_USERONCHANNEL "<client> <nick> <channel> :is already on channel"
    assert commands(got) == ["443"]
    assert got[0].params[:3] == ("alice", "bob", "#room")
    got = await reply_to(carol, "INVITE alice #room")
    # ERR_NOTONCHANNEL
    assert commands(got) == ["442"]
    assert got[0].params[:2] == ("carol", "#room")
    got = await reply_to(alice, "INVITE nobody #room")
    assert commands(got) == ["401"]
    assert got[0].params[:2] == ("alice", "nobody")
    got = await reply_to(alice, "INVITE carol #nowhere")
    assert commands(got) == ["403"]
    assert got[0].params[:2] == ("alice", "#nowhere")
    await reply_to(alice, "MODE #room +i")
    await drain(bob)
    got = await reply_to(bob, "INVITE carol #room")
    # on an invite-only channel only operators may invite
    assert commands(got) == ["482"]
    assert got[0].params[:2] == ("bob", "#room")


# -- KICK ---------------------------------------------------------------------------------------


async def test_kick(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice, bob, carol)
    await alice.send("KICK #room bob :behave")
    for c in (alice, bob, carol):
        msg = await c.expect("KICK")
        assert msg.source == mask("alice")
        assert msg.params == ("#room", "bob", "behave")
    got = await reply_to(bob, "PRIVMSG #room :still here?")
    assert commands(got) == ["404"]
    got = await reply_to(carol, "NAMES #room")
    assert names_in(got) == {"@alice", "carol"}


async def test_kick_without_reason(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    await alice.send("KICK #room bob")
    msg = await bob.expect("KICK")
    assert msg.params[:2] == ("#room", "bob")


async def test_kick_several_users_and_rfc2812_pairs(net: Net) -> None:
    """``KICK #c a,b`` kicks each (TARGMAX ``KICK`` of them at most); ``KICK #a,#b x,y``
    kicks x from #a and y from #b; other counts of channels and users are refused."""
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice, bob, carol)
    await join("#den", alice, bob)
    await alice.send("KICK #room bob,nobody,carol :out")
    kicked = [await alice.expect("KICK") for _ in range(2)]
    assert [m.params for m in kicked] == [("#room", "bob", "out"), ("#room", "carol", "out")]
    got = await reply_to(alice, "KICK #room,#den bob")
    assert commands(got) == ["461"]
    got = await reply_to(alice, "KICK #room a,b,c,d,e")
    assert commands(got) == ["407"]
    await join("#room", bob)
    await drain(alice)
    await alice.send("KICK #room,#den bob,bob :both")
    kicked = [await alice.expect("KICK") for _ in range(2)]
    assert [m.params for m in kicked] == [("#room", "bob", "both"), ("#den", "bob", "both")]


async def test_kick_errors(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice, bob)
    got = await reply_to(bob, "KICK #room alice")
    # ERR_CHANOPRIVSNEEDED
    assert commands(got) == ["482"]
    assert got[0].params[:2] == ("bob", "#room")
    got = await reply_to(alice, "KICK #room carol")
    # ERR_USERNOTINCHANNEL "<client> <nick> <channel> :They aren't on that channel"
    assert commands(got) == ["441"]
    assert got[0].params[:3] == ("alice", "carol", "#room")
    got = await reply_to(carol, "KICK #room bob")
    # ERR_NOTONCHANNEL
    assert commands(got) == ["442"]
    assert got[0].params[:2] == ("carol", "#room")
    got = await reply_to(alice, "KICK #nowhere bob")
    assert commands(got) == ["403"]
    assert got[0].params[:2] == ("alice", "#nowhere")
    got = await reply_to(alice, "KICK #room")
    assert commands(got) == ["461"]
    assert got[0].params[:2] == ("alice", "KICK")
