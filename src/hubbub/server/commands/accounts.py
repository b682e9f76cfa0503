"""Accounts: AUTHENTICATE (SASL), REGISTER and VERIFY (IRCv3 account-registration), and nick
protection. NickServ, for the clients that know only that, is a plugin built on these:
:mod:`hubbub.plugins.nickserv`.

Password checks and account writes run off the event loop (``server.offload``); their
answer goes out when they finish, carrying the label of the command that asked. Meanwhile
the core holds the client's next lines (``session.checking_password``, then
``server.resume``), so replies keep their order: ``900``/``903`` come before ``001`` even
when ``CAP END`` was sent right after the credentials, and no second exchange can start
while one is being checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubbub.protocol import numerics as n
from hubbub.protocol.caps import Cap
from hubbub.protocol.casemap import Folded
from hubbub.protocol.message import Message
from hubbub.protocol.sasl import ChunkTooLong, PayloadError, chunk
from hubbub.server.accounts import (
    MAX_LOGIN_FAILURES,
    NICKSERV,
    AccountService,
    AuthState,
    Outcome,
    Reloaded,
    guest_nick,
    log_in,
    log_out,
    new_account_problem,
    reserved_for_other,
    service_of,
    valid_email,
)
from hubbub.server.commands.dispatch import (
    Command,
    Context,
    Help,
    defer_reply,
    finish_deferred,
    hold_input,
)
from hubbub.server.delivery import format_time
from hubbub.server.response import Response
from hubbub.server.sasl import (
    MECHANISMS,
    Challenge,
    CheckPassword,
    Failure,
    PlainMechanism,
    ScramSha256Mechanism,
    ServerMechanism,
    Step,
    Success,
)
from hubbub.server.session import Session
from hubbub.storage.base import AccountRecord

if TYPE_CHECKING:
    from hubbub.server.core import Server

__all__ = [
    "COMMANDS",
    "SERVICE_NAME",
    "THROTTLED",
    "change_nick",
    "create_account",
    "account_created",
    "account_deleted",
    "expire_grace",
    "login_refused",
    "nick_refused",
    "registration_nick_refused",
    "service_notice",
    "reload_accounts",
    "watch_nick",
]

log = logging.getLogger("hubbub.accounts")

SERVICE_NAME = NICKSERV
"""The nick the account service answers as."""


# -- SASL ------------------------------------------------------------------------------------


def abort_on_registration(ctx: Context) -> None:
    """IRCv3 SASL: a client that ends CAP negotiation in the middle of an exchange has it
    aborted (906) rather than left hanging."""
    service = service_of(ctx.server)
    if service is None:
        return
    state = service.exchange(ctx.session)
    if state is not None and state.mechanism is not None:
        _sasl_fail(ctx, state, n.ERR_SASLABORTED)


def _sasl_fail(ctx: Context, state: AuthState, code: str = n.ERR_SASLFAIL) -> None:
    state.reset()
    texts = {
        n.ERR_SASLFAIL: "SASL authentication failed",
        n.ERR_SASLTOOLONG: "SASL message too long",
        n.ERR_SASLABORTED: "SASL authentication aborted",
    }
    ctx.reply.numeric(code, texts[code])


def login_refused(server: Server, session: Session, reply: Response) -> None:
    """Count a refused login (a wrong password or SCRAM proof, an unknown account, a refused
    OPER: one counter per connection); the last one allowed disconnects, once its reply
    is out."""
    session.login_failures += 1
    if server.metrics is not None:
        server.metrics.logins_refused += 1
    if session.login_failures < MAX_LOGIN_FAILURES or session.closed:
        return
    log.info("%s: too many failed logins; disconnecting", session)
    if reply.messages:  # the refusal goes out before the ERROR
        reply.flush()
    reason = "Too many failed login attempts"
    server.quit(session, reason, error=reason)


def _new_mechanism(ctx: Context, service: AccountService, name: str) -> ServerMechanism | None:
    if name == "PLAIN":
        return PlainMechanism()
    if name == "SCRAM-SHA-256":
        return ScramSha256Mechanism(service.scram_lookup(ctx.server))
    return None


def handle_authenticate(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    service = service_of(server)
    param = ctx.params[0]
    if service is None or not session.caps & Cap.SASL:
        reply.numeric(n.ERR_SASLFAIL, "SASL authentication failed: the sasl capability is off")
        return
    state = service.state(session)
    if param == "*":
        _sasl_fail(ctx, state, n.ERR_SASLABORTED)
        return
    mechanism = state.mechanism
    if mechanism is None:
        if session.user.account is not None and not session.registered:
            # SASL 3.1: one login before registration; 3.2 re-authentication comes after it.
            reply.numeric(n.ERR_SASLALREADY, "You have already authenticated using SASL")
            return
        mechanism = _new_mechanism(ctx, service, param.upper())
        if mechanism is None:
            reply.numeric(n.RPL_SASLMECHS, ",".join(MECHANISMS), "are available SASL mechanisms")
            _sasl_fail(ctx, state)
            return
        state.reset()
        state.mechanism = mechanism
        reply.add(Message("AUTHENTICATE", ("+",), server.name))
        return
    try:
        data = state.reader.feed(param)
    except ChunkTooLong:
        _sasl_fail(ctx, state, n.ERR_SASLTOOLONG)
        return
    except PayloadError:
        _sasl_fail(ctx, state)
        return
    if data is not None:
        _advance(ctx, service, state, mechanism.step(data))


def _advance(ctx: Context, service: AccountService, state: AuthState, step: Step) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    if isinstance(step, Challenge):
        for part in chunk(step.data):
            reply.add(Message("AUTHENTICATE", (part,), server.name))
    elif isinstance(step, Failure):
        log.info("SASL failure for %s: %s", session, step.reason)
        if step.guessed:
            service.guessed_wrong(server, step.guessed)
        _sasl_fail(ctx, state)
        login_refused(server, session, reply)
    elif isinstance(step, Success):
        record = service.find(server, step.username)
        if record is None or not service.usable(record.folded):
            _sasl_fail(ctx, state)
            login_refused(server, session, reply)
            return
        state.reset()
        log_in(server, session, record, reply)
        reply.numeric(n.RPL_SASLSUCCESS, "SASL authentication successful")
        watch_nick(server, session, reply)
    elif isinstance(step, CheckPassword):
        state.reset()
        later = defer_reply(ctx)
        hold_input(ctx)

        def done(record: AccountRecord | None) -> None:
            if not session.closed:
                if record is None:
                    log.info("SASL PLAIN failure for %s", session)
                    later.numeric(n.ERR_SASLFAIL, "SASL authentication failed")
                else:
                    log_in(server, session, record, later)
                    later.numeric(n.RPL_SASLSUCCESS, "SASL authentication successful")
                    watch_nick(server, session, later)
            finish_deferred(ctx, later)
            if record is None:
                login_refused(server, session, later)

        service.verify(server, step.username, step.password, done)


# -- account registration (draft/account-registration) ---------------------------------------

THROTTLED = "Too many accounts registered from your address; try again later"
"""Why a registration is refused by the throttle (``[accounts] register_burst``)."""


def create_account(
    ctx: Context,
    service: AccountService,
    name: str,
    email: str,
    password: str,
    answer: Callable[[Response, Outcome, AccountRecord | None], None],
) -> None:
    """Register ``name`` and log the client in to it; ``answer`` adds the command's own reply
    once the account is stored (or not)."""
    server, session = ctx.server, ctx.session
    later = defer_reply(ctx)
    hold_input(ctx)

    def done(outcome: Outcome, record: AccountRecord | None) -> None:
        if not session.closed:
            if record is not None:
                log_in(server, session, record, later)
            answer(later, outcome, record)
            if record is not None:
                watch_nick(server, session, later)
        if record is not None:
            holder = server.network.users.get(record.folded)
            if holder is not None and holder.session is not None and holder is not session.user:
                watch_nick(server, holder.session)  # someone else is on the nick just registered
        finish_deferred(ctx, later)

    service.register(server, name, email, password, done)


def handle_register(ctx: Context) -> None:
    server, session, reply = ctx.server, ctx.session, ctx.reply
    account, email, password = ctx.params[0], ctx.params[1], ctx.params[2]
    name = session.user.nick if account == "*" else account
    service = service_of(server)
    if service is None:
        reply.fail(
            "REGISTER", "TEMPORARILY_UNAVAILABLE", name, "This server has no account storage"
        )
        return
    policy = server.config.accounts.registration
    if policy == "closed":
        # The spec has no code for "never": this is the one it has for "not now".
        reply.fail(
            "REGISTER",
            "TEMPORARILY_UNAVAILABLE",
            name,
            "Account registration is closed on this server",
        )
        return
    if not session.registered and (server.config.auth.password or policy == "after-connect"):
        reply.fail(
            "REGISTER",
            "COMPLETE_CONNECTION_REQUIRED",
            name,
            "Register after connecting (PASS first)"
            if server.config.auth.password
            else "Register after connecting",
        )
        return
    if session.user.nick == "*":
        # The spec: no ACCOUNT_EXISTS before NICK, even for a custom account name.
        reply.fail("REGISTER", "NEED_NICK", "*", "Choose a nickname first")
        return
    if session.user.account is not None:
        reply.fail(
            "REGISTER", "ALREADY_AUTHENTICATED", session.user.account, "You are already logged in"
        )
        return
    problem = new_account_problem(server, service, name, password)
    if problem is not None:
        reply.fail("REGISTER", problem[0], name, problem[1])
        return
    if email != "*" and not valid_email(email):
        reply.fail("REGISTER", "INVALID_EMAIL", name, "That is not an e-mail address")
        return
    if not server.admit_registration(session):
        reply.fail("REGISTER", "TEMPORARILY_UNAVAILABLE", name, THROTTLED)
        return

    def answer(later: Response, outcome: Outcome, record: AccountRecord | None) -> None:
        if record is not None:
            later.add(Message("REGISTER", ("SUCCESS", record.name, "Account created"), server.name))
        elif outcome is Outcome.TAKEN:
            later.fail("REGISTER", "ACCOUNT_EXISTS", name, "An account with that name exists")
        else:
            later.fail("REGISTER", "TEMPORARILY_UNAVAILABLE", name, "Could not store the account")

    create_account(ctx, service, name, "" if email == "*" else email, password, answer)


def handle_verify(ctx: Context) -> None:
    # Accounts are usable at once (no e-mail is sent), so there is never a code to check.
    account = ctx.params[0]
    if ctx.session.user.account is not None:
        ctx.reply.fail(
            "VERIFY", "ALREADY_AUTHENTICATED", ctx.session.user.account, "You are already logged in"
        )
        return
    ctx.reply.fail("VERIFY", "INVALID_CODE", account, "No verification is pending")


# -- nick protection -------------------------------------------------------------------------


def service_notice(server: Server, session: Session, reply: Response, text: str) -> None:
    """A NOTICE from NickServ to ``session``, into ``reply``: what the account service says
    (its own answers, in :mod:`hubbub.plugins.nickserv`, and the nick protection's)."""
    source = f"{SERVICE_NAME}!{SERVICE_NAME}@services.{server.name}"
    reply.add(Message("NOTICE", (session.user.nick, text), source, service_tags(server)))


def service_tags(server: Server) -> dict[str, str]:
    """The time and a msgid of its own for a service's NOTICE, as every NOTICE should have
    (IRCv3 message-ids, server-time; clients without the capabilities are not sent them)."""
    stamp = server.network.stamp()
    return {"time": format_time(stamp.time), "msgid": stamp.msgid}


def watch_nick(server: Server, session: Session, reply: Response | None = None) -> None:
    """Nick protection, after ``session`` took a nick, registered, logged in or out.

    A client on a nick reserved by an account it is not logged in to is told, and its grace
    period starts (:func:`expire_grace` renames it when that ends); any other client's
    countdown stops. The notice goes into ``reply``, or straight to the client when None.
    """
    service = service_of(server)
    if service is None or not session.registered:
        return
    record = reserved_for_other(server, session)
    if record is None:
        service.grace.pop(session, None)
        return
    if session in service.grace:
        return  # still counting down: hopping between reserved nicks buys no time
    grace = server.config.accounts.nick_grace
    service.grace[session] = server.clock() + grace
    out = reply if reply is not None else Response(session, server.name, None)
    service_notice(
        server,
        session,
        out,
        f"The nick {session.user.nick} is registered to the account {record.name}. Log in to it "
        f"within {grace:g} seconds (/msg {SERVICE_NAME} IDENTIFY <password>), or your nick "
        f"will be changed.",
    )
    if reply is None:
        out.flush()


def account_created(server: Server, record: AccountRecord) -> None:
    """An account appeared other than by its holder's REGISTER (the admin API, a reload):
    nick protection for whoever is on its nick."""
    holder = server.network.users.get(record.folded)
    if holder is not None and holder.session is not None:
        watch_nick(server, holder.session)


def account_deleted(server: Server, record: AccountRecord) -> list[str]:
    """An account is gone: log out every session of it (RPL_LOGGEDOUT, ``ACCOUNT *``, a
    notice saying why) and release its nick; returns the nicks logged out."""
    folded = server.fold(record.name)
    nicks: list[str] = []
    for session in list(server.sessions):
        account = session.user.account
        if account is not None and server.fold(account) == folded:
            reply = Response(session, server.name, None)
            log_out(server, session, reply)
            reply.add(server.notice(session, f"The account {record.name} was deleted"))
            reply.flush()
            watch_nick(server, session)
            nicks.append(session.user.nick)
    account_created(server, record)  # its nick is no longer reserved: no countdown
    return nicks


def reload_accounts(server: Server, done: Callable[[str | None, bool], None]) -> None:
    """REHASH's part for accounts: read them all from the database again (off the event
    loop), so that the server sees what was changed behind its back (``hubbub account`` on
    the file). Sessions of deleted accounts are logged out; whoever is on the nick of a new
    account is told to log in.

    ``done`` gets a sentence for the operators (None when nothing changed) and whether the
    reload failed (the database failed: the accounts in memory are kept); the log has it
    already, telling the operators is the caller's part."""
    service = service_of(server)
    if service is None:
        done(None, False)
        return

    def reloaded(result: Reloaded | None) -> None:
        if result is None:
            done("Could not reload the accounts from the database; see the server's log", True)
            return
        logged_out: list[str] = []
        for record in result.removed:
            logged_out += account_deleted(server, record)
        for record in result.added:
            account_created(server, record)
        summary = (
            f"{result.total} accounts ({len(result.added)} new, {len(result.removed)} "
            f"deleted, {len(result.changed)} changed)"
        )
        if logged_out:
            summary += f"; logged out: {' '.join(logged_out)}"
        log.info("reloaded the accounts from the database: %s", summary)
        changed = result.added or result.removed or result.changed
        done(f"Reloaded the accounts from the database: {summary}" if changed else None, False)

    service.reload(server, reloaded)


def expire_grace(server: Server, now: float) -> None:
    """Rename each client whose grace period is over and who is still on a nick reserved
    by an account it has not logged in to (the server's timer runs this each second; it
    looks only at the clients counting down)."""
    service = service_of(server)
    if service is None:
        return
    due = [session for session, end in service.grace.items() if end <= now]
    for session in due:
        if session.checking_password:
            continue  # a login is being checked: its answer decides, at the next tick
        del service.grace[session]
        if session.closed or not session.registered:
            continue
        record = reserved_for_other(server, session)
        if record is not None:
            _rename_to_guest(server, session, record)


def _rename_to_guest(server: Server, session: Session, record: AccountRecord) -> None:
    guest = guest_nick(server)
    if guest is None:  # only a tiny NICKLEN leaves no guest nick free
        server.quit(session, "Nickname is registered", error="Nickname is registered")
        return
    reply = Response(session, server.name, None)
    service_notice(
        server,
        session,
        reply,
        f"You did not log in to the account {record.name} in time: your nick is now {guest}.",
    )
    change_nick(server, session, guest, reply)
    reply.flush()


def change_nick(server: Server, session: Session, nick: str, reply: Response) -> None:
    """Change ``session``'s nick as if it had sent ``NICK <nick>`` (its replies in ``reply``)."""
    # The registration commands import this module: their NICK is looked up when needed.
    from hubbub.server.commands.registration import handle_nick

    with server.answering(reply):
        handle_nick(Context(server, session, Message("NICK", (nick,)), reply))


def nick_refused(
    server: Server, session: Session, nick: str, folded: Folded, reply: Response
) -> bool:
    """``[accounts] nick_protection = "strict"``: True, having answered ``433``, when ``nick``
    is reserved by an account ``session`` is not logged in to."""
    if server.config.accounts.nick_protection != "strict":
        return False
    if reserved_for_other(server, session, folded) is None:
        return False
    reply.numeric(n.ERR_NICKNAMEINUSE, nick, "Nickname is reserved by a different account")
    return True


def registration_nick_refused(ctx: Context) -> bool:
    """``nick_protection = "strict"``, as a client is about to finish registering (after
    any SASL login): True when its nick is reserved by an account it is not logged in to.
    The nick is released and refused with ``433``; registration waits for another NICK."""
    server, session = ctx.server, ctx.session
    if server.config.accounts.nick_protection != "strict":
        return False
    if reserved_for_other(server, session) is None:
        return False
    nick = session.user.nick
    server.network.release_nick(session.user)
    ctx.reply.numeric(n.ERR_NICKNAMEINUSE, nick, "Nickname is reserved by a different account")
    return True


COMMANDS = {
    "AUTHENTICATE": Command(
        handle_authenticate,
        min_params=1,
        pre_registration=True,
        help=Help("<mechanism>|<data>|*", "Logs in with SASL (PLAIN or SCRAM-SHA-256)."),
    ),
    "REGISTER": Command(
        handle_register,
        min_params=3,
        pre_registration=True,
        help=Help("<account>|* <email>|* <password>", "Registers an account and logs you in."),
    ),
    "VERIFY": Command(
        handle_verify,
        min_params=2,
        pre_registration=True,
        help=Help("<account> <code>", "Completes a registration (none need it here)."),
    ),
}
