"""The command table is built from the families' tables, and never lets one hide another."""

from __future__ import annotations

import pytest

from hubbub.server.commands import COMMANDS
from hubbub.server.commands.dispatch import Command, Context, Help, build_table
from tests.server.harness import make_server


def _nothing(ctx: Context) -> None:
    """A handler for table entries that are never dispatched."""


def test_build_table_merges_families_in_order() -> None:
    a = {"ONE": Command(_nothing), "TWO": Command(_nothing, min_params=1)}
    b = {"THREE": Command(_nothing, oper=True)}
    table = build_table(a, b)
    assert list(table) == ["ONE", "TWO", "THREE"]
    assert table["TWO"] is a["TWO"]
    assert table["THREE"] is b["THREE"]
    assert build_table() == {}


def test_build_table_refuses_a_command_defined_twice() -> None:
    first = {"PING": Command(_nothing), "PONG": Command(_nothing)}
    second = {"WHO": Command(_nothing), "PING": Command(_nothing, min_params=1)}
    with pytest.raises(ValueError, match="'PING' is defined twice"):
        build_table(first, second)


def test_the_real_table_has_help_for_every_command() -> None:
    assert all(isinstance(command.help, Help) for command in COMMANDS.values())
    assert COMMANDS["HELPOP"].help == COMMANDS["HELP"].help
    plugged = make_server().commands  # (and the built-in plugins' commands)
    assert all(isinstance(command.help, Help) for command in plugged.values())
    assert plugged["NS"].help == Help("<command> [<args>...]", "Short for NICKSERV.")
