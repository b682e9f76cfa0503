"""MODE, line by line: user modes (i w s B, -o) and channel modes (o v k l i m n s t b e I),
their numerics, their echo and the MODES limit (src/hubbub/server/commands/modes.py).

Tests drive the server with IRC lines; the few looks at its state go through the helpers
below, so that a change in how the core keeps users and channels is a change to them only.
"""

from __future__ import annotations

import pytest

from hubbub.server.channel import KEYLEN, Channel
from hubbub.server.core import Server
from tests.cloaks import HOST
from tests.server.harness import Client, FakeClock, ask, make_server, replies

SERVER = "hubbub.local"
CREATED = "1700000000"
"""The fake clock's start: when the tests' channels are made."""
NOT_OP = "You're not channel operator"


# -- helpers: the only places that look inside the server -----------------------------------


def channel_of(server: Server, name: str) -> Channel:
    """The channel called ``name`` (it must exist)."""
    channel = server.find_channel(name)
    assert channel is not None, name
    return channel


def member_modes(server: Server, name: str, nick: str) -> str | None:
    """The prefix modes (``"ov"``, ``""``) ``nick`` has in channel ``name``; None when the
    nick is not a member."""
    user = server.find_user(nick)
    assert user is not None, nick
    return channel_of(server, name).members.get(user)


def user_modes(server: Server, nick: str) -> str:
    """The user modes of ``nick``, sorted."""
    user = server.find_user(nick)
    assert user is not None, nick
    return "".join(sorted(user.modes))


def make_oper(server: Server, nick: str) -> None:
    """Make ``nick`` an IRC operator (what a successful OPER does to the user's modes)."""
    user = server.find_user(nick)
    assert user is not None, nick
    user.modes += "o"
    server.network.opers.add(user)


def prefix(nick: str) -> str:
    return f"{nick}!~u@{HOST}"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def server() -> Server:
    return make_server()


@pytest.fixture
def pair(server: Server) -> tuple[Client, Client]:
    """alice (op of #c, which she made) and bob (a plain member of #c)."""
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #c")
    bob.send("JOIN #c")
    alice.messages()
    bob.messages()
    return alice, bob


def mode_lines(client: Client) -> list[tuple[str | None, tuple[str, ...]]]:
    """The MODE messages ``client`` received since last asked: (source, params)."""
    return [(m.source, m.params) for m in client.messages() if m.command == "MODE"]


# -- user modes -------------------------------------------------------------------------------


def test_user_mode_query_shows_the_modes_sorted(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MODE alice") == [("221", ("alice", "+"))]
    alice.send("MODE alice +wi")
    assert ask(alice, "MODE alice") == [("221", ("alice", "+iw"))]


def test_user_modes_set_and_unset_echo_what_changed(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.send("MODE alice +iwB")
    assert [(m.source, m.command, m.params) for m in alice.messages()] == [
        (prefix("alice"), "MODE", ("alice", "+iwB"))
    ]
    assert user_modes(server, "alice") == "Biw"
    assert ask(alice, "MODE alice +i") == []  # nothing changed: nothing said
    assert ask(alice, "MODE alice -iB") == [("MODE", ("alice", "-iB"))]
    assert user_modes(server, "alice") == "w"
    assert ask(alice, "MODE alice -i") == []


def apply_mode_change(modes: str, change: str) -> str:
    """What a client makes of a MODE echo: ``change`` applied to ``modes`` in order."""
    have = set(modes)
    adding = True
    for ch in change:
        if ch in "+-":
            adding = ch == "+"
        elif adding:
            have.add(ch)
        else:
            have.discard(ch)
    return "".join(sorted(have))


def test_user_mode_echo_applied_in_order_gives_the_modes_set(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.send("MODE alice +wiB")
    alice.messages()
    ((_, (_, change)),) = ask(alice, "MODE alice -w+w-iB")
    assert apply_mode_change("Biw", change) == user_modes(server, "alice") == "w"


def test_user_mode_target_is_case_insensitive(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MODE ALICE +i") == [("MODE", ("alice", "+i"))]


def test_invisible_is_counted_by_lusers(server: Server) -> None:
    alice = Client(server).register("alice")
    Client(server).register("bob")
    assert ask(alice, "LUSERS")[0] == (
        "251",
        ("alice", "There are 2 users and 0 invisible on 1 servers"),
    )
    alice.send("MODE alice +i", "MODE alice +i")  # counted once
    assert ask(alice, "LUSERS")[0] == (
        "251",
        ("alice", "There are 1 users and 1 invisible on 1 servers"),
    )
    alice.send("MODE alice -i")
    assert ask(alice, "LUSERS")[0] == (
        "251",
        ("alice", "There are 2 users and 0 invisible on 1 servers"),
    )


def test_invisible_user_quitting_leaves_the_count_right(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    bob.send("MODE bob +i", "QUIT")
    assert ask(alice, "LUSERS")[0] == (
        "251",
        ("alice", "There are 1 users and 0 invisible on 1 servers"),
    )


def test_o_cannot_be_self_set(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MODE alice +o") == []
    assert user_modes(server, "alice") == ""
    assert ask(alice, "MODE alice +oi") == [("MODE", ("alice", "+i"))]
    assert user_modes(server, "alice") == "i"
    assert server.stats()[2] == 0  # no operators
    assert ask(alice, "OPER") == [("461", ("alice", "OPER", "Not enough parameters"))]


def test_an_operator_may_drop_o(server: Server) -> None:
    alice = Client(server).register("alice")
    make_oper(server, "alice")
    assert ask(alice, "MODE alice -o") == [("MODE", ("alice", "-o"))]
    assert user_modes(server, "alice") == ""
    assert server.stats()[2] == 0


def test_s_on_a_plain_user_brings_no_server_notices(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MODE alice +s") == [("MODE", ("alice", "+s"))]
    ircop = Client(server).register("ircop")
    make_oper(server, "ircop")
    ircop.send("MODE ircop +s")
    ircop.messages()
    Client(server).register("carol").send("QUIT :bye")
    assert alice.messages() == []  # the notices go to operators only
    notices = [m.params[1] for m in ircop.messages() if m.command == "NOTICE"]
    assert notices == [
        f"*** Client connecting: carol (~u@{HOST}) [127.0.0.1]",
        f"*** Client exiting: carol (~u@{HOST}) [Quit: bye]",
    ]


def test_bot_mode_tags_the_bots_messages(server: Server) -> None:
    bot = Client(server).register("bot")
    watcher = Client(server).register("watcher", caps="message-tags")
    assert ask(bot, "MODE bot +B") == [("MODE", ("bot", "+B"))]
    bot.send("PRIVMSG watcher :beep")
    (got,) = watcher.messages()
    assert got.command == "PRIVMSG"
    assert got.tags["bot"] == ""
    bot.send("MODE bot -B", "PRIVMSG watcher :plain")
    (got,) = watcher.messages()
    assert "bot" not in got.tags


def test_unknown_user_mode_is_501_and_the_rest_applies(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MODE alice +xz") == [("501", ("alice", "Unknown MODE flag"))]
    assert ask(alice, "MODE alice +xiy") == [
        ("501", ("alice", "Unknown MODE flag")),  # once per line
        ("MODE", ("alice", "+i")),
    ]
    assert user_modes(server, "alice") == "i"


def test_user_mode_of_another_nick_is_502(server: Server) -> None:
    alice = Client(server).register("alice")
    Client(server).register("bob")
    assert ask(alice, "MODE bob +i") == [("502", ("alice", "Cant change mode for other users"))]
    assert ask(alice, "MODE bob") == [("502", ("alice", "Cant change mode for other users"))]
    assert user_modes(server, "bob") == ""


def test_user_mode_of_a_missing_nick_is_401(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MODE nobody +i") == [("401", ("alice", "nobody", "No such nick/channel"))]


def test_mode_needs_a_target(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MODE") == [("461", ("alice", "MODE", "Not enough parameters"))]


# -- querying channel modes -------------------------------------------------------------------


def test_channel_mode_query_324_and_329(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #C") == [
        ("324", ("alice", "#c", "+nt")),
        ("329", ("alice", "#c", CREATED)),
    ]


def test_channel_creation_time_is_when_it_was_made() -> None:
    clock = FakeClock()
    server = make_server(clock=clock)
    alice = Client(server).register("alice")
    clock.advance(42.9)
    alice.send("JOIN #later")
    clock.advance(100)
    assert ask(alice, "MODE #later")[1] == ("329", ("alice", "#later", "1700000042"))


def test_the_key_is_shown_to_members_only(pair: tuple[Client, Client], server: Server) -> None:
    alice, bob = pair
    alice.send("MODE #c +kl sesame 10")
    assert ask(bob, "MODE #c")[0] == ("324", ("bob", "#c", "+ntkl", "sesame", "10"))
    carol = Client(server).register("carol")
    assert ask(carol, "MODE #c") == [
        ("324", ("carol", "#c", "+ntkl", "*", "10")),
        ("329", ("carol", "#c", CREATED)),
    ]


def test_mode_of_a_missing_channel_is_403(server: Server) -> None:
    alice = Client(server).register("alice")
    assert ask(alice, "MODE #nowhere") == [("403", ("alice", "#nowhere", "No such channel"))]
    assert ask(alice, "MODE #nowhere +i") == [("403", ("alice", "#nowhere", "No such channel"))]


# -- +o and +v --------------------------------------------------------------------------------


def test_op_and_voice_are_given_and_taken(pair: tuple[Client, Client], server: Server) -> None:
    alice, bob = pair
    alice.send("MODE #c +v BOB")
    assert mode_lines(bob) == [(prefix("alice"), ("#c", "+v", "bob"))]  # the nick as it is
    assert mode_lines(alice) == [(prefix("alice"), ("#c", "+v", "bob"))]
    assert member_modes(server, "#c", "bob") == "v"
    alice.send("MODE #c +o bob")
    assert mode_lines(bob) == [(prefix("alice"), ("#c", "+o", "bob"))]
    assert member_modes(server, "#c", "bob") == "ov"  # highest rank first
    assert ask(bob, "NAMES #c") == [
        ("353", ("bob", "=", "#c", "@alice @bob")),
        ("366", ("bob", "#c", "End of /NAMES list")),
    ]
    alice.send("MODE #c -o bob")
    assert member_modes(server, "#c", "bob") == "v"
    alice.send("MODE #c -v bob")
    assert member_modes(server, "#c", "bob") == ""
    assert mode_lines(bob) == [
        (prefix("alice"), ("#c", "-o", "bob")),
        (prefix("alice"), ("#c", "-v", "bob")),
    ]


def test_a_new_op_can_give_modes(pair: tuple[Client, Client], server: Server) -> None:
    alice, bob = pair
    alice.send("MODE #c +o bob")
    assert ask(bob, "MODE #c -o alice") == [("MODE", ("#c", "-o", "alice"))]
    assert member_modes(server, "#c", "alice") == ""
    assert ask(alice, "MODE #c +v alice") == [("482", ("alice", "#c", NOT_OP))]


def test_giving_what_is_there_says_nothing(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    assert ask(alice, "MODE #c +o alice") == []
    assert ask(alice, "MODE #c -v bob") == []
    assert bob.messages() == []


def test_prefix_modes_need_channel_operator(pair: tuple[Client, Client], server: Server) -> None:
    alice, bob = pair
    assert ask(bob, "MODE #c +o bob") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(bob, "MODE #c -o alice") == [("482", ("bob", "#c", NOT_OP))]
    assert member_modes(server, "#c", "bob") == ""
    assert member_modes(server, "#c", "alice") == "o"
    assert mode_lines(alice) == []


def test_prefix_mode_on_a_non_member_is_441(pair: tuple[Client, Client], server: Server) -> None:
    alice, _ = pair
    Client(server).register("carol")
    assert ask(alice, "MODE #c +o carol") == [
        ("441", ("alice", "carol", "#c", "They aren't on that channel"))
    ]


def test_prefix_mode_on_a_missing_nick_is_401(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +v ghost") == [("401", ("alice", "ghost", "No such nick/channel"))]


def test_prefix_mode_without_a_nick_is_refused_with_696(pair: tuple[Client, Client]) -> None:
    """Modern IRC's ERR_INVALIDMODEPARAM, with ``*`` for the missing parameter (as InspIRCd
    says it): the user learns why nothing changed."""
    alice, bob = pair
    assert ask(alice, "MODE #c +o") == [
        ("696", ("alice", "#c", "o", "*", "Mode o needs a parameter"))
    ]
    assert ask(alice, "MODE #c -v") == [
        ("696", ("alice", "#c", "v", "*", "Mode v needs a parameter"))
    ]
    assert mode_lines(bob) == []


def test_a_mode_without_its_parameter_from_a_non_operator_is_refused_as_such(
    pair: tuple[Client, Client],
) -> None:
    _, bob = pair
    assert ask(bob, "MODE #c +o") == [("482", ("bob", "#c", "You're not channel operator"))]


# -- +k ---------------------------------------------------------------------------------------


def test_key_set_joined_with_and_removed(pair: tuple[Client, Client], server: Server) -> None:
    alice, bob = pair
    assert ask(alice, "MODE #c +k sesame") == [("MODE", ("#c", "+k", "sesame"))]
    assert mode_lines(bob) == [(prefix("alice"), ("#c", "+k", "sesame"))]
    carol = Client(server).register("carol")
    assert ask(carol, "JOIN #c") == [("475", ("carol", "#c", "Cannot join channel (+k)"))]
    assert ask(carol, "JOIN #c wrong") == [("475", ("carol", "#c", "Cannot join channel (+k)"))]
    assert ask(carol, "JOIN #c SESAME") == [("475", ("carol", "#c", "Cannot join channel (+k)"))]
    assert [c for c, _ in ask(carol, "JOIN #c sesame")] == ["JOIN", "353", "366"]
    assert ask(alice, "MODE #c -k anything") == [("MODE", ("#c", "-k", "*"))]
    assert ask(alice, "MODE #c")[0] == ("324", ("alice", "#c", "+nt"))
    dave = Client(server).register("dave")
    assert [c for c, _ in ask(dave, "JOIN #c")] == ["JOIN", "353", "366"]


def test_keys_are_matched_per_channel_in_a_join_list(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.send("JOIN #a,#b", "MODE #a +k ka", "MODE #b +k kb")
    bob = Client(server).register("bob")
    got = ask(bob, "JOIN #a,#b kb,ka")
    assert got == [
        ("475", ("bob", "#a", "Cannot join channel (+k)")),
        ("475", ("bob", "#b", "Cannot join channel (+k)")),
    ]
    assert [c for c, _ in ask(bob, "JOIN #a,#b ka,kb")] == ["JOIN", "353", "366"] * 2


def test_a_key_is_replaced_and_removing_none_is_silent(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c -k") == []  # no key to remove
    alice.send("MODE #c +k one")
    assert ask(alice, "MODE #c +k two") == [("MODE", ("#c", "+k", "two"))]
    assert ask(alice, "MODE #c")[0] == ("324", ("alice", "#c", "+ntk", "two"))
    assert ask(alice, "MODE #c -k") == [("MODE", ("#c", "-k", "*"))]  # a -k needs no param


@pytest.mark.parametrize("key", ["a,b", "::x", ":", ":a b"])
def test_a_malformed_key_is_525(pair: tuple[Client, Client], key: str) -> None:
    alice, _ = pair
    assert ask(alice, f"MODE #c +k {key}") == [("525", ("alice", "#c", "Key is not well-formed"))]
    assert ask(alice, "MODE #c")[0] == ("324", ("alice", "#c", "+nt"))


def test_a_key_without_a_parameter_is_refused_with_696(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +k") == [
        ("696", ("alice", "#c", "k", "*", "Mode k needs a parameter"))
    ]
    assert ask(alice, "MODE #c")[0] == ("324", ("alice", "#c", "+nt"))


def test_a_long_key_is_cut_to_23_characters(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +k " + "k" * 40) == [("MODE", ("#c", "+k", "k" * 23))]


def test_the_key_length_is_advertised_as_keylen(server: Server) -> None:
    """Clients learn the cut from ISUPPORT: a longer key they set would not let them in."""
    client = Client(server)
    client.send("NICK carol", "USER u 0 * :Real")
    tokens = [p for m in client.messages() if m.command == "005" for p in m.params[1:-1]]
    assert f"KEYLEN={KEYLEN}" in tokens
    assert KEYLEN == 23
    client.send("JOIN #k", "MODE #k +k " + "k" * (KEYLEN + 1))
    bob = Client(server).register("bob")
    assert ask(bob, "JOIN #k " + "k" * (KEYLEN + 1))[0][0] == "475"  # (the key given was cut)
    assert ask(bob, "JOIN #k " + "k" * KEYLEN)[0] == ("JOIN", ("#k",))


def test_key_needs_channel_operator(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    assert ask(bob, "MODE #c +k sesame") == [("482", ("bob", "#c", NOT_OP))]
    alice.send("MODE #c +k sesame")
    assert ask(bob, "MODE #c -k sesame") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(bob, "MODE #c")[0] == ("324", ("bob", "#c", "+ntk", "sesame"))


def test_an_invitation_does_not_skip_the_key(pair: tuple[Client, Client], server: Server) -> None:
    alice, _ = pair
    carol = Client(server).register("carol")
    alice.send("MODE #c +k sesame", "INVITE carol #c")
    assert ask(carol, "JOIN #c") == [("475", ("carol", "#c", "Cannot join channel (+k)"))]


# -- +l ---------------------------------------------------------------------------------------


def test_limit_refuses_joins_beyond_it(pair: tuple[Client, Client], server: Server) -> None:
    alice, bob = pair
    assert ask(alice, "MODE #c +l 2") == [("MODE", ("#c", "+l", "2"))]
    assert mode_lines(bob) == [(prefix("alice"), ("#c", "+l", "2"))]
    carol = Client(server).register("carol")
    assert ask(carol, "JOIN #c") == [("471", ("carol", "#c", "Cannot join channel (+l)"))]
    bob.send("PART #c")
    assert [c for c, _ in ask(carol, "JOIN #c")] == ["JOIN", "353", "366"]
    assert ask(alice, "MODE #c -l") == [("MODE", ("#c", "-l"))]
    assert [c for c, _ in ask(bob, "JOIN #c")] == ["JOIN", "353", "366"]


def test_an_invitation_skips_the_limit(pair: tuple[Client, Client], server: Server) -> None:
    alice, _ = pair
    carol = Client(server).register("carol")
    alice.send("MODE #c +l 1", "INVITE carol #c")
    assert [c for c, _ in ask(carol, "JOIN #c")] == ["JOIN", "353", "366"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0", "0"),
        ("-5", "-5"),
        ("abc", "abc"),
        ("²", "²"),
        ("1e3", "1e3"),
        ("9" * 19, "9" * 19),
        ("+3", "+3"),
        (" 3", "*"),  # (no middle parameter can carry a space)
        ("", "*"),
    ],
    ids=repr,
)
def test_a_bad_limit_is_refused_with_696(
    pair: tuple[Client, Client], value: str, shown: str
) -> None:
    alice, bob = pair
    why = "The limit must be a whole number of at least 1"
    assert ask(alice, f"MODE #c +l :{value}") == [("696", ("alice", "#c", "l", shown, why))]
    assert ask(alice, "MODE #c")[0] == ("324", ("alice", "#c", "+nt"))
    assert mode_lines(bob) == []


def test_a_limit_with_leading_zeros_is_read_as_a_number(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +l 007") == [("MODE", ("#c", "+l", "7"))]


def test_a_bad_limit_keeps_the_one_set(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send("MODE #c +l 5", "MODE #c +l nope")
    assert ask(alice, "MODE #c")[0] == ("324", ("alice", "#c", "+ntl", "5"))


def test_limit_needs_channel_operator(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    assert ask(bob, "MODE #c +l 5") == [("482", ("bob", "#c", NOT_OP))]
    alice.send("MODE #c +l 5")
    assert ask(bob, "MODE #c -l") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(bob, "MODE #c")[0] == ("324", ("bob", "#c", "+ntl", "5"))


def test_removing_no_limit_is_silent(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c -l") == []


# -- +i and +I --------------------------------------------------------------------------------


def test_invite_only_and_invitations(pair: tuple[Client, Client], server: Server) -> None:
    alice, bob = pair
    assert ask(alice, "MODE #c +i") == [("MODE", ("#c", "+i"))]
    carol = Client(server).register("carol")
    assert ask(carol, "JOIN #c") == [("473", ("carol", "#c", "Cannot join channel (+i)"))]
    assert ask(bob, "INVITE carol #c") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(alice, "INVITE carol #c") == [("341", ("alice", "carol", "#c"))]
    assert [(m.source, m.command, m.params) for m in carol.messages()] == [
        (prefix("alice"), "INVITE", ("carol", "#c"))
    ]
    assert [c for c, _ in ask(carol, "JOIN #c")] == ["JOIN", "353", "366"]
    carol.send("PART #c")  # the invitation was used up
    assert ask(carol, "JOIN #c") == [("473", ("carol", "#c", "Cannot join channel (+i)"))]
    alice.send("MODE #c -i")
    assert [c for c, _ in ask(carol, "JOIN #c")] == ["JOIN", "353", "366"]


def test_an_invitation_ends_with_its_channel(server: Server) -> None:
    alice = Client(server).register("alice")
    carol = Client(server).register("carol")
    alice.send("JOIN #c", "MODE #c +i", "INVITE carol #c", "PART #c")  # #c is gone
    mallory = Client(server).register("mallory")
    mallory.send("JOIN #c", "MODE #c +i")  # a new #c, invite-only
    assert ask(carol, "JOIN #c") == [("473", ("carol", "#c", "Cannot join channel (+i)"))]


def test_invite_exception_lets_a_matching_user_in(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, _ = pair
    alice.send("MODE #c +iI carol!*@*")
    carol = Client(server).register("carol")
    dave = Client(server).register("dave")
    assert [c for c, _ in ask(carol, "JOIN #c")] == ["JOIN", "353", "366"]
    assert ask(dave, "JOIN #c") == [("473", ("dave", "#c", "Cannot join channel (+i)"))]


# -- +m, +n, +t -------------------------------------------------------------------------------


def test_moderated_lets_only_voice_and_ops_speak(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, bob = pair
    carol = Client(server).register("carol")
    carol.send("JOIN #c")
    alice.send("MODE #c +m")
    for client in (alice, bob, carol):
        client.messages()
    assert ask(bob, "PRIVMSG #c :hello") == [("404", ("bob", "#c", "Cannot send to channel"))]
    assert ask(bob, "NOTICE #c :hello") == []  # no errors for NOTICE
    assert carol.messages() == []
    alice.send("MODE #c +v bob")
    carol.messages()
    bob.send("PRIVMSG #c :now I may")
    assert replies(carol) == [("PRIVMSG", ("#c", "now I may"))]
    alice.send("PRIVMSG #c :ops always may")
    assert replies(carol) == [("PRIVMSG", ("#c", "ops always may"))]
    alice.send("MODE #c -m")
    carol.messages()
    assert ask(carol, "PRIVMSG #c :free again") == []
    assert replies(bob)[-1] == ("PRIVMSG", ("#c", "free again"))


def test_no_outside_messages(pair: tuple[Client, Client], server: Server) -> None:
    alice, bob = pair
    carol = Client(server).register("carol")
    assert ask(carol, "PRIVMSG #c :hi from outside") == [
        ("404", ("carol", "#c", "Cannot send to channel"))
    ]
    assert bob.messages() == []
    alice.send("MODE #c -n")
    bob.messages()
    assert ask(carol, "PRIVMSG #c :hi from outside") == []
    assert replies(bob) == [("PRIVMSG", ("#c", "hi from outside"))]


def test_topic_lock(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    assert ask(bob, "TOPIC #c :mine") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(alice, "MODE #c -t") == [("MODE", ("#c", "-t"))]
    assert ask(bob, "TOPIC #c :mine") == [("TOPIC", ("#c", "mine"))]
    alice.send("MODE #c +t")
    assert ask(bob, "TOPIC #c :again") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(bob, "TOPIC #c")[0] == ("332", ("bob", "#c", "mine"))


def test_flags_need_channel_operator_and_482_comes_once(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    assert ask(bob, "MODE #c +imsk-nt key") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(bob, "MODE #c")[0] == ("324", ("bob", "#c", "+nt"))
    assert mode_lines(alice) == []


def test_setting_flags_already_set_says_nothing(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +nt") == []
    assert ask(alice, "MODE #c -ims") == []


# -- +s ---------------------------------------------------------------------------------------


def test_secret_channel_is_hidden_from_outsiders(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, bob = pair
    alice.send("MODE #c +s", "TOPIC #c :hush")
    carol = Client(server).register("carol")
    assert ask(carol, "LIST") == [
        ("321", ("carol", "Channel", "Users  Name")),
        ("323", ("carol", "End of /LIST")),
    ]
    assert ask(carol, "NAMES #c") == [("366", ("carol", "#c", "End of /NAMES list"))]
    whois = ask(carol, "WHOIS bob")
    assert [c for c, _ in whois if c == "319"] == []
    assert ask(carol, "MODE #c") == [("403", ("carol", "#c", "No such channel"))]
    assert ask(carol, "TOPIC #c") == [("403", ("carol", "#c", "No such channel"))]
    # a member sees it all, with the secret symbol in NAMES
    assert ask(bob, "LIST")[1] == ("322", ("bob", "#c", "2", "hush"))
    assert ask(bob, "NAMES #c")[0] == ("353", ("bob", "@", "#c", "@alice bob"))
    assert ("319", ("carol", "bob", "#c")) not in whois
    assert ("319", ("alice", "bob", "#c")) in ask(alice, "WHOIS bob")
    # an operator sees its modes and its members' channels
    make_oper(server, "carol")
    assert ask(carol, "MODE #c")[0] == ("324", ("carol", "#c", "+nst"))
    assert ("319", ("carol", "bob", "#c")) in ask(carol, "WHOIS bob")


@pytest.fixture
def secret_and_oper(pair: tuple[Client, Client], server: Server) -> Client:
    """#c made secret by alice, and carol, an IRC operator outside it."""
    alice, _ = pair
    alice.send("MODE #c +s")
    carol = Client(server).register("carol")
    make_oper(server, "carol")
    return carol


def test_an_operator_sees_a_secret_channel_in_list(secret_and_oper: Client) -> None:
    assert ("322", ("carol", "#c", "2", "")) in ask(secret_and_oper, "LIST")


def test_an_operator_sees_the_names_of_a_secret_channel(secret_and_oper: Client) -> None:
    assert ask(secret_and_oper, "NAMES #c")[0] == ("353", ("carol", "@", "#c", "@alice bob"))


def test_unsetting_secret_shows_the_channel_again(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, _ = pair
    alice.send("MODE #c +s", "MODE #c -s")
    carol = Client(server).register("carol")
    assert ask(carol, "LIST")[1] == ("322", ("carol", "#c", "2", ""))
    assert ask(carol, "NAMES #c")[0] == ("353", ("carol", "=", "#c", "@alice bob"))


# -- list modes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "entry", "end", "end_text"),
    [
        ("b", "367", "368", "End of channel ban list"),
        ("e", "348", "349", "End of channel exception list"),
        ("I", "346", "347", "End of channel invite list"),
    ],
)
def test_list_modes_are_listed(mode: str, entry: str, end: str, end_text: str) -> None:
    clock = FakeClock()
    server = make_server(clock=clock)
    alice = Client(server).register("alice")
    alice.send("JOIN #c")
    assert ask(alice, f"MODE #c {mode}") == [(end, ("alice", "#c", end_text))]
    assert ask(alice, f"MODE #c +{mode} bad*") == [("MODE", ("#c", f"+{mode}", "bad*!*@*"))]
    clock.advance(60)
    assert ask(alice, f"MODE #c +{mode} *!*@evil.example") == [
        ("MODE", ("#c", f"+{mode}", "*!*@evil.example"))
    ]
    assert ask(alice, f"MODE #c +{mode}") == [
        (entry, ("alice", "#c", "bad*!*@*", prefix("alice"), CREATED)),
        (entry, ("alice", "#c", "*!*@evil.example", prefix("alice"), "1700000060")),
        (end, ("alice", "#c", end_text)),
    ]
    assert ask(alice, f"MODE #c -{mode} BAD*!*@*") == [("MODE", ("#c", f"-{mode}", "bad*!*@*"))]
    assert ask(alice, f"MODE #c -{mode} bad*") == []  # gone already
    assert [c for c, _ in ask(alice, f"MODE #c {mode}")] == [entry, end]


def test_a_mask_already_listed_is_not_added_twice(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send("MODE #c +b Bad!*@*")
    assert ask(alice, "MODE #c +b bad!*@*") == []
    assert [c for c, _ in ask(alice, "MODE #c +b")] == ["367", "368"]


def test_anyone_sees_bans_but_only_ops_see_exceptions(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, bob = pair
    alice.send("MODE #c +beI x y z")
    assert [c for c, _ in ask(bob, "MODE #c +b")] == ["367", "368"]
    assert ask(bob, "MODE #c e") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(bob, "MODE #c I") == [("482", ("bob", "#c", NOT_OP))]
    carol = Client(server).register("carol")
    assert [c for c, _ in ask(carol, "MODE #c b")] == ["367", "368"]


def test_list_changes_need_channel_operator(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("MODE #c +b x")
    assert ask(bob, "MODE #c +b y") == [("482", ("bob", "#c", NOT_OP))]
    assert ask(bob, "MODE #c -b x") == [("482", ("bob", "#c", NOT_OP))]
    assert [p[2] for c, p in ask(alice, "MODE #c b") if c == "367"] == ["x!*@*"]


def test_a_full_list_is_478() -> None:
    server = make_server(max_list_entries=2)
    alice = Client(server).register("alice")
    alice.send("JOIN #c")
    assert ask(alice, "MODE #c +bbb a b c") == [
        ("478", ("alice", "#c", "c!*@*", "Channel list is full")),
        ("MODE", ("#c", "+bb", "a!*@*", "b!*@*")),
    ]
    assert ask(alice, "MODE #c +e a") == [("MODE", ("#c", "+e", "a!*@*"))]  # a list each


def test_ban_blocks_join_and_an_exception_overrides_it(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, _ = pair
    alice.send("MODE #c +b carol!*@*")
    carol = Client(server).register("carol")
    assert ask(carol, "JOIN #c") == [("474", ("carol", "#c", "Cannot join channel (+b)"))]
    alice.send("MODE #c +e *!~u@*")
    assert [c for c, _ in ask(carol, "JOIN #c")] == ["JOIN", "353", "366"]


def test_a_ban_on_the_host_matches_everyone_from_it(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.send("JOIN #c", f"MODE #c +b *!*@{HOST}")
    carol = Client(server).register("carol")
    assert ask(carol, "JOIN #c") == [("474", ("carol", "#c", "Cannot join channel (+b)"))]


def test_a_ban_on_the_real_address_matches_a_cloaked_user(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.send("JOIN #c", "MODE #c +b *!*@127.0.0.*")
    carol = Client(server).register("carol")
    assert ask(carol, "JOIN #c") == [("474", ("carol", "#c", "Cannot join channel (+b)"))]


def test_an_invitation_skips_a_ban(pair: tuple[Client, Client], server: Server) -> None:
    alice, _ = pair
    carol = Client(server).register("carol")
    alice.send("MODE #c +b carol!*@*", "INVITE carol #c")
    assert [c for c, _ in ask(carol, "JOIN #c")] == ["JOIN", "353", "366"]


def test_a_banned_member_cannot_speak_unless_voiced_or_excepted(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, bob = pair
    alice.send("MODE #c +b bob!*@*")
    alice.messages()
    assert ask(bob, "PRIVMSG #c :hi") == [("404", ("bob", "#c", "Cannot send to channel"))]
    assert ask(bob, "NOTICE #c :hi") == []
    assert alice.messages() == []
    alice.send("MODE #c +e bob!*@*")
    alice.messages()
    bob.send("PRIVMSG #c :excepted")
    assert replies(alice) == [("PRIVMSG", ("#c", "excepted"))]
    alice.send("MODE #c -e bob!*@*", "MODE #c +v bob")
    alice.messages()
    bob.send("PRIVMSG #c :voiced")
    assert replies(alice) == [("PRIVMSG", ("#c", "voiced"))]


def test_a_banned_outsider_cannot_speak_without_n(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, _ = pair
    alice.send("MODE #c -n+b carol!*@*")
    carol = Client(server).register("carol")
    assert ask(carol, "PRIVMSG #c :hi") == [("404", ("carol", "#c", "Cannot send to channel"))]


def test_a_mask_with_a_space_or_colon_cannot_be_carried_and_is_ignored(
    pair: tuple[Client, Client],
) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +b :a b") == []
    assert ask(alice, "MODE #c +b ::x!y@z") == []
    assert ask(alice, "MODE #c b") == [("368", ("alice", "#c", "End of channel ban list"))]


# -- many modes in one line -------------------------------------------------------------------


def test_many_modes_in_one_line_are_echoed_merged(
    pair: tuple[Client, Client], server: Server
) -> None:
    alice, bob = pair
    carol = Client(server).register("carol")
    carol.send("JOIN #c")
    bob.messages()
    alice.messages()
    alice.send("MODE #c +ov bob carol")
    assert mode_lines(bob) == [(prefix("alice"), ("#c", "+ov", "bob", "carol"))]
    assert mode_lines(alice) == [(prefix("alice"), ("#c", "+ov", "bob", "carol"))]
    alice.send("MODE #c -o+v-v+bk bob bob carol x key")
    expected = [(prefix("alice"), ("#c", "-o+v-v+bk", "bob", "bob", "carol", "x!*@*", "key"))]
    assert mode_lines(bob) == expected
    assert mode_lines(alice) == expected
    assert mode_lines(carol) == [
        (prefix("alice"), ("#c", "+ov", "bob", "carol")),
        *expected,
    ]


def test_flags_and_parameters_mix(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +imlk 5 key") == [("MODE", ("#c", "+imlk", "5", "key"))]
    assert ask(alice, "MODE #c")[0] == ("324", ("alice", "#c", "+imntkl", "key", "5"))
    assert ask(alice, "MODE #c -mi+s") == [("MODE", ("#c", "-mi+s"))]
    assert ask(alice, "MODE #c -lk *") == [("MODE", ("#c", "-lk", "*"))]


def test_only_what_changed_is_echoed(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +ntio alice") == [("MODE", ("#c", "+i"))]


def test_unknown_channel_mode_is_472_and_the_rest_applies(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    assert ask(alice, "MODE #c +Xi") == [
        ("472", ("alice", "X", "is unknown mode char to me")),
        ("MODE", ("#c", "+i")),
    ]
    assert ask(alice, "MODE #c +Y-Z") == [
        ("472", ("alice", "Y", "is unknown mode char to me")),
        ("472", ("alice", "Z", "is unknown mode char to me")),
    ]


def test_the_modes_limit_is_advertised_and_kept() -> None:
    server = make_server(max_modes=3)
    alice = Client(server)
    alice.send("NICK alice", "USER u 0 * :Real Name")
    tokens = [p for m in alice.messages() if m.command == "005" for p in m.params[1:-1]]
    assert "MODES=3" in tokens
    alice.send("JOIN #c")
    alice.messages()
    assert ask(alice, "MODE #c +bbbb a b c d") == [
        ("MODE", ("#c", "+bbb", "a!*@*", "b!*@*", "c!*@*"))
    ]
    assert [p[2] for c, p in ask(alice, "MODE #c b") if c == "367"] == [
        "a!*@*",
        "b!*@*",
        "c!*@*",
    ]
    bob = Client(server).register("bob")
    bob.send("JOIN #c")
    # prefix and list modes share the count; the parameters beyond it are dropped
    assert ask(alice, "MODE #c +vb-bb bob x a b") == [
        ("MODE", ("#c", "+vb-b", "bob", "x!*@*", "a!*@*"))
    ]


def test_a_key_and_a_limit_count_against_the_modes_limit() -> None:
    """MODES counts every change with a parameter (Modern IRC): ``+k-k...`` with 60 keys
    was accepted whole (an attack audit)."""
    server = make_server(max_modes=3)
    alice = Client(server).register("alice")
    alice.send("JOIN #c")
    alice.messages()
    assert ask(alice, "MODE #c +kbl key a 5 ") == [("MODE", ("#c", "+kbl", "key", "a!*@*", "5"))]
    assert ask(alice, "MODE #c -k+klb key other 9 x") == [("MODE", ("#c", "+kl", "other", "9"))]


def test_a_mode_line_is_told_as_what_holds_at_its_end(pair: tuple[Client, Client]) -> None:
    """A line that toggles modes is told as its end state, each change once (an attack
    audit: 240 toggles a line to a 500-member channel sent each member 840 bytes a line)."""
    alice, bob = pair
    assert ask(alice, "MODE #c +i-i+i-i+m") == [("MODE", ("#c", "+m"))]
    assert mode_lines(bob) == [(prefix("alice"), ("#c", "+m"))]
    assert ask(alice, "MODE #c +i-i") == []
    assert ask(alice, "MODE #c -m+m-m") == [("MODE", ("#c", "-m"))]
    assert ask(alice, "MODE #c +b-b x x") == []
    assert ask(alice, "MODE #c +v-v+v bob bob bob") == [("MODE", ("#c", "+v", "bob"))]
    assert ask(alice, "MODE #c +l-l+l 5 7") == [("MODE", ("#c", "+l", "7"))]
    assert channel_of(alice.server, "#c").limit == 7
    assert member_modes(alice.server, "#c", "bob") == "v"


def test_the_default_modes_limit_is_six(server: Server) -> None:
    alice = Client(server)
    alice.send("NICK alice", "USER u 0 * :Real Name")
    tokens = [p for m in alice.messages() if m.command == "005" for p in m.params[1:-1]]
    assert "MODES=6" in tokens
