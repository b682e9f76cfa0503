"""The channel model (src/hubbub/server/channel.py): membership and its ``tagged`` count,
ranks and prefixes, the mode string, list matching, secrecy, and the forms of a user that
masks match (``subjects_of``).

Members are the core's user objects, made by registering clients through the sans-I/O
harness; the helpers below are the only places that know what those objects are and how a
channel is made, so that a change to either is a change to them only.
"""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.config import default_config
from hubbub.protocol.casemap import Casemapping
from hubbub.server.channel import (
    FLAG_MODES,
    LIST_MODES,
    PREFIX_MODES,
    Channel,
    ListEntry,
    subjects_of,
)
from hubbub.server.core import Server
from hubbub.server.session import PeerInfo
from hubbub.server.user import User
from tests.cloaks import HOST
from tests.server.harness import Client, FakeClock, FakeSink, ask, make_server

RFC1459 = Casemapping.RFC1459
NOW = 1_700_000_000.0


# -- helpers: the only places that know the core's types -------------------------------------


def new_channel(server: Server, name: str = "#c") -> Channel:
    """A channel that is not in the server's index (a unit under test)."""
    return Channel(name, server.fold(name), NOW)


def user_of(client: Client) -> User:
    """What a channel keeps as the member for ``client``."""
    return client.session.user


def user(server: Server, nick: str, caps: str = "") -> User:
    """A registered user called ``nick``, with the capabilities ``caps``."""
    return user_of(Client(server).register(nick, caps=caps))


def channel_of(server: Server, name: str) -> Channel:
    """The server's channel called ``name`` (it must exist)."""
    channel = server.find_channel(name)
    assert channel is not None, name
    return channel


def make_oper(client: Client) -> None:
    """Give ``client`` user mode +o (what OPER does; enough for oper-only commands)."""
    client.session.user.modes += "o"


def entry(mask: str) -> ListEntry:
    return ListEntry(mask, "op!~u@host", int(NOW))


def add(channel: Channel, mode: str, mask: str) -> None:
    """Put ``mask`` at the end of list ``mode`` (what ``MODE +b`` does to the list)."""
    channel.set_list(mode, (*channel.lists[mode], entry(mask)))


class PeerClient(Client):
    """A client whose transport reports ``peer`` (a host name, a Unix socket)."""

    def __init__(self, server: Server, peer: PeerInfo) -> None:
        self.server = server
        self.sink = FakeSink(server.limits.sendq)
        session = server.connect(self.sink, peer)
        assert session is not None
        self.session = session
        self._read = 0


@pytest.fixture
def server() -> Server:
    return make_server()


# -- the module's constants -------------------------------------------------------------------


def test_mode_letters_are_disjoint_and_advertised(server: Server) -> None:
    assert PREFIX_MODES == "ov"
    letters = [*PREFIX_MODES, *LIST_MODES, *FLAG_MODES, "k", "l"]
    assert len(letters) == len(set(letters))
    tokens = {token for group in server.isupport for token in group}
    assert f"CHANMODES={LIST_MODES},k,l,{FLAG_MODES}" in tokens
    assert "PREFIX=(ov)@+" in tokens


# -- a new channel ----------------------------------------------------------------------------


def test_a_new_channel_is_empty_with_n_and_t(server: Server) -> None:
    channel = Channel("#Chan", server.fold("#Chan"), NOW + 0.9)
    assert channel.name == "#Chan"
    assert channel.name_bytes == b"#Chan"
    assert channel.folded == "#chan"
    assert channel.created == int(NOW)
    assert channel.members == {}
    assert channel.tagged == 0
    assert channel.flags == {"n", "t"}
    assert channel.key is None
    assert channel.limit is None
    assert channel.lists == {"b": (), "e": (), "I": ()}
    assert (channel.topic, channel.topic_setter, channel.topic_time) == ("", "", 0)


def test_list_entries_are_values() -> None:
    first = ListEntry("a!*@*", "op!~u@host", 5)
    assert first == ListEntry("a!*@*", "op!~u@host", 5)
    assert hash(first) == hash(ListEntry("a!*@*", "op!~u@host", 5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.mask = "b!*@*"  # type: ignore[misc]


# -- membership -------------------------------------------------------------------------------


def test_add_and_remove_members(server: Server) -> None:
    channel = new_channel(server)
    alice, bob = user(server, "alice"), user(server, "bob")
    channel.add(alice, "o")
    channel.add(bob, "")
    assert channel.members == {alice: "o", bob: ""}
    assert list(channel.members) == [alice, bob]  # in joining order
    channel.add(bob, "v")  # adding again sets the modes
    assert channel.members[bob] == "v"
    channel.remove(alice)
    assert channel.members == {bob: "v"}
    channel.remove(alice)  # not there: nothing happens
    assert channel.members == {bob: "v"}


def test_tagged_counts_members_that_take_tags(server: Server) -> None:
    channel = new_channel(server)
    plain = user(server, "plain")
    timed = user(server, "timed", caps="server-time")
    tagged = user(server, "tagged", caps="message-tags")
    channel.add(plain, "")
    assert channel.tagged == 0
    channel.add(timed, "")
    channel.add(tagged, "o")
    assert channel.tagged == 2
    channel.add(timed, "v")  # a mode change is not a second member
    assert channel.tagged == 2
    channel.remove(timed)
    channel.remove(timed)
    assert channel.tagged == 1
    channel.remove(plain)
    assert channel.tagged == 1
    channel.remove(tagged)
    assert channel.tagged == 0


def test_tagged_follows_joins_parts_quits_and_cap_changes(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob", caps="server-time")
    carol = Client(server).register("carol")
    for client in (alice, bob, carol):
        client.send("JOIN #c")
    channel = channel_of(server, "#c")
    assert channel.tagged == 1
    alice.send("CAP REQ :message-tags")
    assert channel.tagged == 2
    alice.send("CAP REQ :server-time")  # still tagged: counted once
    assert channel.tagged == 2
    alice.send("CAP REQ :-message-tags -server-time")
    assert channel.tagged == 1
    bob.send("PART #c")
    assert channel.tagged == 0
    bob.send("JOIN #c")
    assert channel.tagged == 1
    bob.send("QUIT")
    assert channel.tagged == 0
    carol.send("CAP REQ :message-tags", "KICK #c carol")  # carol is no op: refused
    assert channel.tagged == 1
    alice.send("KICK #c carol")
    assert channel.tagged == 0
    assert list(channel.members) == [user_of(alice)]


def test_tagged_lets_the_relay_skip_tags_only_when_nobody_takes_them(server: Server) -> None:
    alice = Client(server).register("alice")
    bob = Client(server).register("bob")
    alice.send("JOIN #c")
    bob.send("JOIN #c")
    bob.messages()
    alice.send("PRIVMSG #c :plain")
    assert bob.lines() == [f":alice!~u@{HOST} PRIVMSG #c :plain"]
    bob.send("CAP REQ :server-time")
    bob.messages()
    alice.send("PRIVMSG #c :timed")
    (line,) = bob.lines()
    assert line.startswith("@time=2023-11-14T22:13:20.000Z :alice!")


# -- rank and prefixes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modes", "rank", "multi", "single"),
    [("ov", 0, "@+", "@"), ("o", 0, "@", "@"), ("v", 1, "+", "+"), ("", 2, "", "")],
)
def test_rank_and_prefix(server: Server, modes: str, rank: int, multi: str, single: str) -> None:
    channel = new_channel(server)
    member = user(server, "member")
    channel.add(member, modes)
    assert channel.rank(member) == rank
    assert channel.prefix_of(member, multi=True) == multi
    assert channel.prefix_of(member, multi=False) == single
    assert channel.is_op(member) == ("o" in modes)


def test_a_non_member_ranks_lowest_and_has_no_prefix(server: Server) -> None:
    channel = new_channel(server)
    outsider = user(server, "outsider")
    assert channel.rank(outsider) == len(PREFIX_MODES)
    assert channel.prefix_of(outsider, multi=True) == ""
    assert not channel.is_op(outsider)


def test_rank_orders_statusmsg_delivery(server: Server) -> None:
    op = Client(server).register("op")
    voiced = Client(server).register("voiced")
    plain = Client(server).register("plain")
    for client in (op, voiced, plain):
        client.send("JOIN #c")
    op.send("MODE #c +v voiced")
    for client in (op, voiced, plain):
        client.messages()
    plain.send("PRIVMSG +#c :to voice and up")
    assert [m.params for m in voiced.messages()] == [("+#c", "to voice and up")]
    assert [m.params for m in op.messages()] == [("+#c", "to voice and up")]
    voiced.send("PRIVMSG @#c :ops only")
    assert [m.params for m in op.messages()] == [("@#c", "ops only")]
    assert plain.messages() == []


# -- the mode string --------------------------------------------------------------------------


def test_mode_string(server: Server) -> None:
    channel = new_channel(server)
    assert channel.mode_string(show_key=True) == ["+nt"]
    channel.flags |= {"s", "i", "m"}
    assert channel.mode_string(show_key=False) == ["+imnst"]  # letters sorted
    channel.key = "sesame"
    assert channel.mode_string(show_key=True) == ["+imnstk", "sesame"]
    assert channel.mode_string(show_key=False) == ["+imnstk", "*"]
    channel.limit = 12
    assert channel.mode_string(show_key=True) == ["+imnstkl", "sesame", "12"]
    assert channel.mode_string(show_key=False) == ["+imnstkl", "*", "12"]
    channel.key = None
    channel.flags.clear()
    assert channel.mode_string(show_key=True) == ["+l", "12"]
    channel.limit = None
    assert channel.mode_string(show_key=True) == ["+"]


# -- lists ------------------------------------------------------------------------------------


def test_matches_list_any_entry_any_subject(server: Server) -> None:
    channel = new_channel(server)
    assert not channel.matches_list("b", ("a!b@c",), RFC1459)  # empty
    channel.set_list("b", [entry("x!*@*"), entry("*!*@*.example")])
    assert channel.matches_list("b", ("x!u@h",), RFC1459)
    assert channel.matches_list("b", ("nope!u@h", "nope!u@host.example"), RFC1459)
    assert not channel.matches_list("b", ("nope!u@h", "nope!u@example"), RFC1459)
    assert not channel.matches_list("e", ("x!u@h",), RFC1459)  # each list on its own


def test_matches_list_folds_with_the_casemapping(server: Server) -> None:
    channel = new_channel(server)
    add(channel, "I", "Nick[A]!*@*")
    assert channel.matches_list("I", ("nick{a}!u@h",), RFC1459)
    assert channel.matches_list("I", ("NICK[a]!u@h",), Casemapping.ASCII)
    assert not channel.matches_list("I", ("nick{a}!u@h",), Casemapping.ASCII)


def test_is_banned_unless_excepted(server: Server) -> None:
    channel = new_channel(server)
    bob = user(server, "bob")
    assert not channel.is_banned(bob, RFC1459)
    add(channel, "e", "bob!*@*")
    assert not channel.is_banned(bob, RFC1459)  # an exception without a ban
    add(channel, "b", "*!~u@*")
    assert not channel.is_banned(bob, RFC1459)
    assert channel.is_banned(user(server, "carol"), RFC1459)
    channel.set_list("e", ())
    assert channel.is_banned(bob, RFC1459)


def test_is_banned_by_the_real_address(server: Server) -> None:
    channel = new_channel(server)
    bob = user(server, "bob")
    add(channel, "b", "*!*@127.0.0.1")
    assert channel.is_banned(bob, RFC1459)
    add(channel, "e", f"*!*@{HOST}")  # an exception on the cloak
    assert not channel.is_banned(bob, RFC1459)


# -- secrecy ----------------------------------------------------------------------------------


def test_hidden_from_outsiders_of_a_secret_channel_only(server: Server) -> None:
    channel = new_channel(server)
    member = user(server, "member")
    outsider = Client(server).register("outsider")
    channel.add(member, "")
    assert not channel.secret
    assert channel.names_symbol == "="
    assert not channel.hidden_from(user_of(outsider))
    channel.flags.add("s")
    assert channel.secret
    assert channel.names_symbol == "@"
    assert channel.hidden_from(user_of(outsider))
    assert not channel.hidden_from(member)
    make_oper(outsider)
    assert not channel.hidden_from(user_of(outsider))


def test_names_symbol_on_the_wire(server: Server) -> None:
    alice = Client(server).register("alice")
    alice.send("JOIN #c")
    assert ask(alice, "NAMES #c")[0] == ("353", ("alice", "=", "#c", "@alice"))
    alice.send("MODE #c +s")
    assert ask(alice, "NAMES #c")[0] == ("353", ("alice", "@", "#c", "@alice"))


# -- subjects_of ------------------------------------------------------------------------------


def test_subjects_of_a_cloaked_user_include_the_address(server: Server) -> None:
    bob = user(server, "bob")
    assert subjects_of(bob) == (f"bob!~u@{HOST}", "bob!~u@127.0.0.1")


def test_subjects_of_a_user_with_a_host_name(server: Server) -> None:
    peer = PeerInfo(ip="192.0.2.5", hostname="box.example")
    bob = user_of(PeerClient(server, peer).register("bob"))
    assert subjects_of(bob) == ("bob!~u@box.example", "bob!~u@192.0.2.5")


def test_subjects_of_a_unix_socket_user(server: Server) -> None:
    peer = PeerInfo(ip="127.0.0.1", transport="unix", hostname="localhost")
    bob = user_of(PeerClient(server, peer).register("bob"))
    assert subjects_of(bob) == ("bob!~u@localhost", "bob!~u@127.0.0.1")


def test_subjects_of_an_uncloaked_user_are_one(server: Server) -> None:
    config = dataclasses.replace(default_config(), limits=server.limits)
    config = dataclasses.replace(config, cloaks=dataclasses.replace(config.cloaks, enabled=False))
    plain = Server(config, clock=FakeClock())
    bob = user_of(Client(plain, ip="198.51.100.9").register("bob"))
    assert subjects_of(bob) == ("bob!~u@198.51.100.9",)


def test_subjects_of_keep_the_cloak_after_chghost(server: Server) -> None:
    oper = Client(server).register("oper")
    make_oper(oper)
    bob = Client(server).register("bob")
    oper.send("CHGHOST bob vhost.example")
    assert subjects_of(user_of(bob)) == (
        "bob!~u@vhost.example",
        f"bob!~u@{HOST}",
        "bob!~u@127.0.0.1",
    )


def test_a_ban_on_the_cloak_still_holds_after_chghost(server: Server) -> None:
    oper = Client(server).register("oper")
    make_oper(oper)
    alice = Client(server).register("alice")
    alice.send("JOIN #c", f"MODE #c +b *!*@{HOST}")
    bob = Client(server).register("bob")
    oper.send("CHGHOST bob vhost.example")
    assert ask(bob, "JOIN #c") == [("474", ("bob", "#c", "Cannot join channel (+b)"))]
