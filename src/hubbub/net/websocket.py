"""The HTTP listener: IRC over WebSocket (the IRCv3 WebSocket spec) and the web client's files.

One port serves both. A WebSocket upgrade request to ``/irc`` (or ``/``) becomes an IRC
connection; any other ``GET`` or ``HEAD`` is answered from the web client's static files
(``hubbub/web``), with a strict Content-Security-Policy. With ``[metrics] enabled``, a ``GET``
of ``[metrics] path`` (``/metrics``) from an address in ``[metrics] allow`` is answered with
the Prometheus metrics.

Per the spec each WebSocket message carries one IRC line without its CR LF. The subprotocol
``binary.ircv3.net`` sends lines as binary frames, byte for byte; ``text.ircv3.net`` (also the
default when the client asks for none) sends text frames, so lines that are not valid UTF-8
have their bad bytes replaced. A connection is the :class:`~hubbub.server.session.Sink` of its
session, like a TCP one: writes are queued and flushed once per loop iteration (one
``transport.write`` for all the frames of a burst), never awaited, and a peer whose queue and
socket buffer outgrow the SendQ is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import http
import ipaddress
import logging
import mimetypes
import os
import socket
import ssl
import stat
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import ServerConnection, unix_serve
from websockets.asyncio.server import serve as ws_serve
from websockets.datastructures import Headers, MultipleValuesError
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.http11 import Request, Response
from websockets.protocol import State as WSState
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from hubbub.config import ListenSection
from hubbub.net.tcp import CLOSE_GRACE, BufferedSink
from hubbub.net.wsframes import valid_utf8
from hubbub.protocol.framing import LineBuffer
from hubbub.server.metrics import may_scrape
from hubbub.server.peer import forwarded_ip, in_networks, normal_ip, peer_info
from hubbub.server.session import PeerInfo

if TYPE_CHECKING:
    from hubbub.server.core import Server
    from hubbub.server.metrics import Metrics

__all__ = [
    "IRC_PATHS",
    "SECURITY_HEADERS",
    "SUBPROTOCOLS",
    "StaticFiles",
    "WebSocketConnection",
    "WebSocketEndpoint",
    "origin_allowed",
    "serve",
]

log = logging.getLogger("hubbub.net.websocket")

TEXT = Subprotocol("text.ircv3.net")
BINARY = Subprotocol("binary.ircv3.net")
SUBPROTOCOLS = (BINARY, TEXT)
"""The IRCv3 WebSocket subprotocols, in no order of preference: the client's order wins."""

IRC_PATHS = frozenset({"/irc", "/"})
"""Paths that accept a WebSocket upgrade. The web client uses ``/irc``."""

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
"""The web client's static files."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""No inline script or style, no third-party anything; WebSocket only to this origin."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
"""Headers on every HTTP response of the listener (files and errors alike)."""

KEEPALIVE_INTERVAL = 30.0
"""Seconds between WebSocket pings; a peer that does not answer within as long is dropped."""

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}


# --- static files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticFile:
    """One file of the web client, held in memory."""

    body: bytes
    content_type: str
    etag: str


class StaticFiles:
    """The web client's files, read once: ``/`` is ``index.html``; nothing else is reachable.

    Only regular files directly in ``root`` are served, looked up by exact name, so no request
    path can reach outside it (``/../``, encoded dots and the like are simply not found).
    """

    def __init__(self, root: Path = WEB_ROOT) -> None:
        self.files: dict[str, StaticFile] = {}
        if not root.is_dir():
            log.warning("web client files not found in %s", root)
            return
        for path in sorted(root.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            ctype = _CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
            if ctype is None:
                continue
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            self.files["/" + path.name] = StaticFile(body, ctype, etag)
        if "/index.html" in self.files:
            self.files["/"] = self.files["/index.html"]

    def get(self, path: str) -> StaticFile | None:
        """The file for a request path (its query string ignored), or None."""
        return self.files.get(path.split("?", 1)[0])


def _response(
    status: http.HTTPStatus, body: bytes, content_type: str, *extra: tuple[str, str]
) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *SECURITY_HEADERS,
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def _text_response(status: http.HTTPStatus, text: str, *extra: tuple[str, str]) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8", *extra)


class _QuietLogger(logging.LoggerAdapter[logging.Logger]):
    """websockets' logger with its per-request INFO lines (one per page fetch) moved to DEBUG."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


HTTP_LOG = _QuietLogger(logging.getLogger("hubbub.net.http"), {})
"""Where websockets logs; its routine messages are DEBUG, failures stay visible."""


# --- origins ----------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _host_port(netloc: str, default: int | None) -> tuple[str, int | None] | None:
    """``("example.org", 8080)`` from ``"Example.org:8080"``; None if it cannot be parsed."""
    try:
        parts = urlsplit("//" + netloc)
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None:
        return None
    return parts.hostname.lower(), port if port is not None else default


def origin_allowed(
    origin: str | None,
    host: str | None,
    allowed: Sequence[str],
    names: Collection[str] = (),
) -> bool:
    """Whether a WebSocket handshake with this ``Origin`` and ``Host`` may proceed.

    Clients that send no ``Origin`` (anything but a browser) are allowed: the header only
    protects browser users from other sites. A browser page is allowed when its origin is in
    ``allowed`` (lower-case ``scheme://host[:port]``) or when it is the server's own page: its
    host and port are those of the ``Host`` header, and that host is one of the server's own
    ``names`` (lower case), an IP address or ``localhost``. The last check stops DNS
    rebinding: a page on ``evil.example`` whose name was pointed at this server sends a
    matching ``Host`` and ``Origin``, but not one of this server's names. The scheme is not
    compared, so a page served through a TLS-terminating proxy still counts as same-origin.
    """
    if origin is None:
        return True
    normalized = origin.strip().lower().rstrip("/")
    if normalized in allowed:
        return True
    if host is None:
        return False
    try:
        parts = urlsplit(normalized)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = _DEFAULT_PORTS[parts.scheme]
    page = _host_port(parts.netloc, default)
    server = _host_port(host.strip(), default)
    return page is not None and page == server and _own_name(page[0], names)


def _own_name(hostname: str, names: Collection[str]) -> bool:
    """True for a name no other site can point at this server: one of its own ``names``,
    ``localhost``, or an address (DNS rebinding needs a name)."""
    if hostname in names or hostname == "localhost":
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


# --- connections ------------------------------------------------------------------------------


class WebSocketConnection(BufferedSink):
    """One IRC connection over WebSocket: frames in, lines to the core, lines out as frames."""

    def __init__(self, server: Server, ws: ServerConnection, peer: PeerInfo) -> None:
        super().__init__(server)
        self.ws = ws
        self.peer = peer
        self.binary = ws.subprotocol == BINARY
        self.lines = LineBuffer(blank_lines=True)
        self._close_task: asyncio.Task[None] | None = None
        self._reading = asyncio.Event()
        if not getattr(server.host, "input_paused", False):
            self._reading.set()  # (else history backpressure is on: this one waits too)

    async def run(self) -> None:
        """Serve the connection until either side closes it."""
        session = self.server.connect(self, self.peer)
        self.session = session
        if session is None:  # refused; close() was called
            await self.ws.wait_closed()
            return
        reason = "Connection closed"
        try:
            async for message in self.ws:
                if not self._reading.is_set():
                    # Backpressure: this frame waits, and websockets stops reading the
                    # socket once its own small queue is full, so the client is slowed.
                    await self._reading.wait()
                if session.closed:
                    break
                data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
                metrics = self.server.metrics
                if metrics is not None:
                    metrics.bytes_received[self.peer.transport] += len(data)
                # One message is one line; a final LF gives it exactly the TCP line rules
                # (CR LF stripped, over-long lines answered with ERR_INPUTTOOLONG).
                lines = self.lines.feed(data + b"\n")
                if lines:
                    try:
                        self.server.receive(session, lines)
                    except Exception:  # a core bug must not end the connection silently
                        log.exception("error processing input from %s", session)
        except ConnectionClosed as exc:
            if not isinstance(exc, ConnectionClosedOK):
                reason = _close_reason(exc)
        finally:
            self._closing = True
            if not session.closed:
                self.server.quit(session, reason)

    def pause_input(self, paused: bool) -> None:
        """Stop (or go back to) handling this client's frames (history backpressure)."""
        if paused:
            self._reading.clear()
        else:
            self._reading.set()

    # BufferedSink
    def _write_out(self, data: bytes) -> None:
        ws = self.ws
        protocol = ws.protocol
        if protocol.state is not WSState.OPEN or ws.transport.is_closing():
            return
        if self.binary:
            for line in data.split(b"\r\n"):
                if line:
                    protocol.send_binary(line)
        else:
            for line in data.split(b"\r\n"):
                if line:
                    protocol.send_text(valid_utf8(line))
        # Nothing else is queued in the protocol between its own sends (websockets writes
        # after each), so these are exactly our frames: hand them over in one write.
        out = protocol.data_to_send()
        if out:
            ws.transport.write(b"".join(out))

    def _buffered(self) -> int:
        return self.ws.transport.get_write_buffer_size()

    def _close_transport(self) -> None:
        # The closing handshake waits for the peer, at most close_timeout, then aborts.
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self.ws.close())


def _close_reason(exc: ConnectionClosed) -> str:
    if exc.rcvd is None and exc.sent is not None and exc.sent.code == 1011:
        return "Ping timeout"
    if (exc.rcvd is not None and exc.rcvd.code == 1009) or (
        exc.sent is not None and exc.sent.code == 1009
    ):
        return "Message too big"
    return "Connection closed"


# --- the endpoint -----------------------------------------------------------------------------


class WebSocketEndpoint:
    """What one ``websocket = true`` listener does with each HTTP request."""

    def __init__(
        self,
        server: Server,
        listen: ListenSection,
        secure: bool,
        files: StaticFiles | None = None,
    ) -> None:
        self.server = server
        self.listen = listen
        self.secure = secure
        self.files = files if files is not None else StaticFiles()

    def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Answer plain HTTP requests from the static files; vet WebSocket upgrades."""
        return self.answer(request, ws.remote_address)

    def answer(self, request: Request, address: object) -> Response | None:
        """The response to ``request`` from a peer at ``address`` (the socket's peer name):
        a file, the metrics or an error; None for a WebSocket upgrade that may proceed.
        A request with no ``Host`` or a header given twice that must be given once gets
        400 (RFC 9112 3.2); a HEAD gets the headers a GET would, without the content.
        Behind a trusted proxy, ``[metrics] allow`` and the logs see the client's address."""
        address = self.client_address(request, address)
        try:
            if len(request.headers.get_all("Host")) != 1:
                return _text_response(http.HTTPStatus.BAD_REQUEST, "One Host header, please\n")
            response = self._answer(request, address)
        except MultipleValuesError as exc:
            return _text_response(http.HTTPStatus.BAD_REQUEST, f"{exc} given more than once\n")
        if response is not None and request.method == "HEAD":
            response.body = b""  # (Content-Length stays that of the body a GET would get)
        return response

    def client_address(self, request: Request, address: object) -> object:
        """The peer's address (the socket's peer name), or when the peer is one of
        ``[limits] trusted_proxies``, the client's it names in ``X-Forwarded-For`` or
        ``X-Real-IP`` (as ``(ip, 0)``); a header that names no address is ignored."""
        if not isinstance(address, tuple) or not address or not self.server.trusted_proxies:
            return address
        peer_ip = normal_ip(str(address[0]))
        if peer_ip is None:
            return address
        headers = request.headers
        ip = forwarded_ip(
            peer_ip,
            headers.get_all("X-Forwarded-For"),
            headers.get_all("X-Real-IP"),
            self.server.trusted_proxies,
        )
        return address if ip is None else (ip, 0)

    def peer(self, request: Request, address: object) -> PeerInfo:
        """Who the client of an accepted upgrade ``request`` from ``address`` is: the
        socket's peer, or the client a trusted proxy names (see :meth:`client_address`).
        A trusted proxy's ``X-Forwarded-Proto: https`` makes the connection secure (the
        proxy took TLS off)."""
        client = self.client_address(request, address)
        secure = self.secure
        if not secure and isinstance(address, tuple) and address:
            proto = request.headers.get_all("X-Forwarded-Proto")
            secure = (
                len(proto) == 1
                and proto[0].strip().lower() == "https"
                and in_networks(normal_ip(str(address[0])) or "", self.server.trusted_proxies)
            )
        return peer_info(
            client,
            transport="wss" if secure else "ws",
            secure=secure,
            unix=self.listen.unix_path is not None,
        )

    @staticmethod
    def bad_request() -> Response:
        """400, for a request that could not be answered otherwise."""
        return _text_response(http.HTTPStatus.BAD_REQUEST, "Bad request\n")

    def _answer(self, request: Request, address: object) -> Response | None:
        path = request.path.split("?", 1)[0]
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if request.method not in ("GET", "HEAD") or (upgrade and request.method != "GET"):
            allowed = "GET" if upgrade else "GET, HEAD"
            return _text_response(
                http.HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed\n", ("Allow", allowed)
            )
        if not upgrade:
            metrics = self.server.metrics
            if metrics is not None and path == self.server.config.metrics.path:
                return self._metrics(address, request, metrics)
            if path in IRC_PATHS - {"/"}:
                return _text_response(
                    http.HTTPStatus.UPGRADE_REQUIRED,
                    "This is an IRC WebSocket endpoint.\n",
                    ("Upgrade", "websocket"),
                )
            return self._static(request)
        if path not in IRC_PATHS:
            return _text_response(http.HTTPStatus.NOT_FOUND, "Not found\n")
        origin = request.headers.get("Origin")
        host = request.headers.get("Host")
        if not origin_allowed(origin, host, self.listen.origins, self._own_names()):
            log.info("WebSocket from %s refused: origin %r is not allowed", _ip(address), origin)
            return _text_response(http.HTTPStatus.FORBIDDEN, "Origin not allowed\n")
        return None

    def _own_names(self) -> frozenset[str]:
        """The host names that are this server's own: its configured name and the host of
        this listener's address (read each time: REHASH may change the name)."""
        names = {self.server.name.lower()}
        if self.listen.host:
            names.add(self.listen.host.lower())
        return frozenset(names)

    def _metrics(self, address: object, request: Request, metrics: Metrics) -> Response:
        """The Prometheus metrics, for a scraper ``[metrics] allow`` lets in."""
        if not self._may_scrape(address):
            log.info("metrics refused to %s: not in [metrics] allow", _ip(address))
            return _text_response(http.HTTPStatus.FORBIDDEN, "Forbidden\n")
        body, content_type = metrics.render(request.headers.get("Accept"))
        return _response(http.HTTPStatus.OK, body, content_type, ("Cache-Control", "no-store"))

    def _may_scrape(self, address: object) -> bool:
        """Whether the peer's address is in ``[metrics] allow`` (read each time: REHASH may
        change it). A Unix socket's peers are on this machine: always allowed."""
        if self.listen.unix_path is not None:
            return True
        if not isinstance(address, tuple) or not address:
            return False
        return may_scrape(str(address[0]), self.server.config.metrics.allow)

    def _static(self, request: Request) -> Response:
        file = self.files.get(request.path)
        if file is None:
            return _text_response(http.HTTPStatus.NOT_FOUND, "Not found\n")
        cache = ("Cache-Control", "no-cache")
        etag = ("ETag", file.etag)
        if _etag_matches(file.etag, request.headers.get("If-None-Match")):
            response = _response(http.HTTPStatus.NOT_MODIFIED, b"", file.content_type, cache, etag)
            # A 304 has no content, and a Content-Length would have to be the 200's (RFC 9110
            # 8.6): none is sent.
            del response.headers["Content-Length"]
            del response.headers["Content-Type"]
            return response
        return _response(http.HTTPStatus.OK, file.body, file.content_type, cache, etag)

    def select_subprotocol(
        self, ws: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The first IRCv3 subprotocol the client offers; none (text) if it offers neither."""
        return first_subprotocol(ws, offered)

    def handshake(self) -> ServerProtocol:
        """The sans-I/O opening handshake of one connection of the epoll hub (see
        :mod:`hubbub.net.epoll`): it parses the request and makes the 101 response;
        :meth:`answer` decides what else to answer."""
        return ServerProtocol(
            subprotocols=SUBPROTOCOLS,
            select_subprotocol=first_subprotocol,
            max_size=max(self.server.limits.recvq, 1024),
            logger=HTTP_LOG,
        )

    async def handle(self, ws: ServerConnection) -> None:
        """Run one upgraded connection."""
        assert ws.request is not None  # (it is upgraded)
        peer = self.peer(ws.request, ws.remote_address)
        await WebSocketConnection(self.server, ws, peer).run()


def first_subprotocol(
    protocol: ServerConnection | ServerProtocol | None, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """The first IRCv3 subprotocol the client offers; none (text) if it offers neither."""
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None


def _etag_matches(etag: str, if_none_match: str | None) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weakly, as RFC 9110 13.1.2 compares for
    it) or is ``*``."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag.removeprefix("W/"):
            return True
    return False


def _ip(address: object) -> str:
    return str(address[0]) if isinstance(address, tuple) and address else "unix"


async def serve(
    server: Server,
    listen: ListenSection,
    tls: ssl.SSLContext | None,
    sock: socket.socket | None = None,
) -> WebSocketServer:
    """Start the HTTP/WebSocket listener ``listen`` (``wss`` when ``tls`` is given), on
    ``sock`` when it was bound already."""
    endpoint = WebSocketEndpoint(server, listen, secure=tls is not None)
    common: dict[str, Any] = {
        "process_request": endpoint.process_request,
        "select_subprotocol": endpoint.select_subprotocol,
        # Compression would mix what an attacker sends with private messages in one
        # compression context (CRIME/BREACH-style leaks); IRC lines are short anyway.
        "compression": None,
        "server_header": "hubbub",
        "logger": HTTP_LOG,
        "max_size": max(server.limits.recvq, 1024),
        "max_queue": 64,
        "ping_interval": KEEPALIVE_INTERVAL,
        "ping_timeout": KEEPALIVE_INTERVAL,
        "close_timeout": CLOSE_GRACE,
        "open_timeout": 10.0,
        "ssl": tls,
        "backlog": 1024,
    }
    if listen.unix_path is not None:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(listen.unix_path).st_mode):
                os.unlink(listen.unix_path)  # a stale socket from a previous run
        return await unix_serve(endpoint.handle, listen.unix_path, **common)
    if sock is not None:
        return await ws_serve(endpoint.handle, sock=sock, **common)
    return await ws_serve(
        endpoint.handle, listen.host, listen.port or 0, reuse_address=True, **common
    )
