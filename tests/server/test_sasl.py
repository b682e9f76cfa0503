"""SASL on the server: the pure mechanisms (RFC 7677's test vector), the AUTHENTICATE framing,
and AUTHENTICATE driven line by line through the core."""

from __future__ import annotations

import base64

import pytest

from hubbub.protocol.message import Message
from hubbub.protocol.sasl import CHUNK, ChunkTooLong, PayloadError, PayloadTooLarge, chunk
from hubbub.server.accounts import MAX_LOGIN_FAILURES, AuthState
from hubbub.server.sasl import (
    MAX_PAYLOAD,
    Challenge,
    CheckPassword,
    Failure,
    PlainMechanism,
    ScramSha256Mechanism,
    Success,
    make_scram_credentials,
)
from hubbub.storage import ScramCredentials
from tests.cloaks import HOST
from tests.rfc7677 import (
    CLIENT_FINAL,
    CLIENT_FIRST,
    SALT,
    SERVER_FINAL,
    SERVER_FIRST,
    SERVER_NONCE,
)
from tests.server.accounthelpers import add_account, defer, server_with_accounts
from tests.server.harness import Client
from tests.server.saslclient import ScramClient, b64, plain

PENCIL = make_scram_credentials("pencil", 4096, SALT)


def vector_mechanism(credentials: ScramCredentials | None = PENCIL) -> ScramSha256Mechanism:
    users = {"user": credentials} if credentials is not None else {}
    return ScramSha256Mechanism(users.get, nonce=SERVER_NONCE)


# -- SCRAM-SHA-256 ---------------------------------------------------------------------------


def test_scram_server_matches_rfc7677_vector() -> None:
    mech = vector_mechanism()
    assert mech.step(CLIENT_FIRST) == Challenge(SERVER_FIRST)
    assert mech.step(CLIENT_FINAL) == Challenge(SERVER_FINAL)
    assert mech.step(b"") == Success("user")
    assert isinstance(mech.step(b""), Failure)  # nothing after the end


def test_scram_wrong_password_fails_at_the_proof() -> None:
    mech = vector_mechanism()
    client = ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert mech.step(client.first()) == Challenge(SERVER_FIRST)
    assert isinstance(mech.step(client.final(SERVER_FIRST, password="crayon")), Failure)


def test_scram_unknown_user_looks_like_a_known_one_until_the_end() -> None:
    first = vector_mechanism(None).step(b"n,,n=ghost,r=abc")
    again = vector_mechanism(None).step(b"n,,n=ghost,r=abc")
    assert isinstance(first, Challenge)
    assert first == again  # a stable salt: nothing tells the account does not exist
    assert b",i=4096" in first.data
    mech = vector_mechanism(None)
    client = ScramClient("ghost", "whatever", nonce="abc")
    challenge = mech.step(client.first())
    assert isinstance(challenge, Challenge)
    assert isinstance(mech.step(client.final(challenge.data)), Failure)


def test_scram_round_trip_with_the_test_client() -> None:
    credentials = make_scram_credentials("s3cret pass")
    mech = ScramSha256Mechanism({"a,b=c": credentials}.get)
    client = ScramClient("a,b=c", "s3cret pass")
    challenge = mech.step(client.first())
    assert isinstance(challenge, Challenge)
    final = mech.step(client.final(challenge.data))
    assert isinstance(final, Challenge)
    assert client.check(final.data)
    assert mech.step(b"") == Success("a,b=c")


def test_scram_accepts_y_flag_and_matching_authzid() -> None:
    mech = ScramSha256Mechanism({"user": PENCIL}.get, nonce=SERVER_NONCE)
    client = ScramClient("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO", gs2="y,a=user,")
    challenge = mech.step(client.first())
    assert challenge == Challenge(SERVER_FIRST)
    final = mech.step(client.final(SERVER_FIRST))
    assert isinstance(final, Challenge)
    assert client.check(final.data)
    assert mech.step(b"") == Success("user")


@pytest.mark.parametrize(
    "client_first",
    [
        b"",
        b"\xff\xfe",
        b"p=tls-unique,,n=user,r=abc",  # channel binding is not offered
        b"x,,n=user,r=abc",
        b"n,,m=ext,n=user,r=abc",  # mandatory extension
        b"n,,n=user",
        b"n,,r=abc,n=user",
        b"n,,n=us=er,r=abc",  # bad escape
        b"n,,n=,r=abc",
        b"n,,n=user,r=",
        b"n,a=other,n=user,r=abc",  # authorization identity differs
        b"n,z=user,n=user,r=abc",
    ],
)
def test_scram_rejects_bad_client_first(client_first: bytes) -> None:
    assert isinstance(vector_mechanism().step(client_first), Failure)


@pytest.mark.parametrize(
    "client_final",
    [
        b"c=biws,r=rOprNGfwEbeRWgbNEkqOwrong,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        b"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",  # binding is not our header
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=!!!",
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,p=AAAA",
        b"garbage",
    ],
)
def test_scram_rejects_bad_client_final(client_final: bytes) -> None:
    mech = vector_mechanism()
    mech.step(CLIENT_FIRST)
    assert isinstance(mech.step(client_final), Failure)


def test_scram_refuses_data_after_the_server_final() -> None:
    mech = vector_mechanism()
    mech.step(CLIENT_FIRST)
    mech.step(CLIENT_FINAL)
    assert isinstance(mech.step(b"extra"), Failure)


def test_scram_credentials_are_salted_afresh() -> None:
    one, two = make_scram_credentials("same"), make_scram_credentials("same")
    assert one.salt != two.salt
    assert one.stored_key != two.stored_key
    assert one.iterations >= 4096


# -- PLAIN -----------------------------------------------------------------------------------


def test_plain_asks_for_a_password_check() -> None:
    assert PlainMechanism().step(b"\0alice\0pw") == CheckPassword("alice", "pw")
    assert PlainMechanism().step(b"alice\0alice\0pw") == CheckPassword("alice", "pw")


@pytest.mark.parametrize(
    "response",
    [b"", b"alice\0pw", b"\0\0pw", b"\0alice\0", b"bob\0alice\0pw", b"\0a\0b\0c", b"\xff"],
)
def test_plain_rejects_malformed_responses(response: bytes) -> None:
    assert isinstance(PlainMechanism().step(response), Failure)


def test_plain_is_one_step() -> None:
    mech = PlainMechanism()
    mech.step(b"\0alice\0pw")
    assert isinstance(mech.step(b"\0alice\0pw"), Failure)


# -- framing ---------------------------------------------------------------------------------


def test_payload_limits() -> None:
    reader = AuthState().reader
    assert reader.max_size == MAX_PAYLOAD
    with pytest.raises(ChunkTooLong):
        reader.feed("A" * (CHUNK + 1))
    with pytest.raises(PayloadTooLarge):  # noqa: PT012 - the limit is reached over many lines
        for _ in range(MAX_PAYLOAD // CHUNK + 1):
            reader.feed("A" * CHUNK)
    assert not issubclass(PayloadTooLarge, ChunkTooLong)  # 904, not 905
    with pytest.raises(PayloadError):
        reader.feed("not base64!")


# -- AUTHENTICATE through the core ---------------------------------------------------------


def start(client: Client, nick: str = "alice", caps: str = "sasl") -> None:
    client.send("CAP LS 302", f"CAP REQ :{caps}", f"NICK {nick}", "USER u 0 * :Real Name")
    client.lines()


def negotiating(account: str | None = None, password: str = "correct-horse") -> Client:
    """A client in CAP negotiation with ``sasl`` on a server with accounts (and, when
    ``account`` is given, an account of that name with ``password``)."""
    server = server_with_accounts()
    if account is not None:
        add_account(server, account, password)
    client = Client(server)
    start(client)
    return client


def auth_lines(client: Client) -> list[Message]:
    return [m for m in client.messages() if m.command != "CAP"]


def test_cap_ls_offers_sasl_and_the_account_caps() -> None:
    server = server_with_accounts()
    client = Client(server)
    client.send("CAP LS 302")
    text = " ".join(m.params[-1] for m in client.messages())
    assert "sasl=PLAIN,SCRAM-SHA-256" in text.split()
    assert "account-notify" in text.split()
    assert "account-tag" in text.split()
    assert "draft/account-registration=before-connect,custom-account-name" in text.split()


def test_sasl_plain_before_registration() -> None:
    client = negotiating("Alice")
    client.send("AUTHENTICATE PLAIN")
    assert [(m.command, m.params) for m in client.messages()] == [("AUTHENTICATE", ("+",))]
    client.send(f"AUTHENTICATE {b64(plain('alice', 'correct-horse'))}")
    replies = client.messages()
    assert [m.command for m in replies] == ["900", "903"]
    assert replies[0].params == (
        "alice",
        f"alice!~u@{HOST}",
        "Alice",
        "You are now logged in as Alice",
    )
    assert client.session.user.account == "Alice"
    client.send("CAP END")
    assert "001" in client.commands()


def test_mechanism_names_are_case_insensitive() -> None:
    client = negotiating()
    client.send("AUTHENTICATE plain")
    msgs = client.messages()
    assert [(m.command, m.params) for m in msgs] == [("AUTHENTICATE", ("+",))]


def test_sasl_plain_wrong_password() -> None:
    client = negotiating("alice")
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', 'wrong'))}")
    assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE", "904"]
    assert client.session.user.account is None
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('nobody', 'x'))}")
    assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE", "904"]
    client.send("CAP END")
    assert "001" in client.commands()


def test_sasl_scram_before_registration() -> None:
    client = negotiating("alice", "pencil sharpener")
    scram = ScramClient("alice", "pencil sharpener")
    client.send("AUTHENTICATE SCRAM-SHA-256")
    assert auth_lines(client)[0].params == ("+",)
    client.send(f"AUTHENTICATE {b64(scram.first())}")
    server_first = base64.b64decode(auth_lines(client)[0].params[0])
    client.send(f"AUTHENTICATE {b64(scram.final(server_first))}")
    server_final = base64.b64decode(auth_lines(client)[0].params[0])
    assert scram.check(server_final)
    assert client.session.user.account is None  # not until the client accepts the signature
    client.send("AUTHENTICATE +")
    assert [m.command for m in auth_lines(client)] == ["900", "903"]
    assert client.session.user.account == "alice"


def test_sasl_scram_wrong_password() -> None:
    client = negotiating("alice", "pencil sharpener")
    scram = ScramClient("alice", "pencil sharpener")
    client.send("AUTHENTICATE SCRAM-SHA-256", f"AUTHENTICATE {b64(scram.first())}")
    server_first = base64.b64decode(auth_lines(client)[-1].params[0])
    client.send(f"AUTHENTICATE {b64(scram.final(server_first, password='crayon'))}")
    assert [m.command for m in auth_lines(client)] == ["904"]
    assert client.session.user.account is None


def test_unknown_mechanism_lists_ours() -> None:
    client = negotiating()
    client.send("AUTHENTICATE EXTERNAL")
    msgs = auth_lines(client)
    assert [m.command for m in msgs] == ["908", "904"]
    assert msgs[0].params[1:] == ("PLAIN,SCRAM-SHA-256", "are available SASL mechanisms")


def test_abort() -> None:
    client = negotiating()
    client.send("AUTHENTICATE PLAIN", "AUTHENTICATE *")
    assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE", "906"]
    client.send("AUTHENTICATE *")
    assert [m.command for m in auth_lines(client)] == ["906"]


def test_too_long_line_is_905() -> None:
    client = negotiating()
    client.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + "A" * 401)
    assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE", "905"]
    client.send("AUTHENTICATE PLAIN")  # a new exchange starts cleanly
    assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE"]


def test_too_long_response_of_valid_chunks_is_904() -> None:
    """IRCv3 SASL: 905 is for one AUTHENTICATE parameter over 400 bytes; a response of valid
    400-byte chunks that goes past the server's total is a failed authentication, 904."""
    client = negotiating()
    client.send("AUTHENTICATE PLAIN")
    client.lines()
    for _ in range(MAX_PAYLOAD // CHUNK):
        client.send("AUTHENTICATE " + "A" * CHUNK)
    assert auth_lines(client) == []  # still within the total: waiting for more
    client.send("AUTHENTICATE " + "A" * CHUNK)
    assert [m.command for m in auth_lines(client)] == ["904"]
    client.send("AUTHENTICATE PLAIN")  # the exchange is over; a new one starts cleanly
    assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE"]


def test_bad_base64_is_904() -> None:
    client = negotiating()
    client.send("AUTHENTICATE PLAIN", "AUTHENTICATE ***notbase64")
    assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE", "904"]


def test_400_byte_chunks_then_plus() -> None:
    server = server_with_accounts()
    password = "p" * (300 - len("\0alice\0"))
    add_account(server, "alice", password)
    client = Client(server)
    start(client)
    chunks = chunk(plain("alice", password))
    assert [len(c) for c in chunks] == [400, 1]
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {chunks[0]}")
    assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE"]  # still waiting
    client.send("AUTHENTICATE +")
    assert [m.command for m in auth_lines(client)] == ["900", "903"]


def test_authenticate_needs_the_sasl_cap() -> None:
    server = server_with_accounts()
    client = Client(server)
    start(client, caps="server-time")
    client.send("AUTHENTICATE PLAIN")
    assert [m.command for m in auth_lines(client)] == ["904"]


def test_authenticate_without_accounts_fails() -> None:
    from tests.server.harness import make_server

    client = Client(make_server())
    client.send("CAP REQ :sasl")
    assert client.messages()[0].params[1] == "NAK"
    client.send("AUTHENTICATE PLAIN")
    assert client.commands() == ["904"]


def test_second_login_before_registration_is_907() -> None:
    client = negotiating("alice")
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', 'correct-horse'))}")
    client.lines()
    client.send("AUTHENTICATE PLAIN")
    assert [m.command for m in auth_lines(client)] == ["907"]


def test_registration_waits_for_the_password_check() -> None:
    client = negotiating("alice")
    jobs = defer(client.server)
    client.send("AUTHENTICATE PLAIN")
    client.lines()
    client.send(f"AUTHENTICATE {b64(plain('alice', 'correct-horse'))}", "CAP END")
    assert client.lines() == []
    assert not client.session.registered
    assert jobs.run() == 1
    commands = client.commands()
    assert commands[:3] == ["900", "903", "001"]
    assert client.session.user.account == "alice"


def test_lines_after_the_credentials_wait_for_the_result() -> None:
    client = negotiating("alice")
    jobs = defer(client.server)
    client.send("AUTHENTICATE PLAIN")
    client.lines()
    client.send(f"AUTHENTICATE {b64(plain('alice', 'correct-horse'))}")
    client.send("AUTHENTICATE *", "PING after")
    assert client.lines() == []
    jobs.run()
    assert [(m.command, m.params[-1]) for m in client.messages()] == [
        ("900", "You are now logged in as alice"),
        ("903", "SASL authentication successful"),
        ("906", "SASL authentication aborted"),  # the abort came too late
        ("PONG", "after"),
    ]
    assert client.session.user.account == "alice"


def test_disconnect_while_checking() -> None:
    client = negotiating("alice")
    server = client.server
    jobs = defer(server)
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', 'correct-horse'))}")
    client.lines()
    server.quit(client.session, "Connection reset by peer")
    client.lines()
    jobs.run()
    assert client.lines() == []
    assert client.session.user.account is None


def test_labeled_authenticate_is_answered_once_with_its_label() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    jobs = defer(server)
    client = Client(server)
    start(client, caps="sasl labeled-response batch")
    client.send("AUTHENTICATE PLAIN")
    client.lines()
    client.send(f"@label=x1 AUTHENTICATE {b64(plain('alice', 'correct-horse'))}")
    assert client.lines() == []  # no empty ACK ahead of the real answer
    jobs.run()
    msgs = client.messages()
    assert msgs[0].command == "BATCH"
    assert msgs[0].tags.get("label") == "x1"
    assert [m.command for m in msgs[1:3]] == ["900", "903"]


def test_reauthentication_after_registration() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    add_account(server, "alt", "other password")
    alice = Client(server)
    start(alice, caps="sasl account-notify")
    alice.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', 'correct-horse'))}")
    alice.send("CAP END", "JOIN #room")
    bob = Client(server).register("bob", caps="account-notify")
    bob.send("JOIN #room")
    alice.lines()
    bob.lines()
    alice.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alt', 'other password'))}")
    # (and NickServ's notice: the nick alice is not alt's)
    commands = ["AUTHENTICATE", "900", "ACCOUNT", "903", "NOTICE"]
    assert [m.command for m in alice.messages()] == commands
    assert alice.session.user.account == "alt"
    [account] = bob.messages()
    assert (account.source, account.command, account.params) == (
        f"alice!~u@{HOST}",
        "ACCOUNT",
        ("alt",),
    )
    # A failed re-authentication leaves the login as it was.
    alice.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', 'nope'))}")
    assert [m.command for m in alice.messages()] == ["AUTHENTICATE", "904"]
    assert alice.session.user.account == "alt"
    assert bob.lines() == []


def test_cap_end_in_the_middle_of_an_exchange_aborts_it() -> None:
    """IRCv3 SASL 3.1: registration completing mid-exchange aborts it with 906."""
    server = server_with_accounts()
    client = Client(server)
    client.send("CAP LS 302", "CAP REQ :sasl", "NICK mid", "USER u 0 * :R")
    client.messages()
    client.send("AUTHENTICATE PLAIN")
    assert [m.command for m in client.messages()] == ["AUTHENTICATE"]
    client.send("CAP END")
    got = [m.command for m in client.messages()]
    assert got[0] == "906"
    assert "001" in got


# -- too many refused logins -----------------------------------------------------------------


def test_a_connection_is_dropped_after_too_many_refused_logins() -> None:
    client = negotiating("alice")
    for _ in range(MAX_LOGIN_FAILURES - 1):
        client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', 'guess'))}")
        assert [m.command for m in auth_lines(client)] == ["AUTHENTICATE", "904"]
        assert not client.closed
    # SCRAM proofs count too: the last guess allowed
    scram = ScramClient("alice", "another guess")
    client.send("AUTHENTICATE SCRAM-SHA-256", f"AUTHENTICATE {b64(scram.first())}")
    server_first = base64.b64decode(auth_lines(client)[-1].params[0])
    client.send(f"AUTHENTICATE {b64(scram.final(server_first))}")
    got = client.messages()
    assert [m.command for m in got] == ["904", "ERROR"]
    assert "Too many failed login attempts" in got[1].params[0]
    assert client.closed


def test_a_good_login_after_some_refused_ones_is_fine() -> None:
    client = negotiating("alice")
    for _ in range(MAX_LOGIN_FAILURES - 1):
        client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', 'guess'))}")
    client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {b64(plain('alice', 'correct-horse'))}")
    assert [m.command for m in auth_lines(client)][-2:] == ["900", "903"]
    assert not client.closed
    # aborted exchanges and unknown mechanisms are not guesses
    for _ in range(MAX_LOGIN_FAILURES):
        client.send("AUTHENTICATE EXTERNAL", "AUTHENTICATE PLAIN", "AUTHENTICATE *")
    assert not client.closed


def test_identify_guesses_count_too() -> None:
    server = server_with_accounts()
    add_account(server, "alice")
    client = Client(server).register("bob")
    for _ in range(MAX_LOGIN_FAILURES - 1):
        client.send("PRIVMSG NickServ :IDENTIFY alice guess")
    assert not client.closed
    client.send("PRIVMSG NickServ :IDENTIFY alice guess")
    got = client.messages()
    assert got[-1].command == "ERROR"
    assert "Too many failed login attempts" in got[-1].params[0]
    assert client.closed
