"""Hostile wildcard masks through the whole core: WHO, LIST and bans answer at once.

The old matcher turned masks into backtracking regular expressions: each case below held the
event loop (every user frozen) for seconds to minutes. Nothing here is timed; the timeout
mark only stops a regression from hanging the suite, failing the test instead.
"""

from __future__ import annotations

import pytest

from hubbub.server.channel import ListEntry
from hubbub.server.core import Server
from tests.server.harness import Client, ask, make_server

pytestmark = pytest.mark.timeout(10)

LONG_NAME = "a" * 30  # NICKLEN
BAN = "*a" * 14 + "*!x"  # 16 wildcards once completed (MAX_MASK_WILDCARDS), matching no one


@pytest.fixture
def server() -> Server:
    return make_server()


def test_who_with_many_stars_against_a_long_real_name(server: Server) -> None:
    victim = Client(server)
    victim.send("NICK victim", "USER u 0 * :" + "a" * 300)
    asker = Client(server).register("asker")
    for mask in ("*a*a*a*a*b", "*a" * 40 + "*b", "*" + "a*" * 100 + "!x"):
        assert ask(asker, f"WHO {mask}") == [("315", ("asker", mask, "End of WHO list"))]
    assert [c for c, _ in ask(asker, "WHO *a*a*a*a*a")][0] == "352"


def test_list_with_many_stars_against_a_long_channel_name(server: Server) -> None:
    owner = Client(server).register("owner")
    owner.send("JOIN #" + "a" * 63)
    asker = Client(server).register("asker")
    for mask in ("#*a*a*a*a*a*a*a*b", "#" + "*a" * 40 + "*b"):
        assert [c for c, _ in ask(asker, f"LIST {mask}")] == ["321", "323"]
    assert [c for c, _ in ask(asker, "LIST #*a*a*a*a*a*a*a")] == ["321", "322", "323"]


def test_a_hostile_ban_is_checked_on_join_and_on_messages(server: Server) -> None:
    op = Client(server).register("op")
    member = Client(server).register(LONG_NAME)
    op.send("JOIN #c")
    member.send("JOIN #c")
    op.send(f"MODE #c +b {BAN}")
    assert ("MODE", ("#c", "+b", BAN + "@*")) in [(m.command, m.params) for m in op.messages()]
    # an unvoiced member's message is checked against the bans (and gets through)
    member.messages()
    member.send("PRIVMSG #c :hello")
    assert member.messages() == []
    assert [m.params for m in op.messages() if m.command == "PRIVMSG"] == [("#c", "hello")]
    # a newcomer that matches no ban joins
    other = Client(server).register("a" * 29 + "b")
    assert "JOIN" in [c for c, _ in ask(other, "JOIN #c")]
    # and one that matches is kept out
    op.send("MODE #c +b *a*a*a*a*a*a*a*a*a*a*!*")
    late = Client(server).register("a" * 29 + "c")
    assert [c for c, _ in ask(late, "JOIN #c")] == ["474"]


def test_a_ban_with_more_wildcards_than_may_be_set_still_matches(server: Server) -> None:
    """MODE refuses more than 16 wildcards, but a registered channel or another node may
    still bring such a ban from before: it matches as it should, at once."""
    op = Client(server).register("op")
    op.send("JOIN #c")
    assert [c for c, _ in ask(op, "MODE #c +b " + "*a" * 31 + "*!x")] == ["696"]
    channel = server.find_channel("#c")
    assert channel is not None
    channel.set_list("b", [ListEntry("*a" * 31 + "*!x@*", "op", 0)])  # one more 'a' than nicks
    member = Client(server).register(LONG_NAME)
    assert "JOIN" in [c for c, _ in ask(member, "JOIN #c")]
    member.send("PRIVMSG #c :hello")
    assert member.messages() == []
    channel.set_list("b", [ListEntry("*a" * 30 + "*!*@*", "op", 0)])
    member.send("PRIVMSG #c :hello")
    assert [m.command for m in member.messages()] == ["404"]


def test_question_marks_match_as_they_should_and_list_takes_five_masks(server: Server) -> None:
    owner = Client(server).register("owner")
    owner.send("JOIN #" + "a" * 61 + "b", "JOIN #ab", "JOIN #zz")
    asker = Client(server).register("asker")
    listed = ask(asker, "LIST *a?a?a?b")
    assert [p[1] for c, p in listed if c == "322"] == ["#" + "a" * 61 + "b"]
    assert [p[1] for c, p in ask(asker, "LIST #?b,#a?")] == ["Channel", "#ab", "End of /LIST"]
    # (the sixth mask and beyond are not matched: each costs a match per channel)
    many = ",".join(["#q*"] * 5 + ["#zz"])
    assert [c for c, _ in ask(asker, f"LIST {many}")] == ["321", "323"]
    assert [p[1] for c, p in ask(asker, "LIST #zz") if c == "322"] == ["#zz"]
