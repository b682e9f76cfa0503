"""The TUI tests use the same real servers as the client library tests."""

from tests.client.conftest import certificate, hubbub_server, live_server, ngircd

__all__ = ["certificate", "hubbub_server", "live_server", "ngircd"]
