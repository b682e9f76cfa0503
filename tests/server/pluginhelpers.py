"""Plugins on a harness server and a :class:`~tests.server.fakenetwork.FakeNetwork`."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubbub.server.config import Config, PluginsSection
from hubbub.server.core import Server
from hubbub.server.plugins import PluginManager
from tests.server.fakenetwork import FakeNetwork
from tests.server.harness import make_server

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
    """A harness server, its fake network and its plugin manager."""

    def __init__(self, server: Server | None = None) -> None:
        self.server = server if server is not None else make_server()
        self.network = FakeNetwork(self.server)
        self.manager = PluginManager(self.server, self.network)

    def load(
        self, *modules: str | Path, settings: Mapping[str, Mapping[str, Any]] | None = None
    ) -> list[str]:
        """Load these plugins (as a start or a REHASH with this config would); the problems."""
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
