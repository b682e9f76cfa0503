"""The Textual app against a real server: join, send, receive, switch, query, reconnect."""

from __future__ import annotations

from pathlib import Path

from hubbub.client import ChatMessage, Join
from hubbub.tui.app import ChatApp
from tests.client.conftest import LiveServer
from tests.client.helpers import expect, make_client
from tests.client.ngircd import start_ngircd
from tests.tui.helpers import lines_of, screen_text, sidebar, submit, until

SIZE = (100, 24)


async def test_join_send_receive_and_switch(live_server: LiveServer) -> None:
    client = make_client(live_server.address, "ann")
    await client.connect()
    app = ChatApp(client)
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, app, "/join #live")
        await until(pilot, lambda: app.model.current.name == "#live", "#live to open")
        assert sidebar(app) == ["server", "#live"]

        async with make_client(live_server.address, "bob", channels=["#live"]) as bob:
            await expect(bob, Join)
            await until(pilot, lambda: "bob" in screen_text(app), "bob in the member list")

            await bob.send_message("#live", "hi ann, welcome")
            await until(pilot, lambda: "<bob> hi ann, welcome" in screen_text(app), "bob's line")

            await submit(pilot, app, "hello bob")
            said = await expect(bob, ChatMessage, lambda e: e.source == "ann")
            assert (said.text, said.target) == ("hello bob", "#live")
            await until(pilot, lambda: "<ann> hello bob" in screen_text(app), "own line")

            await submit(pilot, app, "/me waves")
            action = await expect(bob, ChatMessage, lambda e: e.source == "ann")
            assert action.action
            assert action.text == "waves"

            # A private message while looking at the channel: a new conversation with counts.
            await bob.send_message("ann", "psst, ann")
            await until(pilot, lambda: "bob (1) [1]" in sidebar(app), "the query in the sidebar")
            await pilot.press("ctrl+n")
            assert app.model.current.name == "bob"
            assert "<bob> psst, ann" in screen_text(app)
            await submit(pilot, app, "what's up?")
            reply = await expect(bob, ChatMessage, lambda e: e.source == "ann")
            assert (reply.text, reply.target) == ("what's up?", "bob")

            await submit(pilot, app, "/msg #live back in a moment")
            note = await expect(bob, ChatMessage, lambda e: e.source == "ann")
            assert note.target == "#live"
            assert app.model.current.name == "bob"  # /msg does not switch

            await pilot.press("alt+2")
            assert app.model.current.name == "#live"
            await submit(pilot, app, "/topic release day")
            await until(pilot, lambda: "#live: release day" in screen_text(app), "the topic bar")

            await submit(pilot, app, "/part #live see you")
            await until(pilot, lambda: "(#live)" in sidebar(app), "the channel to be left")
        await submit(pilot, app, "/quit")
    assert not client.connected


async def test_nick_in_use_is_offered_another(live_server: LiveServer) -> None:
    async with make_client(live_server.address, "taken") as other:
        client = make_client(live_server.address, "ann")
        await client.connect()
        app = ChatApp(client)
        async with app.run_test(size=SIZE) as pilot:
            await submit(pilot, app, "/nick taken")
            await until(
                pilot,
                lambda: "nick taken is in use; try /nick taken_" in lines_of(app, "*"),
                "the nick-in-use message",
            )
            await submit(pilot, app, "/nick annie")
            await until(pilot, lambda: client.nick == "annie", "the new nick")
            await until(pilot, lambda: "annie │" in screen_text(app), "the status line")
            await client.quit()
        assert other.registered


async def test_lost_connection_is_shown_and_the_app_reconnects(tmp_path: Path) -> None:
    server = start_ngircd(tmp_path / "one")
    port = server.port
    try:
        client = make_client(server.address, "ann", channels=["#again"], reconnect=True)
        await client.connect()
        app = ChatApp(client)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.model.current.name == "#again", "#again to open")
            server.stop()
            await until(pilot, lambda: "reconnecting" in screen_text(app), "the status to say so")
            assert any("disconnected:" in line for line in lines_of(app, "#again"))
            assert sidebar(app) == ["server", "(#again)"]
            server = start_ngircd(tmp_path / "two", port=port)
            await until(pilot, lambda: sidebar(app) == ["server", "#again"], "the rejoin")
            await until(pilot, lambda: "│ connected" in screen_text(app), "the status line")
            await submit(pilot, app, "/quit")
    finally:
        server.stop()
