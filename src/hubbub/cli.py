"""The ``hubbub`` command: argument parsing and wiring only."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hubbub`` console script."""
    print("hubbub: not yet", file=sys.stderr)
    return 2
