"""The terminal client behind ``hubbub chat``: a Textual app, and the ``--plain`` line mode."""

from hubbub.tui.cli import configure_parser, run

__all__ = ["configure_parser", "run"]
