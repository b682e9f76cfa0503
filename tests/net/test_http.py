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


async def raw(address: tuple[str, int], data: bytes) -> bytes:
    """What the server sends back to ``data`` until it closes (or a second passes)."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(data)
        got = b""
        while True:
            try:
                part = await asyncio.wait_for(reader.read(65536), 1.0)
            except TimeoutError:
                return got
            if not part:
                return got
            got += part
    finally:
        writer.close()


async def test_head_of_a_get_route_gets_its_headers_and_no_content(
    served: tuple[str, int],
) -> None:
    got = await raw(served, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: 30" in head.lower()  # (what GET would send)
    assert body == b""


async def test_content_length_with_transfer_encoding_is_refused_and_closed(
    served: tuple[str, int],
) -> None:
    """RFC 9112 6.1: a request smuggling shape; the request after it is never read."""
    got = await raw(
        served,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert got.startswith(b"HTTP/1.1 400 ")
    assert got.count(b"HTTP/1.1") == 1
    assert b"connection: close" in got.lower()
