"""Account names in a cluster whose nodes each have a database of their own (SQLite, no
shared PostgreSQL): a name is one account in the whole network, decided by the bus (here
the in-process :class:`~hubbub.server.cluster.LocalHub`; tests/cluster/test_account_claims.py
does it against a real Redis)."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from hubbub.protocol.casemap import Folded
from hubbub.server.accounts import HELD_ELSEWHERE, AccountService, Outcome, attach
from hubbub.server.cluster import Claimed, ClusterLink, LocalBus, LocalHub
from hubbub.server.commands.accounts import reload_accounts
from hubbub.server.core import Server
from hubbub.storage import AccountRecord, SqliteStorage
from tests.server.accounthelpers import _credentials, add_account, service
from tests.server.harness import Client, make_server
from tests.server.saslclient import ScramClient, b64, plain

PASSWORD = "correct-horse"


def own_node(
    hub: LocalHub, name: str, *accounts: str, bus: LocalBus | None = None
) -> tuple[Server, ClusterLink]:
    """A node with accounts in a database of its own (``accounts`` in it already), joined
    to ``hub`` as ``name``."""
    server = make_server()
    storage = SqliteStorage(":memory:")
    storage.open()
    attach(server, AccountService(storage))
    for account in accounts:
        add_account(server, account, PASSWORD)
    link = server.join_cluster(bus if bus is not None else hub.bus(name), name)
    hub.join(link)
    hub.pump()
    return server, link


def register(client: Client, account: str = "*") -> tuple[str, ...]:
    """``REGISTER <account> * <password>``: SUCCESS's or FAIL's parameters."""
    client.messages()
    client.send(f"REGISTER {account} * {PASSWORD}")
    [answer] = [m for m in client.messages() if m.command in ("REGISTER", "FAIL")]
    return (answer.command, *answer.params)


def sasl_plain(server: Server, nick: str, account: str) -> list[str]:
    """The numerics of a SASL PLAIN login to ``account`` by a new client."""
    client = Client(server)
    client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :R")
    client.messages()
    client.send("AUTHENTICATE PLAIN")
    client.send(f"AUTHENTICATE {b64(plain(account, PASSWORD))}")
    return [m.command for m in client.messages()]


def sasl_scram(server: Server, nick: str, account: str) -> list[str]:
    """The numerics of a SCRAM-SHA-256 login to ``account`` by a new client."""
    client = Client(server)
    client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :R")
    client.messages()
    scram = ScramClient(account, PASSWORD)
    client.send("AUTHENTICATE SCRAM-SHA-256")
    client.messages()
    client.send(f"AUTHENTICATE {b64(scram.first())}")
    [challenge] = [m.params[0] for m in client.messages() if m.command == "AUTHENTICATE"]
    client.send(f"AUTHENTICATE {b64(scram.final(base64.b64decode(challenge)))}")
    got = client.messages()
    if [m.command for m in got] == ["AUTHENTICATE"]:  # (the server's proof: accepted)
        client.send("AUTHENTICATE +")
        got = client.messages()
    return [m.command for m in got]


def test_a_name_registered_on_one_node_is_refused_on_the_other() -> None:
    hub = LocalHub()
    a, _ = own_node(hub, "a")
    b, _ = own_node(hub, "b")
    alice = Client(a).register("alice")
    assert register(alice) == ("REGISTER", "SUCCESS", "alice", "Account created")
    assert hub.accounts == {"alice": "a"}
    bob = Client(b).register("bob")
    assert register(bob, "ALICE")[:3] == ("FAIL", "REGISTER", "ACCOUNT_EXISTS")
    assert bob.session.user.account is None
    assert Folded("alice") not in service(b).records
    assert service(b).storage.get_account(Folded("alice")) is None
    # NickServ's REGISTER asks the same: carol's name, taken on b first, is refused on a.
    carol = Client(b).register("carol")
    carol.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    assert carol.session.user.account == "carol"
    assert hub.accounts["carol"] == "b"
    dave = Client(a).register("dave")
    assert register(dave, "Carol")[:3] == ("FAIL", "REGISTER", "ACCOUNT_EXISTS")
    dave.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")  # its own nick: dave, free
    assert dave.session.user.account == "dave"
    assert hub.accounts == {"alice": "a", "carol": "b", "dave": "a"}


def test_a_deleted_account_may_be_registered_again_on_another_node() -> None:
    hub = LocalHub()
    a, _ = own_node(hub, "a")
    b, _ = own_node(hub, "b")
    alice = Client(a).register("alice")
    register(alice)
    record = service(a).records[Folded("alice")]
    answers: list[Outcome] = []
    service(a).delete(a, record, answers.append)  # (as the admin API does)
    assert answers == [Outcome.DONE]
    assert "alice" not in hub.accounts
    bob = Client(b).register("bob")
    assert register(bob, "alice")[:2] == ("REGISTER", "SUCCESS")
    assert hub.accounts == {"alice": "b"}


def test_an_account_both_databases_had_is_refused_login_where_the_name_is_not_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two nodes that were alone before (or a cluster without claims) both have an account
    carol: the node that claims the name first keeps it; on the other, nobody may log in to
    its carol (two people, one name), and the error is logged."""
    hub = LocalHub()
    a, _ = own_node(hub, "a", "carol", "erin")
    with caplog.at_level(logging.ERROR, logger="hubbub.accounts"):
        b, _ = own_node(hub, "b", "carol", "frank")
    assert hub.accounts == {"carol": "a", "erin": "a", "frank": "b"}
    assert service(b).conflicts == {"carol": "a"}
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "'carol'" in errors[0]
    assert "node a" in errors[0]
    assert sasl_plain(a, "one", "carol") == ["AUTHENTICATE", "900", "903"]
    assert sasl_plain(b, "two", "carol") == ["AUTHENTICATE", "904"]
    assert sasl_plain(b, "three", "frank") == ["AUTHENTICATE", "900", "903"]
    assert sasl_scram(a, "four", "carol") == ["900", "903"]
    assert sasl_scram(b, "four", "carol") == ["904"]
    five = Client(b).register("five")
    five.messages()
    five.send(f"PRIVMSG NickServ :IDENTIFY carol {PASSWORD}")
    notices = [m.params[-1] for m in five.messages() if m.command == "NOTICE"]
    assert notices == [HELD_ELSEWHERE.format(name="carol") + "."]
    assert five.session.user.account is None
    # Nick protection: b's carol reserves nothing (nobody could log in to it here).
    six = Client(b).register("carol")
    assert not [m for m in six.messages() if "IDENTIFY" in m.params[-1]]


def test_a_node_gives_back_the_names_of_accounts_it_no_longer_has() -> None:
    """Deleted while the node was down (``hubbub account delete`` on its file): at start,
    the claims it held for those go; another node's claims stay."""
    hub = LocalHub()
    hub.accounts = {"gone": "a", "kept": "a", "theirs": "b"}
    own_node(hub, "a", "kept")
    assert hub.accounts == {"kept": "a", "theirs": "b"}


def test_claims_lost_and_taken_meanwhile_log_out_the_account_here() -> None:
    """Redis lost its data and another node's user registered the name before this node
    claimed it again: this node's sessions logged in to it are logged out, and told why."""
    hub = LocalHub()
    a, link = own_node(hub, "a", "alice")
    alice = Client(a).register("alice", "sasl account-notify")
    alice.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', PASSWORD))}")
    assert alice.session.user.account == "alice"
    alice.messages()
    hub.accounts = {"alice": "b"}  # (Redis restarted empty; b registered alice first)
    link.claims_lost()
    got = alice.messages()
    assert "901" in [m.command for m in got]
    assert HELD_ELSEWHERE.format(name="alice") in [m.params[-1] for m in got]
    assert alice.session.user.account is None
    assert service(a).conflicts == {"alice": "b"}


class Unreachable(LocalBus):
    """A bus whose account claims cannot be decided while ``down``."""

    down = True

    def claim_account(self, folded: str, done: Claimed) -> None:
        if self.down:
            done(None)
        else:
            super().claim_account(folded, done)


def test_a_registration_the_cluster_cannot_decide_is_refused_for_now() -> None:
    hub = LocalHub()
    bus = Unreachable(hub, "a")
    a, _ = own_node(hub, "a", bus=bus)
    alice = Client(a).register("alice")
    assert register(alice)[:3] == ("FAIL", "REGISTER", "TEMPORARILY_UNAVAILABLE")
    assert service(a).storage.get_account(Folded("alice")) is None
    bus.down = False
    assert register(alice)[:2] == ("REGISTER", "SUCCESS")


class Recording(LocalBus):
    """A bus that keeps what it was asked about account names, in order."""

    def __init__(self, hub: LocalHub, node: str) -> None:
        super().__init__(hub, node)
        self.asked: list[tuple[str, str]] = []

    def claim_account(self, folded: str, done: Claimed) -> None:
        self.asked.append(("claim", folded))
        super().claim_account(folded, done)

    def release_account(self, folded: str) -> None:
        self.asked.append(("release", folded))
        super().release_account(folded)


def test_a_name_claimed_for_an_account_the_database_refused_is_given_back() -> None:
    hub = LocalHub()
    bus = Recording(hub, "a")
    a, _ = own_node(hub, "a", bus=bus)
    alice = Client(a).register("alice")
    service(a).storage.close()  # (the disk failed)
    assert register(alice)[:3] == ("FAIL", "REGISTER", "TEMPORARILY_UNAVAILABLE")
    assert bus.asked == [("claim", "alice"), ("release", "alice")]
    assert hub.accounts == {}


def test_a_reload_claims_accounts_made_behind_the_servers_back() -> None:
    """REHASH reads the accounts again (``hubbub account create`` on the file): new ones are
    claimed (refused logins while another node holds the name), deleted ones given back."""
    hub = LocalHub()
    a, _ = own_node(hub, "a", "old")
    b, _ = own_node(hub, "b", "taken")
    storage = service(a).storage
    password_hash, scram = _credentials(PASSWORD)
    for name in ("fresh", "taken"):
        assert storage.create_account(AccountRecord(name, Folded(name), password_hash, scram, 1.0))
    assert storage.delete_account(Folded("old"))
    said: list[Any] = []
    reload_accounts(a, lambda text, failed: said.append((text, failed)))
    assert [failed for _, failed in said] == [False]
    assert hub.accounts == {"fresh": "a", "taken": "b"}
    assert service(a).conflicts == {"taken": "b"}
    assert sasl_plain(a, "one", "fresh") == ["AUTHENTICATE", "900", "903"]
    assert sasl_plain(a, "two", "taken") == ["AUTHENTICATE", "904"]


def test_until_its_names_are_claimed_a_node_refuses_logins_to_them() -> None:
    """A node that has asked for its claims and not heard back (Redis is slow) may not
    let anyone in yet: its accounts' names may be another node's."""
    hub = LocalHub()
    waiting: list[Any] = []

    class Slow(LocalBus):
        def sync_accounts(self, names: list[str], done: Any) -> None:
            waiting.append(lambda: LocalBus.sync_accounts(self, names, done))

    a, _ = own_node(hub, "a", "carol", bus=Slow(hub, "a"))
    accounts = service(a)
    ready: list[bool] = []
    accounts.when_claimed(lambda: ready.append(True))
    assert not ready
    assert sasl_plain(a, "one", "carol") == ["AUTHENTICATE", "904"]
    waiting.pop()()
    assert ready == [True]
    assert sasl_plain(a, "two", "carol") == ["AUTHENTICATE", "900", "903"]


def test_nodes_sharing_a_database_claim_nothing() -> None:
    """With one database for every node its own key decides: no claims (and no refusals)."""

    hub = LocalHub()
    server = make_server()
    storage = SqliteStorage(":memory:")
    storage.shared = True
    storage.open()
    attach(server, AccountService(storage))
    add_account(server, "alice", PASSWORD)
    hub.join(server.join_cluster(hub.bus("a"), "a"))
    assert service(server).claims is None
    alice = Client(server).register("bob")
    assert register(alice)[:2] == ("REGISTER", "SUCCESS")
    assert hub.accounts == {}
    assert sasl_plain(server, "one", "alice") == ["AUTHENTICATE", "900", "903"]
