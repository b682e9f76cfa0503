"""Cached ban verdicts (src/hubbub/server/channel.py): a channel keeps what its ban, exception
and invite-exception lists say of each user it checked, and matches again only when the lists
or the user (nick, user name, host, account) change. These tests change each of them after a
verdict was kept and check that the very next message or JOIN sees the change, by the fast
path (one target) and the full handler (several) alike."""

from __future__ import annotations

import dataclasses

import pytest

from hubbub.config import OperSection, default_config
from hubbub.protocol import masks
from hubbub.server.channel import OUTSIDER_VERDICTS, Channel
from hubbub.server.core import Server
from tests.cloaks import CLOAKS
from tests.server.harness import Client, FakeClock

CANNOT_SEND = "404"
BANNED = "474"
INVITE_ONLY = "473"


@pytest.fixture
def server() -> Server:
    config = dataclasses.replace(
        default_config(), opers=(OperSection(name="admin", password="secret"),), cloaks=CLOAKS
    )
    return Server(config, clock=FakeClock())


@pytest.fixture
def op(server: Server) -> Client:
    """alice, operator of #c and #d (she made them)."""
    alice = Client(server).register("alice")
    alice.send("JOIN #c,#d")
    alice.messages()
    return alice


@pytest.fixture
def bob(server: Server, op: Client) -> Client:
    """bob, a plain member of #c and #d."""
    bob = Client(server).register("bob")
    bob.send("JOIN #c,#d")
    bob.messages()
    op.messages()
    return bob


def mode(op: Client, line: str) -> None:
    op.send(f"MODE {line}")
    assert "MODE" in op.commands()


def heard(op: Client, bob: Client, line: str) -> list[str]:
    """Where ``op`` heard ``bob``'s ``line`` (the channels), and what bob was told: 404s."""
    op.messages()
    bob.messages()
    bob.send(line)
    got = [m.params[0] for m in op.messages() if m.command == "PRIVMSG"]
    refused = [f"404 {m.params[1]}" for m in bob.messages() if m.command == CANNOT_SEND]
    return got + refused


def channel(server: Server, name: str = "#c") -> Channel:
    found = server.find_channel(name)
    assert found is not None
    return found


# -- the lists change ------------------------------------------------------------------------


def test_a_ban_set_after_a_kept_allowed_verdict_takes_effect_at_once(
    op: Client, bob: Client
) -> None:
    mode(op, "#c +b nobody!*@*")  # a list: bob's verdict is now matched and kept
    assert heard(op, bob, "PRIVMSG #c :one") == ["#c"]
    assert heard(op, bob, "PRIVMSG #c,#d :two") == ["#c", "#d"]
    mode(op, "#c +b bob!*@*")
    assert heard(op, bob, "PRIVMSG #c :three") == ["404 #c"]  # the fast path's way
    assert heard(op, bob, "PRIVMSG #c,#d :four") == ["#d", "404 #c"]  # the full handler's
    mode(op, "#c -b bob!*@*")
    assert heard(op, bob, "PRIVMSG #c :five") == ["#c"]


def test_an_exception_set_or_removed_after_a_kept_verdict(op: Client, bob: Client) -> None:
    mode(op, "#c +b *!*@*")
    assert heard(op, bob, "PRIVMSG #c :one") == ["404 #c"]
    mode(op, "#c +e bob!*@*")
    assert heard(op, bob, "PRIVMSG #c :two") == ["#c"]
    mode(op, "#c -e bob!*@*")
    assert heard(op, bob, "PRIVMSG #c :three") == ["404 #c"]


def test_a_mute_and_its_exception_after_a_kept_verdict(op: Client, bob: Client) -> None:
    mode(op, "#c +b nobody!*@*")
    assert heard(op, bob, "PRIVMSG #c :one") == ["#c"]
    mode(op, "#c +b m:bob!*@*")
    assert heard(op, bob, "PRIVMSG #c :two") == ["404 #c"]
    mode(op, "#c +e m:*!*@*")
    assert heard(op, bob, "PRIVMSG #c :three") == ["#c"]


def test_a_list_of_another_channel_changes_nothing_here(op: Client, bob: Client) -> None:
    mode(op, "#c +b bob!*@*")
    assert heard(op, bob, "PRIVMSG #c,#d :one") == ["#d", "404 #c"]
    mode(op, "#d +b bob!*@*")
    mode(op, "#d -b bob!*@*")
    assert heard(op, bob, "PRIVMSG #c,#d :two") == ["#d", "404 #c"]


# -- the user changes ------------------------------------------------------------------------


def test_a_nick_change_to_a_banned_nick_is_banned(op: Client, bob: Client) -> None:
    mode(op, "#c +b villain!*@*")
    assert heard(op, bob, "PRIVMSG #c :one") == ["#c"]
    bob.send("NICK villain")
    assert heard(op, bob, "PRIVMSG #c :two") == ["404 #c"]
    assert heard(op, bob, "PRIVMSG #c,#d :three") == ["#d", "404 #c"]
    bob.send("NICK hero")
    assert heard(op, bob, "PRIVMSG #c :four") == ["#c"]


def test_a_host_change_to_a_banned_host_is_banned(server: Server, op: Client, bob: Client) -> None:
    mode(op, "#c +b *!*@bad.example")
    assert heard(op, bob, "PRIVMSG #c :one") == ["#c"]
    oper = Client(server).register("oper")
    oper.send("OPER admin secret", "CHGHOST bob bad.example")
    assert heard(op, bob, "PRIVMSG #c :two") == ["404 #c"]
    oper.send("CHGHOST bob good.example")
    assert heard(op, bob, "PRIVMSG #c :three") == ["#c"]


def test_logging_in_to_an_excepted_account_unbans(server: Server, op: Client, bob: Client) -> None:
    mode(op, "#c +be *!*@* a:bob")
    assert heard(op, bob, "PRIVMSG #c :one") == ["404 #c"]
    server.network.set_account(bob.session.user, "Bob")  # (a login, by SASL or NickServ)
    assert heard(op, bob, "PRIVMSG #c :two") == ["#c"]
    server.network.set_account(bob.session.user, None)
    assert heard(op, bob, "PRIVMSG #c,#d :three") == ["#d", "404 #c"]


def test_logging_in_to_a_banned_account_bans(server: Server, op: Client, bob: Client) -> None:
    mode(op, "#c +b a:spammer")
    assert heard(op, bob, "PRIVMSG #c :one") == ["#c"]
    server.network.set_account(bob.session.user, "spammer")
    assert heard(op, bob, "PRIVMSG #c :two") == ["404 #c"]
    server.network.set_account(bob.session.user, "other")
    assert heard(op, bob, "PRIVMSG #c :three") == ["#c"]


def test_what_masks_do_not_see_keeps_the_verdict(server: Server, bob: Client) -> None:
    """The real name (no extban matches it), away and user modes leave the identity as it is;
    nick, host and account change it."""
    user = bob.session.user
    before = user.identity
    bob.send("SETNAME :Someone Else", "AWAY :gone", "MODE bob +i")
    assert user.identity == before
    bob.send("NICK bobby")
    assert user.identity > before
    before = user.identity
    server.network.change_host(user, user.username, "v.example")
    assert user.identity > before
    before = user.identity
    server.network.set_account(user, "bob")
    assert user.identity > before


# -- JOIN ------------------------------------------------------------------------------------


def test_a_refused_join_is_let_in_once_the_nick_or_the_list_changes(
    server: Server, op: Client
) -> None:
    carol = Client(server).register("carol")
    mode(op, "#c +b carol!*@*")
    carol.send("JOIN #c")
    assert BANNED in carol.commands()
    carol.send("NICK carla", "JOIN #c")
    assert "JOIN" in carol.commands()
    carol.send("PART #c", "NICK carol", "JOIN #c")
    assert BANNED in carol.commands()
    mode(op, "#c -b carol!*@*")
    carol.send("JOIN #c")
    assert "JOIN" in carol.commands()


def test_an_invite_exception_set_after_a_refusal_lets_in(server: Server, op: Client) -> None:
    carol = Client(server).register("carol")
    mode(op, "#c +iI dave!*@*")
    carol.send("JOIN #c")
    assert INVITE_ONLY in carol.commands()
    mode(op, "#c +I carol!*@*")
    carol.send("JOIN #c")
    assert "JOIN" in carol.commands()
    carol.send("PART #c", "NICK erin", "JOIN #c")
    assert INVITE_ONLY in carol.commands()
    carol.send("NICK dave", "JOIN #c")
    assert "JOIN" in carol.commands()


# -- kept, and bounded -----------------------------------------------------------------------


def count_matches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every mask matched from now on, by its text."""
    matched: list[str] = []
    original = masks.Mask.matches_folded

    def counting(self: masks.Mask, subject: str) -> bool:
        matched.append(self.text)
        return original(self, subject)

    monkeypatch.setattr(masks.Mask, "matches_folded", counting)
    return matched


def test_a_kept_verdict_matches_nothing_again(
    monkeypatch: pytest.MonkeyPatch, op: Client, bob: Client
) -> None:
    mode(op, "#c +bbb m:*!*@* *a*a*a*z1* *a*a*a*z2*")
    mode(op, "#c +ee *a*a*a*y1* *a*a*a*y2*")
    matched = count_matches(monkeypatch)
    assert heard(op, bob, "PRIVMSG #c :one") == ["404 #c"]
    assert matched  # matched once (by the fast path)...
    matched.clear()
    for _ in range(3):  # ... and neither by the full handler after it nor by later lines
        assert heard(op, bob, "PRIVMSG #c :again") == ["404 #c"]
        assert heard(op, bob, "PRIVMSG #c,#d :again") == ["#d", "404 #c"]
    assert matched == []


def test_verdicts_go_with_the_members_and_outsiders_are_bounded(
    server: Server, op: Client, bob: Client
) -> None:
    mode(op, "#c +b nobody!*@*")
    room = channel(server)
    assert heard(op, bob, "PRIVMSG #c :one") == ["#c"]
    assert bob.session.user in room._verdicts
    bob.send("PART #c")
    assert bob.session.user not in room._verdicts
    count = OUTSIDER_VERDICTS + 5
    outsiders = [Client(server, ip=f"10.0.{i}.1").register(f"out{i}") for i in range(count)]
    for client in outsiders:
        assert not room.is_banned(client.session.user, server.casemapping)
    assert len(room._outsiders) <= OUTSIDER_VERDICTS
    last = outsiders[-1]
    last.send("JOIN #c")  # (its verdict as an outsider goes with it into the channel)
    assert last.session.user in room._verdicts
    assert last.session.user not in room._outsiders


def test_no_list_no_verdict(server: Server, op: Client, bob: Client) -> None:
    """The common case costs what it did: without bans nothing is matched nor kept."""
    assert heard(op, bob, "PRIVMSG #c :one") == ["#c"]
    assert heard(op, bob, "PRIVMSG #c,#d :two") == ["#c", "#d"]
    room = channel(server)
    assert room._verdicts == {}
    assert room._outsiders == {}
