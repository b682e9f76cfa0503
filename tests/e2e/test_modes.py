"""Channel and user modes over real sockets.

Written from https://modern.ircdocs.horse/#mode-message, #channel-modes, #user-modes and the
CHANMODES / PREFIX / MODES ISUPPORT tokens.
"""

from __future__ import annotations

from tests.e2e.conformance import Net, commands, drain, join, mask, names_in, only, reply_to

# -- queries ------------------------------------------------------------------------------------


async def test_channel_mode_query(net: Net) -> None:
    alice = await net.client("alice")
    await join("#room", alice)
    got = await reply_to(alice, "MODE #room")
    assert commands(got) == ["324", "329"]
    # RPL_CHANNELMODEIS "<client> <channel> <modestring> <mode arguments>..."
    assert got[0].params[:2] == ("alice", "#room")
    assert got[0].params[2].startswith("+")
    assert set("nt") <= set(got[0].params[2])
    # RPL_CREATIONTIME "<client> <channel> <creationtime>"
    assert got[1].params[:2] == ("alice", "#room")
    assert got[1].params[2].isdigit()


async def test_channel_mode_query_shows_key_and_limit(net: Net) -> None:
    alice = await net.client("alice")
    await join("#room", alice)
    await reply_to(alice, "MODE #room +kl sesame 10")
    got = await reply_to(alice, "MODE #room")
    modes = got[0].params[2]
    args = got[0].params[3:]
    assert "k" in modes
    assert "l" in modes
    # the arguments follow the order of their modes in the mode string
    ordered = [c for c in modes if c in "kl"]
    assert dict(zip(ordered, args, strict=True)) == {"k": "sesame", "l": "10"}


async def test_mode_of_unknown_channel_403(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "MODE #nowhere")
    assert commands(got) == ["403"]
    assert got[0].params[:2] == ("alice", "#nowhere")


async def test_mode_without_parameters_461(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "MODE")
    assert commands(got) == ["461"]
    assert got[0].params[:2] == ("alice", "MODE")


# -- changing channel modes ---------------------------------------------------------------------


async def test_mode_change_is_broadcast(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    await alice.send("MODE #room +im")
    for c in (alice, bob):
        msg = await c.expect("MODE")
        assert msg.source == mask("alice")
        assert msg.params[0] == "#room"
        assert sorted(msg.params[1].lstrip("+")) == ["i", "m"]


async def test_mode_change_needs_operator_482(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    got = await reply_to(bob, "MODE #room +i")
    assert commands(got) == ["482"]
    assert got[0].params[:2] == ("bob", "#room")
    await alice.assert_nothing_pending()


async def test_unknown_channel_mode_472(net: Net) -> None:
    alice = await net.client("alice")
    await join("#room", alice)
    got = await reply_to(alice, "MODE #room +Y")
    # ERR_UNKNOWNMODE "<client> <modechar> :is unknown mode char to me"
    assert "472" in commands(got)
    reply = only(got, "472")[0]
    assert reply.params[:2] == ("alice", "Y")


async def test_setting_a_mode_twice_is_silent(net: Net) -> None:
    alice = await net.client("alice")
    await join("#room", alice)
    assert await reply_to(alice, "MODE #room +n") == []


async def test_key_mode(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    got = await reply_to(alice, "MODE #room +k sesame")
    assert [m.params for m in only(got, "MODE")] == [("#room", "+k", "sesame")]
    got = await reply_to(bob, "JOIN #room")
    # ERR_BADCHANNELKEY "<client> <channel> :Cannot join channel (+k)"
    assert commands(got) == ["475"]
    assert got[0].params[:2] == ("bob", "#room")
    got = await reply_to(bob, "JOIN #room wrong")
    assert commands(got) == ["475"]
    await bob.send("JOIN #room sesame")
    assert (await bob.expect("JOIN")).params == ("#room",)
    await drain(alice)
    await alice.send("MODE #room -k sesame")
    msg = await bob.expect("MODE")
    assert msg.params[:2] == ("#room", "-k")


async def test_limit_mode(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice)
    got = await reply_to(alice, "MODE #room +l 2")
    assert [m.params for m in only(got, "MODE")] == [("#room", "+l", "2")]
    await join("#room", bob)
    got = await reply_to(carol, "JOIN #room")
    # ERR_CHANNELISFULL "<client> <channel> :Cannot join channel (+l)"
    assert commands(got) == ["471"]
    assert got[0].params[:2] == ("carol", "#room")
    got = await reply_to(alice, "MODE #room -l")
    assert [m.params for m in only(got, "MODE")] == [("#room", "-l")]
    await carol.send("JOIN #room")
    assert (await carol.expect("JOIN")).params == ("#room",)


async def test_ban_mode(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    got = await reply_to(alice, "MODE #room +b bob!*@*")
    assert [m.params for m in only(got, "MODE")] == [("#room", "+b", "bob!*@*")]
    got = await reply_to(bob, "JOIN #room")
    # ERR_BANNEDFROMCHAN "<client> <channel> :Cannot join channel (+b)"
    assert commands(got) == ["474"]
    assert got[0].params[:2] == ("bob", "#room")


async def test_ban_list(net: Net) -> None:
    alice = await net.client("alice")
    await join("#room", alice)
    await reply_to(alice, "MODE #room +b bad!*@*")
    await reply_to(alice, "MODE #room +b *!*@evil.example")
    got = await reply_to(alice, "MODE #room +b")
    assert commands(got) == ["367", "367", "368"]
    # RPL_BANLIST "<client> <channel> <mask> [<who> <set-ts>]"
    masks = {m.params[2] for m in got[:2]}
    assert masks == {"bad!*@*", "*!*@evil.example"}
    for m in got[:2]:
        assert m.params[:2] == ("alice", "#room")
        if len(m.params) > 3:
            assert m.params[3] in ("alice", mask("alice"))
            assert m.params[4].isdigit()
    # RPL_ENDOFBANLIST "<client> <channel> :End of channel ban list"
    assert got[2].params[:2] == ("alice", "#room")
    got = await reply_to(alice, "MODE #room b")
    assert commands(got) == ["367", "367", "368"]


async def test_ban_mask_is_completed(net: Net) -> None:
    alice = await net.client("alice")
    await join("#room", alice)
    got = await reply_to(alice, "MODE #room +b bob")
    assert [m.params for m in only(got, "MODE")] == [("#room", "+b", "bob!*@*")]


async def test_ban_matches_with_casemapping(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob[x]")
    await join("#room", alice)
    await reply_to(alice, "MODE #room +b BOB{X}!*@*")
    got = await reply_to(bob, "JOIN #room")
    assert commands(got) == ["474"]


async def test_banned_member_cannot_speak(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    await reply_to(alice, "MODE #room +b bob!*@*")
    await drain(bob)
    got = await reply_to(bob, "PRIVMSG #room :can you hear me")
    assert commands(got) == ["404"]
    await alice.assert_nothing_pending()


async def test_ban_exception(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice)
    await reply_to(alice, "MODE #room +b *!*@*")
    got = await reply_to(alice, "MODE #room +e bob!*@*")
    assert [m.params for m in only(got, "MODE")] == [("#room", "+e", "bob!*@*")]
    await bob.send("JOIN #room")
    assert (await bob.expect(lambda m: m.command in ("JOIN", "474"))).command == "JOIN"
    assert commands(await reply_to(carol, "JOIN #room")) == ["474"]
    await drain(alice)
    got = await reply_to(alice, "MODE #room +e")
    # RPL_EXCEPTLIST / RPL_ENDOFEXCEPTLIST
    assert commands(got) == ["348", "349"]
    assert got[0].params[:3] == ("alice", "#room", "bob!*@*")


async def test_invite_exception(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice)
    await reply_to(alice, "MODE #room +i")
    await reply_to(alice, "MODE #room +I bob!*@*")
    await bob.send("JOIN #room")
    assert (await bob.expect(lambda m: m.command in ("JOIN", "473"))).command == "JOIN"
    assert commands(await reply_to(carol, "JOIN #room")) == ["473"]
    await drain(alice)
    got = await reply_to(alice, "MODE #room +I")
    # RPL_INVITELIST (346) / RPL_ENDOFINVITELIST (347)
    assert commands(got) == ["346", "347"]
    assert got[0].params[:3] == ("alice", "#room", "bob!*@*")


async def test_moderated_and_voice(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    await reply_to(alice, "MODE #room +m")
    await drain(bob)
    got = await reply_to(bob, "PRIVMSG #room :hello?")
    assert commands(got) == ["404"]
    assert got[0].params[:2] == ("bob", "#room")
    await alice.send("MODE #room +v bob")
    msg = await bob.expect("MODE")
    assert msg.params == ("#room", "+v", "bob")
    await drain(alice)
    await bob.send("PRIVMSG #room :now I can talk")
    assert (await alice.expect("PRIVMSG")).params == ("#room", "now I can talk")
    await alice.send("PRIVMSG #room :ops can always talk")
    assert (await bob.expect("PRIVMSG")).params[1] == "ops can always talk"


async def test_no_external_messages(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    assert commands(await reply_to(bob, "PRIVMSG #room :knock knock")) == ["404"]
    await reply_to(alice, "MODE #room -n")
    await bob.send("PRIVMSG #room :from outside")
    msg = await alice.expect("PRIVMSG")
    assert msg.params == ("#room", "from outside")
    assert msg.source == mask("bob")


async def test_operator_mode(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    carol = await net.client("carol")
    await join("#room", alice, bob, carol)
    await alice.send("MODE #room +o bob")
    for c in (alice, bob, carol):
        msg = await c.expect("MODE")
        assert msg.source == mask("alice")
        assert msg.params == ("#room", "+o", "bob")
    got = await reply_to(carol, "NAMES #room")
    assert names_in(got) == {"@alice", "@bob", "carol"}
    # bob can now change modes
    got = await reply_to(bob, "MODE #room +v carol")
    assert [m.params for m in only(got, "MODE")] == [("#room", "+v", "carol")]
    got = await reply_to(carol, "NAMES #room")
    assert names_in(got) == {"@alice", "@bob", "+carol"}
    await drain(alice)
    await alice.send("MODE #room -o bob")
    assert (await bob.expect("MODE")).params == ("#room", "-o", "bob")


async def test_prefix_mode_errors(net: Net) -> None:
    alice = await net.client("alice")
    await net.client("bob")
    await join("#room", alice)
    got = await reply_to(alice, "MODE #room +o bob")
    # ERR_USERNOTINCHANNEL "<client> <nick> <channel> :They aren't on that channel"
    assert commands(got) == ["441"]
    assert got[0].params[:3] == ("alice", "bob", "#room")
    got = await reply_to(alice, "MODE #room +o nobody")
    assert commands(got) == ["401"]
    assert got[0].params[:2] == ("alice", "nobody")


async def test_several_modes_with_parameters_in_one_line(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice, bob)
    await alice.send("MODE #room +klv key 5 bob")
    msg = await bob.expect("MODE")
    assert msg.params[0] == "#room"
    modes = [c for c in msg.params[1] if c not in "+-"]
    assert sorted(modes) == ["k", "l", "v"]
    assert dict(zip(modes, msg.params[2:], strict=True)) == {"k": "key", "l": "5", "v": "bob"}


async def test_secret_channel_mode(net: Net) -> None:
    alice = await net.client("alice")
    bob = await net.client("bob")
    await join("#room", alice)
    got = await reply_to(alice, "MODE #room +s")
    assert [m.params for m in only(got, "MODE")] == [("#room", "+s")]
    got = await reply_to(bob, "LIST")
    assert not only(got, "322")


# -- user modes ---------------------------------------------------------------------------------


async def test_user_mode_query_221(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "MODE alice")
    # RPL_UMODEIS "<client> <user modes>"
    assert commands(got) == ["221"]
    assert got[0].params[0] == "alice"
    assert got[0].params[1].startswith("+")


async def test_user_mode_set_and_unset(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "MODE alice +i")
    assert commands(got) == ["MODE"]
    assert got[0].params == ("alice", "+i")
    got = await reply_to(alice, "MODE alice")
    assert "i" in got[0].params[1]
    got = await reply_to(alice, "MODE alice -i")
    assert got[0].params == ("alice", "-i")
    got = await reply_to(alice, "MODE alice")
    assert "i" not in got[0].params[1]


async def test_user_cannot_give_itself_oper(net: Net) -> None:
    alice = await net.client("alice")
    await reply_to(alice, "MODE alice +o")
    got = await reply_to(alice, "MODE alice")
    assert "o" not in got[0].params[1]


async def test_user_mode_of_another_user_502(net: Net) -> None:
    alice = await net.client("alice")
    await net.client("bob")
    for line in ("MODE bob", "MODE bob +i"):
        got = await reply_to(alice, line)
        # ERR_USERSDONTMATCH "<client> :Cant change mode for other users"
        assert commands(got) == ["502"], line
        assert got[0].params[0] == "alice"


async def test_user_mode_of_unknown_nick_401(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "MODE nobody")
    assert commands(got) == ["401"]
    assert got[0].params[:2] == ("alice", "nobody")


async def test_unknown_user_mode_501(net: Net) -> None:
    alice = await net.client("alice")
    got = await reply_to(alice, "MODE alice +Z")
    # ERR_UMODEUNKNOWNFLAG "<client> :Unknown MODE flag"
    assert "501" in commands(got)
    assert only(got, "501")[0].params[0] == "alice"
