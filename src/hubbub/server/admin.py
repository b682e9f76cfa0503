"""The admin API's actions (sans-I/O): a request as a JSON object in, a :class:`Reply` (an
HTTP status and a JSON object) out, through a callback.

``hubbub.net.admin_api`` serves these over HTTP, one ``POST /v1/<action>`` each, after it has
checked the bearer token; ``docs/admin-api.md`` describes every action. The callback is how
the slow actions (hashing a password, writing the database, reading the config file) answer:
they run through ``server.offload`` and reply on the core's thread once done, so a reply
says what is true, as a reply to an IRC client does.

Every call into the core's state is in the adapter section below (``_kill``, ``_set_topic``
...), so that the core can change shape under one small part of this file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from hubbub.config import Config
from hubbub.protocol.message import Message
from hubbub.server.accounts import (
    AccountService,
    Outcome,
    new_account_problem,
    password_problem,
    service_of,
    valid_email,
)
from hubbub.server.commands.accounts import (
    SERVICE_NAME,
    account_created,
    account_deleted,
    reload_accounts,
)
from hubbub.server.commands.oper import Reread, config_name, read_config, rehash
from hubbub.storage.base import AccountRecord

if TYPE_CHECKING:
    from hubbub.server.channel import Channel
    from hubbub.server.core import Server
    from hubbub.server.pluginloading import Imported
    from hubbub.server.session import Session
    from hubbub.server.user import User

__all__ = ["ACTIONS", "Action", "Reply", "handle"]

log = logging.getLogger("hubbub.admin")

JSON = dict[str, object]


@dataclass(frozen=True)
class Reply:
    """An action's answer: the HTTP status and the JSON object to send."""

    status: int
    body: JSON

    @classmethod
    def error(cls, status: int, code: str, message: str) -> Reply:
        """A failure: ``{"error": message, "code": code}`` (``code`` is for programs)."""
        return cls(status, {"error": message, "code": code})


Done = Callable[[Reply], None]
T = TypeVar("T")


def _guarded(done: Done, callback: Callable[[T], None]) -> Callable[[T], None]:
    """``callback`` for blocking work's result, answering ``500`` if it raises (a bug), so
    that the request is answered all the same."""

    def run(value: T) -> None:
        try:
            callback(value)
        except Exception:
            log.exception("admin API: error after blocking work")
            done(Reply.error(500, "INTERNAL_ERROR", "internal error; see the server's log"))

    return run


# -- the core adapter: every read and change of the core's state -----------------------------


def _status(server: Server) -> JSON:
    users, invisible, opers, unregistered = server.stats()
    service = service_of(server)
    now = server.clock()
    return {
        "server": server.name,
        "network": server.config.server.network,
        "version": server.version,
        "started": int(server.created),
        "uptime": int(now - server.created),
        "users": {
            "registered": users,
            "invisible": invisible,
            "operators": opers,
            "unregistered": unregistered,
            "max": server.network.max_users,
        },
        "channels": len(server.network.channels),
        "accounts": len(service.records) if service is not None else None,
    }


def _registered_users(server: Server) -> list[User]:
    return [s.user for s in server.sessions if s.registered]


def _find_user(server: Server, nick: str) -> User | None:
    return server.find_user(nick)


def _user_info(server: Server, user: User, with_channels: bool) -> JSON:
    peer = user.session.peer if user.session is not None else None
    info: JSON = {
        "nick": user.nick,
        "user": user.username,
        "host": user.host,
        "ip": peer.ip if peer is not None else None,
        "realname": user.realname,
        "account": user.account,
        "modes": "+" + user.modes if user.modes else "",
        "operator": "o" in user.modes,
        "away": user.away,
        "secure": peer.secure if peer is not None else None,
        "transport": peer.transport if peer is not None else "service",
        "signon": int(user.signon),
        "idle": int(max(0.0, server.clock() - user.last_active)),
    }
    if with_channels:
        info["channels"] = [
            {"name": channel.name, "modes": channel.members.get(user, "")}
            for channel in user.channels.values()
        ]
    else:
        info["channels"] = [channel.name for channel in user.channels.values()]
    return info


def _channels(server: Server) -> list[Channel]:
    return list(server.network.channels.values())


def _find_channel(server: Server, name: str) -> Channel | None:
    return server.find_channel(name)


def _channel_info(channel: Channel) -> JSON:
    modes = set(channel.flags)
    if channel.key is not None:
        modes.add("k")
    if channel.limit is not None:
        modes.add("l")
    return {
        "name": channel.name,
        "users": len(channel.members),
        "topic": channel.topic,
        "topic_setter": channel.topic_setter,
        "topic_time": channel.topic_time,
        "created": channel.created,
        "modes": "+" + "".join(sorted(modes)) if modes else "",
        "key": channel.key is not None,
        "limit": channel.limit,
    }


def _kill(server: Server, victim: Session, reason: str) -> None:
    """KILL from the server itself: the victim is told why, the operators hear of it."""
    reason = reason[: server.limits.kicklen]
    user = victim.user
    server.send(victim, Message("KILL", (user.nick, reason), server.name, server.tags()))
    server.snotice(
        f"Received KILL message for {user.nick} ({user.username}@{user.host}) "
        f"from the admin API: {reason}"
    )
    server.quit(victim, f"Killed ({server.name} ({reason}))")


def _set_topic(server: Server, channel: Channel, topic: str) -> str:
    """Set the topic as the server (every member hears it); returns the topic as set (cut
    to ``topiclen``)."""
    topic = topic[: server.limits.topiclen]
    server.network.set_topic(None, channel, topic, server.name)
    return topic


def _accounts(server: Server) -> AccountService | None:
    return service_of(server)


def _is_service_name(server: Server, name: str) -> bool:
    return server.fold(name) == server.fold(SERVICE_NAME)


def _account_created(server: Server, record: AccountRecord) -> None:
    """Nick protection for whoever is on the new account's nick."""
    account_created(server, record)


def _account_deleted(server: Server, record: AccountRecord) -> list[str]:
    """Log out every session of the deleted account and release its nick; returns the nicks
    logged out."""
    return account_deleted(server, record)


def _rehash_apply(
    server: Server,
    new: Config,
    motd: list[str],
    imported: Imported,
    then: Callable[[str | None], None],
) -> None:
    """Apply a config :func:`read_config` read, then reload the accounts from the database
    (operators hear of both); ``then`` gets None, or why the accounts were not reloaded."""
    rehash(server, new, motd, imported, None)
    server.snotice("The admin API is rehashing the server config file")

    def reloaded(news: str | None, failed: bool) -> None:
        if news is not None:
            server.snotice(news)
        then(news if failed else None)

    reload_accounts(server, reloaded)


# -- actions -----------------------------------------------------------------------------------


def _status_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    done(Reply(200, _status(server)))


def _users_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    users = [_user_info(server, s, with_channels=False) for s in _registered_users(server)]
    done(Reply(200, {"count": len(users), "users": users}))


def _channels_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    channels = [_channel_info(channel) for channel in _channels(server)]
    done(Reply(200, {"count": len(channels), "channels": channels}))


def _whois_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    session = _find_user(server, params["nick"])
    if session is None:
        done(Reply.error(404, "NO_SUCH_NICK", f"no user has the nick {params['nick']!r}"))
        return
    done(Reply(200, _user_info(server, session, with_channels=True)))


def _kill_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    user = _find_user(server, params["nick"])
    if user is None:
        done(Reply.error(404, "NO_SUCH_NICK", f"no user has the nick {params['nick']!r}"))
        return
    if user.session is None:
        done(Reply.error(409, "SERVICE", f"{user.nick} is a service: it cannot be killed"))
        return
    nick = user.nick
    _kill(server, user.session, params.get("reason") or "No reason given")
    log.info("admin API: killed %s", nick)
    done(Reply(200, {"killed": nick}))


def _topic_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    channel = _find_channel(server, params["channel"])
    if channel is None:
        done(Reply.error(404, "NO_SUCH_CHANNEL", f"no channel {params['channel']!r}"))
        return
    topic = _set_topic(server, channel, params["topic"])
    done(Reply(200, {"channel": channel.name, "topic": topic}))


def _no_storage() -> Reply:
    return Reply.error(503, "NO_STORAGE", "this server has no account storage")


def _storage_failed() -> Reply:
    return Reply.error(503, "STORAGE_FAILED", "the database failed; see the server's log")


def _account_list_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    service = _accounts(server)
    if service is None:
        done(_no_storage())
        return
    records = sorted(service.records.values(), key=lambda r: r.folded)
    accounts: list[JSON] = [
        {"name": r.name, "email": r.email, "created": int(r.created)} for r in records
    ]
    done(Reply(200, {"count": len(accounts), "accounts": accounts}))


def _account_create_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    service = _accounts(server)
    if service is None:
        done(_no_storage())
        return
    name, password, email = params["name"], params["password"], params.get("email", "")
    if _is_service_name(server, name):
        done(Reply.error(400, "BAD_ACCOUNT_NAME", f"{name} is the name of a service"))
        return
    problem = new_account_problem(server, service, name, password)
    if problem is not None:
        code, text = problem
        done(Reply.error(409 if code == "ACCOUNT_EXISTS" else 400, code, text))
        return
    if email and not valid_email(email):
        done(Reply.error(400, "INVALID_EMAIL", "that is not an e-mail address"))
        return

    def stored(result: tuple[Outcome, AccountRecord | None]) -> None:
        outcome, record = result
        if record is not None:
            log.info("admin API: created the account %s", record.name)
            _account_created(server, record)
            done(Reply(201, {"account": record.name, "created": int(record.created)}))
        elif outcome is Outcome.TAKEN:
            done(Reply.error(409, "ACCOUNT_EXISTS", "an account with that name exists"))
        else:
            done(_storage_failed())

    guarded = _guarded(done, stored)
    service.register(server, name, email, password, lambda o, r: guarded((o, r)))


def _existing_account(
    server: Server, name: str, done: Done
) -> tuple[AccountService, AccountRecord] | None:
    """The accounts and the account called ``name``; otherwise answers 503 (no storage) or
    404 through ``done`` and returns None."""
    service = _accounts(server)
    if service is None:
        done(_no_storage())
        return None
    record = service.find(server, name)
    if record is None:
        done(Reply.error(404, "NO_SUCH_ACCOUNT", f"no account {name!r}"))
        return None
    return service, record


def _account_reset_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    found = _existing_account(server, params["name"], done)
    if found is None:
        return
    service, record = found
    problem = password_problem(params["password"], server.config.accounts.password_min_length)
    if problem is not None:
        done(Reply.error(400, *problem))
        return

    def stored(outcome: Outcome) -> None:
        if outcome is Outcome.DONE:
            log.info("admin API: reset the password of the account %s", record.name)
            done(Reply(200, {"account": record.name}))
        else:
            done(_storage_failed())

    service.change_password(server, record, params["password"], _guarded(done, stored))


def _account_delete_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    found = _existing_account(server, params["name"], done)
    if found is None:
        return
    service, record = found

    def deleted(outcome: Outcome) -> None:
        if outcome is not Outcome.DONE:
            done(_storage_failed())
            return
        nicks = _account_deleted(server, record)
        log.info("admin API: deleted the account %s", record.name)
        done(Reply(200, {"account": record.name, "logged_out": nicks}))

    service.delete(server, record, _guarded(done, deleted))


def _rehash_action(server: Server, params: Mapping[str, str], done: Done) -> None:
    def loaded(result: Reread | str) -> None:
        if isinstance(result, str):
            log.warning("admin API: rehash failed, keeping the old config: %s", result)
            done(Reply.error(500, "REHASH_FAILED", f"keeping the old config: {result}"))
            return
        new, motd, imported = result

        def applied(problem: str | None) -> None:
            log.info("admin API: rehashed %s", config_name(new))
            body: JSON = {"config": config_name(new)}
            if problem is not None:
                body["warning"] = problem
            done(Reply(200, body))

        _rehash_apply(server, new, motd, imported, _guarded(done, applied))

    server.offload(lambda: read_config(server), _guarded(done, loaded))


# -- the table and the entry point -------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One action: its fields (name to required), what it does, and a line for the docs."""

    run: Callable[[Server, Mapping[str, str], Done], None]
    fields: Mapping[str, bool]
    summary: str


ACTIONS: dict[str, Action] = {
    "status": Action(_status_action, {}, "counts of users and channels, version, uptime"),
    "users": Action(_users_action, {}, "every registered user"),
    "channels": Action(_channels_action, {}, "every channel"),
    "whois": Action(_whois_action, {"nick": True}, "one user, with its channels"),
    "kill": Action(_kill_action, {"nick": True, "reason": False}, "disconnect a user"),
    "topic": Action(
        _topic_action, {"channel": True, "topic": True}, "set a channel's topic as the server"
    ),
    "account/list": Action(_account_list_action, {}, "every account"),
    "account/create": Action(
        _account_create_action,
        {"name": True, "password": True, "email": False},
        "register an account",
    ),
    "account/reset": Action(
        _account_reset_action, {"name": True, "password": True}, "set an account's password"
    ),
    "account/delete": Action(
        _account_delete_action, {"name": True}, "delete an account, logging out its users"
    ),
    "rehash": Action(
        _rehash_action, {}, "read the config file again, and the accounts from the database"
    ),
}
"""Every action by name; the HTTP path of each is ``/v1/`` and its name."""


def _request_problem(action: Action, request: object) -> str | None:
    """What is wrong with ``request`` for ``action`` (a sentence), or None."""
    if not isinstance(request, dict):
        return "the body must be a JSON object"
    for key, value in request.items():
        if key not in action.fields:
            known = ", ".join(action.fields) or "none"
            return f"unknown field {key!r} (fields: {known})"
        if not isinstance(value, str):
            return f"{key} must be a string"
        if any(c in value for c in "\r\n\0"):
            return f"{key} must be one line, without NUL"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate ("\udc80" in the JSON)
                return f"{key} must be Unicode text (it has a lone surrogate)"
    missing = [key for key, required in action.fields.items() if required and key not in request]
    if missing:
        return f"missing field {missing[0]!r}"
    return None


def handle(server: Server, name: str, request: object, done: Done) -> None:
    """Run the action ``name`` with ``request`` (a parsed JSON body; an empty body is ``{}``)
    and call ``done`` with its reply, exactly once: at once, or later on the core's thread
    for an action with blocking work. Never raises: a bug is a logged ``500``."""
    answered = False

    def once(reply: Reply) -> None:
        nonlocal answered
        if not answered:
            answered = True
            done(reply)

    action = ACTIONS.get(name)
    if action is None:
        once(Reply.error(404, "NO_SUCH_ACTION", f"no action {name!r}"))
        return
    problem = _request_problem(action, request)
    if problem is not None:
        once(Reply.error(400, "INVALID_REQUEST", problem))
        return
    assert isinstance(request, dict)
    try:
        action.run(server, request, once)
    except Exception:
        log.exception("admin API: error in %s", name)
        once(Reply.error(500, "INTERNAL_ERROR", "internal error; see the server's log"))
