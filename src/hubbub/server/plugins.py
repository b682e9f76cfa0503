"""Plugins: Python modules that observe the network, add commands and run service users.

A plugin is a module named in ``[plugins] modules`` (a dotted name or a ``.py`` file) that
defines ``setup(api)`` and, if it holds something the API does not know about, ``teardown(api)``.
``setup`` gets a :class:`PluginAPI`, the plugin's one door to the server: it subscribes to the
network's events, adds commands to the command table and adds service users (a nick with no
connection, see :meth:`PluginAPI.add_service`) that speak, join and answer. Everything a plugin
registers through its API is removed when it is unloaded, so most plugins need no teardown.

The plugin manager (``server.plugins``, in :mod:`hubbub.server.pluginloading`) sets up the
built-in plugins with the server, those of ``[plugins]`` when the application starts, and all
again at each REHASH: modules are imported afresh off the event loop, then the running version
of each is torn down and the new one is set up. A plugin never takes the server down: an
exception from its import, its setup, an event callback, a command handler or a service is
logged under the plugin's logger (``hubbub.plugin.<name>``) and contained. A plugin that fails
to set up is left out; the server runs without it. See ``docs/plugins.md``.

Sans-I/O like the rest of the core: the only blocking work, importing, runs in a worker thread
(REHASH's, or ``server.offload``'s), or before the server serves anyone.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from hubbub.protocol import numerics as n
from hubbub.protocol.casemap import is_channel_name, is_valid_channel, is_valid_nick
from hubbub.server.channel import Channel
from hubbub.server.events import Event, ModeChange, Relayed
from hubbub.server.network import ChannelSeeder, may_speak
from hubbub.server.user import User

if TYPE_CHECKING:
    # (not at run time: the command table's modules import this one)
    from hubbub.server.commands.dispatch import Command, Context, Handler
    from hubbub.server.core import Server
    from hubbub.server.network import Network
    from hubbub.server.pluginloading import PluginManager

__all__ = ["MessageHandler", "Plugin", "PluginAPI", "ServiceHandle"]

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
        self._seeders: list[ChannelSeeder] = []
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

    def subscribe(self, fn: Callable[[Event], None], events: Iterable[type] | None = None) -> None:
        """Call ``fn`` with every event of the network (or those of the types in
        ``events``: a plugin that leaves ``Relayed`` out costs nothing per message), after
        the change is applied.

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
        self.network.subscribe(contained, events=events)

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

    # -- channels being created ------------------------------------------------------------

    def add_channel_seeder(self, seeder: ChannelSeeder) -> None:
        """Have ``seeder(channel, creator)`` consulted each time a JOIN is about to create a
        channel, before anyone is told of it (see
        :data:`~hubbub.server.network.ChannelSeeder`): it may set the new channel's topic,
        modes, key, limit, ``history`` and ``created`` directly, and its lists with
        :meth:`~hubbub.server.channel.Channel.set_list`, and returns the
        prefix modes its creator gets (``"o"``, ``"v"``, ``""``), or None to leave the
        channel to the next seeder (and to the default: ``+nt``, the creator its operator).
        The creator's JOIN is checked against what the seeder made (a key, ``+i``, bans).
        Seeders are asked in the order they were added; what one raises is logged and
        counts as None."""
        what = self._describe(seeder)

        def contained(channel: Channel, creator: User) -> str | None:
            if not self.active:
                return None
            try:
                return seeder(channel, creator)
            except _CONTAINED:
                self.log.exception("plugin %s: error in %s for %s", self.name, what, channel.name)
                return None

        self._seeders.append(contained)
        self.network.seeders.append(contained)

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
        for seeder in self._seeders:
            if seeder in self.network.seeders:
                self.network.seeders.remove(seeder)
        self._seeders.clear()
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

    def set_modes(self, channel: str | Channel, changes: Iterable[ModeChange]) -> None:
        """Change a channel's modes as this service, as network services do: the ``MODE``
        line comes from the service, which needs no operator status there. ``changes`` are
        ``(sign, mode, parameter)`` applied as given: ``("+", "o", nick)``, ``("-", "b",
        mask)``, ``("+", "m", None)``; check them first (a prefix mode for a nick that is not
        a member is skipped). Raises ValueError when no such channel exists (logged when
        deferred)."""
        changes = tuple(changes)

        def apply() -> None:
            where = self._resolve(channel)
            if not isinstance(where, Channel):
                raise ValueError(f"no such channel: {channel!r}")
            self.api.network.change_channel_modes(self.user, where, changes, self.user.prefix)

        self._act(f"set modes on {channel}", apply)

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
