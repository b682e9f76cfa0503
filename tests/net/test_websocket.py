"""The WebSocket listener over real sockets: IRCv3 subprotocols, origins, limits, static files."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from hubbub.config import Config, ListenSection, ServerSection
from hubbub.net import app as app_module
from hubbub.net.app import App
from hubbub.net.websocket import origin_allowed
from hubbub.protocol.message import Message, parse
from tests.cloaks import HOST, cloak_of
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient, MessageReader
from tests.timeouts import TIMEOUT

AppFactory = Callable[[Config], Any]


@pytest.fixture(params=["epoll", "asyncio"], autouse=True)
def transports(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: clients on the epoll hub, and on asyncio transports and the
    websockets server (what a platform without epoll uses)."""
    if request.param == "asyncio":
        monkeypatch.setattr(app_module, "make_hub", lambda loop, server: None)
    return str(request.param)


def ws_config(origins: tuple[str, ...] = (), **limits: Any) -> Config:
    """An IRC listener and a WebSocket listener, both on ephemeral loopback ports."""
    return make_config(
        (
            ListenSection(address="127.0.0.1:0"),
            ListenSection(address="127.0.0.1:0", websocket=True, origins=origins),
        ),
        **limits,
    )


class WSClient(MessageReader):
    """An IRC client over WebSocket, with the same bounded waits as ``IRCTestClient``."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str | bytes] = []

    @classmethod
    async def connect(
        cls,
        url: str,
        subprotocols: Sequence[str] | None = ("text.ircv3.net",),
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> WSClient:
        ws = await asyncio.wait_for(
            connect(
                url,
                subprotocols=[Subprotocol(s) for s in subprotocols] if subprotocols else None,
                origin=Origin(origin) if origin else None,
                additional_headers=headers,
                proxy=None,
                ssl=tls,
                open_timeout=TIMEOUT,
                **kwargs,
            ),
            TIMEOUT,
        )
        return cls(ws)

    async def send(self, *lines: str) -> None:
        for line in lines:
            if self.ws.subprotocol == "binary.ircv3.net":
                await self.ws.send(line.encode())
            else:
                await self.ws.send(line)

    async def read_message(self, timeout: float = TIMEOUT) -> Message:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        self.frames.append(frame)
        text = frame.decode() if isinstance(frame, bytes) else frame
        assert not text.endswith(("\r", "\n")), f"a frame carries one line, no CR LF: {text!r}"
        return parse(text)

    async def register(
        self, nick: str, caps: str = "", user: str = "web", realname: str = "Web User"
    ) -> list[Message]:
        return await super().register(nick, caps, user, realname)

    async def close(self) -> None:
        await asyncio.wait_for(self.ws.close(), TIMEOUT)


def ws_url(app: App, path: str = "/irc") -> str:
    host, port = app.address("ws")
    return f"ws://{host}:{port}{path}"


async def http_get(
    app: App, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP/1.1 request (the path is sent exactly as given); (status, headers, body)."""
    host, port = app.address("ws")
    return await http_get_at(host, port, path, headers, method)


async def http_get_at(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> tuple[int, dict[str, str], bytes]:
    """``http_get`` to any host and port."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n"
        writer.write(request.encode())
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
    return parse_response(raw)


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """An HTTP response as (status, headers by lower-case name, body)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), parsed, body


# --- subprotocols -----------------------------------------------------------------------------


async def test_text_subprotocol(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    client = await WSClient.connect(ws_url(app), subprotocols=["text.ircv3.net"])
    assert client.ws.subprotocol == "text.ircv3.net"
    await client.register("texty")
    assert client.frames
    assert all(isinstance(f, str) for f in client.frames)
    welcome = parse(str(client.frames[0]))
    assert welcome.command == "001"
    assert welcome.params[0] == "texty"
    await client.close()


async def test_binary_subprotocol(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    client = await WSClient.connect(ws_url(app), subprotocols=["binary.ircv3.net"])
    assert client.ws.subprotocol == "binary.ircv3.net"
    await client.register("binny")
    assert client.frames
    assert all(isinstance(f, bytes) for f in client.frames)
    await client.close()


async def test_client_order_of_subprotocols_wins(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    client = await WSClient.connect(
        ws_url(app), subprotocols=["x-unknown", "binary.ircv3.net", "text.ircv3.net"]
    )
    assert client.ws.subprotocol == "binary.ircv3.net"
    await client.close()


async def test_no_subprotocol_means_text(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    client = await WSClient.connect(ws_url(app, "/"), subprotocols=None)
    assert client.ws.subprotocol is None
    await client.register("plain")
    assert all(isinstance(f, str) for f in client.frames)
    await client.close()


async def test_binary_frames_carry_non_utf8_bytes_as_they_are(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    text = await WSClient.connect(ws_url(app), subprotocols=["text.ircv3.net"])
    binary = await WSClient.connect(ws_url(app), subprotocols=["binary.ircv3.net"])
    await text.register("texty")
    await binary.register("binny")
    # Latin-1 from a client that did not ask for UTF-8: the server refuses it either way,
    # but the frame that carries the refusal is valid for its subprotocol.
    await binary.ws.send(b"PRIVMSG texty :caf\xe9")
    fail = await binary.expect("FAIL")
    assert fail.params[1] == "INVALID_UTF8"
    await text.close()
    await binary.close()


# --- chatting across transports ---------------------------------------------------------------


async def test_websocket_and_tcp_clients_chat(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    web = await WSClient.connect(ws_url(app))
    tcp = await IRCTestClient.connect(*app.address("irc"))
    await web.register("webby", caps="server-time echo-message")
    await tcp.register("tcpy")
    await web.send("JOIN #mixed")
    await web.expect("366")
    await tcp.send("JOIN #mixed")
    await tcp.expect("366")
    await web.expect(lambda m: m.command == "JOIN" and m.source is not None)

    await tcp.send("PRIVMSG #mixed :hello from a socket")
    got = await web.expect("PRIVMSG")
    assert got.params == ("#mixed", "hello from a socket")
    assert got.source is not None
    assert got.source.startswith("tcpy!")
    assert "time" in got.tags

    await web.send("PRIVMSG #mixed :héllo from a browser")
    echoed = await web.expect("PRIVMSG")  # echo-message
    assert echoed.params[1] == "héllo from a browser"
    got = await tcp.expect("PRIVMSG")
    assert got.params == ("#mixed", "héllo from a browser")
    # The peer address comes from the connection; X-Forwarded-For is not trusted.
    assert got.source == f"webby!~web@{HOST}"
    await web.close()
    await tcp.expect(lambda m: m.command == "QUIT" and m.source is not None)
    await tcp.close()


async def test_forwarded_for_is_not_trusted(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    web = await WSClient.connect(ws_url(app), headers={"X-Forwarded-For": "203.0.113.9"})
    await web.register("proxied")
    await web.send("WHOIS proxied")
    whois = await web.expect("311")
    assert whois.params[3] == HOST  # the cloak of 127.0.0.1
    actually = await web.expect("338")
    assert actually.params[3] == "127.0.0.1"
    await web.close()


async def test_websocket_on_a_unix_socket(app_factory: AppFactory, tmp_path: Path) -> None:
    path = str(tmp_path / "web.sock")
    app = await app_factory(make_config((ListenSection(address=f"unix:{path}", websocket=True),)))
    assert [(b.kind, b.path) for b in app.bound] == [("ws", path)]
    ws = await asyncio.wait_for(
        unix_connect(path, "ws://localhost/irc", subprotocols=[Subprotocol("text.ircv3.net")]),
        TIMEOUT,
    )
    local = WSClient(ws)
    await local.register("local")
    await local.send("WHOIS local")
    await local.expect("671")  # a Unix socket counts as secure, as for raw IRC
    await local.close()


async def test_quit_sends_error_then_closes_the_websocket(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    web = await WSClient.connect(ws_url(app))
    await web.register("leaver")
    await web.send("QUIT :bye now")
    error = await web.expect("ERROR")
    assert "bye now" in error.params[0]
    with pytest.raises(ConnectionClosed) as info:
        await web.read_message()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1000
    assert not app.server.sessions


async def test_shutdown_closes_websocket_clients(app_factory: AppFactory, transports: str) -> None:
    app = App(ws_config())
    await app.start()
    web = await WSClient.connect(ws_url(app))
    await web.register("stayer")
    await app.stop("maintenance")
    error = await web.expect("ERROR")
    assert "maintenance" in error.params[0]
    with pytest.raises(ConnectionClosed) as info:
        await web.read_message()
    if transports == "epoll":  # (the websockets server closes each session with 1000)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1001


# --- limits -----------------------------------------------------------------------------------


async def test_too_long_line_is_refused_like_tcp(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    web = await WSClient.connect(ws_url(app))
    await web.register("longy")
    await web.send("PRIVMSG longy :" + "x" * 9000)
    refused = await web.expect("417")
    assert refused.params[0] == "longy"
    await web.send("PING still-here")
    pong = await web.expect("PONG")
    assert pong.params[-1] == "still-here"
    await web.close()


async def test_message_over_recvq_closes_the_connection(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config(recvq=4096))
    web = await WSClient.connect(ws_url(app))
    await web.register("huge")
    await web.send("PRIVMSG huge :" + "x" * 10_000)
    with pytest.raises(ConnectionClosed) as info:
        await web.expect("never")
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009


async def test_frame_with_crlf_and_several_lines(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    web = await WSClient.connect(ws_url(app))
    await web.register("multi")
    # CR LF at the end is tolerated; an LF inside splits lines exactly like on TCP.
    await web.ws.send("PING one\r\n")
    assert (await web.expect("PONG")).params[-1] == "one"
    await web.ws.send("PING two\nPING three")
    assert (await web.expect("PONG")).params[-1] == "two"
    assert (await web.expect("PONG")).params[-1] == "three"
    await web.close()


async def test_slow_websocket_reader_is_dropped_at_sendq(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config(sendq=65536))
    # max_queue=1 makes the client stop reading its socket after one unread message.
    slow = await WSClient.connect(ws_url(app), max_queue=1)
    await slow.register("slowpoke")
    talker = await IRCTestClient.connect(*app.address("irc"))
    await talker.register("talker")
    await slow.send("JOIN #flood")
    await slow.expect("366")
    await talker.send("JOIN #flood")
    await talker.expect("366")
    line = "PRIVMSG #flood :" + "z" * 400
    quit_seen = None
    for _ in range(200):
        await talker.send(*[line] * 100)
        await talker.assert_nothing_pending()  # the server handled the burst
        if not any(s.user.nick == "slowpoke" for s in app.server.sessions):
            quit_seen = True
            break
    assert quit_seen, "a WebSocket client that does not read must be dropped"
    await talker.close()
    slow.ws.transport.abort()  # it would never answer the server's closing handshake


# --- origins ----------------------------------------------------------------------------------


def test_origin_rules() -> None:
    allowed = ("https://chat.example.org",)
    assert origin_allowed(None, "irc.example.org", allowed)
    assert origin_allowed("https://chat.example.org", "irc.example.org", allowed)
    assert origin_allowed("https://CHAT.example.org/", "irc.example.org", allowed)
    assert not origin_allowed("https://evil.example", "irc.example.org", allowed)
    assert not origin_allowed("null", "irc.example.org", ())
    # same origin: host and port as in the Host header (default ports filled in)
    assert origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080", ())
    names = ("irc.example.org",)
    assert origin_allowed("https://irc.example.org", "irc.example.org", (), names)
    assert origin_allowed("https://irc.example.org", "irc.example.org:443", (), names)
    assert origin_allowed("http://localhost:8080", "localhost:8080", ())
    # DNS rebinding: a page and Host under a name that is not the server's own
    assert not origin_allowed("https://irc.example.org", "irc.example.org", ())
    assert not origin_allowed("http://evil.example:18080", "evil.example:18080", (), names)
    assert origin_allowed("http://[::1]:8080", "[::1]:8080", ())
    assert not origin_allowed("http://127.0.0.1:8081", "127.0.0.1:8080", ())
    assert not origin_allowed("http://irc.example.org.evil.example", "irc.example.org", ())
    assert not origin_allowed("http://127.0.0.1:8080", None, ())


async def test_cross_origin_page_is_refused_by_default(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    with pytest.raises(InvalidStatus) as info:
        await WSClient.connect(ws_url(app), origin="https://evil.example")
    assert info.value.response.status_code == 403
    # The server's own page and non-browser clients (no Origin) are accepted.
    host, port = app.address("ws")
    same = await WSClient.connect(ws_url(app), origin=f"http://{host}:{port}")
    await same.register("samesite")
    none = await WSClient.connect(ws_url(app), origin=None)
    await none.register("bot")
    await same.close()
    await none.close()


async def upgrade_status(app: Any, host_header: str, origin: str) -> bytes:
    """The status line the server answers a WebSocket upgrade with these headers."""
    host, port = app.address("ws")
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"GET / HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
    )
    writer.write(request.encode())
    status = await asyncio.wait_for(reader.readline(), TIMEOUT)
    writer.close()
    return status


async def test_dns_rebinding_is_refused_by_default(app_factory: AppFactory) -> None:
    # evil.example pointed at 127.0.0.1: the browser sends a matching Host and Origin.
    app = await app_factory(ws_config())
    _, port = app.address("ws")
    rebound = await upgrade_status(app, f"evil.example:{port}", f"http://evil.example:{port}")
    assert rebound.startswith(b"HTTP/1.1 403")
    own = await upgrade_status(app, f"localhost:{port}", f"http://localhost:{port}")
    assert own.startswith(b"HTTP/1.1 101")
    named = await upgrade_status(app, f"irc.example.org:{port}", f"http://irc.example.org:{port}")
    assert named.startswith(b"HTTP/1.1 403")  # not this server's name ...
    app.server.apply_config(
        dataclasses.replace(app.server.config, server=ServerSection(name="irc.example.org"))
    )
    named = await upgrade_status(app, f"irc.example.org:{port}", f"http://irc.example.org:{port}")
    assert named.startswith(b"HTTP/1.1 101")  # ... until it is


async def test_origin_allowlist(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config(origins=("https://chat.example.org",)))
    allowed = await WSClient.connect(ws_url(app), origin="https://chat.example.org")
    await allowed.register("allowed")
    with pytest.raises(InvalidStatus) as info:
        await WSClient.connect(ws_url(app), origin="https://chat.example.org.evil.example")
    assert info.value.response.status_code == 403
    await allowed.close()


# --- HTTP: the web client's files -------------------------------------------------------------


async def test_index_is_served_with_security_headers(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    status, headers, body = await http_get(app, "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"<!doctype html>" in body.lower()
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert int(headers["content-length"]) == len(body)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js?v=1", "text/javascript; charset=utf-8"),
    ],
)
async def test_static_files(app_factory: AppFactory, path: str, content_type: str) -> None:
    app = await app_factory(ws_config())
    status, headers, body = await http_get(app, path)
    assert status == 200
    assert headers["content-type"] == content_type
    assert body
    assert "content-security-policy" in headers


async def test_head_and_other_methods(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    _, get_headers, body = await http_get(app, "/")
    status, headers, empty = await http_get(app, "/", method="HEAD")
    assert status == 200
    assert empty == b""
    assert headers["content-length"] == str(len(body)) == get_headers["content-length"]
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        status, headers, _ = await http_get(app, "/", {"Content-Length": "0"}, method=method)
        assert status == 405
        assert headers["allow"] == "GET, HEAD"


async def test_etag_revalidation(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    _, headers, _ = await http_get(app, "/app.js")
    etag = headers["etag"]
    for header in (etag, f'"other", W/{etag}', "*"):
        status, headers, body = await http_get(app, "/app.js", {"If-None-Match": header})
        assert (status, headers["etag"], body) == (304, etag, b"")
        # (a Content-Length in a 304 must be the 200's, RFC 9110 8.6: none is sent)
        assert "content-length" not in headers
    status, _, body = await http_get(app, "/app.js", {"If-None-Match": etag[:-2] + '"'})
    assert status == 200
    assert body


@pytest.mark.parametrize(
    "path",
    [
        "/nope.html",
        "/web/index.html",
        "/../pyproject.toml",
        "/..%2f..%2fpyproject.toml",
        "/%2e%2e/%2e%2e/pyproject.toml",
        "/../net/websocket.py",
        "/./index.html/",
        "//etc/passwd",
        "/app.js/../../../../etc/passwd",
    ],
)
async def test_unknown_paths_and_traversal_are_not_found(
    app_factory: AppFactory, path: str
) -> None:
    app = await app_factory(ws_config())
    status, headers, body = await http_get(app, path)
    assert status == 404
    assert b"root:" not in body
    assert b"[project]" not in body
    assert "content-security-policy" in headers


async def test_endpoint_without_upgrade_and_upgrade_elsewhere(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    status, _, _ = await http_get(app, "/irc")
    assert status == 426
    with pytest.raises(InvalidStatus) as info:
        await WSClient.connect(ws_url(app, "/app.js"))
    assert info.value.response.status_code == 404


async def test_backpressure_holds_websocket_and_tcp_input(app_factory: AppFactory) -> None:
    """While the history writer is behind, the host stops handling clients' input: lines a
    WebSocket or TCP client sends then (and from a connection made meanwhile) wait, and are
    handled once it resumes."""
    app = await app_factory(ws_config())
    web = await WSClient.connect(ws_url(app))
    tcp = await IRCTestClient.connect(*app.address("irc"))
    await web.register("webby")
    await tcp.register("tcpy")
    app.pause_input(True)
    late = await WSClient.connect(ws_url(app))
    await web.send("PING :from-web")
    await tcp.send("PING :from-tcp")
    await late.send("NICK latecomer")
    for client in (web, tcp):
        with pytest.raises(TimeoutError):
            await client.expect("PONG", timeout=0.3)
    app.pause_input(False)
    assert (await web.expect("PONG")).params[-1] == "from-web"
    assert (await tcp.expect("PONG")).params[-1] == "from-tcp"
    await late.send("USER u 0 * :late")
    await late.expect("001")
    await late.expect(lambda m: m.command in ("376", "422"))  # (read on, so it can close)
    for client in (web, tcp, late):
        await client.close()


async def raw_http(app: App, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is to the web listener; (status, headers, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*app.address("ws")), TIMEOUT)
    try:
        writer.write(request)
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
    return parse_response(raw)


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: a\r\nUpgrade: b\r\n\r\n",
        b"GET /irc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Origin: http://x\r\nOrigin: http://y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: a\r\nIf-None-Match: b\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"GET /irc HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ],
)
async def test_a_request_with_a_header_twice_or_no_host_gets_400(
    app_factory: AppFactory, request_head: bytes
) -> None:
    """RFC 9112 3.2: one Host, exactly. A header read as one value, given twice, made the
    hub's callback raise (no answer, a traceback in the log)."""
    app = await app_factory(ws_config())
    status, headers, _ = await raw_http(app, request_head)
    assert status == 400
    assert headers["x-content-type-options"] == "nosniff"


async def test_head_gets_no_content_and_an_upgrade_is_get_only(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config())
    status, headers, body = await raw_http(app, b"HEAD /irc HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, headers["upgrade"], body) == (426, "websocket", b"")
    status, _, body = await raw_http(app, b"HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == (404, b"")
    upgrade = (
        b"HEAD /irc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    status, headers, body = await raw_http(app, upgrade)
    assert (status, headers["allow"], body) == (405, "GET", b"")


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET /\r\n\r\n",
        b"NICK alice\r\nUSER a 0 * :a\r\n\r\n",
    ],
)
async def test_a_request_that_is_not_http_1_1_gets_400(
    app_factory: AppFactory, transports: str, request_head: bytes
) -> None:
    """obs-fold, whitespace before a colon (RFC 9112 5.1, 5.2), HTTP/0.9 or an IRC client
    on the web port: a 400 that says so, not a connection closed without a word. (The
    websockets server, where epoll is missing, still closes such a connection silently.)"""
    app = await app_factory(ws_config())
    if transports != "epoll":
        reader, writer = await asyncio.open_connection(*app.address("ws"))
        writer.write(request_head)
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()
        return
    status, headers, _ = await raw_http(app, request_head)
    assert status == 400
    assert headers["server"] == "hubbub"


# -- behind a trusted reverse proxy ------------------------------------------------------------


async def whois_self(web: WSClient, nick: str) -> tuple[str, str]:
    """(the host others see, the real address) of ``nick``, from its own WHOIS."""
    await web.send(f"WHOIS {nick}")
    host = (await web.expect("311")).params[3]
    actually = await web.expect("338")
    return host, actually.params[3]


async def test_a_trusted_proxy_names_the_client(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config(trusted_proxies=("127.0.0.1",)))
    forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}  # (the rightmost is believed)
    web = await WSClient.connect(ws_url(app), headers=forwarded)
    await web.register("proxied")
    assert await whois_self(web, "proxied") == (cloak_of("203.0.113.9"), "203.0.113.9")
    assert app.server.ip_counts == {"203.0.113.9": 1}
    await web.close()


async def test_x_real_ip_from_a_trusted_proxy(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config(trusted_proxies=("127.0.0.0/8",)))
    web = await WSClient.connect(ws_url(app), headers={"X-Real-IP": "2001:db8::7"})
    await web.register("realip")
    assert await whois_self(web, "realip") == (cloak_of("2001:db8::7"), "2001:db8::7")
    await web.close()


async def test_an_untrusted_peer_s_forwarded_for_is_ignored(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config(trusted_proxies=("192.0.2.1",)))
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
    web = await WSClient.connect(ws_url(app), headers=headers)
    await web.register("direct")
    assert await whois_self(web, "direct") == (HOST, "127.0.0.1")
    await web.close()


async def test_an_invalid_forwarded_address_keeps_the_proxy_s(app_factory: AppFactory) -> None:
    app = await app_factory(ws_config(trusted_proxies=("127.0.0.1",)))
    web = await WSClient.connect(ws_url(app), headers={"X-Forwarded-For": "unknown"})
    await web.register("garbled")
    assert await whois_self(web, "garbled") == (HOST, "127.0.0.1")
    await web.close()


async def test_clients_behind_one_proxy_are_counted_by_their_own_address(
    app_factory: AppFactory,
) -> None:
    app = await app_factory(ws_config(trusted_proxies=("127.0.0.1",), max_clients_per_ip=1))
    url = ws_url(app)
    one = await WSClient.connect(url, headers={"X-Forwarded-For": "203.0.113.1"})
    await one.register("one")
    two = await WSClient.connect(url, headers={"X-Forwarded-For": "203.0.113.2"})
    await two.register("two")  # (the proxy's address is not one client's: both get in)
    again = await WSClient.connect(url, headers={"X-Forwarded-For": "203.0.113.1"})
    error = await again.expect("ERROR")
    assert error.params == ("Too many connections from your IP address",)
    with pytest.raises(ConnectionClosed):
        await again.read_message()
    await one.send("JOIN #proxied")
    await one.expect("366")
    await two.send("JOIN #proxied")
    await two.expect("366")
    await one.close()
    await two.expect("QUIT")
    # its address has room again: its count was moved, not leaked
    assert app.server.ip_counts == {"203.0.113.2": 1}
    back = await WSClient.connect(url, headers={"X-Forwarded-For": "203.0.113.1"})
    await back.register("back")
    await back.close()
    await two.close()
    if app.hub is not None:
        assert not app.hub.setting_up  # (no handshake is counted for ever)


async def test_metrics_allow_sees_the_forwarded_address(app_factory: AppFactory) -> None:
    config = ws_config(trusted_proxies=("127.0.0.1",))
    config = dataclasses.replace(config, metrics=dataclasses.replace(config.metrics, enabled=True))
    app = await app_factory(config)
    status, _, _ = await http_get(app, "/metrics")
    assert status == 200  # (loopback, in allow)
    status, _, _ = await http_get(app, "/metrics", {"X-Forwarded-For": "203.0.113.9"})
    assert status == 403
