"""ClientState fed line by line: channels, members, prefixes, modes, ISUPPORT."""

from __future__ import annotations

import pytest

from hubbub.client import events as ev
from hubbub.client.state import ClientState
from hubbub.protocol import Casemapping, parse

NGIRCD_005 = (
    ":srv 005 ann CASEMAPPING=ascii PREFIX=(qaohv)~&@%+ CHANTYPES=#&+ "
    "CHANMODES=beI,k,l,imMnOPQRstVz NICKLEN=30 :are supported"
)


def feed(state: ClientState, *lines: str) -> list[ev.Event]:
    out: list[ev.Event] = []
    for line in lines:
        out += state.apply(parse(line))
    return out


@pytest.fixture
def state() -> ClientState:
    s = ClientState("ann")
    feed(
        s,
        ":srv 001 ann :Welcome ann!a@h",
        NGIRCD_005,
        ":ann!a@h JOIN #Chat",
        ":srv 353 ann = #Chat :@ann +bob ~&carl",
        ":srv 366 ann #Chat :End of NAMES",
    )
    return s


def test_registration_and_isupport(state: ClientState) -> None:
    assert state.registered
    assert state.server_name == "srv"
    assert state.casemapping is Casemapping.ASCII
    assert state.prefix_modes == "qaohv"
    assert state.prefix_symbols == "~&@%+"
    assert state.is_channel("+local")
    assert not state.is_channel("bob")
    assert state.nicklen == 30


def test_names_build_members_in_rank_order(state: ClientState) -> None:
    members = state.members("#chat")
    assert [(m.nick, m.prefixes) for m in members] == [("carl", "~&"), ("ann", "@"), ("bob", "+")]
    assert state.channel("#CHAT") is not None
    assert state.channel("#CHAT").name == "#Chat"  # type: ignore[union-attr]


def test_names_event_lists_highest_prefix() -> None:
    s = ClientState("ann")
    events = feed(
        s,
        ":ann!a@h JOIN #c",
        ":srv 353 ann = #c :@+ann bob!b@host",
        ":srv 366 ann #c :End",
    )
    names = [e for e in events if isinstance(e, ev.Names)]
    assert names == [ev.Names("#c", ("@ann", "bob"), message=names[0].message)]
    assert s.users[s.fold("bob")].host == "host"


def test_join_part_kick_quit(state: ClientState) -> None:
    (join,) = feed(state, ":dave!d@h JOIN #chat")
    assert isinstance(join, ev.Join)
    assert join.channel == "#Chat"
    assert not join.is_self
    assert "dave" in [m.nick for m in state.members("#chat")]
    (part,) = feed(state, ":dave!d@h PART #chat :bye")
    assert isinstance(part, ev.Part)
    assert part.reason == "bye"
    (kick,) = feed(state, ":ann!a@h KICK #chat bob :out")
    assert isinstance(kick, ev.Kick)
    assert kick.nick == "bob"
    assert kick.by == "ann"
    (quit_,) = feed(state, ":carl!c@h QUIT :gone")
    assert isinstance(quit_, ev.Quit)
    assert quit_.channels == ("#Chat",)
    assert [m.nick for m in state.members("#chat")] == ["ann"]
    assert state.fold("carl") not in state.users


def test_extended_join_carries_account() -> None:
    s = ClientState("ann")
    feed(s, ":ann!a@h JOIN #c * :Ann")
    (join,) = feed(s, ":bob!b@h JOIN #c bobacct :Bob B")
    assert isinstance(join, ev.Join)
    assert (join.account, join.realname) == ("bobacct", "Bob B")


def test_self_part_forgets_channel(state: ClientState) -> None:
    (part,) = feed(state, ":ann!a@h PART #chat")
    assert isinstance(part, ev.Part)
    assert part.is_self
    assert state.channels == {}
    assert state.members("#chat") == []


def test_self_kick_forgets_channel(state: ClientState) -> None:
    (kick,) = feed(state, ":carl!c@h KICK #chat ann :bye")
    assert isinstance(kick, ev.Kick)
    assert kick.is_self
    assert state.channel("#chat") is None


def test_nick_changes(state: ClientState) -> None:
    (change,) = feed(state, ":bob!b@h NICK :Robert")
    assert isinstance(change, ev.NickChange)
    assert (change.old, change.new, change.is_self, change.channels) == (
        "bob",
        "Robert",
        False,
        ("#Chat",),
    )
    assert "Robert" in [m.nick for m in state.members("#chat")]
    (mine,) = feed(state, ":ann!a@h NICK annie")
    assert isinstance(mine, ev.NickChange)
    assert mine.is_self
    assert state.nick == "annie"
    assert state.is_me("ANNIE")


def test_modes_update_prefixes_and_channel_modes(state: ClientState) -> None:
    (mode,) = feed(state, ":ann!a@h MODE #chat +ov-v+kl bob bob bob secret 10")
    assert isinstance(mode, ev.ModeChange)
    assert mode.changes == (
        ("+o", "bob"),
        ("+v", "bob"),
        ("-v", "bob"),
        ("+k", "secret"),
        ("+l", "10"),
    )
    bob = state.channel("#chat").members[state.fold("bob")]  # type: ignore[union-attr]
    assert bob.prefixes == "@"
    assert state.channel("#chat").modes == {"k": "secret", "l": "10"}  # type: ignore[union-attr]
    feed(state, ":ann!a@h MODE #chat -l+b-k *!*@bad secret")
    assert state.channel("#chat").modes == {}  # type: ignore[union-attr]
    feed(state, ":srv 324 ann #chat +nt")
    assert state.channel("#chat").modes == {"n": None, "t": None}  # type: ignore[union-attr]


def test_user_modes(state: ClientState) -> None:
    feed(state, ":ann MODE ann :+iw")
    assert state.modes == {"i", "w"}
    feed(state, ":ann MODE ann -w")
    assert state.modes == {"i"}


def test_topic(state: ClientState) -> None:
    (topic,) = feed(state, ":srv 332 ann #chat :Welcome here")
    assert isinstance(topic, ev.Topic)
    assert not topic.changed
    feed(state, ":srv 333 ann #chat bob!b@h 1700000000")
    assert state.channel("#chat").topic_setter == "bob"  # type: ignore[union-attr]
    (change,) = feed(state, ":bob!b@h TOPIC #chat :New topic")
    assert isinstance(change, ev.Topic)
    assert change.changed
    assert change.setter == "bob"
    assert state.channel("#chat").topic == "New topic"  # type: ignore[union-attr]


def test_rfc1459_casemapping_folds_brackets() -> None:
    s = ClientState("ann")
    feed(s, ":srv 005 ann CASEMAPPING=rfc1459 :are supported", ":ann!a@h JOIN #a[b]")
    assert s.channel("#A{B}") is not None
    feed(s, ":srv 005 ann CASEMAPPING=ascii :are supported")
    assert s.channel("#A{B}") is None
    assert s.channel("#A[B]") is not None


def test_privmsg_conversation(state: ClientState) -> None:
    (chan,) = feed(state, "@time=2024-01-01T00:00:00Z :bob!b@h PRIVMSG #chat :hi all")
    assert isinstance(chan, ev.ChatMessage)
    assert (chan.conversation, chan.text, chan.from_self) == ("#Chat", "hi all", False)
    assert chan.time is not None
    assert chan.time.year == 2024
    (pm,) = feed(state, ":bob!b@h PRIVMSG ann :psst")
    assert isinstance(pm, ev.ChatMessage)
    assert pm.conversation == "bob"
    (echo,) = feed(state, ":ann!a@h PRIVMSG bob :back")
    assert isinstance(echo, ev.ChatMessage)
    assert echo.from_self
    assert echo.conversation == "bob"
    (action,) = feed(state, ":bob!b@h PRIVMSG #chat :\x01ACTION waves\x01")
    assert isinstance(action, ev.ChatMessage)
    assert action.action
    assert action.text == "waves"
    (ctcp,) = feed(state, ":bob!b@h PRIVMSG ann :\x01VERSION\x01")
    assert isinstance(ctcp, ev.Ctcp)
    assert ctcp.command == "VERSION"
    (notice,) = feed(state, ":srv NOTICE ann :server says")
    assert isinstance(notice, ev.ChatMessage)
    assert notice.from_server
    assert notice.conversation == "*"
    (statusmsg,) = feed(state, ":bob!b@h NOTICE @#chat :ops only")
    assert isinstance(statusmsg, ev.ChatMessage)
    assert statusmsg.conversation == "#Chat"


def test_away_and_numerics(state: ClientState) -> None:
    (away,) = feed(state, ":bob!b@h AWAY :lunch")
    assert away == ev.Away("bob", "lunch", message=away.message)
    assert state.users[state.fold("bob")].away == "lunch"
    (back,) = feed(state, ":bob!b@h AWAY")
    assert isinstance(back, ev.Away)
    assert back.text is None
    (err,) = feed(state, ":srv 401 ann nobody :No such nick")
    assert isinstance(err, ev.Numeric)
    assert err.is_error
    assert err.params == ("nobody", "No such nick")
    (other,) = feed(state, ":srv WALLOPS :hello")
    assert isinstance(other, ev.Other)


def test_invite(state: ClientState) -> None:
    (inv,) = feed(state, ":bob!b@h INVITE ann #secret")
    assert inv == ev.Invite("#secret", "ann", "bob", message=inv.message)
