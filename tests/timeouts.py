"""The one timeout constant of the test suite; scale it with HUBBUB_TEST_TIMEOUT_SCALE."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("HUBBUB_TEST_TIMEOUT_SCALE", "1"))
TIMEOUT = 10.0 * SCALE
"""Seconds a test waits for something it expects before it fails."""
