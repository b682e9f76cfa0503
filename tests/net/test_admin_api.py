"""The admin HTTP API on a real server over 127.0.0.1: a real HTTP client (http.client, in a
thread) on one side, real IRC clients on the other."""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.config import AdminSection, MetricsSection, admin_token_hash, load_config
from hubbub.net.app import App
from tests.conftest import make_config
from tests.e2e.ircclient import IRCTestClient
from tests.scrape import samples
from tests.timeouts import TIMEOUT

TOKEN = "admin-token-" + "a" * 32
OTHER = "other-token-" + "b" * 32


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def _request(
    address: tuple[str, int],
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> Answer:
    conn = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        got = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    parsed = json.loads(raw) if got.get("content-type") == "application/json" else raw
    return Answer(response.status, got, parsed)


async def post(
    app: App,
    path: str,
    data: object = None,
    token: str | None = TOKEN,
    raw: bytes | None = None,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request from a real HTTP client (in a thread, so the server's loop runs)."""
    assert app.http_address is not None
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    body = raw if raw is not None else (json.dumps(data).encode() if data is not None else None)
    if body is not None:
        sent["Content-Type"] = "application/json"
    return await asyncio.to_thread(_request, app.http_address, method, path, body, sent)


def admin_config(**admin: Any) -> Any:
    section = AdminSection(enabled=True, listen="127.0.0.1:0", tokens=(TOKEN,), **admin)
    return dataclasses.replace(make_config(), admin=section)


@pytest.fixture
async def app(app_factory: Callable[..., Any]) -> App:
    started: App = await app_factory(admin_config())
    return started


@pytest.fixture
async def clients() -> AsyncIterator[list[IRCTestClient]]:
    made: list[IRCTestClient] = []
    yield made
    for client in made:
        await client.close()


async def irc(app: App, clients: list[IRCTestClient], nick: str) -> IRCTestClient:
    client = await IRCTestClient.connect(*app.address())
    clients.append(client)
    await client.register(nick)
    return client


# -- tokens ------------------------------------------------------------------------------------


async def test_a_missing_or_wrong_token_is_refused(app: App) -> None:
    for token, headers in (
        (None, {}),
        (OTHER, {}),
        (TOKEN[:-1], {}),
        (TOKEN + "a", {}),
        (None, {"Authorization": f"Basic {TOKEN}"}),
        (None, {"Authorization": "Bearer "}),
        (None, {"Authorization": TOKEN}),
    ):
        for path in ("/v1/status", "/v1/kill", "/v1/account/create"):
            answer = await post(app, path, {"nick": "x"}, token=token, headers=headers)
            assert answer.status == 401, (token, headers, path)
            assert answer.body["code"] == "UNAUTHORIZED"
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert app.server.network.user_count == 0


async def test_the_right_token_works_in_any_case_of_bearer(app: App) -> None:
    answer = await post(app, "/v1/status", token=None, headers={"Authorization": f"bearer {TOKEN}"})
    assert answer.status == 200


async def test_a_hashed_token_and_a_rehash_that_rotates_tokens(
    app_factory: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "hubbub.toml"

    def write(tokens: list[str]) -> None:
        path.write_text(
            '[[listen]]\naddress = "127.0.0.1:0"\n[storage]\npath = ":memory:"\n'
            f'[admin]\nenabled = true\nlisten = "127.0.0.1:0"\ntokens = {json.dumps(tokens)}\n'
        )

    write([admin_token_hash(TOKEN)])
    app = await app_factory(load_config(path))
    assert (await post(app, "/v1/status")).status == 200
    assert (await post(app, "/v1/status", token=OTHER)).status == 401
    write([OTHER])
    assert (await post(app, "/v1/rehash")).body == {"config": "hubbub.toml"}
    assert (await post(app, "/v1/status", token=OTHER)).status == 200
    assert (await post(app, "/v1/status")).status == 401


async def test_off_by_default(hubbub_app: App) -> None:
    assert hubbub_app.http is None
    assert hubbub_app.http_address is None


# -- endpoints ---------------------------------------------------------------------------------


async def test_status_users_channels_whois(app: App, clients: list[IRCTestClient]) -> None:
    alice = await irc(app, clients, "alice")
    await alice.send("JOIN #room", "TOPIC #room :hi")
    await alice.expect("TOPIC")
    status = await post(app, "/v1/status")
    assert status.status == 200
    assert status.body["users"]["registered"] == 1
    assert status.body["channels"] == 1
    users = await post(app, "/v1/users")
    assert [u["nick"] for u in users.body["users"]] == ["alice"]
    channels = await post(app, "/v1/channels")
    assert [(c["name"], c["topic"]) for c in channels.body["channels"]] == [("#room", "hi")]
    whois = await post(app, "/v1/whois", {"nick": "ALICE"})
    assert whois.body["channels"] == [{"name": "#room", "modes": "o"}]
    assert (await post(app, "/v1/whois", {"nick": "bob"})).status == 404


async def test_kill_disconnects_a_real_client(app: App, clients: list[IRCTestClient]) -> None:
    victim = await irc(app, clients, "victim")
    answer = await post(app, "/v1/kill", {"nick": "victim", "reason": "go away"})
    assert answer.status == 200
    assert answer.body == {"killed": "victim"}
    kill = await victim.expect("KILL")
    assert kill.params == ("victim", "go away")
    error = await victim.expect("ERROR")
    assert "Killed" in error.params[0]
    with pytest.raises(EOFError):
        await victim.read_message()
    assert (await post(app, "/v1/status")).body["users"]["registered"] == 0


async def test_topic_is_seen_by_a_client(app: App, clients: list[IRCTestClient]) -> None:
    alice = await irc(app, clients, "alice")
    await alice.send("JOIN #room")
    await alice.expect("366")
    answer = await post(app, "/v1/topic", {"channel": "#room", "topic": "set over HTTP"})
    assert answer.body == {"channel": "#room", "topic": "set over HTTP"}
    topic = await alice.expect("TOPIC")
    assert topic.params == ("#room", "set over HTTP")
    assert topic.source == app.server.name
    assert (await post(app, "/v1/topic", {"channel": "#none", "topic": "x"})).status == 404


async def test_accounts_create_reset_delete(app: App, clients: list[IRCTestClient]) -> None:
    created = await post(app, "/v1/account/create", {"name": "dana", "password": "first-pass"})
    assert created.status == 201
    again = await post(app, "/v1/account/create", {"name": "DANA", "password": "first-pass"})
    assert (again.status, again.body["code"]) == (409, "ACCOUNT_EXISTS")
    listed = await post(app, "/v1/account/list")
    assert [a["name"] for a in listed.body["accounts"]] == ["dana"]

    reset = await post(app, "/v1/account/reset", {"name": "dana", "password": "second-pass"})
    assert reset.body == {"account": "dana"}
    dana = await irc(app, clients, "dee")
    await dana.send("NS IDENTIFY dana first-pass")
    refused = await dana.expect("NOTICE")
    assert "Invalid" in refused.params[-1]
    await dana.send("NS IDENTIFY dana second-pass")
    await dana.expect("900")

    deleted = await post(app, "/v1/account/delete", {"name": "dana"})
    assert deleted.body == {"account": "dana", "logged_out": ["dee"]}
    await dana.expect("901")
    assert (await post(app, "/v1/account/list")).body["accounts"] == []


async def test_rehash_without_a_file_keeps_the_config(app: App) -> None:
    answer = await post(app, "/v1/rehash")
    assert answer.body == {"config": "*"}


# -- HTTP --------------------------------------------------------------------------------------


async def test_http_errors_are_json(app: App) -> None:
    not_json = await post(app, "/v1/whois", raw=b"{nick: alice")
    assert (not_json.status, not_json.body["code"]) == (400, "INVALID_REQUEST")
    nested = await post(app, "/v1/status", raw=b"[" * 60000)
    assert nested.status == 400
    surrogate = await post(app, "/v1/whois", raw=b'{"nick": "\\udc80"}')
    assert (surrogate.status, surrogate.body["code"]) == (400, "INVALID_REQUEST")
    wrong = await post(app, "/v1/whois", {"nick": 3})
    assert (wrong.status, wrong.body["code"]) == (400, "INVALID_REQUEST")
    get = await post(app, "/v1/status", method="GET")
    assert (get.status, get.headers["allow"]) == (405, "POST")
    assert (await post(app, "/v2/status")).status == 404
    assert get.headers["content-type"] == "application/json"


async def test_a_body_over_the_limit_is_413(app_factory: Callable[..., Any]) -> None:
    app = await app_factory(admin_config(max_request_bytes=100))
    big = {"nick": "x" * 200}
    assert (await post(app, "/v1/whois", big)).status == 413
    assert (await post(app, "/v1/whois", {"nick": "x"})).status == 404  # under it: read


async def raw_exchange(app: App, data: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send raw bytes, read until the server closes."""
    assert app.http_address is not None
    reader, writer = await asyncio.open_connection(*app.http_address)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def test_header_limits_and_garbage(app_factory: Callable[..., Any]) -> None:
    app = await app_factory(admin_config(max_headers=8, max_header_bytes=1024))
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(9))
    reply = await raw_exchange(app, b"POST /v1/status HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")
    long = b"X-Long: " + b"a" * 2000 + b"\r\n"
    reply = await raw_exchange(app, b"POST /v1/status HTTP/1.1\r\nHost: a\r\n" + long + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")
    reply = await raw_exchange(app, b"NOT HTTP AT ALL\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")


async def test_a_slow_request_times_out(app_factory: Callable[..., Any]) -> None:
    app = await app_factory(admin_config(timeout=0.3))
    # Headers that never end: 408 once the time is up, then the connection closes.
    reply = await raw_exchange(app, b"POST /v1/status HTTP/1.1\r\nHost: a\r\n")
    assert reply.startswith(b"HTTP/1.1 408 ")
    # A connection that says nothing is just closed.
    assert await raw_exchange(app, b"") == b""


async def test_connections_are_bounded(app_factory: Callable[..., Any]) -> None:
    app = await app_factory(admin_config(max_connections=2))
    assert app.http_address is not None
    held = [await asyncio.open_connection(*app.http_address) for _ in range(2)]
    try:
        # The two accepted connections are being served (their tasks have started) once a
        # request on each is answered.
        for reader, writer in held:
            writer.write(
                b"POST /v1/status HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
            )
            await writer.drain()
            assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"HTTP/1.1 200")
        reply = await raw_exchange(app, b"")
        assert reply.startswith(b"HTTP/1.1 503 ")
    finally:
        for _, writer in held:
            writer.close()


async def test_keep_alive_serves_several_requests(app: App) -> None:
    assert app.http_address is not None
    request = (
        b"POST /v1/status HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
    )
    reader, writer = await asyncio.open_connection(*app.http_address)
    try:
        for _ in range(3):
            writer.write(request)
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), TIMEOUT)
            assert status.startswith(b"HTTP/1.1 200")
            length = 0
            while (line := await asyncio.wait_for(reader.readline(), TIMEOUT)) != b"\r\n":
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
            assert json.loads(body)["server"] == app.server.name
    finally:
        writer.close()


async def test_stopping_the_app_closes_the_admin_listener(
    app_factory: Callable[..., Any],
) -> None:
    app: App = await app_factory(admin_config())
    address = app.http_address
    assert address is not None
    await app.stop("test")
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*address)


async def test_metrics_are_served_on_the_admin_listener_without_a_token(
    app_factory: Callable[..., Any],
) -> None:
    config = dataclasses.replace(admin_config(), metrics=MetricsSection(enabled=True))
    started: App = await app_factory(config)
    answer = await post(started, "/metrics", token=None, method="GET")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.body)
    assert found["hubbub_users"] == 0.0


async def test_metrics_off_are_404_on_the_admin_listener(app: App) -> None:
    assert (await post(app, "/metrics", token=None, method="GET")).status == 404


async def test_metrics_refuse_a_scraper_not_allowed(app_factory: Callable[..., Any]) -> None:
    config = dataclasses.replace(
        admin_config(), metrics=MetricsSection(enabled=True, allow=("10.0.0.0/8",))
    )
    started: App = await app_factory(config)
    assert (await post(started, "/metrics", token=None, method="GET")).status == 403
