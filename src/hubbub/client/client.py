"""The asyncio client: a thin I/O loop around :class:`~hubbub.client.session.ClientSession`.

>>> async with Client("127.0.0.1:6667", nick="bot", channels=["#test"]) as client:
...     async for event in client:
...         if isinstance(event, ChatMessage) and not event.from_self:
...             await client.send_message(event.conversation, event.text)
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from hubbub.client import events as ev
from hubbub.client.errors import (
    ClientError,
    ConnectionFailed,
    NotConnected,
    RegistrationFailed,
    RequestFailed,
    RequestTimeout,
    TLSFailed,
)
from hubbub.client.history import (
    HistoryMessage,
    HistoryTarget,
    Ref,
    format_time,
    history_messages,
    history_targets,
    parse_time,
)
from hubbub.client.requests import Expect
from hubbub.client.session import (
    DEFAULT_CAPS,
    HISTORY_BATCH_TYPES,
    SEARCH_BATCH_TYPES,
    ClientConfig,
    ClientSession,
    SaslConfig,
)
from hubbub.client.state import ClientState
from hubbub.client.text import Address, parse_address
from hubbub.protocol import (
    MAX_SERVER_TAG_BYTES,
    LineBuffer,
    LineTooLong,
    Message,
    ProtocolError,
    parse,
    parse_bytes,
)

E = TypeVar("E", bound=ev.Event)

_READ_SIZE = 65536


def _version() -> str:
    try:
        from importlib.metadata import version

        return f"hubbub {version('hubbub')}"
    except Exception:  # noqa: BLE001 - not installed: any name will do
        return "hubbub"


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    session: ClientSession
    registered: asyncio.Event = field(default_factory=asyncio.Event)
    pings: dict[str, float] = field(default_factory=dict)
    ping_timed_out: bool = False
    open: bool = True
    waiting: dict[int, asyncio.Future[ev.Answer]] = field(default_factory=dict)


class Client:
    """An IRC client connection, with reconnection, keep-alive and flood control.

    Events (see :mod:`hubbub.client.events`) are read with ``async for event in client`` (or
    :meth:`wait_for`); iteration ends when the client is closed for good. Only one consumer
    should read events.
    """

    def __init__(
        self,
        address: str | Address = "127.0.0.1:6667",
        *,
        nick: str,
        user: str | None = None,
        realname: str = "hubbub user",
        password: str | None = None,
        sasl: SaslConfig | None = None,
        tls: bool = False,
        verify_tls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        channels: Iterable[str] = (),
        caps: frozenset[str] = DEFAULT_CAPS,
        reconnect: bool = False,
        reconnect_delay: float = 1.0,
        reconnect_max_delay: float = 60.0,
        connect_timeout: float = 15.0,
        register_timeout: float = 60.0,
        ping_interval: float = 60.0,
        ping_timeout: float = 150.0,
        flood_burst: int = 10,
        flood_interval: float = 0.5,
        request_timeout: float = 30.0,
        version: str | None = None,
    ) -> None:
        self.address = address if isinstance(address, Address) else parse_address(address, tls)
        if tls and not self.address.tls:
            self.address = self.address._replace(tls=True)
        self.config = ClientConfig(
            nick=nick,
            user=user,
            realname=realname,
            password=password,
            sasl=sasl,
            caps=caps,
            channels=tuple(channels),
            version=version or _version(),
        )
        self.verify_tls = verify_tls
        self.ssl_context = ssl_context
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.connect_timeout = connect_timeout
        self.register_timeout = register_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.flood_burst = flood_burst
        self.flood_interval = flood_interval
        self.request_timeout = request_timeout
        """Seconds a request (history, search, read marker...) waits for its answer."""
        self._session = ClientSession(self.config)
        self._conn: _Connection | None = None
        self._events: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._ended = False
        self._closing = False
        self._ever_registered = False
        self._supervisor: asyncio.Task[None] | None = None
        self._registered: asyncio.Future[None] | None = None
        self._send_lock = asyncio.Lock()
        self._tokens = float(flood_burst)
        self._tokens_at = time.monotonic()
        self._ping_counter = 0
        self._desired_nick = nick
        """The nick asked for on (re)connecting: the one configured, or the last one the
        server accepted from :meth:`set_nick`."""
        self._asked_nick: str | None = None
        """The nick :meth:`set_nick` asked for, until the server accepts it."""

    # -- properties ---------------------------------------------------------------------------

    @property
    def session(self) -> ClientSession:
        """The protocol session of the current (or last) connection."""
        return self._session

    @property
    def state(self) -> ClientState:
        """What we know of the network: channels, members, modes, ISUPPORT, caps."""
        return self._session.state

    @property
    def nick(self) -> str:
        """Our current nickname."""
        return self._session.state.nick

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._conn is not None and self._conn.open

    @property
    def registered(self) -> bool:
        """True while we are connected and welcomed by the server."""
        return self.connected and self._session.state.registered

    # -- connecting ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and register; returns once the server has welcomed us.

        Raises :class:`ConnectionFailed` (or :class:`TLSFailed`) when no connection can be made
        and :class:`RegistrationFailed` when the server closes it before welcoming us.
        """
        if self._supervisor is not None and not self._supervisor.done():
            raise ClientError("already connected")
        self._closing = False
        if self._ended:  # connecting again after a close: a fresh event stream
            self._events = asyncio.Queue()
            self._ended = False
        self._registered = asyncio.get_running_loop().create_future()
        conn = await self._open(self.config)
        self._supervisor = asyncio.create_task(self._supervise(conn), name="hubbub-client")
        try:
            async with asyncio.timeout(self.register_timeout):
                await self._registered
        except TimeoutError:
            await self.close()
            raise RegistrationFailed(
                f"{self.address} accepted the connection but did not welcome us within "
                f"{self.register_timeout:.0f} s (is it an IRC server?)"
            ) from None
        except BaseException:
            await self.close()
            raise

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.quit()

    def _ssl_context(self) -> ssl.SSLContext:
        if self.ssl_context is not None:
            return self.ssl_context
        ctx = ssl.create_default_context()
        if not self.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    async def _open(self, config: ClientConfig) -> _Connection:
        addr = self.address
        ctx = self._ssl_context() if addr.tls else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                if addr.path is not None:
                    reader, writer = await asyncio.open_unix_connection(
                        addr.path, ssl=ctx, server_hostname="localhost" if ctx else None
                    )
                else:
                    reader, writer = await asyncio.open_connection(
                        addr.host, addr.port, ssl=ctx, server_hostname=addr.host if ctx else None
                    )
        except ssl.SSLCertVerificationError as exc:
            raise TLSFailed(
                f"TLS certificate of {addr} is not trusted: {exc.verify_message}"
                " (use --insecure to connect anyway)"
            ) from exc
        except ssl.SSLError as exc:
            raise TLSFailed(
                f"TLS handshake with {addr} failed: {exc.reason or exc} (is it a TLS port?)"
            ) from exc
        except ConnectionRefusedError as exc:
            raise ConnectionFailed(
                f"connection refused by {addr}: is an IRC server running there?"
            ) from exc
        except socket.gaierror as exc:
            raise ConnectionFailed(f"cannot resolve {addr.host!r}: {exc.strerror}") from exc
        except TimeoutError as exc:
            what = "connecting or in the TLS handshake" if ctx else "connecting"
            raise ConnectionFailed(f"timed out {what} to {addr}") from exc
        except OSError as exc:
            raise ConnectionFailed(f"cannot connect to {addr}: {exc.strerror or exc}") from exc
        session = ClientSession(config)
        conn = _Connection(reader, writer, session)
        self._session = session
        self._conn = conn
        session.start()
        self._emit(ev.Connected(str(addr), addr.tls))
        await self._flush(conn)
        return conn

    async def _supervise(self, conn: _Connection | None) -> None:
        attempt = 0
        try:
            while conn is not None:
                reason = await self._serve(conn)
                if conn.session.state.registered:
                    attempt = 0
                again = self.reconnect and self._ever_registered and not self._closing
                if self._registered is not None and not self._registered.done():
                    self._registered.set_exception(RegistrationFailed(reason))
                self._emit(ev.Disconnected(reason, again))
                if not again:
                    break
                config = replace(
                    self.config,
                    nick=self._desired_nick,
                    channels=self._rejoin_list(conn.session),
                )
                conn = None
                while conn is None and not self._closing:
                    attempt += 1
                    delay = min(self.reconnect_max_delay, self.reconnect_delay * 2 ** (attempt - 1))
                    delay *= random.uniform(0.9, 1.1)
                    self._emit(ev.Reconnecting(attempt, delay))
                    await asyncio.sleep(delay)
                    try:
                        conn = await self._open(config)
                    except ConnectionFailed as exc:
                        self._emit(ev.Disconnected(str(exc), True))
        finally:
            if self._registered is not None and not self._registered.done():
                self._registered.set_exception(RegistrationFailed("connection closed"))
            self._end()

    def _rejoin_list(self, session: ClientSession) -> tuple[str, ...]:
        out = []
        for chan in session.state.channels.values():
            key = chan.modes.get("k")
            out.append(f"{chan.name} {key}" if key else chan.name)
        return tuple(out) if out or session.state.registered else self.config.channels

    async def _serve(self, conn: _Connection) -> str:
        buf = LineBuffer()
        keepalive = asyncio.create_task(self._keepalive(conn))
        reason = "the server closed the connection"
        try:
            while True:
                data = await conn.reader.read(_READ_SIZE)
                if not data:
                    break
                for raw in buf.feed(data):
                    if isinstance(raw, LineTooLong):
                        continue
                    try:
                        msg = parse_bytes(raw, MAX_SERVER_TAG_BYTES)
                    except ProtocolError:
                        continue
                    self._dispatch(conn, conn.session.receive(msg))
                await self._flush(conn)
        except OSError as exc:
            reason = f"connection lost: {exc.strerror or exc}"
        except NotConnected as exc:
            reason = str(exc)
        finally:
            conn.open = False
            keepalive.cancel()
            for future in conn.waiting.values():
                if not future.done():
                    future.set_exception(
                        NotConnected("the connection closed before the server answered")
                    )
            conn.writer.close()
            with contextlib.suppress(OSError, TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(1):
                    await conn.writer.wait_closed()
        if conn.ping_timed_out:
            reason = f"no answer from the server for {self.ping_timeout:.0f} s (ping timeout)"
        elif conn.session.error:
            reason = f"the server closed the connection: {conn.session.error}"
        return reason

    def _dispatch(self, conn: _Connection, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.Answer):
                future = conn.waiting.get(event.request)
                if future is not None and not future.done():
                    future.set_result(event)
                continue
            if isinstance(event, ev.Registered):
                self._ever_registered = True
                conn.registered.set()
                if self._registered is not None and not self._registered.done():
                    self._registered.set_result(None)
            elif isinstance(event, ev.NickChange | ev.ErroneousNick):
                self._nick_answered(conn, event)
            elif isinstance(event, ev.Pong) and event.token in conn.pings:
                sent = conn.pings.pop(event.token)
                conn.pings.clear()  # an answer to a later ping covers the earlier ones
                self._emit(ev.Lag(time.monotonic() - sent, message=event.message))
                continue
            self._emit(event)

    def _nick_answered(self, conn: _Connection, event: ev.NickChange | ev.ErroneousNick) -> None:
        """Keep the nick to ask for after a reconnection: one the server accepted (a refused
        ``/nick`` had become the nick the client took after the next reconnection)."""
        fold = conn.session.state.fold
        if isinstance(event, ev.ErroneousNick):
            if fold(event.nick) == fold(self._desired_nick):  # never valid here: not again
                self._desired_nick = event.alternative
            return
        asked = self._asked_nick
        if event.is_self and asked is not None and fold(event.new) == fold(asked):
            self._desired_nick = event.new
            self._asked_nick = None

    async def _keepalive(self, conn: _Connection) -> None:
        await conn.registered.wait()
        while conn.open:
            self._ping_counter += 1
            token = f"hubbub-{self._ping_counter}"
            conn.pings[token] = time.monotonic()
            conn.session.send(Message("PING", (token,)))
            try:
                await self._flush(conn)
            except NotConnected:
                return
            await asyncio.sleep(self.ping_interval)
            oldest = min(conn.pings.values(), default=None)
            if oldest is not None and time.monotonic() - oldest > self.ping_timeout:
                conn.ping_timed_out = True
                conn.writer.transport.abort()
                return

    # -- events -------------------------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        if not self._ended:
            self._events.put_nowait(event)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._events.put_nowait(None)

    async def events(self) -> AsyncIterator[ev.Event]:
        """Events as they happen, until the client is closed for good."""
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)  # later readers end too
                return
            yield event

    def __aiter__(self) -> AsyncIterator[ev.Event]:
        return self.events()

    async def wait_for(self, kind: type[E], predicate: Callable[[E], bool] | None = None) -> E:
        """Read events until one of type ``kind`` (matching ``predicate``) arrives; the events
        before it are consumed. Raises :class:`ClientError` if the client closes first."""
        async for event in self.events():
            if isinstance(event, kind) and (predicate is None or predicate(event)):
                return event
        raise ClientError(f"client closed while waiting for {kind.__name__}")

    # -- sending ------------------------------------------------------------------------------

    async def _flush(self, conn: _Connection, throttle: bool = False) -> None:
        messages = conn.session.outgoing()
        if not messages:
            return
        if not conn.open:
            raise NotConnected("not connected")
        if throttle and self.flood_interval > 0:
            async with self._send_lock:
                for unit in _units(messages):
                    await self._take_tokens(len(unit))
                    await self._write(conn, unit)
        else:
            await self._write(conn, messages)

    async def _take_tokens(self, cost: int) -> None:
        """Wait until the bucket holds a token, then take ``cost`` of them: a multiline
        batch goes whole and leaves the bucket in debt, which the next lines wait off."""
        now = time.monotonic()
        self._tokens = min(
            float(self.flood_burst), self._tokens + (now - self._tokens_at) / self.flood_interval
        )
        self._tokens_at = now
        if self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) * self.flood_interval)
            self._tokens = 1.0
            self._tokens_at = time.monotonic()
        self._tokens -= cost

    async def _write(self, conn: _Connection, messages: list[Message]) -> None:
        if not conn.open or conn.writer.is_closing():
            raise NotConnected("not connected")
        conn.writer.write(b"".join(m.to_bytes() for m in messages))
        try:
            await conn.writer.drain()
        except OSError as exc:
            raise NotConnected(f"connection lost: {exc.strerror or exc}") from exc

    def _current(self) -> _Connection:
        conn = self._conn
        if conn is None or not conn.open:
            raise NotConnected("not connected to a server")
        return conn

    async def send(self, *messages: Message) -> None:
        """Send raw messages (flood-controlled). Raises :class:`NotConnected`."""
        conn = self._current()
        conn.session.send(*messages)
        await self._flush(conn, throttle=True)

    async def send_raw(self, line: str) -> None:
        """Send one raw line, such as ``"WHOIS ann"``."""
        await self.send(parse(line))

    async def send_message(
        self, target: str, text: str, *, notice: bool = False, action: bool = False
    ) -> None:
        """Send ``text`` to a channel or nick (split into lines that fit). Our own message also
        arrives as a :class:`~hubbub.client.events.ChatMessage` with ``from_self`` set."""
        conn = self._current()
        for event in conn.session.send_message(target, text, notice=notice, action=action):
            self._emit(event)
        await self._flush(conn, throttle=True)

    async def send_notice(self, target: str, text: str) -> None:
        """Send a ``NOTICE``."""
        await self.send_message(target, text, notice=True)

    async def send_action(self, target: str, text: str) -> None:
        """Send a CTCP ``ACTION`` (``/me``)."""
        await self.send_message(target, text, action=True)

    async def join(self, channel: str, key: str | None = None) -> None:
        """Join ``channel``; a :class:`~hubbub.client.events.Join` with ``is_self`` follows."""
        await self.send(self._session.join(channel, key))

    async def part(self, channel: str, reason: str = "") -> None:
        """Leave ``channel``."""
        await self.send(Message("PART", (channel, reason) if reason else (channel,)))

    async def set_nick(self, nick: str) -> None:
        """Ask for a new nick; a :class:`NickChange` follows, or a :class:`NickInUse` (or a
        :class:`Numeric` error, ``432`` for a nick the server does not take). Once the
        server accepted it, the client asks for this nick after a reconnection; a refused
        one changes nothing."""
        self._asked_nick = nick
        await self.send(Message("NICK", (nick,)))

    async def set_topic(self, channel: str, topic: str) -> None:
        """Change the topic of ``channel``."""
        await self.send(Message("TOPIC", (channel, topic)))

    async def set_away(self, text: str | None) -> None:
        """Mark us away with ``text``, or back with ``None``."""
        await self.send(Message("AWAY", (text,) if text else ()))
        self.state.away = text

    async def send_typing(self, target: str, state: str = "active") -> bool:
        """Tell ``target`` we are typing (``active``), have paused (``paused``) or have
        cleared the text (``done``), with the IRCv3 ``+typing`` tag. Not throttled: the spec
        asks for at most one notification every 3 s per target, which is the caller's to
        keep. False (nothing sent) when the server does not take the tag."""
        conn = self._current()
        message = conn.session.typing_message(target, state)
        if message is None:
            return False
        await self.send(message)
        return True

    async def fetch_history(self, target: str, limit: int = 50) -> bool:
        """Ask for the latest ``limit`` messages of ``target``; a
        :class:`~hubbub.client.events.History` follows. False if the server has no history.
        (:meth:`history` returns the messages instead.)"""
        conn = self._current()
        if not conn.session.fetch_history(target, limit):
            return False
        await self._flush(conn, throttle=True)
        return True

    # -- requests -----------------------------------------------------------------------------

    async def request(
        self, message: Message, expect: Expect | None = None, *, timeout: float | None = None
    ) -> ev.Answer:
        """Send ``message`` and wait for the server's answer (its lines and batches).

        With ``labeled-response`` the message is labeled and the answer is whatever carries
        the label; without it, ``expect`` says what the answer looks like (else
        :class:`Unsupported`). Raises :class:`RequestFailed` when the answer is a ``FAIL`` or
        an error numeric, :class:`RequestTimeout` after ``timeout`` seconds (default
        :attr:`request_timeout`), :class:`NotConnected` if the connection ends first.
        """
        conn = self._current()
        message.serialize()  # a ProtocolError now, not when the line is written
        request = conn.session.request(message, expect)
        future: asyncio.Future[ev.Answer] = asyncio.get_running_loop().create_future()
        conn.waiting[request] = future
        wait = self.request_timeout if timeout is None else timeout
        try:
            await self._flush(conn, throttle=True)
            async with asyncio.timeout(wait):
                answer = await future
        except TimeoutError:
            conn.session.cancel(request)
            raise RequestTimeout(
                f"the server did not answer {message.command} within {wait:g} s"
            ) from None
        except BaseException:
            conn.session.cancel(request)
            raise
        finally:
            conn.waiting.pop(request, None)
        failure = answer.failure
        if failure is not None:
            raise _failed(failure, message.command)
        return answer

    async def history(
        self,
        target: str,
        *,
        before: Ref | None = None,
        after: Ref | None = None,
        around: Ref | None = None,
        limit: int = 50,
        timeout: float | None = None,
    ) -> list[HistoryMessage]:
        """Messages of ``target`` (a channel, or a nick for a private conversation), oldest
        first, at most ``limit`` (and at most the server's ``CHATHISTORY`` limit).

        Which ones: none of ``before``/``after``/``around``: the latest; ``before``: the
        latest before it; ``after``: the first after it; both: those between them, counted from
        ``after``; ``around``: some on each side. The bounds themselves are left out
        (``around`` a msgid includes that message). A bound is a :data:`Ref`: a msgid, an
        aware datetime, or a :class:`HistoryMessage` (to page on from one).
        Raises :class:`Unsupported` when the server keeps no history.
        """
        if around is not None:
            if before is not None or after is not None:
                raise ValueError("around goes alone, without before or after")
            return await self._history("AROUND", target, (around,), limit, timeout)
        if before is not None and after is not None:
            return await self._history("BETWEEN", target, (after, before), limit, timeout)
        if before is not None:
            return await self._history("BEFORE", target, (before,), limit, timeout)
        if after is not None:
            return await self._history("AFTER", target, (after,), limit, timeout)
        return await self._history("LATEST", target, (None,), limit, timeout)

    async def history_latest(
        self,
        target: str,
        *,
        after: Ref | None = None,
        limit: int = 50,
        timeout: float | None = None,
    ) -> list[HistoryMessage]:
        """The latest ``limit`` messages of ``target``, only those after ``after`` when given
        (``CHATHISTORY LATEST``): to catch up after a reconnection, where
        ``history(after=...)`` would give the oldest ones after it."""
        return await self._history("LATEST", target, (after,), limit, timeout)

    async def _history(
        self,
        subcommand: str,
        target: str,
        refs: tuple[Ref | None, ...],
        limit: int,
        timeout: float | None,
    ) -> list[HistoryMessage]:
        session = self._current().session
        message, expect = session.history_query(subcommand, target, refs, limit)
        answer = await self.request(message, expect, timeout=timeout)
        batch = answer.batch(*HISTORY_BATCH_TYPES)
        return history_messages(batch.lines if batch else (), session.state)

    async def history_targets(
        self, start: datetime, end: datetime, *, limit: int = 50, timeout: float | None = None
    ) -> list[HistoryTarget]:
        """The conversations (channels and nicks) whose latest message is between ``start``
        and ``end``, with its time, ordered by it, oldest first (``CHATHISTORY TARGETS``): to
        find the private conversations missed while away. The server counts ``limit`` from
        ``start``: give the later time first to get the most recently active."""
        session = self._current().session
        message, expect = session.targets_query(start, end, limit)
        answer = await self.request(message, expect, timeout=timeout)
        batch = answer.batch("draft/chathistory-targets")
        return history_targets(batch.lines if batch else ())

    async def search(
        self,
        *,
        text: str | None = None,
        in_: str | None = None,
        from_: str | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int | None = None,
        timeout: float | None = None,
    ) -> list[HistoryMessage]:
        """Messages matching all the criteria given (``soju.im/search``): ``text`` in the
        message (how it matches is up to the server), sent to ``in_`` (a channel or a nick),
        by ``from_``, between ``after`` and ``before``; at most ``limit``. Empty strings count
        as not given; at least one criterion is needed. Raises :class:`Unsupported` when the
        server has no search."""
        attrs: list[tuple[str, str]] = []
        for key, value in (("in", in_), ("from", from_), ("text", text)):
            if value:
                attrs.append((key, value))
        for key, when in (("after", after), ("before", before)):
            if when is not None:
                attrs.append((key, format_time(when)))
        if limit is not None:
            if limit < 1:
                raise ValueError(f"the limit must be at least 1, not {limit}")
            attrs.append(("limit", str(limit)))
        session = self._current().session
        message, expect = session.search_query(attrs)
        answer = await self.request(message, expect, timeout=timeout)
        batch = answer.batch(*SEARCH_BATCH_TYPES)
        return history_messages(batch.lines if batch else (), session.state)

    async def mark_read(
        self, target: str, time: datetime, *, timeout: float | None = None
    ) -> datetime | None:
        """Tell the server the user has read ``target`` up to ``time`` (the time of the last
        message read); returns the marker the server keeps, which never moves back (so it may
        be later than ``time``). Every client of the user gets a
        :class:`~hubbub.client.events.ReadMarker`. Raises :class:`Unsupported` without
        ``draft/read-marker``."""
        return await self._markread(target, time, timeout)

    async def read_marker(self, target: str, *, timeout: float | None = None) -> datetime | None:
        """Ask the server for the read marker of ``target`` (``None``: nothing read yet).
        Channels' markers arrive by themselves on join (``client.state.read_marker``); a
        private conversation's must be asked for."""
        return await self._markread(target, None, timeout)

    async def _markread(
        self, target: str, when: datetime | None, timeout: float | None
    ) -> datetime | None:
        session = self._current().session
        message, expect = session.markread_query(target, when)
        answer = await self.request(message, expect, timeout=timeout)
        for line in answer.lines:
            if line.command.upper() == "MARKREAD" and len(line.params) >= 2:
                return None if line.params[1] == "*" else parse_time(line.params[1])
        return session.state.read_marker(target)

    async def redact(
        self, target: str, msgid: str, reason: str = "", *, timeout: float | None = None
    ) -> None:
        """Delete the message ``msgid`` that was sent to ``target`` (a channel or a nick), for
        everyone whose client understands it (``draft/message-redaction``); a
        :class:`~hubbub.client.events.Redact` follows. Waits for the server's word when it
        gives one (``labeled-response`` or ``echo-message``): a refusal raises
        :class:`RequestFailed` (``REDACT_FORBIDDEN``, ``UNKNOWN_MSGID``...)."""
        conn = self._current()
        message, expect = conn.session.redact_query(target, msgid, reason)
        if expect is None:
            await self.send(message)
            return
        await self.request(message, expect, timeout=timeout)

    # -- closing ------------------------------------------------------------------------------

    async def quit(self, reason: str = "", timeout: float = 5.0) -> None:
        """Send ``QUIT`` and wait (at most ``timeout`` seconds) for the server to close the
        connection, so everything sent before is delivered; then stop for good."""
        self._closing = True
        conn = self._conn
        if conn is not None and conn.open:
            try:
                conn.session.send(Message("QUIT", (reason,) if reason else ()))
                async with self._send_lock:
                    await self._flush(conn)
            except NotConnected:
                pass
        task = self._supervisor
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=timeout)
        await self.close()

    async def close(self) -> None:
        """Close the connection at once and stop for good (no reconnecting)."""
        self._closing = True
        conn = self._conn
        if conn is not None and conn.open:
            conn.writer.transport.abort()
        task = self._supervisor
        if task is not None and not task.done():
            if conn is None or not conn.open:
                task.cancel()
            _, pending = await asyncio.wait({task}, timeout=5)
            if pending:
                task.cancel()
                await asyncio.wait({task})
        self._end()


def _units(messages: list[Message]) -> list[list[Message]]:
    """``messages`` in the units flood control meters: one line each, but a batch we open
    (``BATCH +ref`` to ``BATCH -ref``: a ``draft/multiline`` message) is one unit.

    Metered line by line, a batch of 100 lines took 45 s to reach the server, which relays
    it only once it is closed, and every other line the user sent waited behind it. Sent
    whole, the server holds what exceeds its own bucket (hubbub holds a whole batch beyond
    it, and ergo counts a batch's lines once it ends); the batch's lines are then charged
    to our bucket, so what follows waits as long as line by line (see :meth:`Client._flush`)
    and the server's backlog never grows past one batch (no "Excess Flood")."""
    units: list[list[Message]] = []
    batch: list[Message] | None = None
    end = ""
    for msg in messages:
        if batch is not None:
            batch.append(msg)
            if msg.command.upper() == "BATCH" and msg.params[:1] == (end,):
                batch = None
            continue
        if msg.command.upper() == "BATCH" and msg.params and msg.params[0].startswith("+"):
            batch = [msg]
            end = "-" + msg.params[0][1:]
            units.append(batch)
            continue
        units.append([msg])
    return units


def _failed(line: Message, command: str) -> RequestFailed:
    """The exception for a ``FAIL`` or error numeric answering ``command``."""
    p = line.params
    if line.command.upper() == "FAIL":
        failed = p[0] if p else command
        code = p[1] if len(p) > 1 else ""
        if len(p) > 2:
            return RequestFailed(failed, code, p[2:-1], p[-1])
        return RequestFailed(failed, code)
    # "421 nick CHATHISTORY :Unknown command": drop our nick
    rest = p[1:]
    return RequestFailed(command, line.command, rest[:-1], rest[-1] if rest else "")
