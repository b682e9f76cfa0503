"""Numbers a client sends: a non-ASCII digit (``²`` passes ``str.isdigit``) is not a number,
and never reaches ``int()`` (which raised, and the core answered 400 with a traceback)."""

from __future__ import annotations

import pytest

from hubbub.server.core import Server
from tests.server.harness import Client, ask, make_server


@pytest.fixture
def server() -> Server:
    return make_server()


def no_handler_errors(
    caplog: pytest.LogCaptureFixture, got: list[tuple[str, tuple[str, ...]]]
) -> None:
    """No 400 ERR_UNKNOWNERROR answered and no handler traceback logged."""
    assert all(command != "400" for command, _ in got), got
    assert not [r for r in caplog.records if "error handling" in r.getMessage()]


def test_cap_ls_with_a_superscript_version(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(server)
    got = ask(client, "CAP LS ²")
    no_handler_errors(caplog, got)
    assert got
    assert all(command == "CAP" for command, _ in got)
    assert client.session.cap_version == 301  # not a number: as if none was given


def test_whowas_with_a_superscript_count(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    alice = Client(server).register("alice")
    Client(server).register("gone").send("QUIT :bye")
    got = ask(alice, "WHOWAS gone ²")
    no_handler_errors(caplog, got)
    assert [c for c, _ in got] == ["314", "312", "369"]
    for count in ["-²", "--1", "9" * 400]:
        got = ask(alice, f"WHOWAS gone {count}")
        no_handler_errors(caplog, got)
        assert [c for c, _ in got] == ["314", "312", "369"]


def test_mode_limit_with_a_superscript(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    alice = Client(server).register("alice")
    alice.send("JOIN #c")
    channel = server.find_channel("#c")
    assert channel is not None
    got = ask(alice, "MODE #c +l ²")
    no_handler_errors(caplog, got)
    assert channel.limit is None
    assert [c for c, _ in ask(alice, "MODE #c +l 9" + "9" * 400)] == ["696"]
    assert channel.limit is None
    got = ask(alice, "MODE #c +l 007")
    assert got == [("MODE", ("#c", "+l", "7"))]
    assert channel.limit == 7


def test_list_with_a_superscript_count(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    alice = Client(server).register("alice")
    alice.send("JOIN #c")
    for query in ["LIST >²", "LIST <²", "LIST >" + "9" * 400]:
        got = ask(alice, query)
        no_handler_errors(caplog, got)
        assert got[0][0] == "321"
        assert got[-1][0] == "323"
    assert [c for c, _ in ask(alice, "LIST >0")] == ["321", "322", "323"]
    assert [c for c, _ in ask(alice, "LIST <1")] == ["321", "323"]
