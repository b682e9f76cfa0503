"""``/metrics`` on the HTTP listener, over real sockets: who may scrape it, what it shows of
connections, bytes and the event loop, and REHASH turning it on and off."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from hubbub.config import Config, MetricsSection
from hubbub.net import app as app_module
from hubbub.net.app import App
from hubbub.net.epoll import AVAILABLE as EPOLL
from tests.e2e.ircclient import IRCTestClient
from tests.net.test_websocket import WSClient, ws_url
from tests.scrape import fetch, metrics_config, samples, scrape
from tests.timeouts import TIMEOUT

AppFactory = Callable[[Config], Any]


async def test_metrics_are_served_on_the_http_listener(app_factory: AppFactory) -> None:
    app: App = await app_factory(metrics_config())
    tcp = await IRCTestClient.connect(*app.address("irc"))
    web = await WSClient.connect(ws_url(app))
    await tcp.register("tcpy")
    await web.register("webby")
    await tcp.send("JOIN #room")
    await tcp.expect("366")
    got = await scrape(app)
    assert got['hubbub_connections{transport="tcp"}'] == 1
    assert got['hubbub_connections{transport="ws"}'] == 1
    assert got["hubbub_users"] == 2
    assert got["hubbub_channels"] == 1
    # What the clients sent and were sent, counted by the transports.
    assert got['hubbub_received_bytes_total{transport="tcp"}'] >= len("NICK tcpy\r\nJOIN #room\r\n")
    assert got['hubbub_sent_bytes_total{transport="tcp"}'] > 500  # the welcome burst at least
    assert got['hubbub_received_bytes_total{transport="ws"}'] >= len("NICK webby")
    assert got['hubbub_sent_bytes_total{transport="ws"}'] > 500
    assert got['hubbub_command_duration_seconds_count{command="JOIN"}'] == 1
    assert got["process_resident_memory_bytes"] > 0
    await tcp.close()
    await web.close()


@pytest.mark.parametrize("epoll", [True, False], ids=["epoll", "asyncio"])
async def test_bytes_are_counted_exactly_over_tcp(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch, epoll: bool
) -> None:
    """Both kinds of plain TCP connection count what they read and write."""
    if epoll and not EPOLL:
        pytest.skip("no epoll here")
    if not epoll:
        monkeypatch.setattr(app_module, "make_hub", lambda loop, server: None)
    app: App = await app_factory(metrics_config())
    assert (app.hub is not None) is epoll
    client = await IRCTestClient.connect(*app.address("irc"))
    await client.send("PING :one", "PING :two")
    received = [await asyncio.wait_for(client.reader.readline(), TIMEOUT) for _ in range(2)]
    assert received[1].endswith(b"two\r\n")
    got = await scrape(app)
    assert got['hubbub_received_bytes_total{transport="tcp"}'] == len(b"PING :one\r\nPING :two\r\n")
    assert got['hubbub_sent_bytes_total{transport="tcp"}'] == sum(map(len, received))
    await client.close()


async def test_event_loop_lag_is_measured_by_the_tick(app_factory: AppFactory) -> None:
    app: App = await app_factory(metrics_config())
    assert app._ticker is not None
    app._ticker.cancel()  # run the tick now, as if it were due 0.3 s ago
    app._tick_due = asyncio.get_running_loop().time() - 0.3
    app._tick()
    got = await scrape(app)
    assert got["hubbub_event_loop_lag_seconds_sum"] >= 0.3
    assert got['hubbub_event_loop_lag_seconds_bucket{le="+Inf"}'] >= 1


async def test_head_gets_no_body(app_factory: AppFactory) -> None:
    app: App = await app_factory(metrics_config())
    status, content_type, body = await fetch(app, method="HEAD")
    assert (status, body) == (200, b"")
    assert content_type.startswith("text/plain")


async def test_another_path(app_factory: AppFactory) -> None:
    app: App = await app_factory(metrics_config(path="/internal/prom"))
    status, _, body = await fetch(app, "/internal/prom")
    assert status == 200
    assert "hubbub_users" in samples(body)
    status, _, _ = await fetch(app, "/metrics")
    assert status == 404


async def test_scrapers_outside_allow_are_refused(app_factory: AppFactory) -> None:
    app: App = await app_factory(metrics_config(allow=("192.0.2.0/24",)))
    status, _, body = await fetch(app)
    assert status == 403
    assert b"hubbub_" not in body


async def test_off_by_default(app_factory: AppFactory) -> None:
    app: App = await app_factory(metrics_config(enabled=False))
    assert app.server.metrics is None
    status, _, body = await fetch(app)
    assert status == 404
    assert b"hubbub_" not in body


async def test_rehash_turns_metrics_on_and_off(app_factory: AppFactory) -> None:
    app: App = await app_factory(metrics_config(enabled=False))
    on = dataclasses.replace(app.config, metrics=MetricsSection(enabled=True))
    app.config_applied(on)
    assert app.server.metrics is not None
    assert (await fetch(app))[0] == 200
    app.config_applied(dataclasses.replace(on, metrics=MetricsSection(enabled=False)))
    assert app.server.metrics is None
    assert (await fetch(app))[0] == 404
