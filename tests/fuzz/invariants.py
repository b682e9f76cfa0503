"""What must hold of a server core's state between any two commands, whatever clients sent,
and how the fuzz tests see that a handler failed."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable

from hubbub.protocol.message import parse
from hubbub.server.core import Server, address_bucket
from hubbub.server.session import State


def examples(default: int) -> int:
    """How many examples a hypothesis fuzz test tries: ``HUBBUB_FUZZ_EXAMPLES`` when set
    (``make fuzz`` asks for thousands), else a ``default`` that keeps ``make test`` quick."""
    return int(os.environ.get("HUBBUB_FUZZ_EXAMPLES", default))


INTERNAL_ERROR = "Internal error; the command failed"
"""The text of the 400 the core sends when a handler raised (MONITOR's 400 is another)."""


class HandlerFailure(AssertionError):
    """A handler failed: the core logged its exception, or answered 400 for it."""


class ErrorLog(logging.Handler):
    """Keeps the ERROR records the core logs (a handler's exception among them) while
    attached to the ``hubbub`` logger (``with ErrorLog() as errors:``)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> ErrorLog:
        logging.getLogger("hubbub").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("hubbub").removeHandler(self)

    def check(self) -> None:
        """Raise :class:`HandlerFailure` for the first error logged."""
        if self.records:
            record = self.records[0]
            raise HandlerFailure(f"{record.getMessage()}\n{self.format(record)}")


def check_replies(lines: Iterable[str]) -> None:
    """Raise :class:`HandlerFailure` if a reply says a handler failed."""
    for line in lines:
        if INTERNAL_ERROR in line and parse(line).command == "400":
            raise HandlerFailure(f"400 reply: {line}")


def check_invariants(server: Server) -> None:
    """Assert that the core's indexes agree with each other and with the sessions."""
    network = server.network
    for folded, channel in network.channels.items():
        assert channel.members, f"empty channel {channel.name} kept"
        assert folded == server.fold(channel.name)
        assert channel.tagged == sum(1 for m in channel.members if m.render_key)
        assert channel.local.keys() == {m.session for m in channel.members if m.session}
        for member in channel.members:
            assert member.session is not None, f"{member} in {channel.name}"
            assert member.session.state is State.REGISTERED, f"{member} in {channel.name}"
            assert member.channels.get(folded) is channel
            assert member.session in server.sessions
    for session in server.sessions:
        user = session.user
        assert session.state is not State.CLOSED
        assert user.session is session
        for folded, channel in user.channels.items():
            assert network.channels.get(folded) is channel
            assert user in channel.members
        if user.nick != "*":
            assert network.users.get(user.folded) is user
        for folded in session.monitoring:
            assert session in network.monitors.get(folded, ()), f"{session} monitors {folded}"
        assert ("o" in user.modes) is (user in network.opers), f"{session} {user.modes}"
    for folded, user in network.users.items():
        assert user.session is None or user.session in server.sessions
        assert user.session is not None or user.service is not None
        assert user.folded == folded
        assert server.fold(user.nick) == folded
    for folded, watchers in server.network.monitors.items():
        assert watchers
        for watcher in watchers:
            assert watcher in server.sessions, f"{watcher} gone but monitors {folded}"
            assert folded in watcher.monitoring
    assert server.ip_counts == Counter(address_bucket(s.peer.ip) for s in server.sessions)
    registered = [s for s in server.sessions if s.registered]
    assert server.network.user_count == len(registered)
    assert network.invisible_count == sum("i" in s.user.modes for s in registered)
    assert {o.session for o in network.opers} <= server.sessions.keys()
    for key, logged_in in network.by_account.items():
        assert logged_in, f"empty account index entry {key}"
        for user in logged_in:
            assert user.account is not None, user
            assert server.fold(user.account) == key, user
            assert network.users.get(user.folded) is user or user.session in server.sessions
    for user in network.users.values():
        if user.account is not None:
            assert user in network.by_account.get(server.fold(user.account), ()), user
    for session in server.sessions:
        if session.user.account is not None:
            assert session.user in network.by_account[server.fold(session.user.account)]
