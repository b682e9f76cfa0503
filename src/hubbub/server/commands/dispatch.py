"""The command table's entry type and the shared checks of every command."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from hubbub.protocol.message import Message
from hubbub.server.response import Response

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.session import Session
    from hubbub.server.user import User


@dataclass(slots=True)
class Context:
    """What a handler gets: the server, the client, its message and its reply buffer."""

    server: Server
    session: Session
    msg: Message
    reply: Response

    @property
    def params(self) -> tuple[str, ...]:
        """The message's parameters."""
        return self.msg.params

    @property
    def user(self) -> User:
        """Who the client is on the network (its nick, host, channels...)."""
        return self.session.user


Handler = Callable[[Context], None]


# -- commands whose answer comes after blocking work (a password check, a file read) ----------


def defer_reply(ctx: Context) -> Response:
    """The response to send when the work started now finishes: it takes over the label of
    the command (so no empty ``ACK`` goes out now); anything already queued goes now."""
    later = Response(ctx.session, ctx.server.name, ctx.reply.label)
    ctx.reply.label = None
    ctx.reply.flush()
    return later


def hold_input(ctx: Context) -> None:
    """Blocking work begins: the core holds the client's next lines until it ends."""
    ctx.session.checking_password = True


def finish_deferred(ctx: Context, later: Response) -> None:
    """Blocking work ended: send its answer, then let the core handle the held lines."""
    session = ctx.session
    if session.closed:
        return
    later.flush()
    ctx.server.resume(session)


class Help(NamedTuple):
    """What ``HELP <command>`` says: the parameters' syntax and one line of description."""

    syntax: str
    text: str


@dataclass(frozen=True, slots=True)
class Command:
    """One entry of the command table: the handler and the checks made before it runs."""

    handler: Handler
    min_params: int = 0
    pre_registration: bool = False
    """Usable before the client has registered."""
    oper: bool = False
    """Only for IRC operators (ERR_NOPRIVILEGES otherwise)."""
    idle_reset: bool = False
    """Resets the idle time shown by WHOIS (PRIVMSG and NOTICE)."""
    help: Help | None = None
    """Shown by ``HELP <command>`` (None: a pointer to the IRC docs)."""


def build_table(*families: Mapping[str, Command]) -> dict[str, Command]:
    """The command table: every family's commands in one dict.

    Raises ``ValueError`` naming a command that two families (or one twice) define, which a
    plain ``{**a, **b}`` would let the later family silently win.
    """
    table: dict[str, Command] = {}
    for family in families:
        for name, command in family.items():
            if name in table:
                raise ValueError(f"command {name!r} is defined twice in the command table")
            table[name] = command
    return table
