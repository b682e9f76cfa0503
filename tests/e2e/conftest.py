"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hubbub.net.app import App
from tests.e2e.conformance import Net


@pytest.fixture
async def net(hubbub_app: App) -> AsyncIterator[Net]:
    """The clients of one test on the default server, all closed when it ends."""
    async with Net(hubbub_app) as n:
        yield n
