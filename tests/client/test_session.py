"""ClientSession line by line: registration, CAP, SASL, nick fallback, PING, batches, CTCP."""

from __future__ import annotations

import base64

from hubbub.client import events as ev
from hubbub.client.sasl import MAX_CHALLENGE, ScramSha256
from hubbub.client.session import (
    CTCP_BURST,
    CTCP_EVERY,
    CTCP_PING_ECHO,
    ClientConfig,
    ClientSession,
    SaslConfig,
)
from hubbub.protocol import parse
from hubbub.protocol.sasl import CHUNK


def lines(session: ClientSession) -> list[str]:
    return [m.serialize() for m in session.outgoing()]


def feed(session: ClientSession, *text: str) -> list[ev.Event]:
    out: list[ev.Event] = []
    for line in text:
        out += session.receive(parse(line))
    return out


def test_registration_without_cap_support() -> None:
    s = ClientSession(ClientConfig("ann", realname="Ann A", channels=("#a", "#b key")))
    s.start()
    assert lines(s) == ["CAP LS 302", "NICK ann", "USER ann 0 * :Ann A"]
    events = feed(s, ":srv 421 ann CAP :Unknown command", ":srv 001 ann :Welcome")
    assert any(isinstance(e, ev.Registered) for e in events)
    assert lines(s) == ["JOIN #a", "JOIN #b key"]


def test_password_is_sent_first() -> None:
    s = ClientSession(ClientConfig("ann", password="pw"))
    s.start()
    assert lines(s)[1] == "PASS pw"


def test_cap_negotiation_requests_what_is_offered_and_handled() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    s.outgoing()
    assert feed(s, ":srv CAP * LS * :multi-prefix sasl=PLAIN unknown-cap") == []
    assert lines(s) == []  # waits for the last LS line
    feed(s, ":srv CAP * LS :server-time echo-message draft/chathistory")
    assert lines(s) == ["CAP REQ :draft/chathistory echo-message multi-prefix server-time"]
    events = feed(s, ":srv CAP ann ACK :draft/chathistory echo-message multi-prefix server-time")
    assert lines(s) == ["CAP END"]
    assert events == [
        ev.CapsNegotiated(
            frozenset({"draft/chathistory", "echo-message", "multi-prefix", "server-time"})
        )
    ]
    assert s.state.available_caps["sasl"] == "PLAIN"


def test_cap_nak_still_ends_negotiation() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    s.outgoing()
    feed(s, ":srv CAP * LS :multi-prefix")
    s.outgoing()
    feed(s, ":srv CAP * NAK :multi-prefix")
    assert lines(s) == ["CAP END"]
    assert s.state.caps == set()


def test_cap_ls_with_nothing_wanted_ends_at_once() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    s.outgoing()
    feed(s, ":srv CAP * LS :foo bar")
    assert lines(s) == ["CAP END"]


def test_cap_new_and_del_after_registration() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    feed(s, ":srv CAP * LS :", ":srv 001 ann :hi")
    s.outgoing()
    feed(s, ":srv CAP ann NEW :away-notify sasl")
    assert lines(s) == ["CAP REQ away-notify"]
    feed(s, ":srv CAP ann ACK away-notify")
    assert lines(s) == []
    assert "away-notify" in s.state.caps
    feed(s, ":srv CAP ann DEL away-notify")
    assert "away-notify" not in s.state.caps


def test_sasl_plain() -> None:
    s = ClientSession(ClientConfig("ann", sasl=SaslConfig("ann", "secret")))
    s.start()
    s.outgoing()
    feed(s, ":srv CAP * LS :sasl=PLAIN,EXTERNAL")
    assert lines(s) == ["CAP REQ sasl"]
    feed(s, ":srv CAP ann ACK sasl")
    assert lines(s) == ["AUTHENTICATE PLAIN"]
    feed(s, "AUTHENTICATE +")
    assert lines(s) == ["AUTHENTICATE " + base64.b64encode(b"\0ann\0secret").decode()]
    events = feed(
        s,
        ":srv 900 ann ann!a@h annacct :You are now logged in as annacct",
        ":srv 903 ann :SASL authentication successful",
    )
    assert [e.account for e in events if isinstance(e, ev.SaslSucceeded)] == ["annacct"]
    assert lines(s) == ["CAP END"]
    assert s.state.account == "annacct"


def test_sasl_scram_against_rfc7677_server() -> None:
    s = ClientSession(ClientConfig("user", sasl=SaslConfig("user", "pencil")))
    s.start()
    s.outgoing()
    feed(s, ":srv CAP * LS :sasl=SCRAM-SHA-256,PLAIN", ":srv CAP user ACK :sasl")
    assert lines(s) == ["CAP REQ sasl", "AUTHENTICATE SCRAM-SHA-256"]
    # Swap in a mechanism with RFC 7677's client nonce so the server's answers are known.
    s._sasl = ScramSha256("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    feed(s, "AUTHENTICATE +")
    (first,) = lines(s)
    assert base64.b64decode(first.split()[1]) == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    feed(s, "AUTHENTICATE " + base64.b64encode(server_first).decode())
    (final,) = lines(s)
    assert base64.b64decode(final.split()[1]).endswith(
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    feed(s, "AUTHENTICATE " + base64.b64encode(server_final).decode())
    assert lines(s) == ["AUTHENTICATE +"]
    events = feed(s, ":srv 903 user :SASL authentication successful")
    assert any(isinstance(e, ev.SaslSucceeded) for e in events)
    assert lines(s) == ["CAP END"]


def test_sasl_falls_back_to_next_mechanism_then_fails() -> None:
    s = ClientSession(ClientConfig("ann", sasl=SaslConfig("ann", "bad")))
    s.start()
    s.outgoing()
    feed(s, ":srv CAP * LS :sasl", ":srv CAP ann ACK :sasl")
    assert lines(s) == ["CAP REQ sasl", "AUTHENTICATE SCRAM-SHA-256"]
    feed(s, ":srv 908 ann PLAIN :are available SASL mechanisms", ":srv 904 ann :SASL failed")
    assert lines(s) == ["AUTHENTICATE PLAIN"]
    feed(s, "AUTHENTICATE +")
    s.outgoing()
    events = feed(s, ":srv 904 ann :SASL authentication failed")
    assert [type(e) for e in events] == [ev.SaslFailed, ev.CapsNegotiated]
    assert lines(s) == ["CAP END"]


def test_sasl_required_quits_on_failure() -> None:
    s = ClientSession(ClientConfig("ann", sasl=SaslConfig("ann", "pw", "PLAIN", required=True)))
    s.start()
    s.outgoing()
    feed(s, ":srv CAP * LS :sasl=SCRAM-SHA-256", ":srv CAP ann ACK :sasl")
    assert lines(s) == ["CAP REQ sasl", "QUIT :SASL authentication failed"]
    assert s.error is not None
    assert "no SASL mechanism" in s.error


def test_sasl_required_quits_when_the_server_does_not_offer_it() -> None:
    required = SaslConfig("ann", "pw", required=True)
    s = ClientSession(ClientConfig("ann", sasl=required))
    s.start()
    s.outgoing()
    assert feed(s, ":srv CAP * LS :multi-prefix") == []
    assert lines(s) == ["CAP REQ multi-prefix"]
    events = feed(s, ":srv CAP ann ACK :multi-prefix")
    assert [type(e) for e in events] == [ev.SaslFailed]
    assert lines(s) == ["QUIT :SASL authentication failed"]
    assert s.error == "SASL authentication failed: the server does not offer SASL"
    # A server that never answers CAP welcomes us at once: not registered, quitting.
    s = ClientSession(ClientConfig("ann", sasl=required))
    s.start()
    s.outgoing()
    events = feed(s, ":srv 001 ann :Welcome")
    assert [type(e) for e in events] == [ev.SaslFailed]
    assert not s.state.registered
    assert lines(s) == ["QUIT :SASL authentication failed"]
    # Not required: the client goes on without an account, as before.
    s = ClientSession(ClientConfig("ann", sasl=SaslConfig("ann", "pw")))
    s.start()
    s.outgoing()
    feed(s, ":srv CAP * LS :multi-prefix", ":srv CAP ann ACK :multi-prefix")
    assert lines(s) == ["CAP REQ multi-prefix", "CAP END"]


def test_sasl_bad_server_signature_aborts() -> None:
    s = ClientSession(ClientConfig("user", sasl=SaslConfig("user", "pencil", "SCRAM-SHA-256")))
    s.start()
    feed(s, ":srv CAP * LS :sasl", ":srv CAP user ACK :sasl", "AUTHENTICATE +")
    s.outgoing()
    events = feed(s, "AUTHENTICATE " + base64.b64encode(b"nonsense").decode())
    assert [type(e) for e in events] == [ev.SaslFailed]
    assert lines(s) == ["AUTHENTICATE *"]
    events = feed(s, ":srv 906 user :SASL authentication aborted")
    assert lines(s) == ["CAP END"]


def test_sasl_endless_challenge_chunks_fail_the_exchange() -> None:
    """A server that sends 400-byte AUTHENTICATE chunks without end: the client gives up once
    the challenge passes MAX_CHALLENGE, instead of buffering it all."""
    s = ClientSession(ClientConfig("user", sasl=SaslConfig("user", "pencil", "SCRAM-SHA-256")))
    s.start()
    feed(s, ":srv CAP * LS :sasl", ":srv CAP user ACK :sasl", "AUTHENTICATE +")
    s.outgoing()
    events: list[ev.Event] = []
    for _ in range(MAX_CHALLENGE // CHUNK + 1):
        events += feed(s, "AUTHENTICATE " + "A" * CHUNK)
    assert [type(e) for e in events] == [ev.SaslFailed]
    assert lines(s) == ["AUTHENTICATE *"]


def test_nick_in_use_during_registration_moves_on() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    s.outgoing()
    (event,) = feed(s, ":srv 433 * ann :Nickname is already in use")
    assert event == ev.NickInUse("ann", "ann_", True, message=event.message)
    assert lines(s) == ["NICK ann_"]
    feed(s, ":srv 433 * ann_ :Nickname is already in use")
    assert lines(s) == ["NICK ann__"]
    feed(s, ":srv 001 ann__ :Welcome")
    assert s.state.nick == "ann__"


def test_nick_in_use_after_registration_only_suggests() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    feed(s, ":srv 001 ann :Welcome")
    s.outgoing()
    events = feed(s, ":srv 433 ann bob :Nickname is already in use")
    assert isinstance(events[0], ev.NickInUse)
    assert (events[0].alternative, events[0].during_registration) == ("bob_", False)
    assert lines(s) == []


def test_erroneous_nick_during_registration_picks_a_valid_one() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    s.outgoing()
    (event,) = feed(s, ":srv 432 * 9ann :Erroneous nickname")
    (line,) = lines(s)
    assert line.startswith("NICK hubbub")
    # Said as what it is (it was a NickInUse: "nick 9ann is in use").
    assert event == ev.ErroneousNick(
        "9ann", line.split()[1], "Erroneous nickname", message=event.message
    )


def test_erroneous_nick_after_registration_keeps_the_nick() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.start()
    feed(s, ":srv 001 ann :Welcome")
    s.outgoing()
    (event,) = feed(s, ":srv 432 ann 9ann :Erroneous nickname")
    assert isinstance(event, ev.Numeric)
    assert event.is_error
    assert s.state.nick == "ann"
    assert lines(s) == []


def test_ping_is_answered_and_pong_reported() -> None:
    s = ClientSession(ClientConfig("ann"))
    assert feed(s, "PING :abc") == []
    assert lines(s) == ["PONG abc"]
    (pong,) = feed(s, ":srv PONG srv :tok")
    assert isinstance(pong, ev.Pong)
    assert pong.token == "tok"


def test_error_is_remembered() -> None:
    s = ClientSession(ClientConfig("ann"))
    (err,) = feed(s, "ERROR :Closing link (bad password)")
    assert isinstance(err, ev.ServerError)
    assert s.error == "Closing link (bad password)"


def test_ctcp_version_and_ping_are_answered() -> None:
    s = ClientSession(ClientConfig("ann", version="hubbub test"))
    feed(s, ":srv 001 ann :hi")
    s.outgoing()
    feed(s, ":bob!b@h PRIVMSG ann :\x01VERSION\x01", ":bob!b@h PRIVMSG ann :\x01PING 123\x01")
    assert lines(s) == ["NOTICE bob :\x01VERSION hubbub test\x01", "NOTICE bob :\x01PING 123\x01"]
    feed(s, ":bob!b@h PRIVMSG ann :\x01DCC SEND x\x01")
    assert lines(s) == []


def test_ctcp_answers_are_paced_so_a_flood_of_them_cannot_get_us_killed() -> None:
    """Three at once, then one per CTCP_EVERY seconds; the rest unanswered (a web client
    that answered each was disconnected for Excess Flood); a PING's echo is cut."""
    now = [100.0]
    s = ClientSession(ClientConfig("ann", version="v"))
    s.clock = lambda: now[0]
    feed(s, ":srv 001 ann :hi")
    s.outgoing()
    feed(s, *[f":bob!b@h PRIVMSG #c :\x01PING {'x' * 300}\x01"] * 10)
    answered = lines(s)
    assert len(answered) == CTCP_BURST
    assert answered[0] == f"NOTICE bob :\x01PING {'x' * CTCP_PING_ECHO}\x01"
    now[0] += CTCP_EVERY
    feed(s, *[":bob!b@h PRIVMSG ann :\x01VERSION\x01"] * 3)
    assert lines(s) == ["NOTICE bob :\x01VERSION v\x01"]


def test_chathistory_batch_becomes_one_history_event() -> None:
    s = ClientSession(ClientConfig("ann"))
    feed(s, ":srv 001 ann :hi", ":ann!a@h JOIN #c")
    events = feed(
        s,
        ":srv BATCH +h1 chathistory #c",
        "@batch=h1;time=2024-01-01T00:00:00Z :bob!b@h PRIVMSG #c :one",
        "@batch=h1;time=2024-01-01T00:00:01Z :ann!a@h PRIVMSG #c :two",
        ":srv BATCH -h1",
    )
    (history,) = events
    assert isinstance(history, ev.History)
    assert history.target == "#c"
    assert [(m.source, m.text, m.from_self) for m in history.messages] == [
        ("bob", "one", False),
        ("ann", "two", True),
    ]


def test_other_batches_pass_through() -> None:
    s = ClientSession(ClientConfig("ann"))
    feed(s, ":srv 001 ann :hi", ":ann!a@h JOIN #c", ":bob!b@h JOIN #c")
    events = feed(s, ":srv BATCH +n netsplit a b", "@batch=n :bob!b@h QUIT :a b", ":srv BATCH -n")
    assert [type(e) for e in events] == [ev.Quit]


def test_history_request_needs_the_capability() -> None:
    s = ClientSession(ClientConfig("ann"))
    assert s.history_request("#c") is None
    s.state.caps.add("draft/chathistory")
    s.state.isupport["CHATHISTORY"] = "20"
    request = s.history_request("#c", 50)
    assert request is not None
    assert request.serialize() == "CHATHISTORY LATEST #c * 20"


def test_send_message_echoes_locally_without_echo_message() -> None:
    s = ClientSession(ClientConfig("ann"))
    feed(s, ":srv 001 ann :hi")
    s.outgoing()
    (echo,) = s.send_message("bob", "hello")
    assert isinstance(echo, ev.ChatMessage)
    assert (echo.from_self, echo.conversation, echo.text) == (True, "bob", "hello")
    assert lines(s) == ["PRIVMSG bob :hello"]
    s.state.caps.add("echo-message")
    assert s.send_message("#c", "waves", action=True) == []
    assert lines(s) == ["PRIVMSG #c :\x01ACTION waves\x01"]


def test_send_message_splits_long_text() -> None:
    s = ClientSession(ClientConfig("ann"))
    s.send_message("#c", "word " * 200)
    out = s.outgoing()
    assert len(out) == 3
    assert all(
        len(m.to_bytes()) + len(":ann!" + "u" * 10 + "@" + "h" * 63 + " ") <= 512 for m in out
    )
