"""Plugins in a running server, over real sockets: the example ``!seen`` service answers in a
channel and in private, REHASH loads a changed plugin afresh, and a broken plugin does not
stop the server from starting.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubbub.config import Config, OperSection, PluginsSection
from tests.conftest import make_config
from tests.e2e.conformance import Net, drain, join, names_in, reply_to
from tests.e2e.ircclient import IRCTestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def plugin_config(*modules: Path, **settings: dict[str, Any]) -> Config:
    plugins = PluginsSection(modules=tuple(str(m) for m in modules), settings=settings)
    admin = OperSection(name="admin", password="s3cret")
    return dataclasses.replace(make_config(), plugins=plugins, opers=(admin,))


async def said_by(client: IRCTestClient, nick: str, command: str = "PRIVMSG") -> tuple[str, str]:
    """(target, text) of the next message from ``nick``."""
    msg = await client.expect(
        lambda m: m.command == command and (m.source or "").startswith(f"{nick}!")
    )
    return msg.params[0], msg.params[1]


async def test_the_seen_example_over_a_real_socket(app_factory: Callable[[Config], Any]) -> None:
    config = plugin_config(EXAMPLES / "seen.py", seen={"channels": ["#lobby"]})
    async with Net(await app_factory(config)) as net:
        alice = await net.client("alice")
        await alice.send("JOIN #lobby")
        joined = await alice.collect_until("366")
        assert "@Seen" in names_in(joined)  # it made the channel: its operator
        await alice.send("PRIVMSG #lobby :good morning")
        bob = await net.client("bob")
        await join("#lobby", bob)
        await drain(alice)
        await bob.send("PRIVMSG #lobby :!seen alice")
        target, text = await said_by(bob, "Seen")
        assert target == "#lobby"
        assert text.startswith("alice was last seen ")
        assert text.endswith(", saying 'good morning' in #lobby. alice is online now.")
        await alice.send("QUIT :lunch")
        await bob.send("PRIVMSG Seen :alice")
        target, text = await said_by(bob, "Seen", "NOTICE")
        assert target == "bob"
        assert text.startswith("alice was last seen ")
        assert text.endswith(", quitting (Quit: lunch).")
        whois = await reply_to(bob, "WHOIS Seen")
        assert [m.params[1:4] for m in whois if m.command == "311"] == [
            ("Seen", "seen", f"services.{config.server.name}")
        ]


async def test_rehash_loads_a_changed_plugin(
    app_factory: Callable[[Config], Any], tmp_path: Path
) -> None:
    plugin = tmp_path / "seen.py"
    shutil.copy(EXAMPLES / "seen.py", plugin)
    config = plugin_config(plugin, seen={"channels": ["#lobby"]})
    async with Net(await app_factory(config)) as net:
        oper = await net.client("oper")
        assert [m.command for m in await reply_to(oper, "WHOIS Seen")][0] == "311"
        await oper.send("OPER admin s3cret")
        await oper.expect("381")
        await oper.send("PRIVMSG Seen :nobody")
        assert await said_by(oper, "Seen", "NOTICE") == ("oper", "I have not seen nobody.")
        source = plugin.read_text().replace("I have not seen", "Never saw")
        plugin.write_text(source)
        await oper.send("REHASH")
        await oper.expect("382")
        await drain(oper)
        await oper.send("PRIVMSG Seen :nobody")
        assert await said_by(oper, "Seen", "NOTICE") == ("oper", "Never saw nobody.")


async def test_a_broken_plugin_does_not_stop_the_server(
    app_factory: Callable[[Config], Any], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def setup(api):\n    raise RuntimeError('no')\n")
    unimportable = tmp_path / "unimportable.py"
    unimportable.write_text("import no_such_module_anywhere\n")
    config = plugin_config(broken, unimportable)
    async with Net(await app_factory(config)) as net:
        alice = await net.client("alice")
        await join("#lobby", alice)
        reply = await reply_to(alice, "PRIVMSG #lobby :still here")
        assert reply == []
