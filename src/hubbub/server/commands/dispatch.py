"""The command table's entry type and the shared checks of every command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubbub.protocol.message import Message
from hubbub.server.response import Response

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.session import Session


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


Handler = Callable[[Context], None]


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
