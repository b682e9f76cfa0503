"""The admin API's actions on the core, sans-I/O: a request dict in, a reply out."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from hubbub.config import (
    AdminSection,
    Config,
    ConfigError,
    ConfigIssue,
    LimitsSection,
    ServerSection,
    admin_token_hash,
    admin_token_matches,
    default_config,
    parse_config,
)
from hubbub.passwords import check_password
from hubbub.server import admin
from hubbub.server.admin import Reply
from hubbub.server.core import Server
from tests.server.accounthelpers import add_account, defer, server_with_accounts, service
from tests.server.harness import Client, host_of, make_server

PASSWORD = "correct-horse"


def call(server: Server, action: str, request: object = None) -> Reply:
    """Run one action; its reply must come exactly once, and (inline offload) at once."""
    got: list[Reply] = []
    admin.handle(server, action, {} if request is None else request, got.append)
    assert len(got) == 1, got
    return got[0]


def listed(reply: Reply, key: str) -> list[dict[str, Any]]:
    """The list ``key`` of a reply's body."""
    value = reply.body[key]
    assert isinstance(value, list)
    return value


def in_room(server: Server, *nicks: str, caps: str = "") -> list[Client]:
    clients = [Client(server).register(nick, caps) for nick in nicks]
    for client in clients:
        client.send("JOIN #room")
    for client in clients:
        client.lines()
    return clients


# -- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "why"),
    [
        ([], "must be a JSON object"),
        ("nick", "must be a JSON object"),
        ({}, "missing field 'nick'"),
        ({"nick": 5}, "nick must be a string"),
        ({"nick": None}, "nick must be a string"),
        ({"nick": "a", "colour": "red"}, "unknown field 'colour'"),
        ({"nick": "a\r\nQUIT"}, "nick must be one line"),
        ({"nick": "a\0"}, "nick must be one line"),
        ({"nick": "a\udc80"}, "nick must be Unicode text"),
    ],
)
def test_bad_requests_are_400_with_the_reason(request_body: object, why: str) -> None:
    reply = call(make_server(), "whois", request_body)
    assert reply.status == 400
    assert reply.body["code"] == "INVALID_REQUEST"
    assert why in str(reply.body["error"])


def test_an_unknown_action_is_404() -> None:
    reply = call(make_server(), "shutdown")
    assert (reply.status, reply.body["code"]) == (404, "NO_SUCH_ACTION")


def test_a_bug_in_an_action_is_a_500_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(server: Server) -> dict[str, object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(admin, "_status", broken)
    reply = call(make_server(), "status")
    assert (reply.status, reply.body["code"]) == (500, "INTERNAL_ERROR")
    assert "boom" in caplog.text


# -- reading -----------------------------------------------------------------------------------


def test_status_counts() -> None:
    server = server_with_accounts()
    add_account(server, "someone")
    in_room(server, "alice", "bob")
    Client(server)  # connected, not registered
    Client(server).register("carol").send("MODE carol +i")
    body = call(server, "status").body
    assert body["users"] == {
        "registered": 3,
        "invisible": 1,
        "operators": 0,
        "unregistered": 1,
        "max": 3,
    }
    assert body["channels"] == 1
    assert body["accounts"] == 1
    assert body["server"] == "hubbub.local"
    assert str(body["version"]).startswith("hubbub-")
    assert call(make_server(), "status").body["accounts"] is None


def test_users_lists_the_registered_ones() -> None:
    server = make_server()
    in_room(server, "alice")
    Client(server).register("bob")
    Client(server)  # not registered: not a user yet
    body = call(server, "users").body
    assert body["count"] == 2
    users = {u["nick"]: u for u in listed(call(server, "users"), "users")}
    assert set(users) == {"alice", "bob"}
    assert users["alice"]["channels"] == ["#room"]
    assert users["alice"]["ip"] == "127.0.0.1"
    assert users["alice"]["realname"] == "Real Name"
    assert users["bob"]["account"] is None


def test_channels_lists_each_with_its_topic_and_modes() -> None:
    server = make_server()
    [alice, _] = in_room(server, "alice", "bob")
    alice.send("TOPIC #room :hello there", "MODE #room +k sesame")
    [room] = listed(call(server, "channels"), "channels")
    assert room["name"] == "#room"
    assert room["users"] == 2
    assert room["topic"] == "hello there"
    assert room["modes"] == "+knt"
    assert room["key"] is True  # that there is one, not what it is
    assert "sesame" not in str(room)


def test_whois() -> None:
    server = make_server()
    in_room(server, "Alice", "bob")
    reply = call(server, "whois", {"nick": "ALICE"})
    assert reply.status == 200
    assert reply.body["nick"] == "Alice"
    assert reply.body["channels"] == [{"name": "#room", "modes": "o"}]
    missing = call(server, "whois", {"nick": "nobody"})
    assert (missing.status, missing.body["code"]) == (404, "NO_SUCH_NICK")


# -- acting on users and channels --------------------------------------------------------------


def test_kill_disconnects_and_tells_the_channel() -> None:
    server = make_server()
    alice, bob = in_room(server, "alice", "bob")
    reply = call(server, "kill", {"nick": "Bob", "reason": "spam"})
    assert reply == Reply(200, {"killed": "bob"})
    got = bob.messages()
    assert [m.command for m in got] == ["KILL", "ERROR"]
    assert got[0].params == ("bob", "spam")
    assert got[0].source == "hubbub.local"
    assert bob.closed
    [quit_msg] = alice.messages()
    assert quit_msg.command == "QUIT"
    assert quit_msg.params == ("Killed (hubbub.local (spam))",)
    assert server.find_user("bob") is None


def test_kill_without_a_reason_and_with_a_long_one() -> None:
    server = make_server(kicklen=10)
    bob = Client(server).register("bob")
    assert call(server, "kill", {"nick": "bob"}).status == 200
    assert bob.messages()[0].params == ("bob", "No reason ")  # "No reason given", cut
    carol = Client(server).register("carol")
    call(server, "kill", {"nick": "carol", "reason": "x" * 1000})
    assert carol.messages()[0].params[1] == "x" * 10


def test_kill_an_unknown_nick_is_404() -> None:
    reply = call(make_server(), "kill", {"nick": "ghost"})
    assert (reply.status, reply.body["code"]) == (404, "NO_SUCH_NICK")


def test_topic_is_set_as_the_server_and_seen_by_every_member() -> None:
    server = make_server(topiclen=20)
    alice, bob = in_room(server, "alice", "bob")
    reply = call(server, "topic", {"channel": "#ROOM", "topic": "Maintenance at 22:00 tonight"})
    assert reply == Reply(200, {"channel": "#room", "topic": "Maintenance at 22:00"})
    for client in (alice, bob):
        [msg] = client.messages()
        assert (msg.source, msg.command) == ("hubbub.local", "TOPIC")
        assert msg.params == ("#room", "Maintenance at 22:00")
    channel = server.find_channel("#room")
    assert channel is not None
    assert channel.topic_setter == "hubbub.local"
    alice.send("TOPIC #room")
    assert [m.params[-1] for m in alice.messages()][:1] == ["Maintenance at 22:00"]
    # An empty topic clears it.
    assert call(server, "topic", {"channel": "#room", "topic": ""}).status == 200
    assert channel.topic == ""


def test_topic_of_an_unknown_channel_is_404() -> None:
    reply = call(make_server(), "topic", {"channel": "#none", "topic": "x"})
    assert (reply.status, reply.body["code"]) == (404, "NO_SUCH_CHANNEL")


# -- accounts ----------------------------------------------------------------------------------


def test_account_create_stores_it_durably() -> None:
    server = server_with_accounts()
    reply = call(
        server, "account/create", {"name": "Dana", "password": PASSWORD, "email": "d@ex.org"}
    )
    assert reply.status == 201
    assert reply.body["account"] == "Dana"
    stored = service(server).storage.get_account(server.fold("dana"))
    assert stored is not None
    assert stored.email == "d@ex.org"
    assert check_password(stored.password_hash, PASSWORD)
    # And it works for logging in at once.
    dana = Client(server).register("dana")
    dana.send(f"NS IDENTIFY Dana {PASSWORD}")
    assert dana.session.user.account == "Dana"
    assert call(server, "account/list").body["accounts"] == [
        {"name": "Dana", "email": "d@ex.org", "created": int(server.clock())}
    ]


def test_account_create_refusals() -> None:
    server = server_with_accounts()
    add_account(server, "taken")
    cases = [
        ({"name": "TAKEN", "password": PASSWORD}, 409, "ACCOUNT_EXISTS"),
        ({"name": "9lives", "password": PASSWORD}, 400, "BAD_ACCOUNT_NAME"),
        ({"name": "nickserv", "password": PASSWORD}, 400, "BAD_ACCOUNT_NAME"),
        ({"name": "dana", "password": "short"}, 400, "WEAK_PASSWORD"),
        ({"name": "dana", "password": "p" * 301}, 400, "UNACCEPTABLE_PASSWORD"),
        ({"name": "dana", "password": PASSWORD, "email": "nope"}, 400, "INVALID_EMAIL"),
        ({"name": "dana"}, 400, "INVALID_REQUEST"),
    ]
    for request, status, code in cases:
        reply = call(server, "account/create", request)
        assert (reply.status, reply.body["code"]) == (status, code), request
    assert set(service(server).records) == {server.fold("taken")}


def test_account_create_answers_only_once_stored() -> None:
    server = server_with_accounts()
    work = defer(server)
    got: list[Reply] = []
    admin.handle(server, "account/create", {"name": "dana", "password": PASSWORD}, got.append)
    assert got == []
    # Meanwhile the name counts as taken.
    assert call(server, "account/create", {"name": "dana", "password": PASSWORD}).status == 409
    work.run()
    assert [r.status for r in got] == [201]


def test_account_create_warns_whoever_is_on_the_nick() -> None:
    server = server_with_accounts()
    dana = Client(server).register("dana")
    assert call(server, "account/create", {"name": "Dana", "password": PASSWORD}).status == 201
    [notice] = [m for m in dana.messages() if m.command == "NOTICE"]
    assert "registered to the account Dana" in notice.params[-1]


def test_account_actions_without_storage_are_503() -> None:
    server = make_server()
    for action, request in (
        ("account/create", {"name": "a", "password": PASSWORD}),
        ("account/reset", {"name": "a", "password": PASSWORD}),
        ("account/delete", {"name": "a"}),
        ("account/list", {}),
    ):
        reply = call(server, action, request)
        assert (reply.status, reply.body["code"]) == (503, "NO_STORAGE"), action


def test_a_failing_database_is_503(caplog: pytest.LogCaptureFixture) -> None:
    server = server_with_accounts()
    record = add_account(server, "dana")
    service(server).storage.close()  # every use now raises StorageError
    for action, request in (
        ("account/create", {"name": "erin", "password": PASSWORD}),
        ("account/reset", {"name": "dana", "password": "another-one"}),
        ("account/delete", {"name": "dana"}),
    ):
        reply = call(server, action, request)
        assert (reply.status, reply.body["code"]) == (503, "STORAGE_FAILED"), action
    assert service(server).records[record.folded] is record  # nothing changed in the cache


def test_account_reset() -> None:
    server = server_with_accounts()
    add_account(server, "Dana")
    reply = call(server, "account/reset", {"name": "dana", "password": "a-new-secret"})
    assert reply == Reply(200, {"account": "Dana"})
    for record in (
        service(server).records[server.fold("dana")],
        service(server).storage.get_account(server.fold("dana")),
    ):
        assert record is not None
        assert check_password(record.password_hash, "a-new-secret")
        assert not check_password(record.password_hash, PASSWORD)
    missing = call(server, "account/reset", {"name": "erin", "password": "a-new-secret"})
    assert (missing.status, missing.body["code"]) == (404, "NO_SUCH_ACCOUNT")
    weak = call(server, "account/reset", {"name": "dana", "password": "x"})
    assert (weak.status, weak.body["code"]) == (400, "WEAK_PASSWORD")


def test_account_delete_logs_out_its_sessions() -> None:
    server = server_with_accounts()
    add_account(server, "Dana")
    dana, peer = in_room(server, "dana", "peer", caps="account-notify")
    dana.send(f"NS IDENTIFY Dana {PASSWORD}")
    dana.lines()
    peer.lines()
    reply = call(server, "account/delete", {"name": "DANA"})
    assert reply == Reply(200, {"account": "Dana", "logged_out": ["dana"]})
    assert dana.session.user.account is None
    got = dana.messages()
    assert [m.command for m in got][:2] == ["901", "ACCOUNT"]
    assert any("was deleted" in m.params[-1] for m in got if m.command == "NOTICE")
    [seen] = peer.messages()
    assert (seen.command, seen.params) == ("ACCOUNT", ("*",))
    assert server.fold("dana") not in service(server).records
    assert service(server).storage.get_account(server.fold("dana")) is None
    # The nick is free for anyone now, and the name for a new account.
    assert server.fold("dana") not in [s.user.folded for s in service(server).grace]
    assert call(server, "account/create", {"name": "dana", "password": PASSWORD}).status == 201
    missing = call(server, "account/delete", {"name": "erin"})
    assert (missing.status, missing.body["code"]) == (404, "NO_SUCH_ACCOUNT")


# -- rehash ------------------------------------------------------------------------------------


def test_rehash_applies_the_new_config_and_tells_the_clients() -> None:
    server = make_server()
    alice = Client(server).register("alice")
    new = dataclasses.replace(server.config, limits=LimitsSection(flood=False, nicklen=12))
    host_of(server).reload = lambda: new
    committed = host_of(server).applied
    reply = call(server, "rehash")
    assert reply == Reply(200, {"config": "*"})
    assert server.limits.nicklen == 12
    assert committed == [new]
    [isupport] = [m for m in alice.messages() if m.command == "005"]
    assert "NICKLEN=12" in isupport.params


def test_a_failed_rehash_keeps_the_old_config() -> None:
    server = make_server()
    old = server.config

    def broken() -> Config:
        raise ConfigError([ConfigIssue("limits.nicklen", "must be at least 1")])

    host_of(server).reload = broken
    reply = call(server, "rehash")
    assert (reply.status, reply.body["code"]) == (500, "REHASH_FAILED")
    assert "limits.nicklen: must be at least 1" in str(reply.body["error"])
    assert server.config is old
    changed = dataclasses.replace(old, server=ServerSection(casemapping="ascii"))
    host_of(server).reload = lambda: changed
    reply = call(server, "rehash")
    assert reply.status == 500
    assert "casemapping" in str(reply.body["error"])
    assert server.config is old


def test_rehash_without_a_config_file_applies_the_same_config_again() -> None:
    server = make_server()
    old = server.config
    assert call(server, "rehash") == Reply(200, {"config": "*"})
    assert server.config is old
    assert host_of(server).applied == [old]


def test_rehash_reloads_the_accounts_from_the_database() -> None:
    server = server_with_accounts()
    add_account(server, "dana")
    dana = Client(server).register("dana")
    dana.send(f"NS IDENTIFY {PASSWORD}")
    dana.lines()
    # Deleted in the database behind the server's back (hubbub account --direct).
    assert service(server).storage.delete_account(server.fold("dana"))
    assert call(server, "rehash") == Reply(200, {"config": "*"})
    assert service(server).find(server, "dana") is None
    assert dana.session.user.account is None
    assert "901" in [m.command for m in dana.messages()]


def test_rehash_says_when_the_accounts_could_not_be_reloaded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = server_with_accounts()
    record = add_account(server, "dana")
    service(server).storage.close()  # every use now raises StorageError
    reply = call(server, "rehash")
    assert reply.status == 200  # the config is applied all the same
    assert "could not reload the accounts" in str(reply.body["warning"]).lower()
    assert service(server).records == {record.folded: record}  # the cache is kept
    assert "could not reload the accounts" in caplog.text


# -- [admin] -----------------------------------------------------------------------------------

TOKEN = "tok-" + "x" * 40


def admin_issues(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return {issue.key: issue.message for issue in info.value.issues}


def test_the_admin_api_is_off_by_default() -> None:
    section = default_config().admin
    assert section.enabled is False
    assert (section.host, section.port) == ("127.0.0.1", 8081)
    assert section.tokens == ()


def test_admin_config_parses() -> None:
    config = parse_config(
        f'[admin]\nenabled = true\nlisten = "[::1]:9000"\ntokens = ["{TOKEN}"]\n'
        "max_request_bytes = 1024\ntimeout = 2\n"
    )
    assert (config.admin.host, config.admin.port) == ("::1", 9000)
    assert config.admin.max_request_bytes == 1024
    assert config.admin.timeout == 2.0


def test_admin_config_problems() -> None:
    found = admin_issues("[admin]\nenabled = true\n")
    assert found == {"admin.tokens": "the admin API is enabled but no token is set"}
    found = admin_issues(
        '[admin]\ntokens = ["short", "sha256:abc", "has a space in it, and is long enough"]\n'
        'listen = "0.0.0.0:8081"\nmax_request_bytes = 0\nmax_connections = 0\ntimeout = -1\n'
    )
    assert set(found) == {
        "admin.tokens[0]",
        "admin.tokens[1]",
        "admin.tokens[2]",
        "admin.listen",
        "admin.max_request_bytes",
        "admin.max_connections",
        "admin.timeout",
    }
    assert "at least 32 characters" in found["admin.tokens[0]"]
    assert "64 hex digits" in found["admin.tokens[1]"]
    assert "bearer token" in found["admin.tokens[2]"]
    assert "not a loopback address" in found["admin.listen"]
    assert "Unix" in admin_issues('[admin]\nlisten = "unix:/tmp/a.sock"\n')["admin.listen"]
    assert "unknown key" in admin_issues("[admin]\ntoken = 1\n")["admin.token"]


def test_remote_admin_listen_needs_allow_remote() -> None:
    text = '[admin]\nlisten = "192.0.2.1:8081"\n'
    assert "admin.listen" in admin_issues(text)
    assert parse_config(text + "allow_remote = true\n").admin.host == "192.0.2.1"
    assert parse_config('[admin]\nlisten = "localhost:8081"\n').admin.host == "localhost"


def test_tokens_match_in_the_clear_or_by_hash() -> None:
    hashed = admin_token_hash("another-token-" + "y" * 30)
    section = AdminSection(tokens=(TOKEN, hashed))
    assert admin_token_matches(section, TOKEN)
    assert admin_token_matches(section, "another-token-" + "y" * 30)
    assert not admin_token_matches(section, hashed)  # the hash is not the token
    assert not admin_token_matches(section, TOKEN[:-1])
    assert not admin_token_matches(section, TOKEN + "x")
    assert not admin_token_matches(section, "")
    assert not admin_token_matches(AdminSection(), TOKEN)
