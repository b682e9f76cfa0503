"""The client library against real IRC servers on loopback (ngircd; hubbub when it serves)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from hubbub.client import (
    ChatMessage,
    ConnectionFailed,
    Disconnected,
    Join,
    Kick,
    Lag,
    ModeChange,
    Names,
    NickChange,
    NickInUse,
    Numeric,
    Part,
    Quit,
    Reconnecting,
    Registered,
    RegistrationFailed,
    TLSFailed,
    Topic,
)
from tests.client.conftest import LiveServer
from tests.client.helpers import expect, make_client
from tests.client.ngircd import Ngircd, free_port, start_ngircd
from tests.tui.proxy import Proxy


async def test_register_and_track_isupport(live_server: LiveServer) -> None:
    async with make_client(live_server.address, "ann") as ann:
        assert ann.registered
        assert ann.nick == "ann"
        assert ann.state.server_name
        assert ann.state.prefix_symbols  # PREFIX was parsed
        await expect(ann, Lag)  # the first keep-alive PING came back


async def test_two_clients_talk_in_a_channel(live_server: LiveServer) -> None:
    async with (
        make_client(live_server.address, "ann", channels=["#room"]) as ann,
    ):
        await expect(ann, Names, lambda e: e.channel == "#room")
        async with make_client(live_server.address, "bob", channels=["#Room"]) as bob:
            join = await expect(ann, Join, lambda e: e.nick == "bob")
            assert join.channel == "#room"
            assert not join.is_self
            await expect(bob, Names)
            assert {m.nick for m in bob.state.members("#room")} == {"ann", "bob"}
            assert bob.state.members("#room")[0].prefixes.startswith("@")  # ann created it

            await bob.send_message("#room", "hello ann")
            msg = await expect(ann, ChatMessage, lambda e: not e.from_server)
            assert (msg.source, msg.conversation, msg.text) == ("bob", "#room", "hello ann")
            mine = await expect(bob, ChatMessage, lambda e: e.text == "hello ann")
            assert mine.from_self  # echoed (by the server or locally)

            await ann.send_action("#room", "waves")
            action = await expect(bob, ChatMessage, lambda e: e.action)
            assert action.text == "waves"
            assert action.source == "ann"

            await ann.send_message("bob", "psst")
            pm = await expect(bob, ChatMessage, lambda e: e.text == "psst")
            assert pm.conversation == "ann"
            assert pm.target == "bob"

            await bob.send_notice("ann", "note")
            notice = await expect(ann, ChatMessage, lambda e: e.notice and not e.from_server)
            assert notice.text == "note"
            assert notice.conversation == "bob"
        quit_ = await expect(ann, Quit)
        assert quit_.nick == "bob"
        assert quit_.channels == ("#room",)
        assert [m.nick for m in ann.state.members("#room")] == ["ann"]


async def test_nick_in_use_falls_back(live_server: LiveServer) -> None:
    async with make_client(live_server.address, "carl") as first:
        async with make_client(live_server.address, "carl") as second:
            assert second.nick == "carl_"
            early = await expect(second, NickInUse)
            assert (early.nick, early.alternative, early.during_registration) == (
                "carl",
                "carl_",
                True,
            )
            # After registration a taken nick is only reported, with a suggestion.
            await second.set_nick("carl")
            taken = await expect(second, NickInUse)
            assert (taken.nick, taken.alternative, taken.during_registration) == (
                "carl",
                "carl_",
                False,
            )
        assert first.nick == "carl"


async def test_after_a_reconnection_the_nick_is_the_last_one_accepted(
    live_server: LiveServer,
) -> None:
    proxy = Proxy(int(live_server.address.rsplit(":", 1)[1]))
    try:
        async with make_client(live_server.address, "taken", channels=["#n"]) as taken:
            client = make_client(f"127.0.0.1:{proxy.port}", "ann", channels=["#n"], reconnect=True)
            await client.connect()
            await expect(taken, Join, lambda e: e.nick == "ann")
            await client.set_nick("annie")
            await expect(client, NickChange, lambda e: e.is_self)
            await client.set_nick("taken")
            await expect(client, Numeric, lambda e: e.code == "433")
            await client.set_nick("9bad")
            refused = await expect(client, Numeric, lambda e: e.code in ("432", "433"))
            assert (refused.code, refused.params[0]) == ("432", "9bad")
            assert client.nick == "annie"

            proxy.cut()
            await expect(client, Disconnected)
            await expect(taken, Quit, lambda e: e.nick == "annie")  # the nick is free again
            proxy.restore()
            # The nick it had, not the refused "9bad" (nor "taken", which came back "taken_").
            back = await expect(client, Registered)
            assert back.nick == "annie"
            await client.quit()
    finally:
        proxy.close()


async def test_nick_change_topic_modes_part_kick(live_server: LiveServer) -> None:
    async with make_client(live_server.address, "op", channels=["#ops"]) as op:
        await expect(op, Names)
        async with make_client(live_server.address, "dan", channels=["#ops"]) as dan:
            await expect(op, Join, lambda e: e.nick == "dan")
            await dan.set_nick("daniel")
            change = await expect(op, NickChange)
            assert (change.old, change.new, change.channels) == ("dan", "daniel", ("#ops",))
            assert "daniel" in [m.nick for m in op.state.members("#ops")]
            me = await expect(dan, NickChange)
            assert me.is_self
            assert dan.nick == "daniel"

            await op.set_topic("#ops", "today: tests")
            topic = await expect(dan, Topic)
            assert (topic.topic, topic.setter, topic.changed) == ("today: tests", "op", True)
            assert dan.state.channel("#ops").topic == "today: tests"  # type: ignore[union-attr]

            await op.send_raw("MODE #ops +v daniel")
            mode = await expect(dan, ModeChange)
            assert mode.changes == (("+v", "daniel"),)
            member = dan.state.channel("#ops").members[dan.state.fold("daniel")]  # type: ignore[union-attr]
            assert member.prefixes == "+"

            await dan.part("#ops", "brb")
            part = await expect(op, Part)
            assert (part.nick, part.reason) == ("daniel", "brb") or part.nick == "daniel"
            self_part = await expect(dan, Part)
            assert self_part.is_self
            assert dan.state.channel("#ops") is None

            await dan.join("#ops")
            await expect(op, Join, lambda e: e.nick == "daniel")
            await op.send_raw("KICK #ops daniel :bye now")
            kick = await expect(dan, Kick)
            assert kick.is_self
            assert kick.by == "op"
            assert kick.reason == "bye now"
            assert dan.state.channels == {}


async def test_long_message_is_split(live_server: LiveServer) -> None:
    async with make_client(live_server.address, "ann", channels=["#long"]) as ann:
        await expect(ann, Names)
        async with make_client(live_server.address, "bob", channels=["#long"]) as bob:
            await expect(bob, Names)
            text = " ".join(f"word{i}" for i in range(250))
            await bob.send_message("#long", text)
            got: list[str] = []
            while " ".join(got) != text:
                msg = await expect(ann, ChatMessage, lambda e: e.source == "bob")
                got.append(msg.text)
            assert len(got) > 1


async def test_quit_delivers_what_was_sent_before(live_server: LiveServer) -> None:
    async with make_client(live_server.address, "ann", channels=["#q"]) as ann:
        await expect(ann, Names)
        bob = make_client(live_server.address, "bob", channels=["#q"])
        await bob.connect()
        await expect(bob, Names)
        for i in range(5):
            await bob.send_message("#q", f"line {i}")
        await bob.quit("done")
        assert not bob.connected
        texts = [
            (await expect(ann, ChatMessage, lambda e: e.source == "bob")).text for _ in range(5)
        ]
        assert texts == [f"line {i}" for i in range(5)]
        final = await expect(bob, Disconnected)
        assert not final.reconnecting


async def test_connection_refused_is_a_clear_error() -> None:
    client = make_client(f"127.0.0.1:{free_port()}", "ann")
    with pytest.raises(ConnectionFailed, match="connection refused"):
        await client.connect()


async def test_tls_with_verification_off(ngircd: Ngircd) -> None:
    async with make_client(ngircd.tls_address, "ann", tls=True, verify_tls=False) as ann:
        assert ann.registered


async def test_tls_with_trusted_certificate(ngircd: Ngircd, certificate: tuple[Path, Path]) -> None:
    ctx = ssl.create_default_context(cafile=str(certificate[0]))
    async with make_client(ngircd.tls_address, "ann", tls=True, ssl_context=ctx) as ann:
        assert ann.registered


async def test_tls_untrusted_certificate_is_a_clear_error(ngircd: Ngircd) -> None:
    client = make_client(ngircd.tls_address, "ann", tls=True)
    with pytest.raises(TLSFailed, match="not trusted"):
        await client.connect()


async def test_tls_to_a_plain_port_fails(ngircd: Ngircd) -> None:
    client = make_client(ngircd.address, "ann", tls=True, connect_timeout=2)
    with pytest.raises(ConnectionFailed):
        await client.connect()


async def test_server_password(tmp_path: Path) -> None:
    server = start_ngircd(tmp_path / "pw", password="sesame")
    try:
        async with make_client(server.address, "ann", password="sesame") as ann:
            assert ann.registered
        client = make_client(server.address, "bob", password="wrong")
        with pytest.raises(RegistrationFailed):
            await client.connect()
    finally:
        server.stop()


async def test_reconnects_and_rejoins_after_server_restart(tmp_path: Path) -> None:
    server = start_ngircd(tmp_path / "one")
    port = server.port
    try:
        client = make_client(server.address, "ann", channels=["#back"], reconnect=True)
        await client.connect()
        await expect(client, Join)
        await client.join("#second")
        await expect(client, Join, lambda e: e.channel == "#second")
        server.stop()
        lost = await expect(client, Disconnected)
        assert lost.reconnecting
        await expect(client, Reconnecting)
        server = start_ngircd(tmp_path / "two", port=port)
        await expect(client, Registered)
        joined = {(await expect(client, Join)).channel for _ in range(2)}
        assert joined == {"#back", "#second"}
        await client.quit()
    finally:
        server.stop()


async def test_no_reconnect_ends_the_event_stream(ngircd: Ngircd) -> None:
    client = make_client(ngircd.address, "ann")
    await client.connect()
    ngircd.stop()
    lost = await expect(client, Disconnected)
    assert not lost.reconnecting
    async with asyncio.timeout(5):
        assert [e async for e in client] == []
