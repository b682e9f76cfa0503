"""Plugins: Python modules that observe the network, add commands and run service users.

A plugin is a module named in ``[plugins] modules`` (a dotted name or a ``.py`` file) that
defines ``setup(api)`` and, if it holds something the API does not know about, ``teardown(api)``.
``setup`` gets a :class:`PluginAPI`, the plugin's one door to the server: it subscribes to the
network's events, adds commands to the command table and adds service users (a nick with no
connection, see :meth:`PluginAPI.add_service`) that speak, join and answer. Everything a plugin
registers through its API is removed when it is unloaded, so most plugins need no teardown.

The :class:`PluginManager` (``server.plugins``) sets up the built-in plugins with the server,
those of ``[plugins]`` when the application starts, and all again at each REHASH: modules are
imported afresh off the event loop, then the running version of each is torn down and the new
one is set up. A plugin never takes the server down: an exception from
its import, its setup, an event callback, a command handler or a service is logged under the
plugin's logger (``hubbub.plugin.<name>``) and contained. A plugin that fails to set up is left
out; the server runs without it. See ``docs/plugins.md``.

Sans-I/O like the rest of the core: the only blocking work, importing, runs in a worker thread
(REHASH's, or ``server.offload``'s), or before the server serves anyone.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from hubbub.config import Config
from hubbub.config.sections import BUILTIN_PLUGINS, plugin_name
from hubbub.protocol import numerics as n
from hubbub.protocol.casemap import is_channel_name, is_valid_channel, is_valid_nick
from hubbub.server.channel import Channel
from hubbub.server.events import Event, Relayed
from hubbub.server.network import may_speak
from hubbub.server.user import User

if TYPE_CHECKING:
    # (not at run time: the command table's modules import this one)
    from hubbub.server.commands.dispatch import Command, Context, Handler
    from hubbub.server.core import Server
    from hubbub.server.network import Network

__all__ = [
    "MessageHandler",
    "Plugin",
    "PluginAPI",
    "PluginManager",
    "ServiceHandle",
    "import_plugins",
]

log = logging.getLogger("hubbub.plugins")

T = TypeVar("T")

MessageHandler = Callable[[Relayed], None]
"""What hears the messages sent to a plugin's service user."""

_CONTAINED = (Exception, SystemExit)
"""What a plugin may raise without consequence beyond a log line (``sys.exit()`` in a plugin
is a bug in the plugin, not a request to stop the server)."""

_COMMAND_RE = re.compile(r"[A-Z][A-Z0-9]*")
"""A command name a plugin may add (upper case once given)."""


class Plugin(Protocol):
    """What a plugin module provides (a module can be checked against this by mypy:
    ``plugin: Plugin = my_module``). ``teardown(api)`` is optional, so it is not part of the
    protocol: define it to release what the API does not know about (a file, a client)."""

    def setup(self, api: PluginAPI) -> None:
        """Start the plugin: subscribe, add commands and services through ``api``."""


class _Done(Generic[T]):
    """The result of a plugin's blocking work, or the mark that it raised."""

    __slots__ = ("ok", "value")

    def __init__(self, ok: bool, value: T | None) -> None:
        self.ok = ok
        self.value = value


class PluginAPI:
    """What a plugin is given: its name, settings and logger, and the ways to act on the
    server. What it registers here is removed when it is unloaded."""

    def __init__(
        self, manager: PluginManager, name: str, module: str, config: Mapping[str, Any]
    ) -> None:
        self.name = name
        """The plugin's name: the last part of its module name or file name (``seen``)."""
        self.module = module
        """The module or file the plugin was loaded from, as ``[plugins] modules`` names it."""
        self.config = config
        """The plugin's own ``[plugins.<name>]`` table (read-only; empty when there is none).
        The plugin checks it in ``setup`` and raises ``ValueError`` to refuse it."""
        self.log = logging.getLogger(f"hubbub.plugin.{name}")
        """The plugin's logger, ``hubbub.plugin.<name>``."""
        self._manager = manager
        self._subscribers: list[Callable[[Event], None]] = []
        self._commands: dict[str, Command] = {}
        self._services: list[ServiceHandle] = []
        self.active = True
        """False once the plugin is unloaded: what it still holds does nothing."""

    def __repr__(self) -> str:
        return f"<PluginAPI {self.name!r}>"

    # -- read access -----------------------------------------------------------------------

    @property
    def server(self) -> Server:
        """The server: read it (its ``config``, ``name``, ``clock()``...), change nothing."""
        return self._manager.server

    @property
    def network(self) -> Network:
        """The network layer: its users and channels (``find_user``, ``find_channel``,
        ``fold``, ``users``, ``channels``). A plugin changes it through its service users;
        within an event callback it changes nothing (see :meth:`later`)."""
        return self._manager.server.network

    @property
    def services(self) -> tuple[ServiceHandle, ...]:
        """The service users this plugin added and has not removed."""
        return tuple(self._services)

    # -- containment -----------------------------------------------------------------------

    def _contain(self, what: str, fn: Callable[[], None]) -> None:
        """Run ``fn``; log what it raises as this plugin's error."""
        try:
            fn()
        except _CONTAINED:
            self.log.exception("plugin %s: error in %s", self.name, what)

    @staticmethod
    def _describe(fn: object) -> str:
        return str(getattr(fn, "__qualname__", None) or repr(fn))

    # -- events ----------------------------------------------------------------------------

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn`` with every event of the network, after the change is applied.

        ``fn`` must not change the network's state: defer an answer with :meth:`later` (a
        :class:`ServiceHandle` defers its own actions by itself). What it raises is logged
        with the plugin's name and goes no further.
        """
        manager = self._manager
        what = self._describe(fn)

        def contained(event: Event) -> None:
            if not self.active:
                return
            manager.depth += 1
            try:
                fn(event)
            except _CONTAINED:
                self.log.exception(
                    "plugin %s: error in %s handling %s", self.name, what, type(event).__name__
                )
            finally:
                manager.depth -= 1

        self._subscribers.append(contained)
        self.network.subscribe(contained)

    def later(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the change being announced has reached every subscriber (at
        once when none is being announced): where an event callback acts."""
        if self._manager.depth == 0:
            self._contain(self._describe(fn), fn)
            return

        def deferred() -> None:
            if self.active:
                self._contain(self._describe(fn), fn)

        self.network.later(deferred)

    def offload(self, work: Callable[[], T], done: Callable[[T], None]) -> None:
        """Run blocking ``work`` (a file, a database, a web request) away from the event
        loop, then ``done`` with its result back on the core's thread. ``done`` is not
        called when ``work`` raised (that is logged) or when the plugin was unloaded
        meanwhile."""
        what = self._describe(work)

        def run() -> _Done[T]:
            try:
                return _Done(True, work())
            except _CONTAINED:
                self.log.exception("plugin %s: error in blocking work %s", self.name, what)
                return _Done(False, None)

        def finish(result: _Done[T]) -> None:
            if result.ok and self.active:
                value: Any = result.value
                self._contain(self._describe(done), lambda: done(value))

        self.server.offload(run, finish)

    # -- commands --------------------------------------------------------------------------

    def add_command(self, name: str, command: Command) -> None:
        """Add ``name`` to the command table, with the table's checks (``min_params``,
        ``pre_registration``, ``oper``). Raises ValueError, naming it, for a name the table
        has already (a built-in command or another plugin's) or one that is not a command
        name (a letter, then letters and digits)."""
        key = name.upper()
        if not _COMMAND_RE.fullmatch(key):
            raise ValueError(f"{name!r} is not a command name (a letter, then letters and digits)")
        table = self.server.commands
        if key in table:
            raise ValueError(f"the command {key} exists already")
        entry = dataclasses.replace(command, handler=self._command_handler(key, command.handler))
        table[key] = entry
        self._commands[key] = entry

    def _command_handler(self, key: str, handler: Handler) -> Handler:
        def contained(ctx: Context) -> None:
            if not self.active:
                return
            try:
                handler(ctx)
            except _CONTAINED:
                self.log.exception("plugin %s: error in the command %s", self.name, key)
                ctx.reply.numeric(n.ERR_UNKNOWNERROR, key, "Internal error; the command failed")

        return contained

    # -- service users ---------------------------------------------------------------------

    def add_service(
        self,
        nick: str,
        on_message: MessageHandler,
        *,
        username: str = "service",
        realname: str = "",
    ) -> ServiceHandle:
        """Put a service user called ``nick`` on the network: a user with no connection,
        which ``on_message`` answers for (it hears each message sent to that nick or to a
        channel the service is in, after the relay, and may act at once). Returns the
        handle to make it speak, join and part. Its user is ``nick!username@services.<server
        name>``, with user mode ``+B`` (a bot).

        Raises ValueError when the nick is taken or not a valid nick, and
        RuntimeError inside an event callback (add services in ``setup``, or from
        :meth:`later`).
        """
        if self._manager.depth:
            raise RuntimeError("add_service inside an event callback: use api.later")
        if not is_valid_nick(nick, self.server.limits.nicklen):
            raise ValueError(f"{nick!r} is not a valid nick")
        service = _PluginService(self, on_message)
        user = self.network.add_service(
            nick,
            service,
            f"services.{self.server.name}",
            username=username,
            realname=realname or f"{self.name} (a plugin)",
        )
        handle = ServiceHandle(self, user)
        self._services.append(handle)
        return handle

    # -- unloading -------------------------------------------------------------------------

    def _close(self) -> None:
        """Undo everything the plugin registered (it is being unloaded)."""
        self.active = False
        for fn in self._subscribers:
            try:
                self.network.unsubscribe(fn)
            except _CONTAINED:
                self.log.exception("plugin %s: error unsubscribing", self.name)
        self._subscribers.clear()
        table = self.server.commands
        for key, entry in self._commands.items():
            if table.get(key) is entry:
                del table[key]
        self._commands.clear()
        for handle in list(self._services):
            self._contain("removing its service users", handle._remove_now)
        self._services.clear()


class _PluginService:
    """The :class:`~hubbub.server.user.Service` of a plugin's service user: hands each
    message to the plugin's handler, contained."""

    __slots__ = ("api", "handler")

    def __init__(self, api: PluginAPI, handler: MessageHandler) -> None:
        self.api = api
        self.handler = handler

    def on_message(self, event: Relayed) -> None:
        api = self.api
        if not api.active:
            return
        try:
            self.handler(event)
        except _CONTAINED:
            api.log.exception(
                "plugin %s: error answering %s from %s", api.name, event.command, event.source
            )


class ServiceHandle:
    """A plugin's service user, and what it can do: speak, join, part. Inside an event
    callback its actions are deferred until the change has reached every subscriber
    (see :meth:`PluginAPI.later`); elsewhere they happen at once."""

    def __init__(self, api: PluginAPI, user: User) -> None:
        self.api = api
        self.user = user
        """The service's user on the network."""
        self.removed = False

    def __repr__(self) -> str:
        return f"<ServiceHandle {self.user.nick!r} of {self.api.name!r}>"

    @property
    def nick(self) -> str:
        """The service user's nick."""
        return self.user.nick

    def _act(self, what: str, fn: Callable[[], None]) -> None:
        if self.removed or not self.api.active:
            self.api.log.debug("%s: %s after the service was removed: ignored", self, what)
            return
        if self.api._manager.depth:
            self.api.later(lambda: None if self.removed else fn())
        else:
            fn()

    def say(self, target: str | User | Channel, text: str, *, notice: bool = False) -> None:
        """Send ``text`` to a nick or channel as a PRIVMSG (a NOTICE with ``notice``: what
        a bot answers with, so that two bots never answer each other forever). Each line of
        a text with line breaks is its own message; empty lines are skipped.

        A channel's modes apply as to anyone (``+n``, ``+m``, bans); a long line is cut to
        fit. Raises ValueError when no such nick or channel exists, or when the service may
        not speak in the channel (logged when deferred).
        """
        lines = [line for line in _LINE_BREAK.split(text.replace("\0", "")) if line]
        command = "NOTICE" if notice else "PRIVMSG"

        def send() -> None:
            network = self.api.network
            where = self._resolve(target)
            if isinstance(where, Channel) and not may_speak(where, self.user, network.casemapping):
                raise ValueError(f"{self.user.nick} cannot send to {where.name}")
            for line in lines:
                network.relay(self.user, command, where, line)

        self._act(f"say to {target}", send)

    def _resolve(self, target: str | User | Channel) -> Channel | User:
        if not isinstance(target, str):
            return target
        network = self.api.network
        found = (
            network.find_channel(target) if is_channel_name(target) else network.find_user(target)
        )
        if found is None:
            raise ValueError(f"no such nick or channel: {target!r}")
        return found

    def join(self, channel: str) -> None:
        """Join ``channel`` (created when it does not exist, with the service as its
        operator; a service is let in whatever the channel's modes, as services are).
        Raises ValueError for a name that is not a valid channel name."""
        if not is_valid_channel(channel, self.api.server.limits.channellen):
            raise ValueError(f"{channel!r} is not a channel name")
        self._act(f"join {channel}", lambda: self._join(channel))

    def _join(self, name: str) -> None:
        network = self.api.network
        if network.fold(name) not in self.user.channels:
            network.join(self.user, name)

    def part(self, channel: str, reason: str = "") -> None:
        """Leave ``channel`` (nothing happens when the service is not in it)."""
        self._act(f"part {channel}", lambda: self._part(channel, reason))

    def _part(self, name: str, reason: str) -> None:
        network = self.api.network
        found = self.user.channels.get(network.fold(name))
        if found is not None:
            network.part(self.user, found, reason)

    def remove(self) -> None:
        """Take the service user off the network (a plugin's services are removed when it
        is unloaded; this is for one that goes before)."""
        self._act("remove", self._remove_now)

    def _remove_now(self) -> None:
        if self.removed:
            return
        self.removed = True
        if self in self.api._services:
            self.api._services.remove(self)
        self.api.network.quit(self.user, "Service stopped")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


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
