"""ChanServ, the channel service, as a plugin built into every server (beside NickServ).

It puts the service user ``ChanServ`` on the network and adds the ``CHANSERV`` and ``CS``
commands. A channel operator who is logged in to an account registers a channel
(``/msg ChanServ REGISTER #chan``); the account becomes its founder. From then on:

- the channel's topic (with its setter and time), flag modes, key, limit, bans, exceptions and
  invite exceptions, its access list and its history setting are kept in the database, and
  come back whenever the channel is created again (after it emptied, or a restart);
- only the founder and the accounts on its access list get channel operator status by
  themselves: the first to join an empty registered channel is made operator (or voiced) only
  when it is on the list, and whoever on the list joins, or logs in while in the channel, gets
  the status the list gives;
- the founder and the list's operators can ask ChanServ for status (``OP``, ``VOICE``...),
  change the list (the founder) and the history setting (``SET #chan HISTORY``).

The registrations live in the server's :class:`~hubbub.server.chanregistry.ChannelRegistry`
(loaded at start-up with the accounts, written through off the event loop); this module
decides and talks. A registered channel is brought back through the network's channel seeders
(:meth:`~hubbub.server.plugins.PluginAPI.add_channel_seeder`), before its first member is
told anything, so that member's JOIN already shows the kept topic and is checked against the
kept key, ``+i`` and bans. Without storage ChanServ says that registration is not available.

Its answers are NOTICEs from ``ChanServ`` written straight to the asker's connection, as
NickServ's are (:mod:`hubbub.plugins.nickserv`); ``REGISTER`` and ``DROP`` answer once the
database has the change.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubbub.protocol.casemap import Folded, is_channel_name
from hubbub.protocol.message import Message
from hubbub.server.channel import PREFIX_MODES, Channel
from hubbub.server.chanregistry import (
    HISTORY_SETTINGS,
    ChannelRegistry,
    Registered,
    restore,
    snapshot,
)
from hubbub.server.commands.accounts import service_tags
from hubbub.server.commands.dispatch import (
    Command,
    Context,
    Help,
    defer_reply,
    finish_deferred,
    hold_input,
)
from hubbub.server.events import (
    AccountChanged,
    ChannelModesChanged,
    Event,
    Joined,
    Relayed,
    TopicChanged,
)
from hubbub.server.response import Response
from hubbub.server.user import User
from hubbub.storage.base import ChannelRecord

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.plugins import PluginAPI, ServiceHandle

__all__ = ["SERVICE_NAME", "ChanServ", "setup"]

SERVICE_NAME = "ChanServ"
"""The nick the channel service answers as."""

ACCESS_LEVELS = ("op", "voice")
"""The levels an access list entry may give (the founder's is implicit)."""

_STATUS = {"founder": "o", "op": "o", "voice": "v"}
"""The prefix mode each access level brings."""

_HELP = (
    "ChanServ keeps registered channels. Commands:",
    "REGISTER <#channel>: register a channel you are an operator of (you must be logged in)",
    "DROP <#channel>: drop a registration (its founder, or an IRC operator)",
    "INFO <#channel>: about a registered channel",
    "OP|DEOP|VOICE|DEVOICE <#channel> [nick]: give or take status (yourself by default)",
    "ACCESS <#channel> LIST: who gets status when they join",
    "ACCESS <#channel> ADD <account> <op|voice>, ACCESS <#channel> DEL <account>: the founder "
    "changes the list",
    "SET <#channel> HISTORY <default|on|public|off>: whether the channel's messages are kept "
    "(public: readable by non-members)",
    "Kept for a registered channel: its topic, modes, key, limit, bans, exceptions, invite "
    "exceptions, access list and history setting.",
)

_UNAVAILABLE = "Channel registration is not available on this server."


def setup(api: PluginAPI) -> None:
    """Put ChanServ on the network, add ``CHANSERV`` and ``CS``, and take part in making
    channels (the registered ones come back as they were kept)."""
    ChanServ(api)


class ChanServ:
    """The running ChanServ of one server: its service user, and what it answers and hears."""

    def __init__(self, api: PluginAPI) -> None:
        self.api = api
        self.server: Server = api.server
        self.handle: ServiceHandle = api.add_service(
            SERVICE_NAME, self.answer_message, username=SERVICE_NAME, realname="The channel service"
        )
        api.add_channel_seeder(self.seed)
        api.subscribe(self.hear, events=(TopicChanged, ChannelModesChanged, Joined, AccountChanged))
        syntax = "<command> [<args>...]"
        about = "Talks to ChanServ, the channel service."
        api.add_command("CHANSERV", Command(self.handle_command, help=Help(syntax, about)))
        short = Help(syntax, "Short for CHANSERV.")
        api.add_command("CS", Command(self.handle_command, help=short))
        self._commands: dict[str, Callable[[Context, ChannelRegistry, list[str]], None]] = {
            "REGISTER": self._register,
            "DROP": self._drop,
            "INFO": self._info,
            "OP": self._status,
            "DEOP": self._status,
            "VOICE": self._status,
            "DEVOICE": self._status,
            "ACCESS": self._access,
            "SET": self._set,
        }

    @property
    def registry(self) -> ChannelRegistry | None:
        """The registered channels, when the server has storage (and so accounts)."""
        server = self.server
        return server.channel_registry if server.accounts is not None else None

    # -- what is asked -----------------------------------------------------------------------

    def answer_message(self, event: Relayed) -> None:
        """A message sent to ChanServ: each PRIVMSG line is a command from its sender (a
        NOTICE is never answered, nor is a user with no connection here)."""
        if event.command != "PRIVMSG" or not isinstance(event.target, User):
            return
        session = event.source.session
        if session is None or session.closed:
            return
        server = self.server
        reply = Response(session, server.name, None)
        for text in event.texts:
            ctx = Context(server, session, Message("PRIVMSG", (event.shown, text)), reply)
            with server.answering(reply):
                if session.checking_password:
                    self._notice(ctx, reply, "Wait for the answer to your last command.")
                else:
                    self.handle_line(ctx, text)
            if session.closed:
                return
        reply.flush()

    def handle_command(self, ctx: Context) -> None:
        """``CHANSERV <command> [<args>...]`` and ``CS``: a command without a PRIVMSG."""
        self.handle_line(ctx, " ".join(ctx.params))

    def handle_line(self, ctx: Context, text: str) -> None:
        """One ChanServ command line from ``ctx``'s client."""
        words = text.split()
        command = words[0].upper() if words else "HELP"
        if command == "HELP":
            for line in _HELP:
                self._tell(ctx, line)
            return
        registry = self.registry
        if registry is None:
            self._tell(ctx, _UNAVAILABLE)
            return
        handler = self._commands.get(command)
        if handler is None:
            self._tell(ctx, f"Unknown command {command}. Try HELP.")
            return
        handler(ctx, registry, [command, *words[1:]])

    def _notice(self, ctx: Context, reply: Response, text: str) -> None:
        reply.add(
            Message(
                "NOTICE",
                (ctx.session.user.nick, text),
                self.handle.user.prefix,
                service_tags(self.server),
            )
        )

    def _tell(self, ctx: Context, text: str) -> None:
        """A NOTICE to ``ctx``'s client, in its reply."""
        self._notice(ctx, ctx.reply, text)

    # -- helpers -----------------------------------------------------------------------------

    def _fold(self, name: str) -> Folded:
        return self.server.fold(name)

    def level(self, record: ChannelRecord, user: User) -> str | None:
        """``user``'s access to the registered channel: ``"founder"``, ``"op"``,
        ``"voice"``, or None (not logged in, or not on the list)."""
        if user.account is None:
            return None
        account = self._fold(user.account)
        if account == record.founder:
            return "founder"
        for entry, level in record.access:
            if entry == account:
                return level
        return None

    def _account_name(self, folded: str) -> str:
        """An account's name as registered (its folded name when it is gone)."""
        accounts = self.server.accounts
        found = accounts.records.get(Folded(folded)) if accounts is not None else None
        return found.name if found is not None else folded

    def _registered(
        self, ctx: Context, registry: ChannelRegistry, args: list[str], syntax: str
    ) -> ChannelRecord | None:
        """The registration ``args[1]`` names; None, having said why, when the line is not
        ``syntax`` or the channel is not registered (as a secret one is, to outsiders)."""
        if len(args) < 2 or not is_channel_name(args[1]):
            self._tell(ctx, f"Syntax: {syntax}")
            return None
        record = registry.get(self._fold(args[1]))
        if record is None or self._hidden(record, ctx.user):
            self._tell(ctx, f"{args[1]} is not registered.")
            return None
        return record

    def _hidden(self, record: ChannelRecord, user: User) -> bool:
        """True if ``user`` must not learn that this secret (``+s``) channel is registered."""
        if "s" not in record.modes or "o" in user.modes or self.level(record, user):
            return False
        channel = self.server.network.channels.get(record.folded)
        return channel is None or user not in channel.members

    def _grant(self, channel: Channel, user: User) -> None:
        """Give ``user`` (a member of the registered ``channel``) the status its access
        brings, unless it has it already."""
        registry = self.registry
        record = registry.get(channel.folded) if registry is not None else None
        if record is None or user not in channel.members:
            return
        level = self.level(record, user)
        mode = _STATUS.get(level or "")
        if mode is not None and mode not in channel.members[user]:
            self.handle.set_modes(channel, [("+", mode, user.nick)])

    # -- commands ----------------------------------------------------------------------------

    def _register(self, ctx: Context, registry: ChannelRegistry, args: list[str]) -> None:
        server, session, user = ctx.server, ctx.session, ctx.user
        if len(args) != 2 or not is_channel_name(args[1]):
            self._tell(ctx, "Syntax: REGISTER <#channel>")
            return
        name = args[1]
        if user.account is None:
            self._tell(ctx, "Log in to register a channel (see /msg NickServ HELP).")
            return
        channel = server.network.find_channel(name)
        if channel is None or user not in channel.members:
            self._tell(ctx, f"Join {name} first: you register it as its operator.")
            return
        if not channel.is_op(user):
            self._tell(ctx, f"You must be a channel operator of {channel.name}.")
            return
        if registry.get(channel.folded) is not None:
            self._tell(ctx, f"{channel.name} is already registered.")
            return
        founder = self._fold(user.account)
        most = server.limits.max_registered_channels
        if len(registry.founded_by(founder)) >= most:
            self._tell(ctx, f"Your account has registered {most} channels, the most allowed.")
            return
        base = ChannelRecord(channel.name, channel.folded, founder, server.clock())
        record = snapshot(channel, base)
        account = user.account
        later = defer_reply(ctx)
        hold_input(ctx)

        def done(outcome: Registered) -> None:
            if not session.closed:
                if outcome == "created":
                    self._notice(ctx, later, f"{record.name} is now registered to {account}.")
                elif outcome == "exists":  # (by another node sharing the database, just now)
                    self._notice(ctx, later, f"{record.name} is already registered.")
                else:
                    self._notice(ctx, later, "Could not store the registration; try again later.")
            finish_deferred(ctx, later)

        registry.register(server, record, done)

    def _drop(self, ctx: Context, registry: ChannelRegistry, args: list[str]) -> None:
        record = self._registered(ctx, registry, args, "DROP <#channel>")
        if record is None:
            return
        user, session = ctx.user, ctx.session
        if self.level(record, user) != "founder" and "o" not in user.modes:
            self._tell(ctx, f"Only the founder of {record.name} (or an IRC operator) may drop it.")
            return
        later = defer_reply(ctx)
        hold_input(ctx)

        def done(ok: bool) -> None:
            if ok:
                channel = self.server.network.channels.get(record.folded)
                if channel is not None:
                    channel.history = "default"  # (as for any channel not registered)
            if not session.closed:
                if ok:
                    self._notice(ctx, later, f"{record.name} is no longer registered.")
                else:
                    self._notice(ctx, later, "Could not drop the registration; try again later.")
            finish_deferred(ctx, later)

        registry.drop(self.server, record.folded, done)

    def _info(self, ctx: Context, registry: ChannelRegistry, args: list[str]) -> None:
        record = self._registered(ctx, registry, args, "INFO <#channel>")
        if record is None:
            return
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.registered))
        founder = self._account_name(record.founder)
        self._tell(ctx, f"{record.name} is registered to {founder} since {since}.")
        self._tell(ctx, f"History: {record.history}")
        level = self.level(record, ctx.user)
        if level is not None:
            self._tell(ctx, f"Your access: {level}")

    def _status(self, ctx: Context, registry: ChannelRegistry, args: list[str]) -> None:
        command = args[0]
        record = self._registered(ctx, registry, args, f"{command} <#channel> [nick]")
        if record is None:
            return
        if len(args) > 3:
            self._tell(ctx, f"Syntax: {command} <#channel> [nick]")
            return
        user = ctx.user
        channel = self.server.network.channels.get(record.folded)
        if channel is None:
            self._tell(ctx, f"Nobody is in {record.name}.")
            return
        nick = args[2] if len(args) > 2 else user.nick
        target = self.server.network.find_user(nick)
        if target is None or target not in channel.members:
            self._tell(ctx, f"{nick} is not in {channel.name}.")
            return
        mode = "o" if command in ("OP", "DEOP") else "v"
        sign = "-" if command.startswith("DE") else "+"
        level = self.level(record, user)
        allowed = level in ("founder", "op") or (
            mode == "v" and level == "voice" and target is user
        )
        if not allowed and not (sign == "-" and target is user):  # (anyone may step down)
            self._tell(ctx, f"You do not have the access to {command} in {channel.name}.")
            return
        if (
            sign == "-"
            and target is not user
            and level != "founder"
            and self.level(record, target) == "founder"
        ):  # (the list's operators serve the founder; ChanServ does not demote it for them)
            self._tell(ctx, f"{target.nick} is the founder of {channel.name}.")
            return
        if (mode in channel.members[target]) is (sign == "+"):
            has = "has" if sign == "+" else "does not have"
            self._tell(ctx, f"{target.nick} {has} +{mode} in {channel.name}.")
            return
        self.handle.set_modes(channel, [(sign, mode, target.nick)])
        if user not in channel.members:  # (members see the MODE line)
            what = "operator status" if mode == "o" else "voice"
            done = f"Gave {what} to" if sign == "+" else f"Took {what} from"
            self._tell(ctx, f"{done} {target.nick}.")

    def _access(self, ctx: Context, registry: ChannelRegistry, args: list[str]) -> None:
        syntax = "ACCESS <#channel> LIST | ADD <account> <op|voice> | DEL <account>"
        record = self._registered(ctx, registry, args, syntax)
        if record is None:
            return
        user = ctx.user
        action = args[2].upper() if len(args) > 2 else ""
        level = self.level(record, user)
        if action == "LIST" and len(args) == 3:
            if level is None and "o" not in user.modes:
                self._tell(ctx, f"You are not on the access list of {record.name}.")
                return
            self._tell(ctx, f"Access list of {record.name}:")
            self._tell(ctx, f"{self._account_name(record.founder)} founder")
            for account, entry_level in record.access:
                self._tell(ctx, f"{self._account_name(account)} {entry_level}")
            self._tell(ctx, f"End of the access list ({len(record.access) + 1}).")
            return
        if not (action == "ADD" and len(args) == 5) and not (action == "DEL" and len(args) == 4):
            self._tell(ctx, f"Syntax: {syntax}")
            return
        if level != "founder":
            self._tell(ctx, f"Only the founder of {record.name} may change its access list.")
            return
        name = args[3]
        account = self._fold(name)
        others = tuple((a, lv) for a, lv in record.access if a != account)
        if action == "DEL":
            if len(others) == len(record.access):
                self._tell(ctx, f"{name} is not on the access list of {record.name}.")
                return
            said = f"{name} is no longer on the access list of {record.name}."
            self._stored(ctx, registry, dataclasses.replace(record, access=others), said)
            return
        new_level = args[4].lower()
        if new_level not in ACCESS_LEVELS:
            self._tell(ctx, f"Syntax: {syntax}")
            return
        accounts = self.server.accounts
        found = accounts.records.get(account) if accounts is not None else None
        if found is None:
            self._tell(ctx, f"There is no account called {name}.")
            return
        if account == record.founder:
            self._tell(ctx, f"{found.name} is the founder of {record.name}.")
            return
        most = self.server.limits.max_access_entries
        if len(others) == len(record.access) and len(record.access) >= most:
            self._tell(ctx, f"The access list of {record.name} is full ({most} entries).")
            return
        updated = dataclasses.replace(record, access=(*others, (account, new_level)))
        said = f"{found.name} is now on the access list of {record.name} as {new_level}."

        def grant() -> None:  # (members logged in to it get their status once it is kept)
            channel = self.server.network.channels.get(record.folded)
            if channel is not None:
                for member in list(channel.members):
                    if member.account is not None and self._fold(member.account) == account:
                        self._grant(channel, member)

        self._stored(ctx, registry, updated, said, grant)

    def _set(self, ctx: Context, registry: ChannelRegistry, args: list[str]) -> None:
        syntax = f"SET <#channel> HISTORY <{'|'.join(HISTORY_SETTINGS)}>"
        record = self._registered(ctx, registry, args, syntax)
        if record is None:
            return
        key, setting = (args[2].upper(), args[3].lower()) if len(args) == 4 else ("", "")
        if key != "HISTORY" or setting not in HISTORY_SETTINGS:
            self._tell(ctx, f"Syntax: {syntax}")
            return
        if self.level(record, ctx.user) not in ("founder", "op"):
            self._tell(ctx, f"Only the founder and operators of {record.name} may change that.")
            return
        channel = self.server.network.channels.get(record.folded)
        if channel is not None:
            channel.history = setting
        said = f"History of {record.name}: {setting}."
        self._stored(ctx, registry, dataclasses.replace(record, history=setting), said)

    def _stored(
        self,
        ctx: Context,
        registry: ChannelRegistry,
        record: ChannelRecord,
        said: str,
        then: Callable[[], None] | None = None,
    ) -> None:
        """Keep the changed ``record`` and say ``said`` (then do ``then``) once it is in the
        database, the client's next lines waiting meanwhile: what ChanServ acknowledges
        survives a crash. A failed write says so (the change stays in memory, and the next
        change of the channel writes it again)."""
        session = ctx.session
        later = defer_reply(ctx)
        hold_input(ctx)

        def done(ok: bool) -> None:
            if ok and then is not None:
                then()
            if not session.closed:
                if ok:
                    self._notice(ctx, later, said)
                else:
                    self._notice(ctx, later, "Could not store the change; try again later.")
            finish_deferred(ctx, later)

        registry.update(self.server, record, done)

    # -- what happens on the network ---------------------------------------------------------

    def seed(self, channel: Channel, creator: User) -> str | None:
        """A channel is being created: a registered one comes back as it was kept, and its
        creator gets only the status its access gives (None: not registered, not ours)."""
        registry = self.registry
        record = registry.get(channel.folded) if registry is not None else None
        if record is None:
            return None
        restore(channel, record, self.handle.nick)
        return _STATUS.get(self.level(record, creator) or "", "")

    def _setter_waits(self, by: User | None) -> Callable[[bool], None] | None:
        """The setter of a registered channel's topic or modes, if it is a client here,
        is sent nothing more (its echo acknowledges the change) until the change is
        written: what the function returned is told then."""
        session = by.session if by is not None else None
        if session is None:
            return None
        written = self.server.hold_until(session, "chanserv")
        return lambda ok: written()

    def hear(self, event: Event) -> None:
        """Keep what changes in registered channels, and give status by access."""
        registry = self.registry
        if registry is None:
            return
        if isinstance(event, TopicChanged | ChannelModesChanged):
            if isinstance(event, ChannelModesChanged) and all(
                mode in PREFIX_MODES for _, mode, _ in event.changes
            ):
                return  # (status is not kept)
            channel = event.channel
            record = registry.get(channel.folded)
            if record is not None:
                updated = snapshot(channel, record)
                if updated != record:
                    registry.update(self.server, updated, self._setter_waits(event.by))
        elif isinstance(event, Joined):
            if not event.created:  # (the creator got its status when the channel was made)
                self._grant(event.channel, event.user)
        elif isinstance(event, AccountChanged) and event.account is not None:
            for channel in list(event.user.channels.values()):
                self._grant(channel, event.user)
