"""The generic HTTP server on its own: routes of any method returning any bytes."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import AsyncIterator

import pytest

from hubbub.net.http import HttpLimits, HttpServer, Request, Response, Routes
from tests.timeouts import TIMEOUT


def fetch(address: tuple[str, int], method: str, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheader("content-type") or "", response.read()
    finally:
        conn.close()


def metrics(request: Request) -> Response:
    text = f"# TYPE up gauge\nup 1\n# query {request.query}\n"
    return Response(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")


async def slow(request: Request) -> Response:
    await asyncio.sleep(0)
    return Response.json(200, {"path": request.path})


def broken(request: Request) -> Response:
    raise RuntimeError("boom")


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, int]]:
    routes = Routes()
    routes.add("GET", "/metrics", metrics)
    routes.add("get", "/slow", slow)
    routes.add("GET", "/broken", broken)
    server = HttpServer(routes, HttpLimits())
    await server.start("127.0.0.1", 0)
    try:
        yield server.address
    finally:
        server.close()
        await server.wait_closed()


async def test_a_get_route_returns_bytes_with_its_content_type(served: tuple[str, int]) -> None:
    status, content_type, body = await asyncio.to_thread(fetch, served, "GET", "/metrics?x=1")
    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert body == b"# TYPE up gauge\nup 1\n# query x=1\n"


async def test_async_handlers_and_errors(
    served: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    assert await asyncio.to_thread(fetch, served, "GET", "/slow") == (
        200,
        "application/json",
        b'{"path":"/slow"}\n',
    )
    status, _, body = await asyncio.to_thread(fetch, served, "GET", "/broken")
    assert (status, body) == (500, b'{"error":"internal error; see the server\'s log"}\n')
    assert "boom" in caplog.text
    assert (await asyncio.to_thread(fetch, served, "POST", "/metrics"))[0] == 405
    assert (await asyncio.to_thread(fetch, served, "GET", "/nothing"))[0] == 404


def test_a_route_is_added_once() -> None:
    routes = Routes()
    routes.add("GET", "/metrics", metrics)
    with pytest.raises(ValueError, match="already has a handler"):
        routes.add("get", "/metrics", metrics)
    assert routes.endpoints() == [("GET", "/metrics")]
