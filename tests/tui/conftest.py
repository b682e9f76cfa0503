"""The TUI tests use the same real servers as the client library tests, and private tmux
servers for the tests at a real terminal."""

from collections.abc import Iterator

import pytest

from tests.client.conftest import certificate, hubbub_server, live_server, ngircd
from tests.tui.tmux import Tmux

__all__ = ["certificate", "hubbub_server", "live_server", "ngircd", "tmux"]


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    """A private tmux server (its own socket), killed at the end of the test."""
    session = Tmux()
    try:
        yield session
    finally:
        session.kill()
