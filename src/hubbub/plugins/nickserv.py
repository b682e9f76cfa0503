"""NickServ, the account service, as a plugin: the first one on the plugin API.

It puts the service user ``NickServ`` on the network, answers what is sent to it
(``/msg NickServ IDENTIFY <password>``) and adds the ``NICKSERV`` and ``NS`` commands for the
same. It is built in: every server loads it, with no need to name it in ``[plugins] modules``
(without account storage it says that accounts are not available). The accounts themselves
(SASL, REGISTER, nick protection) are the core's, :mod:`hubbub.server.commands.accounts`;
this module only talks.

Its answers are NOTICEs from ``NickServ`` written straight to the asker's connection, in one
reply with the numerics they go with (``900`` before "You are now identified"), and kept
for the end of the blocking work they wait for (a password check, through
``server.offload``), while the core holds the asker's next lines. They are not relayed
through the network: what NickServ tells one user is for that user alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubbub.protocol.message import Message
from hubbub.server.accounts import (
    HELD_ELSEWHERE,
    AccountService,
    Outcome,
    log_in,
    log_out,
    new_account_problem,
    password_problem,
    service_of,
    valid_email,
)
from hubbub.server.commands.accounts import (
    SERVICE_NAME,
    THROTTLED,
    change_nick,
    create_account,
    login_refused,
    service_notice,
    watch_nick,
)
from hubbub.server.commands.dispatch import (
    Command,
    Context,
    Help,
    defer_reply,
    finish_deferred,
    hold_input,
)
from hubbub.server.events import Relayed
from hubbub.server.response import Response
from hubbub.server.session import Session
from hubbub.server.user import User
from hubbub.storage.base import AccountRecord

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.plugins import PluginAPI

__all__ = ["COMMANDS", "SERVICE_NAME", "answer_message", "handle_service_message", "setup"]


def setup(api: PluginAPI) -> None:
    """Put NickServ on the network and add ``NICKSERV`` and ``NS``."""
    server = api.server
    api.add_service(
        SERVICE_NAME,
        lambda event: answer_message(server, event),
        username=SERVICE_NAME,
        realname="The account service",
    )
    for name, command in COMMANDS.items():
        api.add_command(name, command)


def answer_message(server: Server, event: Relayed) -> None:
    """A message sent to the NickServ user: each PRIVMSG line is a NickServ command from
    its sender (a NOTICE is never answered; nor is a user with no connection here)."""
    if event.command != "PRIVMSG" or not isinstance(event.target, User):
        return
    session = event.source.session
    if session is None or session.closed:
        return
    reply = Response(session, server.name, None)
    for text in event.texts:
        ctx = Context(server, session, Message("PRIVMSG", (event.shown, text)), reply)
        with server.answering(reply):
            if session.checking_password:
                # (lines that came in one block: the core holds only what it has not read)
                _notice(ctx, reply, "Wait for the answer to your last command, then try again.")
            else:
                handle_service_message(ctx, text)
        if session.closed:
            return
    reply.flush()


def handle_nickserv(ctx: Context) -> None:
    """``NICKSERV <command> [<args>...]`` and ``NS``: a NickServ command without a PRIVMSG."""
    handle_service_message(ctx, " ".join(ctx.params))


_HELP = (
    "NickServ keeps accounts. Commands:",
    "REGISTER <password> [email]: register your current nick as an account",
    "IDENTIFY [account] <password>: log in (so does SASL, which most clients offer)",
    "LOGOUT: log out",
    "INFO [account]: about an account",
    "PASSWORD <new password>: change your password (when logged in)",
    "GHOST <nick>: disconnect whoever is using a nick of your account",
    "REGAIN <nick>: disconnect whoever is using a nick of your account, and take it",
)


def _notice(ctx: Context, reply: Response, text: str) -> None:
    service_notice(ctx.server, ctx.session, reply, text)


def handle_service_message(ctx: Context, text: str) -> None:
    """A line for NickServ, from ``PRIVMSG NickServ :<text>``, ``NICKSERV`` or ``NS``."""
    words = text.split()
    command = words[0].upper() if words else "HELP"
    args = words[1:]
    service = service_of(ctx.server)
    if service is None:
        _notice(ctx, ctx.reply, "Accounts are not available on this server.")
        return
    handler = _SERVICE_COMMANDS.get(command)
    if handler is None:
        _notice(ctx, ctx.reply, f"Unknown command {command}. Try HELP.")
        return
    handler(ctx, service, args)


def _ns_help(ctx: Context, service: AccountService, args: list[str]) -> None:
    for line in _HELP:
        _notice(ctx, ctx.reply, line)


def _ns_register(ctx: Context, service: AccountService, args: list[str]) -> None:
    session = ctx.session
    if not args or len(args) > 2:
        _notice(ctx, ctx.reply, "Syntax: REGISTER <password> [email]")
        return
    if session.user.account is not None:
        _notice(ctx, ctx.reply, f"You are already logged in as {session.user.account}.")
        return
    if ctx.server.config.accounts.registration == "closed":
        _notice(ctx, ctx.reply, "Account registration is closed on this server.")
        return
    name, password = session.user.nick, args[0]
    email = args[1] if len(args) > 1 else ""
    problem = new_account_problem(ctx.server, service, name, password)
    if problem is not None:
        _notice(ctx, ctx.reply, f"Cannot register {name}: {problem[1]}.")
        return
    if email and not valid_email(email):
        _notice(ctx, ctx.reply, f"Cannot register {name}: that is not an e-mail address.")
        return
    if not ctx.server.admit_registration(session):
        _notice(ctx, ctx.reply, f"Cannot register {name}: {THROTTLED.lower()}.")
        return

    def answer(later: Response, outcome: Outcome, record: AccountRecord | None) -> None:
        if record is not None:
            _notice(ctx, later, f"Account {record.name} registered; you are logged in.")
        elif outcome is Outcome.TAKEN:
            _notice(ctx, later, f"Cannot register {name}: an account with that name exists.")
        else:
            _notice(ctx, later, "Could not store the account; try again later.")

    create_account(ctx, service, name, email, password, answer)


def _ns_identify(ctx: Context, service: AccountService, args: list[str]) -> None:
    server, session = ctx.server, ctx.session
    if len(args) == 1:
        name, password = session.user.nick, args[0]
    elif len(args) == 2:
        name, password = args
    else:
        _notice(ctx, ctx.reply, "Syntax: IDENTIFY [account] <password>")
        return
    record = service.find(server, name)
    if record is not None and record.folded in service.conflicts:
        _notice(ctx, ctx.reply, HELD_ELSEWHERE.format(name=record.name) + ".")
        return
    later = defer_reply(ctx)
    hold_input(ctx)

    def done(record: AccountRecord | None) -> None:
        if not session.closed:
            if record is None:
                _notice(ctx, later, "Invalid account name or password.")
            else:
                log_in(server, session, record, later)
                _notice(ctx, later, f"You are now identified as {record.name}.")
                watch_nick(server, session, later)
        finish_deferred(ctx, later)
        if record is None:
            login_refused(server, session, later)

    service.verify(server, name, password, done)


def _ns_logout(ctx: Context, service: AccountService, args: list[str]) -> None:
    if ctx.session.user.account is None:
        _notice(ctx, ctx.reply, "You are not logged in.")
        return
    log_out(ctx.server, ctx.session, ctx.reply)
    _notice(ctx, ctx.reply, "You are now logged out.")
    watch_nick(ctx.server, ctx.session, ctx.reply)


def _ns_info(ctx: Context, service: AccountService, args: list[str]) -> None:
    server, session = ctx.server, ctx.session
    name = args[0] if args else (session.user.account or session.user.nick)
    record = service.find(server, name)
    if record is None:
        _notice(ctx, ctx.reply, f"{name} is not a registered account.")
        return
    created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.created))
    _notice(ctx, ctx.reply, f"Account {record.name}, registered {created}")
    mine = session.user.account is not None and server.fold(session.user.account) == server.fold(
        name
    )
    if mine:
        _notice(ctx, ctx.reply, "You are logged in to this account.")
        if record.email:
            _notice(ctx, ctx.reply, f"E-mail: {record.email}")
    online = sorted(
        u.nick
        for u in server.network.logged_in(record.name)
        if u.session is None or u.session.registered
    )
    if online:
        _notice(ctx, ctx.reply, f"Logged in now: {' '.join(online)}")


def _ns_password(ctx: Context, service: AccountService, args: list[str]) -> None:
    server, session = ctx.server, ctx.session
    record = (
        service.find(server, session.user.account) if session.user.account is not None else None
    )
    if record is None:
        _notice(ctx, ctx.reply, "Log in first.")
        return
    if len(args) != 1:
        _notice(ctx, ctx.reply, "Syntax: PASSWORD <new password>")
        return
    problem = password_problem(args[0], server.config.accounts.password_min_length)
    if problem is not None:
        _notice(ctx, ctx.reply, f"Cannot use that password: {problem[1]}.")
        return
    later = defer_reply(ctx)
    hold_input(ctx)

    def done(outcome: Outcome) -> None:
        if not session.closed:
            if outcome is Outcome.DONE:
                _notice(ctx, later, "Password changed.")
            else:
                _notice(ctx, later, "Could not change the password; try again later.")
        finish_deferred(ctx, later)

    service.change_password(server, record, args[0], done)


def _own_nick(
    ctx: Context, service: AccountService, args: list[str], command: str
) -> tuple[str, Session | None] | None:
    """The nick named in ``args`` and the client using it (None if nobody is), when the
    caller is logged in to the account that owns the nick; None, having said why, if not."""
    server, session = ctx.server, ctx.session
    if len(args) != 1:
        _notice(ctx, ctx.reply, f"Syntax: {command} <nick>")
        return None
    nick = args[0]
    if session.user.account is None:
        _notice(ctx, ctx.reply, "Log in first.")
        return None
    record = service.find(server, nick)
    if record is None or record.folded != server.fold(session.user.account):
        _notice(ctx, ctx.reply, f"{nick} is not a nick of your account.")
        return None
    holder = server.network.users.get(record.folded)
    return nick, holder.session if holder is not None else None


def _ns_ghost(ctx: Context, service: AccountService, args: list[str]) -> None:
    found = _own_nick(ctx, service, args, "GHOST")
    if found is None:
        return
    nick, holder = found
    if holder is None:
        _notice(ctx, ctx.reply, f"Nobody is using {nick}.")
    elif holder is ctx.session:
        _notice(ctx, ctx.reply, f"You are {holder.user.nick}.")
    else:
        gone = holder.user.nick
        ctx.server.quit(holder, f"GHOST command used by {ctx.session.user.nick}")
        _notice(ctx, ctx.reply, f"{gone} has been disconnected.")


def _ns_regain(ctx: Context, service: AccountService, args: list[str]) -> None:
    found = _own_nick(ctx, service, args, "REGAIN")
    if found is None:
        return
    nick, holder = found
    if holder is ctx.session and ctx.session.user.nick == nick:
        _notice(ctx, ctx.reply, f"You are {nick} already.")
        return
    if holder is not None and holder is not ctx.session:
        ctx.server.quit(holder, f"REGAIN command used by {ctx.session.user.nick}")
    change_nick(ctx.server, ctx.session, nick, ctx.reply)
    if ctx.session.user.nick == nick:
        _notice(ctx, ctx.reply, f"You have regained {nick}.")


_SERVICE_COMMANDS: dict[str, Callable[[Context, AccountService, list[str]], None]] = {
    "HELP": _ns_help,
    "REGISTER": _ns_register,
    "IDENTIFY": _ns_identify,
    "LOGIN": _ns_identify,
    "LOGOUT": _ns_logout,
    "INFO": _ns_info,
    "PASSWORD": _ns_password,
    "PASSWD": _ns_password,
    "GHOST": _ns_ghost,
    "REGAIN": _ns_regain,
}


COMMANDS = {
    "NICKSERV": Command(
        handle_nickserv,
        help=Help("<command> [<args>...]", "Talks to NickServ, the account service."),
    ),
    "NS": Command(handle_nickserv, help=Help("<command> [<args>...]", "Short for NICKSERV.")),
}
"""The commands NickServ adds."""
