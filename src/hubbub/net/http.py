"""A small HTTP/1.1 server: h11 speaks the protocol, asyncio streams move the bytes, and a
route table maps ``(method, path)`` to a handler.

It serves the admin API (``hubbub.net.admin_api``) and is meant for anything else the server
exposes over HTTP (a ``GET /metrics`` is one :meth:`Routes.add` away). A handler takes a
:class:`Request` and returns a :class:`Response` (or an awaitable of one): a status, bytes
and their content type.

Everything one client can make it hold is bounded (:class:`HttpLimits`): connections, the
bytes and number of header lines, the body, and the time a request may take to arrive, so
a slow or hostile client costs a few kilobytes and one task for a few seconds at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import h11

__all__ = [
    "Handler",
    "HttpLimits",
    "HttpServer",
    "Request",
    "Response",
    "Routes",
]

log = logging.getLogger("hubbub.http")

READ_BYTES = 16384
"""Bytes read from a connection at a time."""


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP server accepts (``[admin]`` sets these for the admin API)."""

    max_body_bytes: int = 65536
    """The longest request body; longer gets ``413``."""
    max_header_bytes: int = 8192
    """The longest request line and headers together; longer gets ``431``."""
    max_headers: int = 32
    """The most header lines in one request; more gets ``431``."""
    max_connections: int = 16
    """Connections served at once; one more gets ``503`` and is closed."""
    timeout: float = 10.0
    """Seconds a whole request (headers and body) may take to arrive, and an idle kept-alive
    connection may wait for the next one; then ``408`` (or just a close when idle)."""


@dataclass(frozen=True)
class Request:
    """One HTTP request, read whole."""

    method: str
    path: str
    """The target without its query string (``/v1/status``)."""
    query: str
    """What follows ``?`` in the target, or empty."""
    headers: tuple[tuple[str, str], ...]
    """Header lines in order, names lower-cased."""
    body: bytes
    peer: str
    """The client's address, for logs."""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), if sent."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Response:
    """What a handler answers: a status, a body and its content type, more headers."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, data: object, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """``data`` as a JSON body."""
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        body = text.encode("utf-8", "replace") + b"\n"  # (a lone surrogate becomes "?")
        return cls(status, body, JSON_TYPE, tuple(headers))

    @classmethod
    def error(cls, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """A JSON error: ``{"error": message}``."""
        return cls.json(status, {"error": message}, headers)


Handler = Callable[[Request], Response | Awaitable[Response]]
"""A route's handler: sync, or async for one that waits (a database write, a rehash)."""


class Routes:
    """The route table: ``(method, path)`` to handler. Paths match exactly."""

    def __init__(self) -> None:
        self._table: dict[tuple[str, str], Handler] = {}

    def add(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` with ``handler``; raises ``ValueError`` if it is taken."""
        key = (method.upper(), path)
        if key in self._table:
            raise ValueError(f"{key[0]} {path} already has a handler")
        self._table[key] = handler

    def endpoints(self) -> list[tuple[str, str]]:
        """Every ``(method, path)`` served, sorted."""
        return sorted(self._table)

    def resolve(self, method: str, path: str) -> Handler | Response:
        """The handler of ``method path``, or the error to answer: ``404`` for an unknown
        path, ``405`` (with ``Allow``) for a known path and another method."""
        handler = self._table.get((method, path))
        if handler is not None:
            return handler
        allowed = sorted(m for m, p in self._table if p == path)
        if allowed:
            return Response.error(
                405, f"use {' or '.join(allowed)}", (("allow", ", ".join(allowed)),)
            )
        return Response.error(404, f"no such endpoint: {path}")


class _Timeout(Exception):
    """The request did not arrive in time."""


class HttpServer:
    """Serves a :class:`Routes` table on one TCP socket, within :class:`HttpLimits`.

    ``close`` and ``wait_closed`` make it a listener the application can stop like the
    others: closing also ends the connections being served.
    """

    def __init__(self, routes: Routes, limits: HttpLimits, name: str = "http") -> None:
        self.routes = routes
        self.limits = limits
        self.name = name
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0: any free one; see :attr:`address`)."""
        self._server = await asyncio.start_server(
            self._connection, host, port, reuse_address=True, limit=READ_BYTES
        )

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the listening socket once started (the port chosen for port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the HTTP server is not listening")
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    def close(self) -> None:
        """Stop accepting and end every connection being served."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait until the socket and every connection are closed."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- one connection ----------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else "?"
        if len(self._tasks) >= self.limits.max_connections:
            log.warning("%s: too many connections; refused %s", self.name, peer)
            conn = h11.Connection(h11.SERVER)
            with contextlib.suppress(Exception):
                writer.write(_response_bytes(conn, _BUSY, close=True))
            await _close(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._converse(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the server is closing
        except Exception:  # a bug: this connection ends, the server goes on
            log.exception("%s: error serving %s", self.name, peer)
        finally:
            self._tasks.discard(task)
            await _close(writer)

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        """Serve requests on one connection until either side closes it."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        while True:
            got = await self._read_request(conn, reader, writer)
            if got is None:
                return
            if isinstance(got, Response):
                await _send(conn, writer, got, close=True)
                return
            request = _request(*got, peer)
            head = request.method == "HEAD"
            if head and not isinstance(self.routes.resolve("GET", request.path), Response):
                request = dataclasses.replace(request, method="GET")  # (as GET, no content)
            response = await self._dispatch(request)
            await _send(conn, writer, response, close=False, no_content=head)
            # h11 knows whether the connection may carry another request (HTTP/1.0 and
            # "Connection: close" may not).
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[h11.Request, bytes] | Response | None:
        """The next request whole, an error to answer before closing, or None when the
        client closed or went quiet between requests."""
        limits = self.limits
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.timeout
        started = bool(conn.trailing_data[0])
        try:
            event = await _next_event(conn, reader, deadline)
            started = True
            if isinstance(event, h11.ConnectionClosed):
                return None
            if not isinstance(event, h11.Request):  # pragma: no cover - h11's order
                return Response.error(400, "expected a request")
            if len(event.headers) > limits.max_headers:
                return Response.error(431, f"more than {limits.max_headers} header lines")
            header_bytes = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
            if header_bytes > limits.max_header_bytes:
                return Response.error(431, f"headers over {limits.max_header_bytes} bytes")
            length = _content_length(event.headers)
            if length is not None and any(k == b"transfer-encoding" for k, _ in event.headers):
                # (RFC 9112 6.1: a request smuggling shape; answered, and the connection closed)
                return Response.error(400, "both Content-Length and Transfer-Encoding")
            if length is not None and length > limits.max_body_bytes:
                return Response.error(413, f"the body is over {limits.max_body_bytes} bytes")
            if conn.they_are_waiting_for_100_continue:
                writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            body = bytearray()
            while True:
                part = await _next_event(conn, reader, deadline)
                if isinstance(part, h11.Data):
                    body += part.data
                    if len(body) > limits.max_body_bytes:
                        return Response.error(
                            413, f"the body is over {limits.max_body_bytes} bytes"
                        )
                elif isinstance(part, h11.EndOfMessage):
                    break
                elif isinstance(part, h11.ConnectionClosed):
                    return None
        except _Timeout:
            if started or conn.trailing_data[0]:  # (part of a request arrived)
                return Response.error(408, "the request took too long")
            return None
        except h11.RemoteProtocolError as exc:
            return Response.error(exc.error_status_hint, f"bad request: {exc}")
        return event, bytes(body)

    async def _dispatch(self, request: Request) -> Response:
        found = self.routes.resolve(request.method, request.path)
        if isinstance(found, Response):
            return found
        try:
            result = found(request)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("%s: error in %s %s", self.name, request.method, request.path)
            return Response.error(500, "internal error; see the server's log")
        assert isinstance(result, Response)
        return result


def _request(event: h11.Request, body: bytes, peer: str) -> Request:
    target = event.target.decode("ascii", "replace")
    path, _, query = target.partition("?")
    headers = tuple(
        (key.decode("ascii", "replace"), value.decode("latin-1")) for key, value in event.headers
    )
    return Request(event.method.decode("ascii", "replace"), path, query, headers, body, peer)


_BUSY = Response.error(503, "too many connections; try again later")


async def _next_event(
    conn: h11.Connection, reader: asyncio.StreamReader, deadline: float
) -> object:
    """h11's next event, reading as needed until ``deadline`` (then :class:`_Timeout`)."""
    loop = asyncio.get_running_loop()
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _Timeout
        try:
            data = await asyncio.wait_for(reader.read(READ_BYTES), remaining)
        except TimeoutError:
            raise _Timeout from None
        conn.receive_data(data)  # b"" is the end of the stream


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key == b"content-length":
            return int(value)  # h11 has checked that it is a number
    return None


def _response_bytes(
    conn: h11.Connection, response: Response, close: bool, no_content: bool = False
) -> bytes:
    headers = [
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        *response.headers,
    ]
    if close:
        headers.append(("connection", "close"))
    try:
        reason = http.HTTPStatus(response.status).phrase.encode()
    except ValueError:
        reason = b""
    head = conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
    # (no content after a HEAD request's response: h11 raises if given some)
    body = conn.send(h11.Data(data=response.body)) if response.body and not no_content else b""
    end = conn.send(h11.EndOfMessage())
    return (head or b"") + (body or b"") + (end or b"")


async def _send(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    response: Response,
    close: bool,
    no_content: bool = False,
) -> None:
    try:
        data = _response_bytes(conn, response, close, no_content)
    except h11.LocalProtocolError:
        return  # the exchange is past answering (the client broke it): just close
    writer.write(data)
    await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
