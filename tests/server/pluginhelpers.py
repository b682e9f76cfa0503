"""Plugins on a harness server: loading them from files, and what the network saw."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubbub.config import Config, PluginsSection
from hubbub.server.core import Server
from hubbub.server.events import Event, Relayed
from tests.server.harness import Client, make_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def with_plugins(
    config: Config, *modules: str | Path, settings: Mapping[str, Mapping[str, Any]] | None = None
) -> Config:
    """``config`` with ``[plugins] modules`` and the plugins' tables."""
    section = PluginsSection(modules=tuple(str(m) for m in modules), settings=settings or {})
    return dataclasses.replace(config, plugins=section)


def write_plugin(directory: Path, name: str, source: str) -> Path:
    """A plugin file ``<name>.py`` in ``directory`` (replaced when it exists)."""
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


class Plugged:
    """A harness server, its plugins, and every event its network emitted since."""

    def __init__(self, server: Server | None = None) -> None:
        self.server = server if server is not None else make_server()
        self.network = self.server.network
        self.manager = self.server.plugins
        self.events: list[Event] = []
        self.network.subscribe(self.events.append)

    def load(
        self, *modules: str | Path, settings: Mapping[str, Mapping[str, Any]] | None = None
    ) -> list[str]:
        """Load these plugins (as a REHASH with this config would); the problems."""
        found: list[list[str]] = []
        config = with_plugins(self.server.config, *modules, settings=settings)
        self.manager.load(config, found.append)
        assert found, "the harness runs blocking work inline: the load is done"
        return found[0]

    def module(self, name: str) -> Any:
        """The running module of the plugin called ``name`` (to look at its globals)."""
        for plugin in self.manager.plugins.values():
            if plugin.name == name:
                return plugin.module
        raise KeyError(name)

    def client(self, nick: str) -> Client:
        """A registered client, what it was sent so far read."""
        client = Client(self.server).register(nick)
        client.messages()
        return client

    def said(self, by: str | None = None) -> list[tuple[str, str, str, str]]:
        """(source nick, command, target as shown, text) of each message relayed so far
        (by ``by`` only, when given)."""
        out = []
        for event in self.events:
            if isinstance(event, Relayed) and (by is None or event.source.nick == by):
                out += [(event.source.nick, event.command, event.shown, t) for t in event.texts]
        return out
