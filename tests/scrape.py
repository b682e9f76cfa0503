"""Scrape a running server's ``/metrics`` as Prometheus does: a real HTTP client (in a
thread, off the test's event loop) and prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from hubbub.config import Config, ListenSection, MetricsSection
from hubbub.net.app import App
from tests.conftest import make_config
from tests.timeouts import TIMEOUT


def metrics_config(**metrics: Any) -> Config:
    """The tests' config with an IRC and an HTTP listener on ephemeral loopback ports and
    ``[metrics]`` as given (enabled unless told otherwise)."""
    metrics.setdefault("enabled", True)
    return dataclasses.replace(
        make_config(
            (
                ListenSection(address="127.0.0.1:0"),
                ListenSection(address="127.0.0.1:0", websocket=True),
            )
        ),
        metrics=MetricsSection(**metrics),
    )


def _get(host: str, port: int, path: str, method: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request(method, path, headers={"Accept": "text/plain"})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


async def fetch(app: App, path: str = "/metrics", method: str = "GET") -> tuple[int, str, bytes]:
    """(status, content type, body) of a request to the app's first HTTP listener."""
    host, port = app.address("ws")
    return await asyncio.to_thread(_get, host, port, path, method)


def samples(body: bytes) -> dict[str, float]:
    """Every sample of an exposition, by ``name{label="value",...}`` (labels sorted)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


async def scrape(app: App) -> dict[str, float]:
    """The app's metrics, parsed (the scrape must succeed)."""
    status, content_type, body = await fetch(app)
    assert status == 200, (status, body[:200])
    assert content_type.startswith("text/plain"), content_type
    return samples(body)
