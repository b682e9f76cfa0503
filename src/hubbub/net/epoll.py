"""Every client in one epoll set (plain TCP, Unix sockets, TLS, WebSocket): little memory per
idle connection.

An asyncio transport costs about 1.3 KB per connection under uvloop (the transport object,
libuv's handle, the loop's weak map of transports, a cached peer address): more than an idle
IRC client's whole state. A TLS transport adds a 256 KiB read buffer (partly resident) and
memory BIOs, a ``websockets`` connection its own parser, queues and tasks: 26 and 19 KB per
idle client. Here every client socket sits in one ``epoll`` set, which the event loop watches
as a single file descriptor. A connection is its descriptor and one small :class:`Connection`;
the kernel keeps the rest. Reads and writes are plain system calls on the descriptor (through
:class:`ssl.SSLSocket` for TLS, which reads and writes the descriptor itself, so OpenSSL's
own buffers are released between records); output the kernel cannot take yet waits in the
connection's buffer, counted against the SendQ, until the socket is writable again.

A TLS or WebSocket connection is first *set up* (:class:`Setup`: the TLS handshake, the HTTP
upgrade through ``websockets``' sans-I/O handshake) in a second epoll set, which backpressure
does not pause; once it carries IRC it joins the first and gets its session. WebSocket frames
are :mod:`hubbub.net.wsframes`.

Linux only (``select.epoll``); elsewhere the application uses asyncio transports
(:class:`hubbub.net.tcp.IRCProtocol`) and the ``websockets`` server.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
import socket
import ssl
import struct
from collections import Counter
from typing import TYPE_CHECKING, Any

from websockets.http11 import Request

from hubbub.net import wsframes
from hubbub.net.tcp import (
    CLOSE_GRACE,
    HANDSHAKE_TIMEOUT,
    PLAIN_TEXT_ON_TLS,
    TLS_RECORD_HANDSHAKE,
    BufferedSink,
    bind_sockets,
)
from hubbub.protocol.framing import LineBuffer
from hubbub.server.core import address_bucket
from hubbub.server.peer import peer_info

if TYPE_CHECKING:
    from hubbub.net.websocket import WebSocketEndpoint
    from hubbub.server.core import Server
    from hubbub.server.session import PeerInfo

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
TLS_RECORDS_PER_READ = 16
"""TLS records decrypted for one client per turn (the rest wait for the next)."""
MAX_REQUEST_HEAD = 16384
"""Bytes of an HTTP request head read before it is parsed anyway (and refused: websockets
takes lines of at most 8 KiB and 128 headers)."""
KEEPALIVE_INTERVAL = 30.0
"""Seconds between WebSocket pings to a client that has said nothing meanwhile: proxies
drop connections they see idle (a dead client is found by the server's IRC PING)."""

_IN = select.EPOLLIN if AVAILABLE else 1
_OUT = select.EPOLLOUT if AVAILABLE else 4
_TRY_AGAIN = (BlockingIOError, InterruptedError)
_TLS_AGAIN = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
_PING = wsframes.frame(wsframes.OP_PING, b"")

# Where a connection's set-up stands (Setup.stage).
_PEEK = 0
"""TLS: nothing read yet; the first byte says whether the client speaks TLS at all."""
_HANDSHAKE = 1
"""TLS: the handshake is under way."""
_HTTP = 2
"""WebSocket: the HTTP upgrade request is being read."""


class Hub:
    """The epoll sets and the connections in them, indexed by descriptor."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: Server) -> None:
        self.loop = loop
        self.server = server
        self._epoll = select.epoll()
        """Connections that carry IRC (paused by backpressure)."""
        self._setup = select.epoll()
        """Connections still being set up: TLS handshakes, WebSocket upgrades."""
        self._conns: list[Connection | None] = []
        """Connections by file descriptor: a list, because descriptors are small and dense."""
        self.count = 0
        self.scratch = LineBuffer(blank_lines=True)
        """The line buffer of every client that holds no partial line (see readable)."""
        self.readbuf = memoryview(bytearray(READ_SIZE))
        """Where TLS records are decrypted into, for every client in turn."""
        self._empty: asyncio.Event | None = None
        self._keepalive: asyncio.TimerHandle | None = None
        self.going_away = False
        """Set when the server shuts down: WebSocket clients are closed with 1001."""
        self.setting_up: Counter[str] = Counter()
        """Connections being set up, by peer address (an IPv6 one's /64): the per-address
        limit of clients (``max_clients_per_ip``) holds for them too, before they reach the
        core (a stalled TLS handshake costs some 40 KB for its ten seconds)."""
        loop.add_reader(self._epoll.fileno(), self._ready, self._epoll)
        loop.add_reader(self._setup.fileno(), self._ready, self._setup)

    def add(self, conn: Connection) -> None:
        """Watch ``conn`` (in the set-up set while it has a :class:`Setup`)."""
        fd = conn.fd
        conns = self._conns
        if fd >= len(conns):
            conns.extend([None] * (fd + 1 - len(conns)))
        conns[fd] = conn
        self.count += 1
        (self._setup if conn.setup is not None else self._epoll).register(fd, _IN)

    def established(self, conn: Connection) -> None:
        """``conn`` is set up: from now on its input is IRC (and pausable)."""
        with contextlib.suppress(OSError):
            self._setup.unregister(conn.fd)
        self._epoll.register(conn.fd, _IN | (_OUT if conn.wbuf is not None else 0))

    def pause(self, paused: bool) -> None:
        """Stop (or go back to) handling the clients' readiness: backpressure. The epoll
        set is level-triggered, so nothing that became ready meanwhile is lost. Connections
        being set up go on: they carry no IRC yet."""
        fd = self._epoll.fileno()
        if paused:
            self.loop.remove_reader(fd)
        else:
            self.loop.add_reader(fd, self._ready, self._epoll)

    def watch(self, conn: Connection, mask: int) -> None:
        """Watch ``conn`` for ``mask`` (``EPOLLIN``, ``EPOLLOUT``) from now on."""
        (self._setup if conn.setup is not None else self._epoll).modify(conn.fd, mask)

    def set_up_over(self, setup: Setup) -> None:
        """``setup`` ended (the connection carries IRC, or it is gone)."""
        bucket = address_bucket(_ip(setup.address))
        left = self.setting_up[bucket] - 1
        if left > 0:
            self.setting_up[bucket] = left
        else:
            del self.setting_up[bucket]

    def remove(self, fd: int) -> None:
        if self._conns[fd] is not None:
            self._conns[fd] = None
            self.count -= 1
            if not self.count and self._empty is not None:
                self._empty.set()
        for epoll in (self._epoll, self._setup):
            with contextlib.suppress(OSError):
                epoll.unregister(fd)

    def _ready(self, epoll: select.epoll) -> None:
        try:
            events = epoll.poll(0, EVENTS_PER_WAKE)
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

    def keep_alive(self) -> None:
        """Ping, every :data:`KEEPALIVE_INTERVAL`, the WebSocket clients that said nothing
        meanwhile (started by the first WebSocket listener)."""
        if self._keepalive is None:
            self._keepalive = self.loop.call_later(KEEPALIVE_INTERVAL, self._ping)

    def _ping(self) -> None:
        self._keepalive = self.loop.call_later(KEEPALIVE_INTERVAL, self._ping)
        quiet = self.server.clock() - KEEPALIVE_INTERVAL
        for conn in self._conns:
            if type(conn) is WSConnection and conn.setup is None and not conn._closing:
                session = conn.session
                if session is not None and session.last_recv <= quiet:
                    conn._write_out(_PING)

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for closing connections to send what they hold."""
        if not self.count:
            return
        self._empty = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout)

    def close(self) -> None:
        """Drop every connection still open and stop watching the sets."""
        for conn in list(self._conns):
            if conn is not None:
                conn.lost("Server shutting down")
        if self._keepalive is not None:
            self._keepalive.cancel()
        for epoll in (self._epoll, self._setup):
            with contextlib.suppress(ValueError):
                self.loop.remove_reader(epoll.fileno())
            epoll.close()


class Setup:
    """What a connection holds while it is set up (a TLS handshake, a WebSocket upgrade),
    and drops once it carries IRC."""

    __slots__ = ("address", "head", "listener", "sock", "stage", "timer")

    def __init__(self, listener: EpollListener, address: Any, stage: int) -> None:
        self.listener = listener
        self.address = address
        """The peer's address, as ``accept`` gave it."""
        self.stage = stage
        self.sock: socket.socket | None = None
        """TLS: the accepted socket, until the first byte is seen and TLS wraps it."""
        self.head = b""
        """WebSocket: the HTTP request read so far. It is parsed once whole, by a
        ``websockets`` handshake made for that moment: a thousand handshakes under way keep
        a thousand short byte strings, not a thousand parsers (whose 4.5 KB each, freed
        among the long-lived objects of the clients that got through, fragment memory)."""
        self.timer: asyncio.TimerHandle | None = None


class Connection(BufferedSink):
    """One client: a descriptor (with its TLS layer, if any), its partial input line and the
    output it could not send."""

    __slots__ = ("_draining", "fd", "hub", "lines", "setup", "tls", "wbuf")

    def __init__(self, hub: Hub, fd: int, setup: Setup | None = None) -> None:
        super().__init__(hub.server)
        self.hub = hub
        self.fd = fd
        self.setup = setup
        """None once the connection carries IRC."""
        self.tls: ssl.SSLSocket | None = None
        """The TLS layer: it owns the descriptor and reads and writes it."""
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
        elif len(wbuf) + len(data) > self.server.limits.sendq:  # (self.sendq, inline)
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
            # (inline for plain clients: this runs once per client per flush)
            sent = os.write(self.fd, data) if self.tls is None else self._send(data)
        except _TRY_AGAIN:
            sent = 0
        except OSError as exc:
            # Never call back into the core from a write: report the loss on the next turn.
            self._closing = True
            self.hub.loop.call_soon(self.lost, f"Write error: {exc.strerror or exc}")
            return
        if sent < len(data):
            # (TLS sends all or nothing: what it began must be offered again whole)
            self.wbuf = bytearray(memoryview(data)[sent:])
            self.hub.watch(self, _IN | _OUT)

    def _send(self, data: bytes | bytearray) -> int:
        """Bytes of ``data`` the kernel took (0 when it takes none now)."""
        tls = self.tls
        if tls is None:
            try:
                return os.write(self.fd, data)
            except _TRY_AGAIN:
                return 0
        try:
            return tls.send(data)
        except _TLS_AGAIN:
            return 0

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
        self.hub.watch(self, _OUT)  # no more input: the session is over
        self.hub.loop.call_later(CLOSE_GRACE, self.lost, "Closing timed out")

    # -- events from the hub ---------------------------------------------------------------

    def readable(self) -> None:
        if self.setup is not None:
            self._set_up()
            return
        try:
            data = os.read(self.fd, READ_SIZE) if self.tls is None else self._read()
        except _TRY_AGAIN:
            return
        except OSError as exc:  # (ssl.SSLError is one)
            self.lost(f"Read error: {exc.strerror or exc}")
            return
        if data is None:
            return
        if not data:
            self.lost("Connection closed")
            return
        self._received(data)

    def _read(self) -> bytes | None:
        """What the client sent (decrypted): None when nothing came, b"" at its end."""
        tls = self.tls
        if tls is None:
            try:
                return os.read(self.fd, READ_SIZE)
            except _TRY_AGAIN:
                return None
        view = self.hub.readbuf
        parts: list[bytes] = []
        for _ in range(TLS_RECORDS_PER_READ):
            try:
                n = tls.recv_into(view)
            except _TLS_AGAIN:
                break
            if not n:  # (the peer's close_notify, or the end of the stream)
                if parts:
                    break  # (it is seen again at the next read)
                return b""
            parts.append(bytes(view[:n]))
        else:
            if tls.pending():  # (decrypted already: no readiness will come for it)
                self.hub.loop.call_soon(self._read_on)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _read_on(self) -> None:
        if self.fd >= 0:
            self.readable()

    def _received(self, data: bytes) -> None:
        """Bytes of IRC from the client."""
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
                    self.hub.scratch = LineBuffer(blank_lines=True)
            else:
                lines = buffer.feed(data)
                if buffer.idle:
                    self.lines = None
            if lines:
                server.receive(session, lines)
        except Exception:  # never let a core bug close the connection from under us
            log.exception("error processing input from %s", session)

    def writable(self) -> None:
        setup = self.setup
        if setup is not None and setup.stage == _HANDSHAKE:
            self._set_up()
            return
        wbuf = self.wbuf
        if wbuf:
            try:
                sent = self._send(wbuf)
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
            self.hub.watch(self, _IN)

    def lost(self, reason: str) -> None:
        """Close the descriptor now and tell the core, if it does not know yet."""
        fd = self.fd
        if fd < 0:
            return
        self.fd = -1
        self._closing = True
        self.wbuf = None
        self.hub.remove(fd)
        setup, self.setup = self.setup, None
        if setup is not None:
            self.hub.set_up_over(setup)
            if setup.timer is not None:
                setup.timer.cancel()
        tls = self.tls
        if tls is not None:
            with contextlib.suppress(OSError, ValueError):
                tls.unwrap()  # (sends close_notify; it does not wait for the peer's)
            with contextlib.suppress(OSError):
                tls.close()
        elif setup is not None and setup.sock is not None:
            setup.sock.close()
        else:
            with contextlib.suppress(OSError):
                os.close(fd)
        session = self.session
        if session is not None and not session.closed:
            self.server.quit(session, reason)

    # -- setting up: TLS, the WebSocket upgrade --------------------------------------------

    def _set_up(self) -> None:
        """Take the set-up as far as what has arrived allows."""
        setup = self.setup
        assert setup is not None
        listener = setup.listener
        if setup.stage == _PEEK and not self._peek(setup, listener):
            return
        if setup.stage == _HANDSHAKE:
            assert self.tls is not None
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.hub.watch(self, _IN)
                return
            except ssl.SSLWantWriteError:
                self.hub.watch(self, _OUT)
                return
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
                log.info("TLS handshake with %s failed: %s", _ip(setup.address), reason)
                self.lost("TLS handshake failed")
                return
            self.hub.watch(self, _IN)
            if listener.endpoint is None:
                self._established()
                return
            setup.stage = _HTTP
        if setup.stage == _HTTP:
            try:
                data = self._read()
            except OSError:
                self.lost("Connection closed")
                return
            if data is None:
                return
            if not data:
                self.lost("Connection closed")
                return
            self._upgrade(setup, data)

    def _peek(self, setup: Setup, listener: EpollListener) -> bool:
        """The first byte of a TLS connection: start TLS if it is a handshake record (and
        return True), else answer a plain-text IRC client and close."""
        sock = setup.sock
        assert sock is not None
        assert listener.tls is not None
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except _TRY_AGAIN:
            return False
        except OSError:
            self.lost("Connection closed")
            return False
        if not first:
            self.lost("Connection closed")
            return False
        if first[0] != TLS_RECORD_HANDSHAKE:
            log.info("plain text from %s on a TLS port; told it to use TLS", _ip(setup.address))
            if listener.endpoint is None:  # (an HTTPS port gets nothing it could read)
                with contextlib.suppress(OSError):
                    sock.send(PLAIN_TEXT_ON_TLS)
            self.lost("Connection closed")
            return False
        try:
            self.tls = listener.tls.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        except (OSError, ValueError) as exc:
            log.info("TLS with %s could not start: %s", _ip(setup.address), exc)
            self.lost("Connection closed")
            return False
        setup.sock = None
        setup.stage = _HANDSHAKE
        return True

    def _upgrade(self, setup: Setup, data: bytes) -> None:
        """Bytes of the client's HTTP request: once it is whole, answer it (a file, an error,
        or the switch to WebSocket)."""
        endpoint = setup.listener.endpoint
        assert endpoint is not None
        head = setup.head + data if setup.head else data
        if b"\r\n\r\n" not in head and len(head) <= MAX_REQUEST_HEAD:
            setup.head = head
            return
        setup.head = b""
        end = head.find(b"\r\n\r\n")
        rest = b""
        if end >= 0:  # (frames a client sent right behind its request are the session's)
            head, rest = head[: end + 4], head[end + 4 :]
        proto = endpoint.handshake()
        proto.receive_data(head)  # (too long a head gets its 414 or 431 from websockets)
        request = next((e for e in proto.events_received() if isinstance(e, Request)), None)
        if request is None:  # (not HTTP, or too long: websockets answers those with 414/431)
            refusal = b"".join(proto.data_to_send())
            if not refusal:  # (not HTTP/1.1: obs-fold, a space before a colon, HTTP/0.9...)
                bad = endpoint.bad_request()
                bad.headers["Server"] = "hubbub"
                refusal = bad.serialize()
            self._write_out(refusal)
            self.close()
            return
        try:
            response = endpoint.answer(request, setup.address)
            if response is None:
                response = proto.accept(request)
        except Exception as exc:  # (a request websockets parsed but cannot answer)
            log.info("HTTP request from %s refused: %r", _ip(setup.address), exc)
            response = endpoint.bad_request()
        response.headers["Server"] = "hubbub"
        proto.send_response(response)
        self._write_out(b"".join(proto.data_to_send()))
        if response.status_code != 101:
            self.close()  # (one request a connection, as the websockets server did)
            return
        assert isinstance(self, WSConnection)
        self.binary = proto.subprotocol == _BINARY
        # Behind a trusted proxy the client is who its headers name: the core counts and
        # limits that address (the proxy's count of handshakes under way ends here).
        self._established(endpoint.peer(request, setup.address))
        if rest and self.fd >= 0:
            self._received(rest)

    def _established(self, peer: PeerInfo | None = None) -> None:
        """The set-up is over: the connection carries IRC and gets its session (as
        ``peer``, else as the socket's peer)."""
        setup = self.setup
        assert setup is not None
        if setup.timer is not None:
            setup.timer.cancel()
        self.setup = None
        self.hub.set_up_over(setup)
        self.hub.established(self)
        listener = setup.listener
        if peer is None:
            peer = peer_info(
                setup.address,
                transport=listener.transport,
                secure=listener.tls is not None,
                unix=listener.unix,
            )
        self.session = self.server.connect(self, peer)
        if self.tls is not None and self.tls.pending():  # (input that came with the set-up)
            self.hub.loop.call_soon(self._read_on)

    def _set_up_timed_out(self) -> None:
        setup = self.setup
        if setup is None or self.fd < 0:
            return
        what = "TLS handshake" if setup.stage < _HTTP else "WebSocket opening handshake"
        log.info("%s with %s failed: timed out", what, _ip(setup.address))
        self.lost("Set-up timed out")


_BINARY = "binary.ircv3.net"


class WSConnection(Connection):
    """A WebSocket client: one IRC line a message, each way (the IRCv3 WebSocket spec)."""

    __slots__ = ("binary", "partial")

    def __init__(self, hub: Hub, fd: int, setup: Setup) -> None:
        super().__init__(hub, fd, setup)
        self.binary = False
        """``binary.ircv3.net``: lines go out as binary messages (else text)."""
        self.partial: wsframes.Partial | None = None
        """A frame or message that a read left unfinished (None: none, as mostly)."""

    def write(self, data: bytes) -> None:
        if not self._closing:
            Connection.write(self, wsframes.frame_lines(data, self.binary))

    def _send_line(self, line: bytes) -> None:
        self._write_out(wsframes.frame_lines(line, self.binary))

    def _close_transport(self) -> None:
        if self.fd >= 0 and self.setup is None:
            going = self.hub.going_away
            code = wsframes.CLOSE_GOING_AWAY if going else wsframes.CLOSE_NORMAL
            self._write_out(wsframes.close_frame(code))
        Connection._close_transport(self)

    def _received(self, data: bytes) -> None:
        session = self.session
        if session is None or session.closed or self._draining:
            return
        server = self.server
        try:
            messages, self.partial, frames = wsframes.read_frames(
                data, self.partial, max(server.limits.recvq, 1024)
            )
        except wsframes.ProtocolViolation as exc:
            reason = "Message too big" if exc.code == wsframes.CLOSE_TOO_BIG else exc.reason
            self._finish(wsframes.close_frame(exc.code, exc.reason), reason)
            return
        metrics = server.metrics
        idle = frames  # (frames that bring no line: counted down below)
        for message in messages:
            opcode = message.opcode
            if opcode == wsframes.OP_TEXT or opcode == wsframes.OP_BINARY:
                idle -= 1
                if metrics is not None:
                    metrics.bytes_received[session.peer.transport] += len(message.data)
                # One message is one line; a final LF gives it exactly the TCP line rules
                # (CR LF stripped, over-long lines answered with ERR_INPUTTOOLONG).
                try:
                    lines = self.hub.scratch.feed(message.data + b"\n")
                    if lines:
                        server.receive(session, lines)
                except Exception:  # a core bug must not end the connection silently
                    log.exception("error processing input from %s", session)
                if session.closed or self._closing:
                    return
            elif opcode == wsframes.OP_PING:
                pong = wsframes.frame(wsframes.OP_PONG, message.data)
                if self._buffered() + len(pong) > server.limits.sendq:
                    self._sendq_exceeded()  # (pings from a client that reads no pongs)
                    return
                self._write_out(pong)
            elif opcode == wsframes.OP_CLOSE:
                code = wsframes.CLOSE_NORMAL
                if len(message.data) >= 2:
                    (code,) = struct.unpack_from("!H", message.data)
                if len(message.data) == 1 or not wsframes.valid_close_code(code):
                    code = wsframes.CLOSE_PROTOCOL_ERROR  # (RFC 6455 7.4: not one to echo)
                else:
                    try:
                        bytes(message.data[2:]).decode()
                    except UnicodeDecodeError:  # (RFC 6455 5.5.1: the reason is UTF-8)
                        code = wsframes.CLOSE_BAD_DATA
                self._finish(wsframes.close_frame(code), "Connection closed")
                return
        if idle > 0 and server.limits.flood and not session.closed:
            # Pings, pongs and the fragments before a message's last cost the loop as much
            # as a line each: flood control counts them as empty lines (which the core
            # ignores), so a stream of them is throttled, then an Excess Flood, like one of
            # bare LFs. (A browser sends neither; a keepalive ping costs one line.)
            server.receive(session, [b""] * idle)

    def _finish(self, last: bytes, reason: str) -> None:
        """Send ``last`` (a close frame), take the session off the network with ``reason``
        (nothing more is sent after the close frame) and close once it is sent."""
        if self._closing:
            return
        self._write_out(last)
        self._closing = True
        session = self.session
        if session is not None and not session.closed:
            self.server.quit(session, reason)
        Connection._close_transport(self)


def _ip(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) and address else "unix"


class EpollListener:
    """Listening sockets whose clients join a :class:`Hub`: ``sockets``, ``close()`` and
    ``wait_closed()``, as :class:`asyncio.Server` offers them to the application.

    ``tls`` makes it a TLS listener; ``endpoint`` a WebSocket (and HTTP) one."""

    def __init__(
        self,
        hub: Hub,
        sockets: list[socket.socket],
        *,
        unix: bool = False,
        tls: ssl.SSLContext | None = None,
        endpoint: WebSocketEndpoint | None = None,
    ) -> None:
        self.hub = hub
        self.sockets = sockets
        self.unix = unix
        self.tls = tls
        self.endpoint = endpoint
        if endpoint is not None:
            self.transport = "wss" if tls is not None else "ws"
            hub.keep_alive()
        else:
            self.transport = "unix" if unix else "tls" if tls is not None else "tcp"
        self._closed = False
        for sock in sockets:
            sock.setblocking(False)
            hub.loop.add_reader(sock.fileno(), self._accept, sock)

    @classmethod
    async def start(
        cls,
        hub: Hub,
        host: str | None,
        port: int,
        backlog: int,
        reuse_port: bool = False,
        *,
        tls: ssl.SSLContext | None = None,
        endpoint: WebSocketEndpoint | None = None,
    ) -> EpollListener:
        """Listen on every address ``host`` resolves to (all interfaces for None)."""
        sockets = await bind_sockets(host, port, backlog, reuse_port)
        return cls(hub, sockets, tls=tls, endpoint=endpoint)

    @classmethod
    def start_unix(
        cls, hub: Hub, path: str, backlog: int, endpoint: WebSocketEndpoint | None = None
    ) -> EpollListener:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        return cls(hub, [sock], unix=True, endpoint=endpoint)

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
            if not self.unix:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            sock.close()
            return
        hub = self.hub
        if self.tls is None and self.endpoint is None:
            unix = self.unix
            peer = peer_info(addr, transport=self.transport, secure=unix, unix=unix)
            plain = Connection(hub, sock.detach())  # the number is all a connection keeps
            hub.add(plain)
            plain.session = hub.server.connect(plain, peer)
            return
        ip = _ip(addr)
        bucket = address_bucket(ip)
        server = hub.server
        if (
            hub.setting_up[bucket] >= server.limits.max_clients_per_ip
            and not self.unix
            and not server._exempt(ip)
        ):
            log.info("too many connections being set up from %s; closed one", ip)
            sock.close()
            return
        hub.setting_up[bucket] += 1
        setup = Setup(self, addr, _PEEK if self.tls is not None else _HTTP)
        conn: Connection
        if self.endpoint is None:
            conn = Connection(hub, sock.fileno(), setup)
        else:
            conn = WSConnection(hub, sock.fileno(), setup)
        if self.tls is not None:
            setup.sock = sock  # (TLS takes it over once the first byte is seen)
        else:
            sock.detach()
        setup.timer = hub.loop.call_later(HANDSHAKE_TIMEOUT, conn._set_up_timed_out)
        hub.add(conn)


def make_hub(loop: asyncio.AbstractEventLoop, server: Server) -> Hub | None:
    """A hub for plain connections, or None where epoll is not available."""
    return Hub(loop, server) if AVAILABLE else None
