"""Queries (placeholder until the queries module lands)."""

from __future__ import annotations

from hubbub.server.commands.dispatch import Command

COMMANDS: dict[str, Command] = {}
