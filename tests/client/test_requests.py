"""Requests and their answers, line by line (no I/O): labels, batches, the unlabeled
fallback, abandoned requests; the history values; MARKREAD and REDACT in the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hubbub.client import events as ev
from hubbub.client.errors import Unsupported
from hubbub.client.history import (
    HistoryMessage,
    format_time,
    history_message,
    history_messages,
    history_targets,
    ref_param,
    ref_types,
    search_param,
)
from hubbub.client.requests import MAX_ABANDONED, Expect
from hubbub.client.session import ClientConfig, ClientSession
from hubbub.protocol import Message, parse
from tests.client.test_session import feed, lines

ALL = "batch labeled-response draft/chathistory draft/read-marker draft/message-redaction"


def session(caps: str = ALL) -> ClientSession:
    """A registered session of ann in #c, with these capabilities."""
    s = ClientSession(ClientConfig("ann"))
    s.state.caps.update(caps.split())
    feed(s, ":srv 001 ann :hi", ":ann!a@h JOIN #c")
    s.outgoing()
    return s


def history_request(s: ClientSession, target: str = "#c") -> int:
    message, expect = s.history_query("LATEST", target, (None,), 10)
    return s.request(message, expect)


def answers(events: list[ev.Event]) -> list[ev.Answer]:
    return [e for e in events if isinstance(e, ev.Answer)]


# -- labeled ---------------------------------------------------------------------------------


def test_a_labeled_batch_is_the_answer_and_not_live() -> None:
    s = session()
    request = history_request(s)
    assert lines(s) == ["@label=hb1 CHATHISTORY LATEST #c * 10"]
    events = feed(
        s,
        "@label=hb1 :srv BATCH +x chathistory #c",
        "@batch=x;msgid=1;time=2024-01-01T00:00:00.000Z :bob!b@h PRIVMSG #c :old",
        "@batch=x;msgid=2 :bob!b@h JOIN #c",  # (event-playback: not applied)
    )
    assert events == []
    assert "bob" not in s.state.users
    (answer,) = feed(s, ":srv BATCH -x")
    assert isinstance(answer, ev.Answer)
    assert answer.request == request
    assert [m.command for m in answer.lines] == ["PRIVMSG", "JOIN"]
    assert answer.batch("chathistory") == ev.AnswerBatch("chathistory", ("#c",), answer.lines)
    assert answer.failure is None
    assert s.waiting == 0
    assert s.state.members("#c")[0].nick == "ann"
    assert len(s.state.members("#c")) == 1


def test_a_labeled_line_is_both_applied_and_the_answer() -> None:
    s = session()
    message, expect = s.markread_query("#C", None)
    request = s.request(message, expect)
    assert lines(s) == ["@label=hb1 MARKREAD #C"]
    marker, answer = feed(s, "@label=hb1 :srv MARKREAD #c timestamp=2024-01-01T00:00:00.000Z")
    assert isinstance(marker, ev.ReadMarker)
    assert marker.time == datetime(2024, 1, 1, tzinfo=UTC)
    assert isinstance(answer, ev.Answer)
    assert answer.request == request


def test_an_ack_is_an_empty_answer_and_a_fail_is_not_an_event() -> None:
    s = session()
    first = s.request(Message("REDACT", ("#c", "m1")))
    second = s.request(Message("REDACT", ("#c", "m2")))
    (ack,) = feed(s, "@label=hb1 :srv ACK")
    assert isinstance(ack, ev.Answer)
    assert (ack.request, ack.lines) == (first, (parse("@label=hb1 :srv ACK"),))
    (fail,) = feed(s, "@label=hb2 :srv FAIL REDACT UNKNOWN_MSGID #c m2 :No such message")
    assert isinstance(fail, ev.Answer)
    assert fail.request == second
    assert fail.failure is not None
    assert fail.failure.params[1] == "UNKNOWN_MSGID"


def test_a_labeled_response_batch_holds_lines_and_batches() -> None:
    s = session()
    request = s.request(Message("WHATEVER"))
    events = feed(
        s,
        "@label=hb1 :srv BATCH +outer labeled-response",
        "@batch=outer :srv NOTICE ann :first",  # not history: reported as usual too
        "@batch=outer :srv BATCH +inner soju.im/search",
        "@batch=inner;msgid=9 :bob!b@h PRIVMSG #c :found",
        "@batch=outer :srv BATCH -inner",
        "@batch=outer :srv FAIL WHATEVER PARTIAL :only some",
        ":srv BATCH -outer",
    )
    notice, answer = events
    assert isinstance(notice, ev.ChatMessage)
    assert notice.text == "first"
    assert isinstance(answer, ev.Answer)
    assert answer.request == request
    assert [b.type for b in answer.batches] == ["labeled-response", "soju.im/search"]
    search = answer.batch("soju.im/search")
    assert search is not None
    assert [m.params[-1] for m in search.lines] == ["found"]
    assert [m.command for m in answer.lines] == ["NOTICE", "PRIVMSG", "FAIL"]
    assert answer.failure is not None


def test_labels_are_used_only_with_labeled_response_and_batch() -> None:
    s = session("labeled-response draft/read-marker")
    assert not s.labels
    message, expect = s.markread_query("#c", None)
    s.request(message, expect)
    assert lines(s) == ["MARKREAD #c"]
    with pytest.raises(Unsupported, match="labeled-response"):
        s.request(Message("WHOIS", ("bob",)))


def test_an_abandoned_request_drops_its_late_answer() -> None:
    s = session()
    request = history_request(s)
    s.cancel(request)
    assert s.waiting == 0
    events = feed(
        s,
        "@label=hb1 :srv BATCH +x chathistory #c",
        "@batch=x :bob!b@h PRIVMSG #c :late",
        ":srv BATCH -x",
    )
    assert events == []


def test_an_answer_abandoned_halfway_is_dropped_to_its_end() -> None:
    s = session("batch draft/chathistory")
    request = history_request(s)
    feed(s, ":srv BATCH +x chathistory #c", "@batch=x :bob!b@h PRIVMSG #c :early")
    s.cancel(request)
    assert feed(s, "@batch=x :bob!b@h PRIVMSG #c :late", ":srv BATCH -x") == []


def test_only_so_many_abandoned_labels_are_kept() -> None:
    s = session()
    for _ in range(MAX_ABANDONED + 5):
        s.cancel(history_request(s))
    assert len(s._requests._labels) == MAX_ABANDONED
    # the oldest are forgotten: their answer is unasked for, but history is still not live
    events = feed(
        s,
        "@label=hb1 :srv BATCH +x chathistory #c",
        "@batch=x :bob!b@h PRIVMSG #c :late",
        ":srv BATCH -x",
    )
    assert [type(e) for e in events] == [ev.History]


# -- without labels --------------------------------------------------------------------------


def test_unlabeled_answers_go_to_the_oldest_request_that_fits() -> None:
    s = session("batch draft/chathistory")
    first = history_request(s, "#a")
    second = history_request(s, "#b")
    third = history_request(s, "#a")
    assert lines(s) == [
        "CHATHISTORY LATEST #a * 10",
        "CHATHISTORY LATEST #b * 10",
        "CHATHISTORY LATEST #a * 10",
    ]
    events = feed(
        s,
        ":srv BATCH +1 chathistory #A",  # (the canonical name: compared case-folded)
        "@batch=1 :bob!b@h PRIVMSG #a :a1",
        ":srv BATCH -1",
        ":srv FAIL CHATHISTORY INVALID_TARGET LATEST #b :Messages could not be retrieved",
        ":srv BATCH +2 chathistory #a",
        ":srv BATCH -2",
    )
    got = answers(events)
    assert [a.request for a in got] == [first, second, third]
    assert [len(a.lines) for a in got] == [1, 1, 0]
    assert got[1].failure is not None
    assert len(events) == 3  # the FAIL went to its request only


def test_an_unasked_history_batch_is_still_a_history_event() -> None:
    s = session("batch draft/chathistory")
    history_request(s, "#a")
    events = feed(
        s,
        ":srv BATCH +1 chathistory #c",
        "@batch=1 :bob!b@h PRIVMSG #c :hi",
        "@batch=1 :bob!b@h PART #c",  # (event-playback: not applied, not reported)
        ":srv BATCH -1",
    )
    (history,) = events
    assert isinstance(history, ev.History)
    assert [m.text for m in history.messages] == ["hi"]
    assert s.waiting == 1


def test_an_unasked_search_batch_is_not_live() -> None:
    s = session("batch")
    events = feed(
        s,
        ":srv BATCH +1 soju.im/search",
        "@batch=1 :bob!b@h PRIVMSG #c :found",
        ":srv BATCH -1",
    )
    assert events == []


def test_an_error_numeric_naming_the_command_answers_it() -> None:
    s = session("batch draft/chathistory")
    request = history_request(s)
    (other,) = feed(s, ":srv 401 ann CHATHISTORY? :No such nick")  # not ours
    assert isinstance(other, ev.Numeric)
    (answer,) = feed(s, ":srv 421 ann CHATHISTORY :Unknown command")
    assert isinstance(answer, ev.Answer)
    assert answer.request == request


def test_an_unlabeled_line_answer() -> None:
    s = session("batch draft/message-redaction echo-message")
    message, expect = s.redact_query("bob", "m1", "oops")
    assert expect is not None
    assert message.serialize() == "REDACT bob m1 oops"
    request = s.request(message, expect)
    assert feed(s, ":bob!b@h REDACT bob m1") != []  # someone else's: not the answer
    assert s.waiting == 1
    redact, answer = feed(s, ":ann!a@h REDACT bob m1 :oops")
    assert isinstance(redact, ev.Redact)
    assert (redact.conversation, redact.from_self) == ("bob", True)
    assert isinstance(answer, ev.Answer)
    assert answer.request == request


def test_redact_has_no_answer_without_echo_or_labels() -> None:
    s = session("batch draft/message-redaction")
    message, expect = s.redact_query("#c", "m1")
    assert expect is None
    assert message.serialize() == "REDACT #c m1"


def test_fetch_history_answered_with_a_fail_reports_the_fail() -> None:
    s = session()
    assert s.fetch_history("#c", 5)
    (other,) = feed(s, "@label=hb1 :srv FAIL CHATHISTORY MESSAGE_ERROR LATEST #c :Sorry")
    assert isinstance(other, ev.Other)


# -- queries ---------------------------------------------------------------------------------


def test_history_queries() -> None:
    s = session("batch draft/chathistory")
    s.state.isupport["CHATHISTORY"] = "30"
    when = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    message, expect = s.history_query("between", "bob", (when, "abc"), 100)
    assert message.serialize() == (
        "CHATHISTORY BETWEEN bob timestamp=2024-01-02T03:04:05.678Z msgid=abc 30"
    )
    assert expect == Expect("CHATHISTORY", ("chathistory", "draft/chathistory"), "bob")
    with pytest.raises(ValueError, match="subcommand"):
        s.history_query("TARGETS", "#c", (), 1)
    with pytest.raises(ValueError, match="reference is needed"):
        s.history_query("BEFORE", "#c", (None,), 1)
    with pytest.raises(ValueError, match="invalid target"):
        s.history_query("LATEST", ":x", (None,), 1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    message, expect = s.targets_query(start, start + timedelta(days=1), 5)
    assert message.serialize() == (
        "CHATHISTORY TARGETS timestamp=2024-01-01T00:00:00.000Z "
        "timestamp=2024-01-02T00:00:00.000Z 5"
    )


def test_history_needs_batch() -> None:
    s = session("draft/chathistory")
    with pytest.raises(Unsupported, match="batch"):
        s.history_query("LATEST", "#c", (None,), 1)


def test_references_follow_msgreftypes() -> None:
    msg = history_message(
        parse("@time=2024-01-01T00:00:01.000Z;msgid=abc :bob!b@h PRIVMSG #c :x"), session().state
    )
    assert ref_types({}) == ("msgid", "timestamp")
    assert ref_types({"MSGREFTYPES": "timestamp,msgid,future"}) == ("timestamp", "msgid")
    assert ref_param(msg) == "msgid=abc"
    assert ref_param(msg, ("timestamp", "msgid")) == "msgid=abc"  # exact beats preferred
    assert ref_param(msg, ("timestamp",)) == "timestamp=2024-01-01T00:00:01.000Z"
    with pytest.raises(ValueError, match="msgids"):
        ref_param("abc", ("timestamp",))
    with pytest.raises(ValueError, match="timestamps"):
        ref_param(datetime(2024, 1, 1, tzinfo=UTC), ("msgid",))
    with pytest.raises(ValueError, match="invalid msgid"):
        ref_param("a b")
    bare = history_message(parse(":bob!b@h PRIVMSG #c :x"), session().state)
    with pytest.raises(ValueError, match="neither"):
        ref_param(bare)


def test_format_time() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_time(datetime(2024, 1, 1, 1, 0, 0, 999999, tzinfo=paris)) == (
        "2024-01-01T00:00:00.999Z"
    )
    with pytest.raises(ValueError, match="time zone"):
        format_time(datetime(2024, 1, 1))  # noqa: DTZ001 - on purpose


def test_search_param_escapes_values() -> None:
    assert search_param([("in", "#c"), ("text", "a;b c\\d\r\n=")]) == (
        r"in=#c;text=a\:b\sc\\d\r\n="
    )
    with pytest.raises(ValueError, match="at least one"):
        search_param([])
    with pytest.raises(ValueError, match="NUL"):
        search_param([("text", "\0")])
    s = session("batch soju.im/search")
    message, _ = s.search_query([("text", "two words")])
    assert message.serialize() == r"SEARCH text=two\swords"


# -- history values --------------------------------------------------------------------------


def test_history_messages_mark_redactions() -> None:
    s = session()
    batch = [
        parse("@msgid=1;time=2024-01-01T00:00:01Z :bob!b@h PRIVMSG #c :keep"),
        parse("@msgid=2;time=2024-01-01T00:00:02Z :bob!b@h PRIVMSG #c :oops"),
        parse(":bob!b@h REDACT #c 2"),
        parse(":bob!b@h REDACT #c 99 :not in this batch"),
        parse("@msgid=3;time=2024-01-01T00:00:03Z :bob!b@h QUIT :bye"),
    ]
    out = history_messages(batch, s.state)
    assert [(m.msgid, m.redacted) for m in out] == [("1", False), ("2", True), ("3", False)]
    quit_ = out[2]
    assert isinstance(quit_, HistoryMessage)
    assert (quit_.command, quit_.target, quit_.text, quit_.conversation) == ("QUIT", "bye", "", "")
    assert not quit_.is_message


def test_history_message_from_the_server_and_statusmsg() -> None:
    s = session()
    feed(s, ":srv 005 ann STATUSMSG=@+ :are supported")
    s.state.server_name = "srv"
    notice = history_message(parse("@time=bad :srv NOTICE @#C :ops only"), s.state)
    assert (notice.nick, notice.conversation, notice.time) == ("srv", "#c", None)


def test_history_targets_skip_bad_lines() -> None:
    out = history_targets(
        [
            parse("CHATHISTORY TARGETS #c 2024-01-01T00:00:00.000Z"),
            parse("CHATHISTORY TARGETS bob timestamp=2024-01-01T00:00:01.000Z"),
            parse("CHATHISTORY TARGETS carl yesterday"),
            parse("NOTICE ann :stray"),
        ]
    )
    assert [(t.name, t.time.second) for t in out] == [("#c", 0), ("bob", 1)]


# -- state -----------------------------------------------------------------------------------


def test_markread_in_the_state() -> None:
    s = session()
    (marker,) = feed(s, ":srv MARKREAD #C *")
    assert isinstance(marker, ev.ReadMarker)
    assert (marker.target, marker.time) == ("#c", None)  # the channel's own name
    (marker,) = feed(s, ":srv MARKREAD Bob timestamp=2024-01-01T00:00:00+01:00")
    assert isinstance(marker, ev.ReadMarker)
    assert marker.time == datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert marker.time is not None
    assert marker.time.tzinfo == UTC
    (bad,) = feed(s, ":srv MARKREAD bob timestamp=whenever")
    assert isinstance(bad, ev.Other)
    assert s.state.read_marker("bob") == marker.time
    # a new casemapping keeps what is known
    feed(s, ":srv 005 ann CASEMAPPING=ascii :are supported")
    assert s.state.read_marker("BOB") == marker.time
    assert s.state.read_marker("#c") is None


def test_redact_events() -> None:
    s = session()
    (redact,) = feed(s, ":carl!c@h REDACT #C m1 :spam")
    assert isinstance(redact, ev.Redact)
    assert (redact.target, redact.msgid, redact.nick, redact.reason) == ("#C", "m1", "carl", "spam")
    assert (redact.conversation, redact.from_self) == ("#c", False)
    (private,) = feed(s, ":bob!b@h REDACT ann m2")
    assert isinstance(private, ev.Redact)
    assert (private.conversation, private.reason) == ("bob", "")
    (bad,) = feed(s, ":bob!b@h REDACT ann")
    assert isinstance(bad, ev.Other)
