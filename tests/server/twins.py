"""The two builds of the relay's block scan, for tests that must pass with each.

``make test`` builds the C twin (:mod:`hubbub._speedups`); a test asking for it fails, never
skips, when it is missing. With ``HUBBUB_PURE_PYTHON`` set (the pure-Python build, as where
no compiler is present) only the Python twin is tested.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from hubbub.server import fastpath

Scan = Callable[[bytes, int, bytes, int], "tuple[bytes, int] | None"]

TWINS = ["python"] if os.environ.get("HUBBUB_PURE_PYTHON") else ["python", "c"]
"""The builds to test here."""


def scan_block(which: str) -> Scan:
    """The block scan of build ``which`` ("python" or "c")."""
    if which == "python":
        return fastpath.scan_block_py
    module = importlib.import_module("hubbub._speedups")  # ImportError: not built
    scan: Scan = module.scan_block
    return scan
