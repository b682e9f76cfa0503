"""Operator commands: OPER, KILL, WALLOPS and REHASH, and the server notices they raise."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from hubbub.config import Config, ConfigError, OperSection
from hubbub.passwords import check_password
from hubbub.protocol import numerics as n
from hubbub.protocol.isupport import chunk
from hubbub.protocol.masks import mask_matches
from hubbub.protocol.message import Message
from hubbub.server.commands.accounts import login_refused, reload_accounts
from hubbub.server.commands.channels import find_user
from hubbub.server.commands.dispatch import (
    Command,
    Context,
    Help,
    defer_reply,
    finish_deferred,
    hold_input,
)
from hubbub.server.pluginloading import Imported, import_plugins
from hubbub.server.response import Response
from hubbub.server.session import Session

if TYPE_CHECKING:
    from hubbub.server.core import Server

log = logging.getLogger("hubbub.oper")

OPER_MODES = "os"
"""User modes an operator gets on OPER: ``o`` (operator) and ``s`` (server notices)."""


def find_oper(server: Server, name: str) -> OperSection | None:
    """The ``[[oper]]`` block called ``name`` (names compare case-insensitively)."""
    wanted = name.lower()
    return next((oper for oper in server.config.opers if oper.name.lower() == wanted), None)


def host_allowed(server: Server, oper: OperSection, session: Session) -> bool:
    """True if the connection matches the block's host mask, by host or IP, with or
    without ``user@`` or ``nick!user@`` in front."""
    subjects: set[str] = set()
    for host in (session.user.host, session.peer.ip):
        subjects.update(
            (
                host,
                f"{session.user.username}@{host}",
                f"{session.user.nick}!{session.user.username}@{host}",
            )
        )
    return any(mask_matches(oper.host, subject, server.casemapping) for subject in subjects)


def oper_refused(
    server: Server, session: Session, reply: Response, name: str, reason: str, detail: str
) -> None:
    """A refused OPER (its numeric is in ``reply``): tell the operators (``reason``), log it
    with the real address (``detail``), and count it as a refused login, so a password
    guesser is disconnected after a few tries like one guessing account passwords."""
    who = f"{session.user.nick} ({session.user.username}@{session.user.host})"
    server.snotice(f"Failed OPER attempt by {who} [{name}]: {reason}")
    log.warning(
        "failed OPER as %r by %s (%s@%s) from %s: %s",
        name,
        session.user.nick,
        session.user.username,
        session.user.host,
        session.peer.ip,
        detail,
    )
    login_refused(server, session, reply)


def handle_oper(ctx: Context) -> None:
    server, session = ctx.server, ctx.session
    name, password = ctx.params[0], ctx.params[1]
    oper = find_oper(server, name)
    if oper is None or not host_allowed(server, oper, session):
        ctx.reply.numeric(n.ERR_NOOPERHOST, "No O-lines for your host")
        detail = "no oper block of that name" if oper is None else "host does not match"
        oper_refused(server, session, ctx.reply, name, "no matching oper block", detail)
        return
    stored = oper.password
    inline = True  # while True, the check ran inside this handler and ctx.reply is open

    def done(ok: bool) -> None:
        if session.closed:
            return
        reply = ctx.reply if inline else Response(session, server.name, None)
        if ok:
            become_oper(server, session, reply, oper.name)
        else:
            reply.numeric(n.ERR_PASSWDMISMATCH, "Password incorrect")
            oper_refused(server, session, reply, oper.name, "wrong password", "wrong password")
        if not inline:
            reply.flush()

    def done_held(ok: bool) -> None:
        done(ok)
        server.resume(session)

    if stored.startswith("$argon2"):
        # An argon2 check takes tens of milliseconds: the application runs it off the event
        # loop, and the client's further input waits for the answer.
        session.checking_password = True
        server.offload(lambda: check_password(stored, password), done_held, "hash", abandon=True)
    else:
        done(check_password(stored, password))  # constant-time compare: answer in order
    inline = False


def become_oper(server: Server, session: Session, reply: Response, name: str) -> None:
    """Grant operator status: RPL_YOUREOPER, then the user modes gained."""
    if session.user not in server.network.opers:  # the others hear of it; the new one gets 381
        server.snotice(
            f"{session.user.nick} ({session.user.username}@{session.user.host}) "
            f"is now an IRC operator (as {name})"
        )
    added = "".join(m for m in OPER_MODES if m not in session.user.modes)
    reply.numeric(n.RPL_YOUREOPER, "You are now an IRC operator")
    if added:
        with server.answering(reply):
            server.network.set_user_modes(session.user, added, "")


def handle_kill(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    nick = ctx.params[0]
    reason = (ctx.params[1] if len(ctx.params) > 1 else "") or "No reason given"
    victim = server.find_user(nick)
    if victim is None and mask_matches(nick, server.name, server.casemapping):
        reply.numeric(n.ERR_CANTKILLSERVER, "You cant kill a server!")
        return
    if victim is None:
        reply.numeric(n.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    killed = victim.session
    if killed is None:
        reply.numeric(n.ERR_NOPRIVILEGES, "Permission Denied- You cannot kill a service")
        return
    server.send(
        killed,
        Message("KILL", (victim.nick, reason), session.user.prefix, server.tags(session.user)),
    )
    server.snotice(
        f"Received KILL message for {victim.nick} ({victim.username}@{victim.host}) "
        f"from {session.user.nick}: {reason}"
    )
    if killed is session:
        reply.flush()  # the dispatcher does not flush for a closed session
    server.quit(killed, f"Killed ({session.user.nick} ({reason}))")


def handle_wallops(ctx: Context) -> None:
    server, session = ctx.server, ctx.session
    text = ctx.params[0]
    if not text:
        ctx.reply.numeric(n.ERR_NEEDMOREPARAMS, "WALLOPS", "Not enough parameters")
        return
    msg = Message("WALLOPS", (text,), session.user.prefix, server.tags(session.user))
    server.deliver((s.user for s in server.sessions if s.registered and "w" in s.user.modes), msg)


def handle_rehash(ctx: Context) -> None:
    """REHASH: read the config again (off the event loop), then apply it whole or not at all;
    once applied, read the accounts from the database again (:func:`reload_accounts`).

    The files are read and checked by the host's ``reload_config`` through ``server.offload``
    (a thread in the application); the oper's next lines wait until the answer is out, which
    is once the accounts are reloaded too.
    """
    server, session = ctx.server, ctx.session
    later = defer_reply(ctx)
    hold_input(ctx)

    def reloaded(news: str | None, failed: bool) -> None:
        if news is not None:
            if not session.closed:
                later.add(server.notice(session, f"*** {news}"))
            snotice_others(server, session, news)
        finish_deferred(ctx, later)

    def done(loaded: Reread | str) -> None:
        if session.closed:
            return
        apply_rehash(server, session, later, loaded)
        if isinstance(loaded, str):
            finish_deferred(ctx, later)
        else:
            reload_accounts(server, reloaded)

    server.offload(lambda: read_config(server), done)


Reread = tuple[Config, list[str], Imported]
"""What REHASH read: the config, its MOTD, and the plugins it names, imported afresh."""


def read_config(server: Server) -> Reread | str:
    """REHASH's reading, in a worker thread: the config file again, with its MOTD (read now,
    so that a bad file changes nothing) and its plugins imported afresh (so that the answer
    comes once they run), or why it cannot be used."""
    old = server.config
    try:
        new = server.host.reload_config() or old
        if new.server.casemapping != old.server.casemapping:
            raise ValueError(
                "server.casemapping cannot change while the server runs; restart instead"
            )
        motd = new.motd_lines()
    except (ConfigError, OSError, ValueError) as exc:
        return str(exc)
    return new, motd, import_plugins(server.plugins.to_import(new))


def rehash(
    server: Server, new: Config, motd: list[str], imported: Imported, by: Session | None
) -> list[list[str]]:
    """Apply a config :func:`read_config` read: the core and the host take it, the plugins
    are set up again (what went wrong is in ``server.plugins.problems``), registered clients
    (but ``by``, who is answered) hear the ISUPPORT tokens that changed. Returns those tokens
    in ``005``-sized groups."""
    old_tokens = [token for line in server.isupport for token in line]
    server.apply_config(new, motd)
    server.host.config_applied(new)
    server.plugins.apply(new, imported)
    changed = changed_isupport(server, old_tokens)
    for tokens in changed:
        for client in list(server.sessions):
            if client.registered and client is not by:
                params = (client.user.nick, *tokens, "are supported by this server")
                server.send(client, Message(n.RPL_ISUPPORT, params, server.name))
    return changed


def apply_rehash(server: Server, session: Session, reply: Response, loaded: Reread | str) -> None:
    """Apply a config REHASH read (or report why it could not be read), and say which
    plugins failed to load again."""
    if isinstance(loaded, str):
        reply.add(server.notice(session, f"*** REHASH failed, keeping the old config: {loaded}"))
        snotice_others(
            server, session, f"{session.user.nick} failed to rehash the config: {loaded}"
        )
        return
    new, motd, imported = loaded
    reply.numeric(n.RPL_REHASHING, config_name(new), "Rehashing")
    for tokens in rehash(server, new, motd, imported, session):
        reply.numeric(n.RPL_ISUPPORT, *tokens, "are supported by this server")
    if "s" not in session.user.modes:  # (an operator with +s was told already)
        for problem in server.plugins.problems:
            reply.add(server.notice(session, f"*** {problem}"))
    snotice_others(server, session, f"{session.user.nick} is rehashing the server config file")


def config_name(config: Config) -> str:
    """The config file's name as RPL_REHASHING shows it."""
    return config.path.name if config.path is not None else "*"


def changed_isupport(server: Server, old_tokens: list[str]) -> list[list[str]]:
    """The ISUPPORT tokens a rehash changed, and ``-TOKEN`` for removed ones, in ``005``-sized
    groups (Modern IRC: a server SHOULD re-advertise a parameter whose value changed)."""
    new_tokens = [token for line in server.isupport for token in line]
    before = set(old_tokens)
    changed = [token for token in new_tokens if token not in before]
    kept = {token.partition("=")[0] for token in new_tokens}
    removed = [f"-{key}" for key in (t.partition("=")[0] for t in old_tokens) if key not in kept]
    return chunk(changed + removed)


def snotice_others(server: Server, actor: Session, text: str) -> None:
    """A server notice for every operator with ``+s`` except ``actor``, who gets a reply."""
    for oper in list(server.network.opers):
        if oper.session is not None and oper.session is not actor and "s" in oper.modes:
            server.send(oper.session, server.notice(oper.session, f"*** {text}"))


def handle_chghost(ctx: Context) -> None:
    """CHGHOST <nick> <host>: give a user a virtual host (a vhost), e.g. a project name."""
    server, session, reply = ctx.server, ctx.session, ctx.reply
    target = find_user(ctx, ctx.params[0])
    if target is None:
        return
    host = ctx.params[1]
    if not VHOST_RE.fullmatch(host) or len(host) > 64:
        reply.fail("CHGHOST", "INVALID_HOST", host if " " not in host else "*", "Invalid host")
        return
    if host == target.host:
        return
    server.network.change_host(target, target.username, host)
    server.snotice(
        f"{session.user.nick} changed the host of {target.nick} to {host}", but=session.user
    )
    reply.add(server.notice(session, f"Changed the host of {target.nick} to {host}"))


VHOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:/_-]*")
"""What a virtual host may contain (no characters with a meaning in masks or lines)."""

COMMANDS = {
    "CHGHOST": Command(
        handle_chghost,
        min_params=2,
        oper=True,
        help=Help("<nick> <host>", "Gives a user a virtual host (operators only)."),
    ),
    "OPER": Command(
        handle_oper,
        min_params=2,
        help=Help("<name> <password>", "Makes you an IRC operator with configured credentials."),
    ),
    "KILL": Command(
        handle_kill,
        min_params=1,
        oper=True,
        help=Help("<nick> [<reason>]", "Disconnects a user from the server (operators only)."),
    ),
    "WALLOPS": Command(
        handle_wallops,
        min_params=1,
        oper=True,
        help=Help("<text>", "Sends a message to every user with mode +w (operators only)."),
    ),
    "REHASH": Command(
        handle_rehash,
        oper=True,
        help=Help("", "Reloads the server's configuration file (operators only)."),
    ),
}
