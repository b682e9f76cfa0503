"""The server raises its open-files limit to the hard limit and says how many clients fit."""

from __future__ import annotations

import logging
import resource

import pytest

from hubbub.net import app
from tests.conftest import make_config


class FakeLimits:
    """getrlimit/setrlimit for RLIMIT_NOFILE, with a kernel ceiling setrlimit refuses above."""

    def __init__(self, soft: int, hard: int, ceiling: int = 1 << 20) -> None:
        self.soft, self.hard, self.ceiling = soft, hard, ceiling

    def get(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def set(self, which: int, limits: tuple[int, int]) -> None:
        soft, hard = limits
        if soft > self.ceiling or (hard != resource.RLIM_INFINITY and soft > hard):
            raise ValueError("not allowed")
        self.soft, self.hard = soft, hard


def fake(monkeypatch: pytest.MonkeyPatch, limits: FakeLimits) -> FakeLimits:
    monkeypatch.setattr(resource, "getrlimit", limits.get)
    monkeypatch.setattr(resource, "setrlimit", limits.set)
    return limits


def test_the_soft_limit_goes_up_to_the_hard_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limits = fake(monkeypatch, FakeLimits(1024, 200_000))
    with caplog.at_level(logging.INFO, logger="hubbub"):
        assert app.raise_open_files_limit(10_256) == 200_000
    assert limits.soft == 200_000
    assert "open files limit raised from 1024 to 200000" in caplog.text
    assert "WARNING" not in caplog.text


def test_a_hard_limit_below_max_clients_is_told_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake(monkeypatch, FakeLimits(1024, 20_000))
    with caplog.at_level(logging.INFO, logger="hubbub"):
        assert app.raise_open_files_limit(100_256) == 20_000
    assert (
        "open files limit 20000 (hard limit 20000) leaves room for 19744 clients, fewer than "
        "[limits] max_clients 100000"
    ) in caplog.text


def test_an_unlimited_hard_limit_takes_what_the_kernel_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = fake(monkeypatch, FakeLimits(1024, resource.RLIM_INFINITY, ceiling=50_000))
    assert app.raise_open_files_limit(10_256) == 10_256
    assert limits.soft == 10_256


async def test_the_core_refuses_clients_beyond_the_descriptors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake(monkeypatch, FakeLimits(1024, 1300))
    server = app.App(make_config(max_clients=5000))
    await server.start()
    try:
        assert server.server.client_room == 1300 - app.SPARE_DESCRIPTORS
    finally:
        await server.stop("test over")
