"""The plugin API and manager, sans-I/O: plugins loaded from files into a harness server.

What a plugin registers works through the real core and network (its commands are
dispatched, its service users are users); what it raises is contained and logged under its
name; REHASH loads every plugin afresh from its file.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import pytest

from hubbub.config import ConfigError, PluginsSection, parse_config, plugin_name
from hubbub.config.sections import BUILTIN_PLUGINS
from hubbub.server.commands.dispatch import Command, Context
from hubbub.server.events import Quit
from hubbub.server.pluginloading import import_plugins
from hubbub.server.plugins import PluginAPI
from tests.server.accounthelpers import defer
from tests.server.harness import Client, host_of, replies
from tests.server.pluginhelpers import Plugged, with_plugins, write_plugin

RECORDER = """
    from hubbub.server.events import Event

    HEARD: list[str] = []
    CONFIG: list[object] = []

    def setup(api):
        CONFIG.append(api.config)
        api.subscribe(lambda event: HEARD.append(type(event).__name__))
"""


def records_of(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    """What was logged under ``hubbub.plugin.<name>`` (``hubbub.<name>`` for network)."""
    logger = "hubbub.network" if name == "network" else f"hubbub.plugin.{name}"
    return [r for r in caplog.records if r.name == logger]


# -- config --------------------------------------------------------------------------------


def test_plugins_section_in_a_config_file() -> None:
    config = parse_config(
        '[plugins]\nmodules = ["examples/seen.py", "mybots.greeter"]\n'
        '[plugins.seen]\nchannels = ["#lobby"]\n[plugins.greeter]\ntext = "hi"\n'
    )
    assert config.plugins.modules == ("examples/seen.py", "mybots.greeter")
    assert config.plugins.table("examples/seen.py") == {"channels": ("#lobby",)}
    assert config.plugins.table("mybots.greeter") == {"text": "hi"}
    assert config.plugins.table("other.thing") == {}
    with pytest.raises(TypeError):
        config.plugins.table("mybots.greeter")["text"] = "changed"  # type: ignore[index]
    assert parse_config("").plugins == PluginsSection()
    assert [plugin_name(m) for m in ("a.b.seen", "x/seen.py", "seen")] == ["seen"] * 3


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('[plugins]\nmodules = "seen"', "plugins.modules", "expected array of strings"),
        ("[plugins]\nmodules = [1]", "plugins.modules", "containing integer"),
        ('[plugins]\nmodules = ["a b"]', "plugins.modules", "neither a module name"),
        ('[plugins]\nmodules = ["x.seen", "y/seen.py"]', "plugins.modules", "both plugins"),
        ('[plugins]\nmodules = ["x.seen", "x.seen"]', "plugins.modules", "listed twice"),
        ('[plugins]\nmodules = ["my.nickserv"]', "plugins.modules", "like a built-in"),
        ("[plugins]\nmodule = []", "plugins.module", 'did you mean "modules"'),
        ('[plugins]\nmodules = ["x.seen"]\n[plugins.sen]\na = 1', "plugins.sen", '"seen"'),
        ("plugins = 1", "plugins", "expected table"),
    ],
)
def test_plugins_section_errors(text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert [issue.key for issue in err.value.issues] == [key]
    assert message in err.value.issues[0].message


def test_a_missing_plugin_file_is_reported_by_load_config(tmp_path: Path) -> None:
    from hubbub.config import load_config

    path = tmp_path / "hubbub.toml"
    path.write_text('[plugins]\nmodules = ["plugins/seen.py"]\n[plugins.nickserv]\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert [(i.key, i.message) for i in err.value.issues] == [
        ("plugins.modules", f"file not found: {tmp_path / 'plugins/seen.py'}")
    ]


def test_check_config_reports_the_plugins_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hubbub.cli import main

    path = tmp_path / "hubbub.toml"
    path.write_text('[plugins]\nmodules = ["seen.py", 3]\n[plugins.seen]\nchannels = []\n')
    assert main(["check-config", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"{path}: plugins.modules: expected array of strings, got an array containing integer\n"
    )
    path.write_text('[plugins]\nmodules = ["seen.py"]\n[plugins.seen]\nchannels = []\n')
    assert main(["check-config", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"{path}: plugins.modules: file not found: {tmp_path / 'seen.py'}\n"
    )
    (tmp_path / "seen.py").write_text("def setup(api):\n    pass\n")
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok\n"


# -- events --------------------------------------------------------------------------------


def test_a_plugin_hears_the_events_and_gets_its_table(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "recorder", RECORDER)
    plugged = Plugged()
    assert plugged.load(path, settings={"recorder": {"level": 3}}) == []
    module = plugged.module("recorder")
    assert module.CONFIG == [{"level": 3}]
    alice = plugged.client("alice")
    alice.send("JOIN #lobby", "PRIVMSG #lobby :hello", "PART #lobby")
    assert module.HEARD == ["Registered", "Joined", "Relayed", "Parted"]


def test_an_event_callback_that_raises_is_contained(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = write_plugin(
        tmp_path,
        "bad",
        """
        def setup(api):
            api.subscribe(lambda event: 1 / 0)
        """,
    )
    good = write_plugin(tmp_path, "recorder", RECORDER)
    plugged = Plugged()
    assert plugged.load(bad, good) == []
    plugged.client("alice")
    assert plugged.module("recorder").HEARD == ["Registered"]
    assert records_of(caplog, "network") == []  # the plugin layer caught it, not the network
    (record,) = records_of(caplog, "bad")
    assert "plugin bad: error in" in record.getMessage()
    assert "handling Registered" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


def test_later_runs_once_every_subscriber_has_heard(tmp_path: Path) -> None:
    path = write_plugin(
        tmp_path,
        "order",
        """
        ORDER = []

        def setup(api):
            def first(event):
                ORDER.append("first")
                api.later(lambda: ORDER.append("later"))
            api.subscribe(first)
            api.subscribe(lambda event: ORDER.append("second"))
        """,
    )
    plugged = Plugged()
    plugged.load(path)
    plugged.client("alice")
    assert plugged.module("order").ORDER == ["first", "second", "later"]


# -- commands ------------------------------------------------------------------------------

GREETER = """
    from hubbub.server.commands.dispatch import Command

    def hello(ctx):
        ctx.reply.add(ctx.server.notice(ctx.session, f"Hello, {ctx.params[0]}!"))

    def crash(ctx):
        raise RuntimeError("oops")

    def setup(api):
        api.add_command("hello", Command(hello, min_params=1))
        api.add_command("OPERHELLO", Command(hello, min_params=1, oper=True))
        api.add_command("CRASH", Command(crash))
"""


def test_commands_go_through_the_tables_checks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugged = Plugged()
    assert plugged.load(write_plugin(tmp_path, "greeter", GREETER)) == []
    client = Client(plugged.server).register("alice")
    client.send("HELLO world")
    assert replies(client) == [("NOTICE", ("alice", "Hello, world!"))]
    client.send("hello")
    assert replies(client) == [("461", ("alice", "HELLO", "Not enough parameters"))]
    client.send("OPERHELLO x")
    assert [c for c, _ in replies(client)] == ["481"]
    client.send("CRASH")
    assert replies(client) == [("400", ("alice", "CRASH", "Internal error; the command failed"))]
    (record,) = records_of(caplog, "greeter")
    assert record.getMessage() == "plugin greeter: error in the command CRASH"
    unregistered = Client(plugged.server)
    unregistered.send("HELLO x")
    assert [c for c, _ in replies(unregistered)] == ["451"]
    client.send("HELP")
    assert "HELLO" in " ".join(" ".join(p) for _, p in replies(client))
    assert plugged.load() == []  # no plugins now: the commands go
    client.send("HELLO world")
    assert [c for c, _ in replies(client)] == ["421"]
    assert "HELLO" not in plugged.server.commands


def test_add_command_refuses_a_name_the_table_has(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_plugin(
        tmp_path,
        "greedy",
        """
        from hubbub.server.commands.dispatch import Command

        HEARD = []

        def setup(api):
            api.subscribe(HEARD.append)
            api.add_service("Greedy", print)
            api.add_command("MINE", Command(lambda ctx: None))
            api.add_command("join", Command(lambda ctx: None))
        """,
    )
    plugged = Plugged()
    join = plugged.server.commands["JOIN"]
    (problem,) = plugged.load(path)
    assert problem == (
        "plugin greedy: setup failed (ValueError: the command JOIN exists already); not loaded"
    )
    assert plugged.server.commands["JOIN"] is join
    assert "MINE" not in plugged.server.commands  # what it added before failing is undone
    assert plugged.network.find_user("Greedy") is None
    assert isinstance(plugged.events[-1], Quit)
    assert "greedy" not in plugged.manager
    heard = sys.modules["hubbub_plugin_greedy"].HEARD
    count = len(heard)
    plugged.client("alice")
    assert len(heard) == count  # no longer subscribed
    assert any(problem in r.getMessage() for r in caplog.records)


def test_add_command_checks_the_name() -> None:
    plugged = Plugged()
    api = PluginAPI(plugged.manager, "x", "x", {})
    with pytest.raises(ValueError, match="the command NS exists already"):
        api.add_command("ns", Command(lambda ctx: None))  # (NickServ's)
    for bad in ("", "9LIVES", "TWO WORDS", "A-B"):
        with pytest.raises(ValueError, match="is not a command name"):
            api.add_command(bad, Command(lambda ctx: None))


# -- service users -------------------------------------------------------------------------

ECHO = """
    from hubbub.server.events import Joined

    def setup(api):
        def answer(event):
            if event.texts[0] == "boom":
                raise RuntimeError("boom")
            echo.say(event.source, "you said: " + event.texts[0], notice=True)

        echo = api.add_service("Echo", answer, username="echo", realname="Says it again")
        echo.join("#lobby")

        def greet(event):
            if isinstance(event, Joined) and event.user is not echo.user:
                echo.say(event.channel, f"Welcome, {event.user.nick}!\\nEnjoy.")
        api.subscribe(greet)
"""


def test_a_service_user_speaks_joins_and_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugged = Plugged()
    network = plugged.network
    assert plugged.load(write_plugin(tmp_path, "echo", ECHO)) == []
    echo = network.find_user("echo")
    assert echo is not None
    assert echo.session is None
    assert echo.service is not None
    assert echo.prefix == f"Echo!echo@services.{plugged.server.name}"
    assert echo.realname == "Says it again"
    assert "B" in echo.modes  # a bot
    lobby = network.find_channel("#lobby")
    assert lobby is not None
    assert list(lobby.members) == [echo]
    alice = plugged.client("alice")
    alice.send("JOIN #Lobby")  # greeted once the join is announced
    got = [(m.source, m.command, m.params) for m in alice.messages() if m.source == echo.prefix]
    assert got == [
        (echo.prefix, "PRIVMSG", ("#lobby", "Welcome, alice!")),
        (echo.prefix, "PRIVMSG", ("#lobby", "Enjoy.")),
    ]
    alice.send("PRIVMSG Echo :hello")
    assert replies(alice) == [("NOTICE", ("alice", "you said: hello"))]
    alice.send("PRIVMSG Echo :boom")
    assert replies(alice) == []
    (record,) = records_of(caplog, "echo")
    assert record.getMessage().startswith("plugin echo: error answering PRIVMSG from <User")
    (handle,) = plugged.manager.plugins[str(tmp_path / "echo.py")].api.services
    handle.part("#lobby", "bye")
    assert replies(alice) == [("PART", ("#lobby", "bye"))]
    assert echo not in lobby.members
    handle.part("#lobby")  # not in it: nothing happens
    with pytest.raises(ValueError, match="no such nick or channel"):
        handle.say("nobody", "hello?")
    with pytest.raises(ValueError, match="not a channel name"):
        handle.join("lobby")
    alice.send("MODE #lobby +n")
    with pytest.raises(ValueError, match="Echo cannot send to #lobby"):
        handle.say("#lobby", "let me in")  # channel modes apply to services too
    handle.remove()
    assert network.find_user("Echo") is None
    handle.say("alice", "still there?")  # a removed service does nothing
    assert [text for *_, text in plugged.said("Echo")][-1] == "you said: hello"


def test_a_service_nick_that_is_taken_fails_the_setup(tmp_path: Path) -> None:
    plugged = Plugged()
    plugged.client("Echo")
    (problem,) = plugged.load(write_plugin(tmp_path, "echo", ECHO))
    assert "setup failed (ValueError: the nick 'Echo' is taken)" in problem
    (problem,) = plugged.load(
        write_plugin(tmp_path, "bad", "def setup(api):\n    api.add_service('no good', print)\n")
    )
    assert "setup failed (ValueError: 'no good' is not a valid nick)" in problem


def test_no_service_is_added_inside_an_event_callback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_plugin(
        tmp_path,
        "eager",
        """
        def setup(api):
            api.subscribe(lambda event: api.add_service("Late", lambda e: None))
        """,
    )
    plugged = Plugged()
    plugged.load(path)
    plugged.client("alice")
    assert plugged.network.find_user("Late") is None
    (record,) = records_of(caplog, "eager")
    assert record.exc_info is not None
    assert "add_service inside an event callback" in str(record.exc_info[1])


# -- loading, REHASH and unloading -----------------------------------------------------------


def test_rehash_loads_a_changed_file_afresh(tmp_path: Path) -> None:
    plugged = Plugged()
    network = plugged.network
    path = write_plugin(tmp_path, "hi", "def setup(api):\n    api.add_service('Hi', print)\n")
    assert plugged.load(path) == []
    first = network.find_user("Hi")
    assert first is not None
    write_plugin(
        tmp_path,
        "hi",
        """
        VERSION = 2
        HEARD = []

        def setup(api):
            api.add_service("Hello", lambda event: None)
            api.subscribe(HEARD.append)
        """,
    )
    assert plugged.load(path) == []
    second = plugged.module("hi")
    assert second.VERSION == 2
    assert network.find_user("Hi") is None
    assert network.find_user("Hello") is not None
    quit_event = next(e for e in plugged.events if isinstance(e, Quit))
    assert quit_event.user is first
    assert plugged.load(path) == []  # loaded afresh again: only the newest one hears
    third = plugged.module("hi")
    assert third is not second
    heard = len(second.HEARD)
    plugged.client("alice")
    assert len(second.HEARD) == heard
    assert [type(e).__name__ for e in third.HEARD][-1] == "Registered"


def test_a_new_version_that_does_not_import_leaves_the_old_one_running(tmp_path: Path) -> None:
    plugged = Plugged()
    path = write_plugin(tmp_path, "recorder", RECORDER)
    assert plugged.load(path) == []
    running = plugged.module("recorder")
    path.write_text("def setup(api)\n    pass\n")
    (problem,) = plugged.load(path)
    assert problem.startswith("plugin recorder: cannot import")
    assert "SyntaxError" in problem
    assert problem.endswith("the running version stays")
    assert plugged.module("recorder") is running
    plugged.client("alice")
    assert running.HEARD == ["Registered"]


def test_a_plugin_dropped_from_the_config_is_torn_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_plugin(
        tmp_path,
        "tidy",
        """
        DOWN = []
        HEARD = []

        def setup(api):
            api.subscribe(HEARD.append)

        def teardown(api):
            DOWN.append(api.name)
            raise OSError("the disk is gone")
        """,
    )
    plugged = Plugged()
    plugged.load(path)
    module = plugged.module("tidy")
    assert plugged.load() == []
    assert module.DOWN == ["tidy"]
    assert list(plugged.manager.plugins) == [*BUILTIN_PLUGINS]
    plugged.client("alice")
    assert module.HEARD == []
    (record,) = records_of(caplog, "tidy")
    assert record.getMessage() == "plugin tidy: error in teardown"


def test_broken_plugins_never_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exits = write_plugin(tmp_path, "exits", "import sys\ndef setup(api):\n    sys.exit(1)\n")
    nosetup = write_plugin(tmp_path, "nosetup", "X = 1\n")
    raises = write_plugin(tmp_path, "raises", "raise ImportError('missing thing')\n")
    good = write_plugin(tmp_path, "recorder", RECORDER)
    plugged = Plugged()
    problems = plugged.load(exits, nosetup, raises, "no_such_module_here", good)
    assert problems == [
        "plugin exits: setup failed (SystemExit: 1); not loaded",
        f"plugin nosetup: {nosetup} has no setup(api) function; not loaded",
        f"plugin raises: cannot import {raises}: ImportError: missing thing",
        "plugin no_such_module_here: cannot import no_such_module_here: "
        "ModuleNotFoundError: No module named 'no_such_module_here'",
    ]
    assert list(plugged.manager.plugins) == [*BUILTIN_PLUGINS, str(good)]
    assert plugged.manager.problems == problems


def test_operators_are_told_what_went_wrong(tmp_path: Path) -> None:
    plugged = Plugged()
    server = plugged.server
    oper = plugged.client("oper")
    server.network.set_user_modes(oper.session.user, "os", "")
    server.network.opers.add(oper.session.user)
    oper.messages()
    plugged.load(write_plugin(tmp_path, "nosetup", "X = 1\n"))
    ((command, params),) = replies(oper)
    assert command == "NOTICE"
    assert params[1].startswith("*** plugin nosetup: ")


def test_a_package_is_imported_afresh_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "hubbub_test_pkg"
    package.mkdir()
    write_plugin(package, "helpers", "WORD = 'one'\n")
    write_plugin(
        package, "__init__", "from .helpers import WORD\ndef setup(api):\n    api.log.info(WORD)\n"
    )
    write_plugin(package, "other", "X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugged = Plugged()
    try:
        assert plugged.load("hubbub_test_pkg.other") == [
            "plugin other: hubbub_test_pkg.other has no setup(api) function; not loaded"
        ]
        assert plugged.load("hubbub_test_pkg") == []
        assert plugged.module("hubbub_test_pkg").WORD == "one"
        write_plugin(package, "helpers", "WORD = 'twenty-two'\n")  # (a new size: not stale)
        assert plugged.load("hubbub_test_pkg") == []
        assert plugged.module("hubbub_test_pkg").WORD == "twenty-two"
    finally:
        for key in [k for k in sys.modules if k.startswith("hubbub_test_pkg")]:
            del sys.modules[key]


def test_modules_of_hubbub_are_not_imported_again() -> None:
    import hubbub.server.core

    found = import_plugins(["hubbub.server.core"])
    assert found["hubbub.server.core"] is hubbub.server.core


def test_nickserv_and_chanserv_are_built_in() -> None:
    plugged = Plugged()
    assert BUILTIN_PLUGINS == ("hubbub.plugins.nickserv", "hubbub.plugins.chanserv")
    assert list(plugged.manager.plugins) == [*BUILTIN_PLUGINS]
    config = with_plugins(plugged.server.config, "examples/seen.py")
    assert plugged.manager.wanted(config) == [*BUILTIN_PLUGINS, "examples/seen.py"]
    assert plugged.manager.to_import(config) == ["examples/seen.py"]
    config = with_plugins(plugged.server.config, "hubbub.plugins.nickserv")
    assert plugged.manager.wanted(config) == [*BUILTIN_PLUGINS]
    assert plugged.manager.to_import(config) == []


def test_relative_plugin_files_are_found_beside_the_config(tmp_path: Path) -> None:
    plugged = Plugged()
    config = dataclasses.replace(
        with_plugins(plugged.server.config, "bots/seen.py"), path=tmp_path / "hubbub.toml"
    )
    assert plugged.manager.wanted(config) == [*BUILTIN_PLUGINS, str(tmp_path / "bots" / "seen.py")]


# -- blocking work ---------------------------------------------------------------------------

WORKER = """
    DONE = []

    def setup(api):
        api.offload(lambda: 6 * 7, DONE.append)
        api.offload(lambda: 1 / 0, DONE.append)
"""


def test_blocking_work_is_offloaded_and_contained(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugged = Plugged()
    jobs = defer(plugged.server)
    path = write_plugin(tmp_path, "worker", WORKER)
    plugged.manager.load(with_plugins(plugged.server.config, path))
    assert jobs.run() == 3  # the import, then the plugin's two pieces of work
    assert plugged.module("worker").DONE == [42]
    (record,) = records_of(caplog, "worker")
    assert record.getMessage().startswith("plugin worker: error in blocking work")


def test_no_answer_from_blocking_work_reaches_an_unloaded_plugin(tmp_path: Path) -> None:
    plugged = Plugged()
    path = write_plugin(tmp_path, "worker", WORKER)
    assert plugged.load(path) == []
    jobs = defer(plugged.server)
    module = plugged.module("worker")
    api = plugged.manager.plugins[str(path)].api
    api.offload(lambda: "late", module.DONE.append)
    plugged.manager.unload_all()
    jobs.run()
    assert module.DONE == [42]


def test_a_plugin_command_gets_a_context(tmp_path: Path) -> None:
    seen: list[Context] = []
    plugged = Plugged()
    api = PluginAPI(plugged.manager, "direct", "direct", {})
    api.add_command("PEEK", Command(seen.append))
    Client(plugged.server).register("alice").send("PEEK a b")
    assert [ctx.params for ctx in seen] == [("a", "b")]


def test_the_example_in_the_docs_works(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    source = docs.split("```python\n", 1)[1].split("```", 1)[0]
    path = write_plugin(tmp_path, "dice", source)
    plugged = Plugged()
    assert plugged.load(path, settings={"dice": {"sides": 20, "channels": ["#games"]}}) == []
    alice = plugged.client("alice")
    alice.send("JOIN #games", "PRIVMSG #games :!roll", "PRIVMSG Dice :roll")
    said = plugged.said("Dice")
    assert [s[1:3] for s in said] == [("PRIVMSG", "#games")] * 2 + [("NOTICE", "alice")]
    assert said[0][3] == "Hello alice, say !roll"
    assert said[1][3].startswith("alice: You rolled ")
    assert said[1][3].endswith(" (1-20).")
    assert said[2][3].startswith("You rolled ")
    (problem,) = plugged.load(path, settings={"dice": {"sides": 1}})
    assert "sides must be an integer of at least 2" in problem


def test_rehash_answers_once_the_plugins_run_again(tmp_path: Path) -> None:
    plugged = Plugged()
    server = plugged.server
    oper = plugged.client("oper")  # (without +s: told of problems in the reply)
    server.network.set_user_modes(oper.session.user, "o", "")
    oper.messages()
    good = write_plugin(tmp_path, "echo", ECHO)
    bad = write_plugin(tmp_path, "nosetup", "X = 1\n")
    host_of(server).reload = lambda: with_plugins(server.config, good, bad)
    jobs = defer(server)
    oper.send("REHASH", "PRIVMSG Echo :are you there?")
    assert replies(oper) == []
    assert jobs.run() == 1  # the config and the plugins, read and imported in one go
    got = replies(oper)
    assert [c for c, _ in got] == ["382", "NOTICE", "NOTICE"]
    assert got[1][1][1] == f"*** plugin nosetup: {bad} has no setup(api) function; not loaded"
    assert got[2][1][1] == "you said: are you there?"  # held until the plugins ran
