"""TCP, TLS and Unix-socket listeners: bytes to lines, coalesced writes, SendQ.

Each connection is an :class:`asyncio.Protocol` (no streams: one less buffer and task per
client) and is the :class:`~hubbub.server.session.Sink` of its session. The core queues output
per session and a shared :class:`Flusher` writes it once per event-loop iteration, so a burst
of fan-out to a client costs one ``send`` system call, not one per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from hubbub.protocol.framing import LineBuffer
from hubbub.server.peer import peer_info
from hubbub.server.session import Session

if TYPE_CHECKING:
    from hubbub.server.core import Server

log = logging.getLogger("hubbub.net")

HIGH_WATER = 65536
"""Bytes a transport may hold before it reports itself full (at most half the SendQ)."""
CLOSE_GRACE = 10.0
"""Seconds a closing connection may take to flush before it is aborted."""


class Flusher:
    """Asks the core to write out what it queued, once per event-loop iteration.

    The core queues each client's bytes as it works (:attr:`Session.outbuf`); when the first
    bytes of an iteration are queued it calls :meth:`wake`, and the flush runs after every
    read of this iteration was handled: a client gets one ``send`` per iteration, however
    many messages reached it.
    """

    __slots__ = ("_loop", "_scheduled", "server")

    def __init__(self, loop: asyncio.AbstractEventLoop, server: Server) -> None:
        self._loop = loop
        self.server = server
        self._scheduled = False

    def wake(self) -> None:
        """Bytes were queued: flush at the end of this iteration."""
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what the core queued for every client."""
        self._scheduled = False
        try:
            self.server.flush()
        except Exception:  # one broken transport must not stop the others' output
            log.exception("error flushing output")


class BufferedSink:
    """The part of a connection the core writes to, with the SendQ limit.

    The core counts what it queues for a client against :meth:`room` and disconnects a client
    whose queue would outgrow the SendQ (see :class:`~hubbub.server.session.Session`); it hands
    over each client's bytes once per loop iteration, already joined. As a second guard, a
    write that would take the transport past ``sendq`` bytes drops the client here too.
    Subclasses provide :meth:`_write_out` (hand bytes to the transport), :meth:`_buffered`
    (bytes the transport still holds) and :meth:`_close_transport`.
    """

    __slots__ = ("_closing", "server", "session")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.session: Session | None = None
        self._closing = False

    @property
    def sendq(self) -> int:
        """The SendQ in force (``[limits] sendq``; a REHASH applies to every client)."""
        return self.server.limits.sendq

    # Sink protocol
    def write(self, data: bytes) -> None:
        if self._closing:
            return
        if len(data) + self._buffered() > self.sendq:
            self._sendq_exceeded()
            return
        self._write_out(data)

    def room(self) -> int:
        held = self._buffered()
        return self.sendq - held if held else self.sendq  # (one int object for all idle ones)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._close_transport()

    def _sendq_exceeded(self) -> None:
        # Never re-enter the core from inside a write (it may be mid-flush): let the core
        # remove the session on the next loop iteration.
        self._closing = True
        session = self.session
        log.info("SendQ exceeded for %s", session)
        if session is not None:
            asyncio.get_running_loop().call_soon(self._drop, session)

    def _drop(self, session: Session) -> None:
        self._closing = False
        self._send_line(b"ERROR :SendQ exceeded\r\n")
        self._closing = True  # the core's own ERROR line would not fit either
        if self.server.metrics is not None:
            self.server.metrics.sendq_disconnects += 1
        self.server.quit(session, "SendQ exceeded", error="SendQ exceeded")
        self._closing = False
        self.close()

    def _send_line(self, line: bytes) -> None:
        """Send one IRC line now, however the transport frames it (what :meth:`_drop` says)."""
        self._write_out(line)

    def _write_out(self, data: bytes) -> None:
        raise NotImplementedError

    def _buffered(self) -> int:
        raise NotImplementedError

    def _close_transport(self) -> None:
        raise NotImplementedError


class IRCProtocol(BufferedSink, asyncio.Protocol):
    """One IRC connection over TCP, TLS or a Unix socket."""

    __slots__ = ("_high", "_paused", "kind", "lines", "secure", "transport")

    def __init__(self, server: Server, kind: str, secure: bool) -> None:
        super().__init__(server)
        self.kind = kind
        self.secure = secure
        self.transport: asyncio.Transport | None = None
        self.lines = LineBuffer(blank_lines=True)
        self._paused = False
        self._high = max(min(HIGH_WATER, self.sendq // 2), 1)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.set_write_buffer_limits(high=self._high)
        # TCP_NODELAY: asyncio (since 3.6) and uvloop set it on every TCP transport, so a
        # reply is never held back by Nagle; asking for the socket object here would only
        # cost memory per connection.
        peer = peer_info(
            transport.get_extra_info("peername"),
            transport=self.kind,
            secure=self.secure,
            unix=self.kind == "unix",
        )
        self.session = self.server.connect(self, peer)
        if getattr(self.server.host, "input_paused", False):
            self.pause_input(True)  # history backpressure is on: this one waits too

    def write(self, data: bytes) -> None:
        # BufferedSink.write without its two indirections: this runs once per client per
        # loop iteration in which it was sent something, so at low message rates once per
        # recipient of every message.
        # The transport tells us (pause_writing) when it holds more than half the SendQ;
        # until then, what it holds plus ``data`` cannot exceed the SendQ, so the exact check
        # is only made when it could fail.
        transport = self.transport
        if self._closing or transport is None:
            return
        if (self._paused or len(data) > self._high) and (
            len(data) + transport.get_write_buffer_size() > self.sendq
        ):
            self._sendq_exceeded()
            return
        transport.write(data)

    def pause_input(self, paused: bool) -> None:
        """Stop (or go back to) reading from this client (backpressure)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False

    def data_received(self, data: bytes) -> None:
        metrics = self.server.metrics
        if metrics is not None:
            metrics.bytes_received[self.kind] += len(data)
        session = self.session
        if session is None or session.closed:
            return
        buffer = self.lines
        try:
            if buffer.idle and self.server.receive_block(session, data):
                return
            lines = buffer.feed(data)
            if lines:
                self.server.receive(session, lines)
        except Exception:  # never let a core bug close the transport from under us
            log.exception("error processing input from %s", session)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        session = self.session
        if session is not None and not session.closed:
            reason = f"Read error: {exc}" if exc else "Connection closed"
            self.server.quit(session, reason)

    def _write_out(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def _close_transport(self) -> None:
        transport = self.transport
        if transport is None:
            return
        transport.close()
        # A peer that never reads would keep a closing transport (and its buffer) forever.
        asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)


async def bind_sockets(
    host: str | None, port: int, backlog: int, reuse_port: bool = False
) -> list[socket.socket]:
    """Listening sockets on every address ``host`` resolves to (all interfaces for None);
    port 0 picks one ephemeral port for all of them. ``reuse_port``: SO_REUSEPORT, so that
    several processes (``hubbub serve --workers N``) listen on one port and the kernel
    spreads the connections among them."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[object, ...]] = set()
    try:
        for family, kind, proto, _, addr in infos:
            if (family, *addr[:2]) in seen:
                continue
            seen.add((family, *addr[:2]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
            sock.listen(backlog)
            sock.setblocking(False)
            if port == 0:  # one ephemeral port for every address
                port = sock.getsockname()[1]
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


TLS_RECORD_HANDSHAKE = 0x16
"""The first byte of a TLS connection (a handshake record carrying the ClientHello)."""
PLAIN_TEXT_ON_TLS = b"ERROR :This port only accepts TLS connections; reconnect with TLS\r\n"
HANDSHAKE_TIMEOUT = 10.0


class TLSListener:
    """A TLS listener that looks at each connection's first byte before TLS starts.

    asyncio's own TLS server drops failed handshakes silently. Accepting here lets the server
    answer a plain-text client with an ``ERROR`` line it can read, and log every failed
    handshake with its reason (an expired client certificate, a wrong SNI, a port scanner).
    It offers what :class:`asyncio.Server` offers the app: ``sockets``, ``close()`` and
    ``wait_closed()``.
    """

    def __init__(
        self,
        factory: Callable[[], asyncio.Protocol],
        ctx: ssl.SSLContext,
        sockets: list[socket.socket],
    ) -> None:
        self.factory = factory
        self.ctx = ctx
        self.sockets = sockets
        self._loop = asyncio.get_running_loop()
        self._admitting: set[asyncio.Task[None]] = set()
        self._accepters = [self._loop.create_task(self._accept(s)) for s in sockets]

    @classmethod
    async def start(
        cls,
        factory: Callable[[], asyncio.Protocol],
        ctx: ssl.SSLContext,
        host: str | None,
        port: int,
        backlog: int = 1024,
        reuse_port: bool = False,
    ) -> TLSListener:
        """Bind every address ``host`` resolves to (all interfaces for None)."""
        return cls(factory, ctx, await bind_sockets(host, port, backlog, reuse_port))

    def close(self) -> None:
        """Stop accepting; connections already made stay."""
        for task in self._accepters:
            task.cancel()
        for sock in self.sockets:
            sock.close()

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._accepters, return_exceptions=True)

    async def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, addr = await self._loop.sock_accept(listener)
            except OSError as exc:  # EMFILE and friends: wait, then keep accepting
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = self._loop.create_task(self._admit(conn, str(addr[0])))
            self._admitting.add(task)
            task.add_done_callback(self._admitting.discard)

    async def _admit(self, conn: socket.socket, ip: str) -> None:
        conn.setblocking(False)
        try:
            first = await asyncio.wait_for(self._peek(conn), HANDSHAKE_TIMEOUT)
            if not first:
                conn.close()
                return
            if first[0] != TLS_RECORD_HANDSHAKE:
                log.info("plain text from %s on a TLS port; told it to use TLS", ip)
                with contextlib.suppress(OSError):
                    conn.send(PLAIN_TEXT_ON_TLS)
                conn.close()
                return
            await self._loop.connect_accepted_socket(
                self.factory, conn, ssl=self.ctx, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            log.info("TLS handshake with %s failed: %s", ip, reason)
            conn.close()

    async def _peek(self, conn: socket.socket) -> bytes:
        ready: asyncio.Future[None] = self._loop.create_future()
        fd = conn.fileno()

        def on_readable() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_reader(fd, on_readable)
        try:
            await ready
        finally:
            self._loop.remove_reader(fd)
        return conn.recv(1, socket.MSG_PEEK)
