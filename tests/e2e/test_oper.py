"""Operator commands over real sockets: OPER, KILL, WALLOPS, REHASH.

Written from https://modern.ircdocs.horse/#oper-message, #kill-message, #wallops-message,
#rehash-message and the numerics they name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.config import Config, OperSection, load_config
from hubbub.passwords import hash_password
from tests.conftest import make_config
from tests.e2e.conformance import Net, commands, drain, first, join, mask, only, reply_to
from tests.e2e.ircclient import IRCTestClient


def oper_config(*opers: OperSection) -> Config:
    return dataclasses.replace(make_config(), opers=opers)


async def oper_net(app_factory: Callable[[Config], Any], *opers: OperSection) -> Net:
    return Net(await app_factory(oper_config(*opers)))


async def become_oper(client: IRCTestClient, name: str = "admin", password: str = "s3cret") -> None:
    await client.send(f"OPER {name} {password}")
    await client.expect("381")
    await drain(client)


ADMIN = OperSection(name="admin", password="s3cret")


async def test_oper_success(app_factory: Callable[[Config], Any]) -> None:
    async with await oper_net(app_factory, ADMIN) as net:
        alice = await net.client("alice")
        await alice.send("OPER admin s3cret")
        got = await alice.collect_until("381")
        # RPL_YOUREOPER "<client> :You are now an IRC operator", and a MODE with the new modes
        assert got[-1].params[0] == "alice"
        assert len(got[-1].params) == 2
        got += await drain(alice)
        modes = only(got, "MODE")
        assert modes, got
        assert modes[0].params[0] == "alice"
        assert "o" in modes[0].params[1]
        umode = await reply_to(alice, "MODE alice")
        assert "o" in umode[0].params[1]


async def test_oper_with_hashed_password(app_factory: Callable[[Config], Any]) -> None:
    hashed = OperSection(name="admin", password=hash_password("s3cret"))
    async with await oper_net(app_factory, hashed) as net:
        alice = await net.client("alice")
        await alice.send("OPER admin s3cret")
        msg = await alice.expect(lambda m: m.command in ("381", "464", "491"))
        assert msg.command == "381"
        bob = await net.client("bob")
        await bob.send("OPER admin wrong")
        msg = await bob.expect(lambda m: m.command in ("381", "464", "491"))
        assert msg.command == "464"


async def test_oper_failures(app_factory: Callable[[Config], Any]) -> None:
    elsewhere = OperSection(name="remote", password="pw", host="10.9.8.7")
    async with await oper_net(app_factory, ADMIN, elsewhere) as net:
        alice = await net.client("alice")
        got = await reply_to(alice, "OPER admin wrong")
        # ERR_PASSWDMISMATCH "<client> :Password incorrect"
        assert commands(got) == ["464"]
        assert got[0].params[0] == "alice"
        got = await reply_to(alice, "OPER nosuch s3cret")
        assert commands(got) in (["464"], ["491"])
        got = await reply_to(alice, "OPER remote pw")
        # ERR_NOOPERHOST "<client> :No O-lines for your host"
        assert commands(got) == ["491"]
        got = await reply_to(alice, "OPER admin")
        assert commands(got) == ["461"]
        assert got[0].params[:2] == ("alice", "OPER")
        umode = await reply_to(alice, "MODE alice")
        assert "o" not in umode[0].params[1]


async def test_oper_shows_in_whois_and_lusers(app_factory: Callable[[Config], Any]) -> None:
    async with await oper_net(app_factory, ADMIN) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await become_oper(alice)
        got = await reply_to(bob, "WHOIS alice")
        # RPL_WHOISOPERATOR "<client> <nick> :is an IRC operator"
        assert first(got, "313").params[:2] == ("bob", "alice")
        got = await reply_to(bob, "LUSERS")
        if "252" in commands(got):
            assert first(got, "252").params[1] == "1"
        await join("#room", alice, bob)
        got = await reply_to(bob, "WHO #room")
        flags = {m.params[5]: m.params[6] for m in only(got, "352")}
        assert "*" in flags["alice"]
        assert "*" not in flags["bob"]


@pytest.mark.parametrize("line", ["KILL bob :bye", "WALLOPS :hello", "REHASH"])
async def test_oper_commands_need_privileges_481(
    app_factory: Callable[[Config], Any], line: str
) -> None:
    async with await oper_net(app_factory, ADMIN) as net:
        alice = await net.client("alice")
        await net.client("bob")
        got = await reply_to(alice, line)
        # ERR_NOPRIVILEGES "<client> :Permission Denied- You're not an IRC operator"
        assert commands(got) == ["481"]
        assert got[0].params[0] == "alice"
        assert len(got[0].params) == 2


async def test_kill(app_factory: Callable[[Config], Any]) -> None:
    async with await oper_net(app_factory, ADMIN) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        await become_oper(alice)
        await join("#room", bob, carol)
        await alice.send("KILL bob :spamming")
        error = await bob.expect("ERROR")
        assert "spamming" in error.params[-1]
        with pytest.raises(EOFError):
            await bob.read_message()
        quit_msg = await carol.expect("QUIT")
        assert quit_msg.source == mask("bob")
        assert "Killed" in quit_msg.params[0]
        assert "spamming" in quit_msg.params[0]
        got = await reply_to(carol, "WHOIS bob")
        assert got[0].command == "401"


async def test_kill_errors(app_factory: Callable[[Config], Any]) -> None:
    async with await oper_net(app_factory, ADMIN) as net:
        alice = await net.client("alice")
        await net.client("bob")
        await become_oper(alice)
        got = await reply_to(alice, "KILL nobody :x")
        assert commands(got) == ["401"]
        assert got[0].params[:2] == ("alice", "nobody")
        got = await reply_to(alice, "KILL")
        assert commands(got) == ["461"]
        assert got[0].params[:2] == ("alice", "KILL")


async def test_wallops(app_factory: Callable[[Config], Any]) -> None:
    async with await oper_net(app_factory, ADMIN) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        await become_oper(alice)
        await reply_to(bob, "MODE bob +w")
        await alice.send("WALLOPS :the server restarts soon")
        msg = await bob.expect("WALLOPS")
        assert msg.source == mask("alice")
        assert msg.params == ("the server restarts soon",)
        await carol.assert_nothing_pending()  # carol does not have +w


async def test_wallops_needs_text(app_factory: Callable[[Config], Any]) -> None:
    async with await oper_net(app_factory, ADMIN) as net:
        alice = await net.client("alice")
        await become_oper(alice)
        got = await reply_to(alice, "WALLOPS")
        assert commands(got) == ["461"]


async def test_rehash_reloads_the_config_without_dropping_users(
    app_factory: Callable[[Config], Any], tmp_path: Path
) -> None:
    path = tmp_path / "hubbub.toml"
    template = """
[server]
name = "irc.example.org"
motd = "{motd}"

[[listen]]
address = "127.0.0.1:0"

[limits]
flood = false

[[oper]]
name = "admin"
password = "s3cret"
"""
    path.write_text(template.format(motd="before"))
    app = await app_factory(load_config(path))
    async with Net(app) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join("#room", alice, bob)
        await become_oper(alice)
        path.write_text(template.format(motd="after"))
        got = await reply_to(alice, "REHASH")
        # RPL_REHASHING "<client> <config file> :Rehashing"
        reply = first(got, "382")
        assert reply.params[0] == "alice"
        assert reply.params[1].endswith("hubbub.toml")
        motd = await reply_to(bob, "MOTD")
        assert [m.params[1] for m in only(motd, "372")] == ["- after"]
        got = await reply_to(bob, "PRIVMSG #room :still here")
        assert got == []
        assert (await alice.expect("PRIVMSG")).params == ("#room", "still here")
