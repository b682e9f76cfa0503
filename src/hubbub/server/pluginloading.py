"""Loading plugins: importing the modules ``[plugins]`` names (off the event loop), setting
them up with a :class:`~hubbub.server.plugins.PluginAPI` each, and tearing them down at REHASH
and shutdown. What a plugin may do is in :mod:`hubbub.server.plugins`; see ``docs/plugins.md``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from hubbub.config import Config
from hubbub.config.sections import BUILTIN_PLUGINS, plugin_name
from hubbub.server.plugins import _CONTAINED, PluginAPI

if TYPE_CHECKING:
    # (not at run time: the command table's modules import this one)
    from hubbub.server.core import Server

__all__ = ["Imported", "LoadedPlugin", "PluginManager", "import_plugins"]

log = logging.getLogger("hubbub.plugins")


# -- loading ---------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class LoadedPlugin:
    """A plugin that is running: where it came from, its module and its API."""

    module_name: str
    """As ``[plugins] modules`` names it (a ``.py`` file resolved against the config's
    directory), or a built-in's module name."""
    module: ModuleType
    api: PluginAPI
    config: Mapping[str, Any]
    """The table it was set up with (a changed table sets it up again at REHASH)."""

    @property
    def name(self) -> str:
        return self.api.name


Imported = dict[str, ModuleType | BaseException]
"""What :func:`import_plugins` found for each module: the module, or why it failed."""


def _is_file(module: str) -> bool:
    return module.endswith(".py")


def import_plugins(modules: Sequence[str], fresh: bool = True) -> Imported:
    """Import each plugin module (blocking: run it off the event loop). Never raises.

    With ``fresh`` each is executed anew, so a file changed since it was last loaded is
    picked up; the running version's module object is left as it is (it is torn down on the
    core's thread, maybe while this runs). Modules of the ``hubbub`` package are imported
    once, never again: they are part of the server.
    """
    with _IMPORT_LOCK:  # two REHASHes at once must not swap sys.modules under each other
        return _import_all(modules, fresh)


_IMPORT_LOCK = threading.Lock()


def _import_all(modules: Sequence[str], fresh: bool) -> Imported:
    importlib.invalidate_caches()
    found: Imported = {}
    for module in modules:
        try:
            if _is_file(module):
                found[module] = _import_file(module)
            elif fresh and not (module == "hubbub" or module.startswith("hubbub.")):
                found[module] = _import_fresh(module)
            else:
                found[module] = importlib.import_module(module)
        except BaseException as exc:  # anything at all a module's code raises
            if isinstance(exc, KeyboardInterrupt):
                raise
            found[module] = exc
    return found


def _import_fresh(name: str) -> ModuleType:
    """``name`` (and its submodules, for a package) imported anew, as a new module object."""
    old = {
        key: mod for key, mod in sys.modules.items() if key == name or key.startswith(name + ".")
    }
    for key in old:
        del sys.modules[key]
    try:
        return importlib.import_module(name)
    except BaseException:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        sys.modules.update(old)
        raise


def _import_file(path: str) -> ModuleType:
    """The plugin in the file ``path``, executed anew from its source (no bytecode is
    written beside it or read back stale)."""
    file = Path(path)
    name = f"hubbub_plugin_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None:
        raise ImportError(f"cannot load a module from {path}")
    source = file.read_bytes()
    code = compile(source, str(file), "exec", dont_inherit=True)
    module = importlib.util.module_from_spec(spec)
    old = sys.modules.get(name)
    sys.modules[name] = module  # (dataclasses and typing look their module up there)
    try:
        exec(code, module.__dict__)
    except BaseException:
        if old is not None:
            sys.modules[name] = old
        else:
            sys.modules.pop(name, None)
        raise
    return module


class PluginManager:
    """Loads, reloads and unloads the plugins of one server (``server.plugins``).

    The server sets up the built-in plugins when it is made (:meth:`start_builtins`); the
    application imports those of ``[plugins]`` off the event loop before it serves anyone
    (:func:`import_plugins`, then :meth:`apply`), and REHASH loads them all again
    (:meth:`load`). Nothing here raises because of a plugin.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.plugins: dict[str, LoadedPlugin] = {}
        """The running plugins by module (as :meth:`wanted` names them), in load order."""
        self.depth = 0
        """Plugin event callbacks running now (more than 0: the network is announcing a
        change, and may not be changed)."""
        self.problems: list[str] = []
        """What went wrong at the last load, one line each (also logged)."""

    # -- what to load ------------------------------------------------------------------------

    def wanted(self, config: Config) -> list[str]:
        """The plugins ``config`` asks for, in order: the built-in ones first (NickServ),
        then ``[plugins] modules`` (``.py`` files resolved against the config file's
        directory)."""
        names: list[str] = list(BUILTIN_PLUGINS)
        for module in config.plugins.resolved(config.base_dir):
            if module not in names:
                names.append(module)
        return names

    def to_import(self, config: Config) -> list[str]:
        """Of :meth:`wanted`, the modules to import (afresh): all but the built-in ones,
        which are part of the server and never imported again. (It reads only ``config``:
        REHASH calls it in a worker thread.)"""
        return [m for m in self.wanted(config) if m not in BUILTIN_PLUGINS]

    # -- loading -------------------------------------------------------------------------

    def start_builtins(self) -> None:
        """Set up the built-in plugins (modules of hubbub itself, imported with it)."""
        imported = import_plugins(BUILTIN_PLUGINS, fresh=False)
        for module_name in BUILTIN_PLUGINS:
            found = imported[module_name]
            if isinstance(found, BaseException):
                self._problem(plugin_name(module_name), f"cannot import {module_name}", found)
            elif module_name not in self.plugins:
                self._setup(module_name, found, self.server.config.plugins.table(module_name))

    def load(self, config: Config, done: Callable[[list[str]], None] | None = None) -> None:
        """Load what ``config`` asks for: the imports run through ``server.offload``, then
        :meth:`apply` on the core's thread; ``done`` gets the problems (empty: all well)."""
        modules = self.to_import(config)

        def finish(imported: Imported) -> None:
            problems = self.apply(config, imported)
            if done is not None:
                done(problems)

        if modules:
            self.server.offload(lambda: import_plugins(modules), finish)
        else:
            finish({})  # (nothing to import: no thread needed)

    def apply(self, config: Config, imported: Imported) -> list[str]:
        """Make the running plugins what ``config`` asks for, with the modules
        :func:`import_plugins` found (on the core's thread). Returns the problems, each
        also logged and shown to operators with ``+s``.

        A plugin is torn down and set up again when its module was imported anew or its
        table changed; one whose new version could not be imported keeps running the old
        one; those no longer named are unloaded.
        """
        problems: list[str] = []
        wanted = self.wanted(config)
        running = self.plugins
        kept: dict[str, LoadedPlugin] = {}
        previous = {name: plugin.module for name, plugin in running.items()}
        for module_name, plugin in list(running.items()):
            new = imported.get(module_name)
            table = config.plugins.table(module_name)
            if module_name not in wanted:
                log.info("plugin %s: unloading (no longer in [plugins] modules)", plugin.name)
                self._unload(plugin)
            elif isinstance(new, BaseException):
                problems.append(
                    self._problem(
                        plugin.name,
                        f"cannot import {module_name} again ({_describe_error(new)}); "
                        f"the running version stays",
                        new,
                    )
                )
                kept[module_name] = plugin
            elif (new is not None and new is not plugin.module) or table != plugin.config:
                self._unload(plugin)
            else:
                kept[module_name] = plugin
        self.plugins = {}
        for module_name in wanted:
            if module_name in kept:
                self.plugins[module_name] = kept[module_name]
                continue
            found = imported.get(module_name) or previous.get(module_name)
            if found is None and module_name in BUILTIN_PLUGINS:
                found = import_plugins([module_name], fresh=False)[module_name]  # (in hubbub)
            if found is None:
                found = ImportError("not imported")
            if isinstance(found, BaseException):
                problems.append(
                    self._problem(
                        plugin_name(module_name),
                        f"cannot import {module_name}: {_describe_error(found)}",
                        found,
                    )
                )
                continue
            problem = self._setup(module_name, found, config.plugins.table(module_name))
            if problem is not None:
                problems.append(problem)
        self.problems = problems
        return problems

    def _problem(self, name: str, text: str, exc: BaseException | None = None) -> str:
        line = f"plugin {name}: {text}"
        log.error("%s", line, exc_info=exc)
        self.server.snotice(line)
        return line

    def _setup(self, module_name: str, module: ModuleType, table: Mapping[str, Any]) -> str | None:
        name = plugin_name(module_name)
        setup = getattr(module, "setup", None)
        if not callable(setup):
            return self._problem(name, f"{module_name} has no setup(api) function; not loaded")
        api = PluginAPI(self, name, module_name, table)
        try:
            setup(api)
        except _CONTAINED as exc:
            api._close()
            return self._problem(name, f"setup failed ({_describe_error(exc)}); not loaded", exc)
        self.plugins[module_name] = LoadedPlugin(module_name, module, api, table)
        log.info("plugin %s: loaded from %s", name, module_name)
        return None

    def _unload(self, plugin: LoadedPlugin) -> None:
        teardown = getattr(plugin.module, "teardown", None)
        api = plugin.api
        if callable(teardown):
            api._contain("teardown", lambda: teardown(api))
        api._close()
        self.plugins.pop(plugin.module_name, None)
        log.info("plugin %s: unloaded", plugin.name)

    def unload_all(self) -> None:
        """Unload every plugin, last loaded first (the server is stopping)."""
        for plugin in reversed(list(self.plugins.values())):
            self._unload(plugin)
        self.plugins = {}

    def __contains__(self, name: object) -> bool:
        """``"seen" in manager``: a plugin of that name is running."""
        return any(plugin.name == name for plugin in self.plugins.values())


def _describe_error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
