"""The command table: every command the server understands, from each family's module."""

from __future__ import annotations

from hubbub.server.commands.accounts import COMMANDS as ACCOUNTS
from hubbub.server.commands.channels import COMMANDS as CHANNELS
from hubbub.server.commands.dispatch import Command, Context, Help, build_table
from hubbub.server.commands.messaging import COMMANDS as MESSAGING
from hubbub.server.commands.modes import COMMANDS as MODES
from hubbub.server.commands.multiline import COMMANDS as MULTILINE
from hubbub.server.commands.oper import COMMANDS as OPER
from hubbub.server.commands.queries import COMMANDS as QUERIES
from hubbub.server.commands.registration import COMMANDS as REGISTRATION
from hubbub.server.commands.webirc import COMMANDS as WEBIRC

COMMANDS: dict[str, Command] = build_table(
    REGISTRATION,
    MESSAGING,
    CHANNELS,
    MODES,
    QUERIES,
    OPER,
    ACCOUNTS,
    MULTILINE,
    WEBIRC,
)

__all__ = ["COMMANDS", "Command", "Context", "Help", "build_table"]
