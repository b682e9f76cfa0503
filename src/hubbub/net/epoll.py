"""Plain TCP and Unix-socket clients in one epoll set: little memory per idle connection.

An asyncio transport costs about 1.3 KB per connection under uvloop (the transport object,
libuv's handle, the loop's weak map of transports, a cached peer address): more than an idle
IRC client's whole state. Here every client socket sits in one ``epoll`` set, which the event
loop watches as a single file descriptor. A connection is its descriptor number and one small
:class:`Connection`; the kernel keeps the rest. Reads and writes are plain system calls on the
descriptor; output the kernel cannot take yet waits in the connection's buffer, counted against
the SendQ, until the socket is writable again.

Linux only (``select.epoll``); elsewhere, and for TLS and WebSocket clients, the application
uses asyncio transports (:class:`hubbub.net.tcp.IRCProtocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
import socket
from typing import TYPE_CHECKING, Any

from hubbub.net.tcp import CLOSE_GRACE, BufferedSink, bind_sockets
from hubbub.protocol.framing import LineBuffer
from hubbub.server.peer import peer_info

if TYPE_CHECKING:
    from hubbub.server.core import Server

log = logging.getLogger("hubbub.net")

AVAILABLE = hasattr(select, "epoll")
"""Whether this platform has epoll (the application falls back to asyncio transports)."""
READ_SIZE = 65536
"""The most bytes read from one client at a time."""
EVENTS_PER_WAKE = 1024
"""Ready connections handled per turn of the event loop (the rest wait for the next)."""
ACCEPTS_PER_WAKE = 64
"""Connections accepted per turn of the event loop from one listening socket."""
ACCEPT_PAUSE = 0.1
"""Seconds a listener stops accepting after the process ran out of descriptors."""

_IN = select.EPOLLIN if AVAILABLE else 1
_OUT = select.EPOLLOUT if AVAILABLE else 4
_TRY_AGAIN = (BlockingIOError, InterruptedError)


class Hub:
    """The epoll set and the connections in it, indexed by descriptor."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: Server) -> None:
        self.loop = loop
        self.server = server
        self._epoll = select.epoll()
        self._conns: list[Connection | None] = []
        """Connections by file descriptor: a list, because descriptors are small and dense."""
        self.count = 0
        self.scratch = LineBuffer()
        """The line buffer of every client that holds no partial line (see readable)."""
        self._empty: asyncio.Event | None = None
        loop.add_reader(self._epoll.fileno(), self._ready)

    def add(self, conn: Connection) -> None:
        fd = conn.fd
        conns = self._conns
        if fd >= len(conns):
            conns.extend([None] * (fd + 1 - len(conns)))
        conns[fd] = conn
        self.count += 1
        self._epoll.register(fd, _IN)

    def pause(self, paused: bool) -> None:
        """Stop (or go back to) handling the clients' readiness: backpressure. The epoll
        set is level-triggered, so nothing that became ready meanwhile is lost."""
        fd = self._epoll.fileno()
        if paused:
            self.loop.remove_reader(fd)
        else:
            self.loop.add_reader(fd, self._ready)

    def watch(self, fd: int, mask: int) -> None:
        self._epoll.modify(fd, mask)

    def remove(self, fd: int) -> None:
        if self._conns[fd] is not None:
            self._conns[fd] = None
            self.count -= 1
            if not self.count and self._empty is not None:
                self._empty.set()
        with contextlib.suppress(OSError):
            self._epoll.unregister(fd)

    def _ready(self) -> None:
        try:
            events = self._epoll.poll(0, EVENTS_PER_WAKE)
        except InterruptedError:
            return
        conns = self._conns
        for fd, mask in events:
            conn = conns[fd]
            if conn is None:
                continue
            if mask & _OUT:
                conn.writable()
            if mask != _OUT and conn.fd >= 0:  # readable, hung up or in error
                conn.readable()

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for closing connections to send what they hold."""
        if not self.count:
            return
        self._empty = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout)

    def close(self) -> None:
        """Drop every connection still open and stop watching the set."""
        for conn in list(self._conns):
            if conn is not None:
                conn.lost("Server shutting down")
        self.loop.remove_reader(self._epoll.fileno())
        self._epoll.close()


class Connection(BufferedSink):
    """One client: a descriptor, its partial input line and the output it could not send."""

    __slots__ = ("_draining", "fd", "hub", "lines", "wbuf")

    def __init__(self, hub: Hub, fd: int) -> None:
        super().__init__(hub.server, hub.server.limits.sendq)
        self.hub = hub
        self.fd = fd
        self.lines: LineBuffer | None = None
        """The partial line this client sent last, if any (most idle clients have none:
        they share the hub's scratch buffer)."""
        self.wbuf: bytearray | None = None
        """Bytes the kernel did not take yet; None when everything was sent."""
        self._draining = False

    # -- Sink: called by the core ----------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        wbuf = self.wbuf
        if wbuf is None:
            self._write_out(data)
        elif len(wbuf) + len(data) > self.sendq:
            self._sendq_exceeded()
            return
        else:
            wbuf += data  # earlier output still waits: keep the order

    def _write_out(self, data: bytes) -> None:
        """Send ``data`` now, or buffer what the kernel does not take (no SendQ check: the
        next :meth:`write` makes it)."""
        if self.fd < 0:
            return
        if self.wbuf is not None:
            self.wbuf += data
            return
        try:
            sent = os.write(self.fd, data)
        except _TRY_AGAIN:
            sent = 0
        except OSError as exc:
            # Never call back into the core from a write: report the loss on the next turn.
            self._closing = True
            self.hub.loop.call_soon(self.lost, f"Write error: {exc.strerror or exc}")
            return
        if sent < len(data):
            self.wbuf = bytearray(memoryview(data)[sent:])
            self.hub.watch(self.fd, _IN | _OUT)

    def _buffered(self) -> int:
        return len(self.wbuf) if self.wbuf is not None else 0

    def _close_transport(self) -> None:
        """Send what is buffered, then close (aborting after CLOSE_GRACE seconds)."""
        if self.fd < 0:
            return
        if self.wbuf is None:
            self.lost("Connection closed")
            return
        self._draining = True
        self.hub.watch(self.fd, _OUT)  # no more input: the session is over
        self.hub.loop.call_later(CLOSE_GRACE, self.lost, "Closing timed out")

    # -- events from the hub ---------------------------------------------------------------

    def readable(self) -> None:
        try:
            data = os.read(self.fd, READ_SIZE)
        except _TRY_AGAIN:
            return
        except OSError as exc:
            self.lost(f"Read error: {exc.strerror or exc}")
            return
        if not data:
            self.lost("Connection closed")
            return
        session = self.session
        metrics = self.server.metrics
        if metrics is not None and session is not None:
            metrics.bytes_received[session.peer.transport] += len(data)
        if session is None or session.closed or self._draining:
            return
        server = self.server
        try:
            buffer = self.lines
            if buffer is None:
                if server.receive_block(session, data):
                    return
                buffer = self.hub.scratch
                lines = buffer.feed(data)
                if not buffer.idle:  # it holds a partial line: it is this client's now
                    self.lines = buffer
                    self.hub.scratch = LineBuffer()
            else:
                lines = buffer.feed(data)
                if buffer.idle:
                    self.lines = None
            if lines:
                server.receive(session, lines)
        except Exception:  # never let a core bug close the connection from under us
            log.exception("error processing input from %s", session)

    def writable(self) -> None:
        wbuf = self.wbuf
        if wbuf:
            try:
                sent = os.write(self.fd, wbuf)
            except _TRY_AGAIN:
                return
            except OSError as exc:
                self.lost(f"Write error: {exc.strerror or exc}")
                return
            del wbuf[:sent]  # (a bytearray drops its head without copying the rest)
            if wbuf:
                return
        self.wbuf = None
        if self._draining:
            self.lost("Connection closed")
        elif self.fd >= 0:
            self.hub.watch(self.fd, _IN)

    def lost(self, reason: str) -> None:
        """Close the descriptor now and tell the core, if it does not know yet."""
        fd = self.fd
        if fd < 0:
            return
        self.fd = -1
        self._closing = True
        self.wbuf = None
        self.hub.remove(fd)
        with contextlib.suppress(OSError):
            os.close(fd)
        session = self.session
        if session is not None and not session.closed:
            self.server.quit(session, reason)


class EpollListener:
    """Listening sockets whose clients join a :class:`Hub`: ``sockets``, ``close()`` and
    ``wait_closed()``, as :class:`asyncio.Server` offers them to the application."""

    def __init__(self, hub: Hub, sockets: list[socket.socket], kind: str) -> None:
        self.hub = hub
        self.sockets = sockets
        self.kind = kind
        self._closed = False
        for sock in sockets:
            sock.setblocking(False)
            hub.loop.add_reader(sock.fileno(), self._accept, sock)

    @classmethod
    async def start(
        cls, hub: Hub, host: str | None, port: int, backlog: int, reuse_port: bool = False
    ) -> EpollListener:
        """Listen on every address ``host`` resolves to (all interfaces for None)."""
        return cls(hub, await bind_sockets(host, port, backlog, reuse_port), "tcp")

    @classmethod
    def start_unix(cls, hub: Hub, path: str, backlog: int) -> EpollListener:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        return cls(hub, [sock], "unix")

    def close(self) -> None:
        """Stop accepting; connections already made stay."""
        if self._closed:
            return
        self._closed = True
        for sock in self.sockets:
            with contextlib.suppress(ValueError, OSError):
                self.hub.loop.remove_reader(sock.fileno())
            sock.close()

    async def wait_closed(self) -> None:
        return None

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                sock, addr = listener.accept()
            except _TRY_AGAIN:
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # the client gave up before we accepted it
                # EMFILE and friends: stop accepting for a moment rather than spin.
                log.warning("accept failed: %s", exc)
                self._pause(listener)
                return
            self._admit(sock, addr)

    def _pause(self, listener: socket.socket) -> None:
        loop = self.hub.loop
        loop.remove_reader(listener.fileno())

        def resume() -> None:
            if not self._closed:
                loop.add_reader(listener.fileno(), self._accept, listener)

        loop.call_later(ACCEPT_PAUSE, resume)

    def _admit(self, sock: socket.socket, addr: Any) -> None:
        try:
            sock.setblocking(False)
            if self.kind == "tcp":
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            sock.close()
            return
        unix = self.kind == "unix"
        peer = peer_info(addr, transport=self.kind, secure=unix, unix=unix)
        conn = Connection(self.hub, sock.detach())  # the number is all a connection keeps
        self.hub.add(conn)
        conn.session = self.hub.server.connect(conn, peer)


def make_hub(loop: asyncio.AbstractEventLoop, server: Server) -> Hub | None:
    """A hub for plain connections, or None where epoll is not available."""
    return Hub(loop, server) if AVAILABLE else None
