"""The config file: defaults, address forms, every kind of error."""

from __future__ import annotations

import dataclasses
import logging
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.config import (
    AccountsSection,
    Config,
    ConfigError,
    ConfigIssue,
    LimitsSection,
    ListenSection,
    LoggingSection,
    OperSection,
    ServerSection,
    default_config,
    format_issues,
    load_config,
    parse_address,
    parse_config,
)
from hubbub.passwords import hash_password
from hubbub.protocol import Casemapping
from hubbub.server.core import Server


def issues(text: str) -> list[ConfigIssue]:
    """The issues ``parse_config`` reports for ``text`` (it must reject it)."""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.issues


def issue(text: str, key: str) -> str:
    """The message of the one issue reported for ``key``."""
    found = [i.message for i in issues(text) if i.key == key]
    assert len(found) == 1, (key, issues(text))
    return found[0]


# --- defaults ------------------------------------------------------------------------------------


def test_default_config_matches_the_contract() -> None:
    config = default_config()
    irc, web = config.listen
    assert (irc.host, irc.port, irc.websocket, irc.tls) == ("127.0.0.1", 6667, False, False)
    assert (web.host, web.port, web.websocket, web.tls) == ("127.0.0.1", 8080, True, False)
    assert config.storage.path == "hubbub.db"
    assert config.storage.url == ""
    assert config.cluster.redis == ""
    assert config.auth.password == ""
    assert config.opers == ()
    assert config.path is None
    assert config.logging.level == "INFO"


def test_default_values() -> None:
    server = default_config().server
    assert server.name == "hubbub.local"
    assert server.casemapping == "rfc1459"
    assert server.casemap is Casemapping.RFC1459
    limits = default_config().limits
    assert limits.flood is True
    assert limits.sendq == 1048576
    assert limits.max_clients_per_ip == 50
    assert limits.max_modes == 6
    assert limits.nicklen == 30


def test_empty_file_is_the_default_config() -> None:
    assert parse_config("") == default_config()


def test_missing_sections_get_defaults() -> None:
    config = parse_config('[server]\nname = "irc.example.org"\n')
    assert config.server.name == "irc.example.org"
    assert config.server.network == "hubbub"
    assert config.listen == default_config().listen
    assert config.limits == LimitsSection()


def test_the_design_example_parses() -> None:
    config = parse_config(
        """
        [server]
        name = "irc.example.org"
        network = "ExampleNet"
        motd = "Welcome!"

        [[listen]]
        address = "127.0.0.1:6667"

        [[listen]]
        address = "[::1]:6697"
        tls = true
        cert = "cert.pem"
        key = "key.pem"

        [[listen]]
        address = "127.0.0.1:8080"
        websocket = true
        origins = ["https://chat.example.org/"]

        [limits]
        flood = false
        sendq = 1048576
        max_clients_per_ip = 50
        ping_interval = 60

        [auth]
        password = ""

        [storage]
        path = "hubbub.db"

        [cluster]
        redis = "redis://127.0.0.1:6379/0"
        node_id = "n1"
        lease = 5

        [[oper]]
        name = "admin"
        password = "hunter2"
        host = "*@127.0.0.1"

        [logging]
        level = "debug"
        """
    )
    assert config.server.network == "ExampleNet"
    assert config.motd_lines() == ["Welcome!"]
    assert [(item.host, item.port) for item in config.listen] == [
        ("127.0.0.1", 6667),
        ("::1", 6697),
        ("127.0.0.1", 8080),
    ]
    assert config.listen[1].cert == "cert.pem"
    assert config.listen[2].origins == ("https://chat.example.org",)
    assert config.limits.flood is False
    assert config.limits.ping_interval == 60.0
    assert isinstance(config.limits.ping_interval, float)  # an integer is fine for a float key
    assert config.cluster.redis == "redis://127.0.0.1:6379/0"
    assert config.cluster.lease == 5.0
    assert config.opers == (OperSection(name="admin", password="hunter2", host="*@127.0.0.1"),)
    assert config.logging.level == "DEBUG"
    assert config.logging.level_number == logging.DEBUG


# --- listen addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "host", "port", "unix_path"),
    [
        ("127.0.0.1:6667", "127.0.0.1", 6667, None),
        ("0.0.0.0:6697", "0.0.0.0", 6697, None),
        ("[::1]:6667", "::1", 6667, None),
        ("[::]:6667", "::", 6667, None),
        ("localhost:6667", "localhost", 6667, None),
        ("irc.example.org:6667", "irc.example.org", 6667, None),
        ("127.0.0.1:0", "127.0.0.1", 0, None),
        ("127.0.0.1:65535", "127.0.0.1", 65535, None),
        ("unix:/run/hubbub.sock", None, None, "/run/hubbub.sock"),
        ("unix:relative.sock", None, None, "relative.sock"),
    ],
)
def test_address_forms(
    address: str, host: str | None, port: int | None, unix_path: str | None
) -> None:
    listener = parse_config(f'[[listen]]\naddress = "{address}"\n').listen[0]
    assert (listener.host, listener.port, listener.unix_path) == (host, port, unix_path)
    assert parse_address(address) == (host, port, unix_path)


@pytest.mark.parametrize(
    ("address", "complaint"),
    [
        ("", "HOST:PORT"),
        ("127.0.0.1", "HOST:PORT"),
        ("127.0.0.1:", "missing port"),
        (":6667", "missing host"),
        ("::1:6667", "brackets"),
        ("[::1]6667", ":PORT"),
        ("[::1:6667", '"]"'),
        ("[localhost]:6667", "not an IPv6 address"),
        ("127.0.0.1:65536", "0 to 65535"),
        ("127.0.0.1:-1", "0 to 65535"),
        ("127.0.0.1:http", "0 to 65535"),
        ("999.1.1.1:6667", "not an IP address or host name"),
        ("bad host:6667", "not an IP address or host name"),
        ("unix:", "needs a path"),
    ],
)
def test_bad_addresses(address: str, complaint: str) -> None:
    message = issue(f'[[listen]]\naddress = "{address}"\n', "listen[0].address")
    assert complaint in message
    with pytest.raises(ValueError, match="."):
        parse_address(address)


def test_address_is_required() -> None:
    assert issue("[[listen]]\ntls = false\n", "listen[0].address") == "missing required key"


def test_tls_needs_cert_and_key() -> None:
    found = issues('[[listen]]\naddress = "[::]:6697"\ntls = true\n')
    assert [i.key for i in found] == ["listen[0].cert", "listen[0].key"]
    assert "needs both cert and key" in found[0].message
    text = '[[listen]]\naddress = "[::]:6697"\ntls = true\ncert = "c.pem"\n'
    assert [i.key for i in issues(text)] == ["listen[0].key"]


def test_cert_without_tls_is_a_mistake() -> None:
    text = '[[listen]]\naddress = "127.0.0.1:6697"\ncert = "c.pem"\nkey = "k.pem"\n'
    assert "tls is false" in issue(text, "listen[0].tls")


def test_origins() -> None:
    text = '[[listen]]\naddress = "127.0.0.1:8080"\norigins = ["https://a.example"]\n'
    assert "websocket = true" in issue(text, "listen[0].origins")
    text = (
        '[[listen]]\naddress = "127.0.0.1:8080"\nwebsocket = true\n'
        'origins = ["https://ok.example:8443", "chat.example/path"]\n'
    )
    assert "http(s)://host[:port]" in issue(text, "listen[0].origins[1]")
    listener = ListenSection("127.0.0.1:8080", websocket=True, origins=("HTTP://Chat.Example/",))
    assert listener.origins == ("http://chat.example",)


def test_duplicate_listeners_are_reported_except_port_zero() -> None:
    text = '[[listen]]\naddress = "127.0.0.1:6667"\n[[listen]]\naddress = "127.0.0.1:6667"\n'
    assert issue(text, "listen[1].address") == "same address as listen[0]"
    text = '[[listen]]\naddress = "unix:/tmp/a"\n[[listen]]\naddress = "unix:/tmp/a"\n'
    assert issue(text, "listen[1].address") == "same address as listen[0]"
    config = parse_config('[[listen]]\naddress = "127.0.0.1:0"\n' * 2)
    assert [item.port for item in config.listen] == [0, 0]


def test_empty_listen_array_is_an_error() -> None:
    assert "at least one" in issue("listen = []\n", "listen")


def test_sections_validate_when_built_in_code() -> None:
    with pytest.raises(ConfigError) as info:
        ListenSection(address="nowhere")
    assert [i.key for i in info.value.issues] == ["address"]
    listener = ListenSection(address="127.0.0.1:6667")
    moved = dataclasses.replace(listener, address="[::1]:7000")
    assert (moved.host, moved.port) == ("::1", 7000)
    with pytest.raises(ConfigError):
        dataclasses.replace(listener, address="127.0.0.1:70000")
    with pytest.raises(ConfigError):
        Config(listen=())
    with pytest.raises(ConfigError):
        dataclasses.replace(LimitsSection(), sendq=0)


# --- syntax, sections and keys -------------------------------------------------------------------


def test_toml_syntax_error_names_the_line() -> None:
    found = issues('[server]\nname = "a.b"\nnetwork = \n')
    assert len(found) == 1
    assert found[0].key == ""
    assert found[0].line == 3
    assert "not valid TOML" in found[0].message
    assert "line 3" in found[0].message


def test_unknown_section() -> None:
    assert issue("[servre]\nname = 'a.b'\n", "servre") == 'unknown section (did you mean "server"?)'
    assert issue("[[frobs]]\nx = 1\n", "frobs") == "unknown section"


def test_unknown_key() -> None:
    assert issue("[limits]\nsendqq = 5\n", "limits.sendqq") == 'unknown key (did you mean "sendq"?)'
    assert issue("[server]\nzzz = 5\n", "server.zzz") == "unknown key"
    assert "unknown key" in issue(
        '[[listen]]\naddress = "127.0.0.1:1"\nport = 1\n', "listen[0].port"
    )


def test_top_level_key_hints_at_its_section() -> None:
    assert "under [limits]" in issue("sendq = 5\n", "sendq")
    assert issue("nonsense = 5\n", "nonsense") == "unknown key"


def test_section_of_the_wrong_shape() -> None:
    assert "[[listen]], not [listen]" in issue("[listen]\naddress = 'x'\n", "listen")
    assert "[server], not [[server]]" in issue("[[server]]\nname = 'a.b'\n", "server")
    assert "expected table, got integer" in issue("limits = 5\n", "limits")
    assert "expected table, got string" in issue("oper = ['admin']\n", "oper[0]")


# --- types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[limits]\nsendq = true\n", "limits.sendq", "expected integer, got boolean (true)"),
        ("[limits]\nsendq = '1024'\n", "limits.sendq", "expected integer, got string ('1024')"),
        ("[limits]\nsendq = 1024.0\n", "limits.sendq", "expected integer, got float (1024.0)"),
        ("[limits]\nflood = 1\n", "limits.flood", "expected boolean, got integer (1)"),
        ("[limits]\nflood_rate = false\n", "limits.flood_rate", "expected number, got boolean"),
        ("[limits]\nflood_rate = 'x'\n", "limits.flood_rate", "expected number, got string"),
        ("[server]\nname = 5\n", "server.name", "expected string, got integer (5)"),
        ("[server]\nmotd = [1]\n", "server.motd", "expected string, got array"),
        ("[server]\nname = 1979-05-27\n", "server.name", "expected string, got date"),
        ("[auth]\npassword = {a = 1}\n", "auth.password", "expected string, got table"),
        (
            '[[listen]]\naddress = "127.0.0.1:1"\nwebsocket = true\norigins = "https://a.b"\n',
            "listen[0].origins",
            "expected array of strings, got string",
        ),
        (
            '[[listen]]\naddress = "127.0.0.1:1"\nwebsocket = true\norigins = [1]\n',
            "listen[0].origins",
            "expected array of strings, got an array containing integer",
        ),
        ("[[listen]]\naddress = 6667\n", "listen[0].address", "expected string, got integer"),
    ],
)
def test_wrong_types(text: str, key: str, message: str) -> None:
    assert issue(text, key).startswith(message)


def test_integer_is_accepted_for_a_float_key() -> None:
    limits = parse_config("[limits]\nflood_rate = 2\nregistration_timeout = 5\n").limits
    assert limits.flood_rate == 2.0
    assert limits.registration_timeout == 5.0


def test_file_with_a_wrong_type_and_an_unknown_key_reports_both(tmp_path: Path) -> None:
    file = tmp_path / "hubbub.toml"
    file.write_text('[limits]\nsendq = "big"\nsend_q = 1\n\n[server]\nnetwork = "Net"\n')
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert [(i.key, i.message.split(" (")[0]) for i in info.value.issues] == [
        ("limits.sendq", "expected integer, got string"),
        ("limits.send_q", "unknown key"),
    ]


def test_every_problem_is_collected() -> None:
    found = issues(
        """
        bogus = 1
        [server]
        casemapping = "utf8"
        [limits]
        sendq = -1
        nicklen = "30"
        [[listen]]
        address = "127.0.0.1:99999"
        [logging]
        level = "loud"
        [[oper]]
        name = "a"
        password = ""
        """
    )
    assert [i.key for i in found] == [
        "bogus",
        "server.casemapping",
        "limits.nicklen",
        "limits.sendq",
        "listen[0].address",
        "logging.level",
        "oper[0].password",
    ]


# --- ranges --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[limits]\nsendq = -1\n", "limits.sendq", "must be at least 512, got -1"),
        ("[limits]\nrecvq = 0\n", "limits.recvq", "must be at least 512, got 0"),
        ("[limits]\nflood_burst = 0\n", "limits.flood_burst", "must be at least 1"),
        ("[limits]\nflood_rate = 0\n", "limits.flood_rate", "must be a positive number"),
        ("[limits]\nflood_rate = -1.5\n", "limits.flood_rate", "must be a positive number"),
        ("[limits]\nflood_rate = nan\n", "limits.flood_rate", "must be a positive number"),
        ("[limits]\nping_interval = inf\n", "limits.ping_interval", "must be a positive number"),
        ("[limits]\nflood_rate = 1" + "0" * 400 + "\n", "limits.flood_rate", "positive number"),
        ("[limits]\nmax_clients = 0\n", "limits.max_clients", "must be at least 1"),
        ("[limits]\nmax_clients_per_ip = -5\n", "limits.max_clients_per_ip", "at least 1"),
        ("[limits]\nnicklen = 0\n", "limits.nicklen", "must be between 1 and 500, got 0"),
        ("[limits]\ntopiclen = 600\n", "limits.topiclen", "must be between 1 and 500"),
        ("[limits]\nchannellen = 1\n", "limits.channellen", "must be between 2 and 500"),
        ("[limits]\nmonitor = -1\n", "limits.monitor", "must be at least 0"),
        ("[limits]\nping_timeout = 0\n", "limits.ping_timeout", "must be a positive number"),
        ("[server]\nname = 'nodot'\n", "server.name", "host name with a dot"),
        ("[server]\nnetwork = 'Two Words'\n", "server.network", "must not contain spaces"),
        ('[server]\ndescription = "a\\nb"\n', "server.description", "single line"),
        ("[server]\ncasemapping = 'utf8'\n", "server.casemapping", "unknown casemapping 'utf8'"),
        ("[logging]\nlevel = 'verbose'\n", "logging.level", "unknown log level 'verbose'"),
        ("[storage]\nurl = 'mysql://db'\n", "storage.url", 'must be a "postgresql://'),
        ("[storage]\npath = ''\n", "storage.path", "must not be empty"),
        ("[storage]\npool_size = 1\n", "storage.pool_size", "between 2 and 1000"),
        ("[storage]\nconnect_timeout = 0\n", "storage.connect_timeout", "positive number"),
        ("[cluster]\nredis = '127.0.0.1:6379'\n", "cluster.redis", 'must be a "redis://"'),
        ("[cluster]\nredis = 'redis://h:6379'\n", "cluster.node_id", "required with redis"),
        ("[cluster]\nlease = 0.5\n", "cluster.lease", "between 1 and 300"),
        ("[cluster]\nstream_maxlen = 10\n", "cluster.stream_maxlen", "at least 1000"),
        ("[cluster]\noutbox = 0\n", "cluster.outbox", "at least 100"),
        ("[cluster]\nnode_id = 'Node1'\n", "cluster.node_id", "lower-case ASCII letters"),
        ("[cluster]\nnode_id = 'n-1'\n", "cluster.node_id", "lower-case ASCII letters"),
        ("[cluster]\nnode_id = 'abcdefghi'\n", "cluster.node_id", "1 to 8"),
        ("[auth]\npassword = '$argon2id$nope'\n", "auth.password", "not a valid one"),
    ],
)
def test_out_of_range_values(text: str, key: str, message: str) -> None:
    assert message in issue(text, key)


def test_the_node_id_starts_every_msgid() -> None:
    config = parse_config("[cluster]\nnode_id = 'east1'\n")
    assert config.cluster.node_id == "east1"
    assert Server(config).msgid().startswith("east1-")


def test_zero_monitor_and_whowas_are_allowed() -> None:
    limits = parse_config("[limits]\nmonitor = 0\nwhowas = 0\nflood = false\n").limits
    assert (limits.monitor, limits.whowas, limits.flood) == (0, 0, False)


@pytest.mark.parametrize("mapping", ["ascii", "rfc1459", "strict-rfc1459"])
def test_casemappings(mapping: str) -> None:
    server = parse_config(f'[server]\ncasemapping = "{mapping}"\n').server
    assert server.casemap is Casemapping(mapping)


def test_log_level_is_case_insensitive() -> None:
    assert LoggingSection("warning").level == "WARNING"
    assert LoggingSection("warning").level_number == logging.WARNING


def test_storage_url_replaces_path_but_not_both() -> None:
    assert parse_config('[storage]\nurl = "postgresql://db/hubbub"\n').storage.url.startswith(
        "postgresql://"
    )
    text = '[storage]\npath = "x.db"\nurl = "postgresql://db/hubbub"\n'
    assert issue(text, "storage.url") == "set path or url, not both"


# --- opers ---------------------------------------------------------------------------------------


def test_duplicate_oper_names_case_insensitively() -> None:
    text = (
        '[[oper]]\nname = "admin"\npassword = "a"\n'
        '[[oper]]\nname = "root"\npassword = "b"\n'
        '[[oper]]\nname = "Admin"\npassword = "c"\n'
    )
    assert issue(text, "oper[2].name") == "duplicate oper name 'Admin' (also oper[0])"


def test_duplicate_oper_names_found_even_when_an_oper_is_otherwise_bad() -> None:
    text = '[[oper]]\nname = "admin"\npassword = ""\n[[oper]]\nname = "admin"\npassword = "b"\n'
    assert [i.key for i in issues(text)] == ["oper[0].password", "oper[1].name"]


def test_oper_checks() -> None:
    assert issue('[[oper]]\nname = "a"\npassword = ""\n', "oper[0].password") == (
        "must not be empty"
    )
    assert issue('[[oper]]\npassword = "x"\n', "oper[0].name") == "missing required key"
    assert "spaces" in issue('[[oper]]\nname = "a b"\npassword = "x"\n', "oper[0].name")
    assert "empty" in issue('[[oper]]\nname = "a"\npassword = "x"\nhost = ""\n', "oper[0].host")


def test_oper_password_may_be_a_hash() -> None:
    hashed = hash_password("s3cret")
    config = parse_config(f'[[oper]]\nname = "admin"\npassword = "{hashed}"\n')
    assert config.opers[0].password == hashed
    assert config.opers[0].host == "*"


# --- files ---------------------------------------------------------------------------------------


def test_load_config_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.toml")
    [only] = info.value.issues
    assert only.key == ""
    assert "config file not found" in only.message
    assert "missing.toml" in only.message


def test_load_config_directory_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    file = tmp_path / "latin1.toml"
    file.write_bytes(b'[server]\nmotd = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(file)


def test_load_config_records_its_path_and_accepts_a_bom(tmp_path: Path) -> None:
    file = tmp_path / "hubbub.toml"
    file.write_bytes(b'\xef\xbb\xbf[server]\nnetwork = "Net"\n')
    config = load_config(str(file))
    assert config.server.network == "Net"
    assert config.path == file.absolute()
    assert config.base_dir == tmp_path.absolute()
    assert config.resolve_path("db/hubbub.db") == tmp_path.absolute() / "db/hubbub.db"
    assert config.resolve_path("/abs.db") == Path("/abs.db")


def test_load_config_checks_named_files_relative_to_the_config(tmp_path: Path) -> None:
    file = tmp_path / "hubbub.toml"
    file.write_text(
        '[server]\nmotd_file = "motd.txt"\n'
        '[[listen]]\naddress = "127.0.0.1:6697"\ntls = true\ncert = "cert.pem"\nkey = "key.pem"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert [i.key for i in info.value.issues] == [
        "server.motd_file",
        "listen[0].cert",
        "listen[0].key",
    ]
    assert str(tmp_path / "cert.pem") in info.value.issues[1].message
    for name in ("motd.txt", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("line one\nline two\n")
    config = load_config(file)
    assert config.motd_lines() == ["line one", "line two"]
    assert config.resolve_path(config.listen[0].cert or "") == tmp_path.absolute() / "cert.pem"


def test_parse_config_does_not_touch_the_disk_by_default() -> None:
    text = '[[listen]]\naddress = "127.0.0.1:6697"\ntls = true\ncert = "nope"\nkey = "nope"\n'
    assert parse_config(text).listen[0].tls is True


def test_motd_and_motd_file_are_exclusive() -> None:
    text = '[server]\nmotd = "hi"\nmotd_file = "motd.txt"\n'
    assert issue(text, "server.motd_file") == "set motd or motd_file, not both"


def test_motd_lines(tmp_path: Path) -> None:
    assert ServerSection(motd="one\ntwo\r\nthree").motd_lines(None) == ["one", "two", "three"]
    assert ServerSection(motd="").motd_lines(None) == []
    (tmp_path / "motd.txt").write_text("hello\n\nworld\n")
    server = ServerSection(motd_file="motd.txt")
    assert server.motd_lines(tmp_path) == ["hello", "", "world"]
    with pytest.raises(ConfigError) as info:
        ServerSection(motd_file="absent.txt").motd_lines(tmp_path)
    assert info.value.issues[0].key == "server.motd_file"


# --- formatting ----------------------------------------------------------------------------------


def test_format_issues() -> None:
    err = ConfigError([ConfigIssue("limits.sendq", "must be at least 512"), ConfigIssue("", "x")])
    assert str(err) == "limits.sendq: must be at least 512\nx"
    assert format_issues(err) == str(err)
    assert format_issues(err, prefix="hubbub.toml: ") == (
        "hubbub.toml: limits.sendq: must be at least 512\nhubbub.toml: x"
    )


def test_config_error_survives_pickling() -> None:
    err = ConfigError([ConfigIssue("a", "b")])
    assert pickle.loads(pickle.dumps(err)).issues == err.issues


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as err:
        found = err.issues
    else:
        return
    assert found
    assert all(isinstance(item, ConfigIssue) for item in found)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="[]:.unix/0123456789abcdef ", max_size=30))
def test_parse_address_raises_only_value_error(address: str) -> None:
    try:
        host, port, unix_path = parse_address(address)
    except ValueError:
        return
    assert (unix_path is None) == (port is not None)
    assert port is None or 0 <= port <= 65535


# --- [accounts] ----------------------------------------------------------------------------------


def test_accounts_defaults_are_todays_behaviour() -> None:
    accounts = default_config().accounts
    assert accounts == AccountsSection()
    assert (accounts.registration, accounts.password_min_length) == ("open", 8)
    assert (accounts.nick_protection, accounts.nick_grace) == ("guest", 30.0)
    assert accounts.guest_prefix == "Guest"


def test_accounts_section_parses() -> None:
    accounts = parse_config(
        """
        [accounts]
        registration = "after-connect"
        password_min_length = 12
        nick_protection = "strict"
        nick_grace = 60
        guest_prefix = "Visitor"
        """
    ).accounts
    assert accounts == AccountsSection("after-connect", 12, "strict", 60.0, "Visitor")


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            "registration = 'invite'",
            "accounts.registration",
            'unknown value \'invite\' (expected one of: "open", "after-connect", "closed")',
        ),
        ("registration = true", "accounts.registration", "expected string, got boolean"),
        (
            "nick_protection = 'kill'",
            "accounts.nick_protection",
            '(expected one of: "guest", "strict", "off")',
        ),
        ("password_min_length = 0", "accounts.password_min_length", "between 1 and 300, got 0"),
        ("password_min_length = 301", "accounts.password_min_length", "between 1 and 300"),
        ("password_min_length = 8.5", "accounts.password_min_length", "expected integer"),
        ("nick_grace = 0", "accounts.nick_grace", "must be a positive number, got 0"),
        ("nick_grace = -5", "accounts.nick_grace", "must be a positive number"),
        ("guest_prefix = ''", "accounts.guest_prefix", "must be 1 to 20 nick characters"),
        ("guest_prefix = '9lives'", "accounts.guest_prefix", "not starting with a digit"),
        ("guest_prefix = 'Guest!'", "accounts.guest_prefix", "must be 1 to 20"),
        ("guest_prefix = 'Two Words'", "accounts.guest_prefix", "must be 1 to 20"),
        ("guest_prefix = '" + "G" * 21 + "'", "accounts.guest_prefix", "got 'GGGG"),
        ("register_burst = -1", "accounts.register_burst", "got -1"),
        ("register_per_hour = 0", "accounts.register_per_hour", "must be a positive number"),
        ("password_max = 20", "accounts.password_max", "unknown key"),
    ],
)
def test_accounts_bad_values_name_their_key(text: str, key: str, message: str) -> None:
    assert message in issue(f"[accounts]\n{text}\n", key)


def test_accounts_section_validates_when_built_in_code() -> None:
    with pytest.raises(ConfigError) as info:
        AccountsSection(registration="nope", nick_grace=float("nan"))
    assert [i.key for i in info.value.issues] == ["registration", "nick_grace"]


# -- [history] ---------------------------------------------------------------------------------


def test_history_defaults_and_per_channel_tables() -> None:
    from hubbub.config import HistorySection

    assert parse_config("").history == HistorySection()
    config = parse_config(
        '[history]\njoin_replay = 5\nmax_age_days = 30\n[history.channels."#Big"]\nmax_lines = 10\n'
    )
    own = config.history.for_channel("#big", str.lower)
    assert (own.max_lines, own.join_replay, own.max_age_days) == (10, 5, 30.0)
    other = config.history.for_channel("#other", str.lower)
    assert (other.max_lines, other.join_replay) == (1_000_000, 5)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[history]\nmax_lines = -1\n", "history.max_lines"),
        ("[history]\njoin_replay = 5000\n", "history.join_replay"),
        ("[history]\nrequest_limit = 0\n", "history.request_limit"),
        ("[history]\nsearch_timeout = 0\n", "history.search_timeout"),
        ("[history]\nmax_age_days = -3\n", "history.max_age_days"),
        ("[history]\nwhatever = 1\n", "history.whatever"),
        ('[history.channels."#a"]\nmax_lines = "many"\n', 'history.channels."#a".max_lines'),
        ('[history.channels."#a"]\ncolour = 1\n', 'history.channels."#a".colour'),
        ("[history]\nchannels = 3\n", "history.channels"),
        ('[history.channels."nochannel"]\nmax_lines = 1\n', 'history.channels."nochannel"'),
    ],
)
def test_history_config_errors_name_their_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert key in [issue.key for issue in info.value.issues], info.value.issues


def test_trusted_proxies_are_addresses_or_networks() -> None:
    config = parse_config('[limits]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n')
    assert config.limits.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert LimitsSection().trusted_proxies == ()  # (nothing is trusted by default)
    text = '[limits]\ntrusted_proxies = ["127.0.0.1", "proxy.example"]\n'
    assert issue(text, "limits.trusted_proxies[1]") == (
        "not an IP address or network: 'proxy.example'"
    )


def test_webirc_blocks() -> None:
    digest = hash_password("gateway-secret")
    config = parse_config(
        f'[[webirc]]\nname = "lounge"\nhosts = ["192.0.2.10", "2001:db8::/48"]\n'
        f'password = "{digest}"\n'
    )
    (block,) = config.webirc
    assert (block.name, block.hosts, block.password) == (
        "lounge",
        ("192.0.2.10", "2001:db8::/48"),
        digest,
    )
    assert parse_config("").webirc == ()
    assert issue('[[webirc]]\nhosts = ["192.0.2.10"]\n', "webirc[0].password") == (
        "missing required key"
    )
    assert issue('[[webirc]]\npassword = "x"\nhosts = []\n', "webirc[0].hosts") == (
        "at least one address or network is needed"
    )
    assert issue('[[webirc]]\npassword = "x"\nhosts = ["gw.example"]\n', "webirc[0].hosts[0]") == (
        "not an IP address or network: 'gw.example'"
    )
    assert issue('[[webirc]]\npassword = ""\nhosts = ["192.0.2.1"]\n', "webirc[0].password") == (
        "must not be empty"
    )
    bad_hash = '[[webirc]]\npassword = "$argon2id$nope"\nhosts = ["192.0.2.1"]\n'
    assert "argon2" in issue(bad_hash, "webirc[0].password")
