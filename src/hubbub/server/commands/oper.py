"""Operator commands (placeholder until the oper module lands)."""

from __future__ import annotations

from hubbub.server.commands.dispatch import Command

COMMANDS: dict[str, Command] = {}
