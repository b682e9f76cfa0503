"""The cloak secret of the test servers, so that tests know the hosts their clients get."""

from __future__ import annotations

from hubbub.config import CloaksSection
from hubbub.server.cloak import Cloaker

CLOAKS = CloaksSection(secret="the test servers' cloak secret")
"""``[cloaks]`` of the test configs (the sans-I/O harness and the real servers alike)."""


def cloak_of(ip: str, secret: str = CLOAKS.secret) -> str:
    """The cloak of the address ``ip`` under ``secret`` (the tests' by default)."""
    cloak = Cloaker(secret).cloak(ip)
    assert cloak is not None, ip
    return cloak


HOST = cloak_of("127.0.0.1")
"""The host others see of a test client (they all connect from 127.0.0.1)."""
