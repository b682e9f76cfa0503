"""The storage interface: what the server keeps across restarts, whatever the database.

Every method blocks (disk, network) and is called from a worker thread, never from the event
loop; an implementation must be safe to call from any one thread at a time. For now it keeps
user accounts and the settings the server generates for itself; registered channels and
message history will join them here.

A database that fails at run time (a full disk, a damaged or vanished file) makes the method
raise :class:`StorageError` and nothing worse: the caller refuses what needed the database
and the server goes on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from hubbub.protocol.casemap import Folded

__all__ = [
    "ACCOUNT_COLUMNS",
    "CHANNEL_COLUMNS",
    "AccountRecord",
    "Anchor",
    "ChannelRecord",
    "ChannelStore",
    "HistoryStore",
    "ScramCredentials",
    "Storage",
    "StorageError",
    "StorageTimeout",
    "StoredMessage",
    "account_from_row",
    "account_row",
    "channel_from_row",
    "channel_row",
    "expand",
    "msgid_at",
    "split_msgid",
]


class StorageError(OSError):
    """The database cannot be opened or used (a missing directory, a newer schema, a full
    disk). An ``OSError``, so a server that cannot open its database fails to start with one
    clear line."""


@dataclass(frozen=True, slots=True)
class ScramCredentials:
    """A SCRAM-SHA-256 verifier (RFC 5802 section 3): enough to check a client's proof and
    prove ourselves to it, not enough to log in as the user."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One user account as stored."""

    name: str
    """The account name as registered: what others see in ``ACCOUNT`` and the account tag."""
    folded: Folded
    """``name`` case-folded: the key of the account."""
    password_hash: str
    """An argon2id hash, checked for SASL PLAIN and NickServ IDENTIFY."""
    scram: ScramCredentials
    """The verifier for SASL SCRAM-SHA-256, made from the same password."""
    created: float
    """When it was registered (Unix time)."""
    email: str = ""
    """The address given at registration, or empty."""


class Storage(Protocol):
    """A database of accounts (and later channel registrations and message history)."""

    def open(self) -> None:
        """Connect, creating or migrating the schema as needed. Raises :class:`StorageError`."""

    def close(self) -> None:
        """Release the database; a closed storage may not be used again. Idempotent."""

    def create_account(self, account: AccountRecord) -> bool:
        """Store a new account durably; False (and nothing stored) if its name is taken.

        Returns only once the write is committed: an acknowledged account survives a crash.
        """

    def get_account(self, folded: Folded) -> AccountRecord | None:
        """The account whose folded name is ``folded``, if there is one."""

    def list_accounts(self) -> list[AccountRecord]:
        """Every account, for the server's in-memory cache at start-up."""

    def set_password(self, folded: Folded, password_hash: str, scram: ScramCredentials) -> bool:
        """Replace an account's credentials durably; False if there is no such account."""

    def delete_account(self, folded: Folded) -> bool:
        """Remove an account durably; False if there was no such account."""

    def get_setting(self, key: str) -> str | None:
        """The server setting stored under ``key`` (see :meth:`ensure_setting`), if any."""

    def ensure_setting(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` durably unless a value is stored there already;
        return the stored one. The server keeps what it generates on first start this way
        (the cloak secret), so that it stays the same across restarts."""


# -- message history -------------------------------------------------------------------------
#
# A history *buffer* is named by a key:
#   - a channel's buffer: the channel's folded name ("#chan");
#   - a private conversation, kept once for each of its two parties: "~" + the owner's key
#     ("~a:<folded account>" when the owner is logged in, so it follows them to any device;
#     "~s:<random token>" for a connection without an account, readable by that connection
#     only), with ``peer`` the folded nick of the other party.
# Channel rows have ``peer == ""``.


class StoredMessage(NamedTuple):
    """One line of history as stored: enough to send it again as it was sent.

    A ``NamedTuple`` rather than a frozen dataclass: one is made per line relayed, and a
    tuple costs a fraction of a dataclass to make."""

    target: str
    """The buffer's key (see above)."""
    peer: str
    """For a private conversation, the other party's folded nick; "" in a channel."""
    msgid: str
    """The msgid the line had when it was relayed; unique within a buffer."""
    time: float
    """When it was relayed (Unix time, millisecond precision is kept)."""
    command: str
    """PRIVMSG, NOTICE, TAGMSG, or for event-playback JOIN, PART, QUIT, NICK, MODE, TOPIC,
    KICK."""
    sender: str
    """The sender's folded nick (what ``SEARCH from=`` matches)."""
    account: str
    """The sender's account name as shown, or ""."""
    line: str
    """The line without tags and without CR LF: ``:nick!user@host PRIVMSG #chan :text``."""
    tags: str = ""
    """Tags to send with it beyond time and msgid, serialised as on the wire without the
    leading ``@`` (``account=alice;+draft/react=x``), or ""."""
    text: str = ""
    """The searchable text: a PRIVMSG's or NOTICE's text; "" for anything else. In a
    block (``size > 1``), the text of each line, joined by ``\\n``."""
    size: int = 1
    """1 for one line. Handed to :meth:`HistoryStore.append` only, ``size > 1`` is a
    *block*: that many lines relayed together (one read of a sender's socket), alike but
    for their text and msgid. ``line`` and ``msgid`` are the first line's; line ``k`` has
    the msgid :func:`msgid_at` ``(msgid, k)`` and the first line's head (all of ``line``
    before its text) followed by its own text. A TAGMSG block has ``text == ""`` and lines
    equal to ``line``. Stores keep a block as one row where they can: the cost of history
    is then per relayed block, not per line. What stores return always has ``size == 1``
    (see :func:`expand`)."""


def split_msgid(msgid: str) -> tuple[str, int]:
    """``msgid`` as (prefix, number) when it ends with a number in lower-case hex without
    leading zeros after a ``-`` (the server's own: ``node-start-count``), else
    (``msgid``, -1). The lines of a block are numbered on from the first's number."""
    head, dash, tail = msgid.rpartition("-")
    plain = dash and 0 < len(tail) <= 15 and (tail == "0" or tail[0] != "0")
    if plain and all(c in "0123456789abcdef" for c in tail):
        return head + dash, int(tail, 16)
    return msgid, -1


def msgid_at(msgid: str, k: int) -> str:
    """The msgid of line ``k`` of a block whose first line has ``msgid``."""
    if k == 0:
        return msgid
    prefix, number = split_msgid(msgid)
    if number < 0:
        raise ValueError(f"a block's msgid must end in -<hex>: {msgid!r}")
    return f"{prefix}{number + k:x}"


def expand(row: StoredMessage) -> list[StoredMessage]:
    """The lines of ``row`` (itself when it is one line)."""
    count = row.size
    if count == 1:
        return [row]
    if row.text:
        texts = row.text.split("\n")
        if len(texts) != count:
            raise ValueError(f"a block of {count} lines with {len(texts)} texts")
        head = row.line[: len(row.line) - len(texts[0])]
    else:
        texts = [""] * count
        head = ""
    prefix, number = split_msgid(row.msgid)
    if number < 0:
        raise ValueError(f"a block's msgid must end in -<hex>: {row.msgid!r}")
    return [
        row._replace(
            msgid=f"{prefix}{number + k:x}",
            line=head + text if head else row.line,
            text=text,
            size=1,
        )
        for k, text in enumerate(texts)
    ]


@dataclass(frozen=True, slots=True)
class Anchor:
    """One end of a history range: a msgid, or a time (exactly one is set)."""

    msgid: str | None = None
    time: float | None = None


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A registered channel (ChanServ), as kept across restarts."""

    name: str
    folded: Folded
    founder: str
    """The founder's folded account name."""
    registered: float
    topic: str = ""
    topic_setter: str = ""
    topic_time: float = 0.0
    modes: str = ""
    """Flag modes without a parameter, as letters (``"nt"``)."""
    key: str = ""
    limit: int = 0
    bans: tuple[str, ...] = ()
    excepts: tuple[str, ...] = ()
    invexes: tuple[str, ...] = ()
    access: tuple[tuple[str, str], ...] = ()
    """(folded account, level) with level ``"op"`` or ``"voice"`` (the founder is
    implicitly ``"founder"``)."""
    history: str = "default"
    """``"default"`` (as ``[history]`` says), ``"on"``, ``"public"`` or ``"off"``."""


class HistoryStore(Protocol):
    """Message history: written in batches by one writer, read by anyone.

    Every method blocks and runs on a worker thread. Reads and writes may come from
    different threads at once; an implementation serialises what it must.

    A store with a true ``shared`` attribute is one for every node of a cluster
    (PostgreSQL): each node then keeps only what its own users said (a message once, not
    once per node that delivered it); a store without it is the node's own (SQLite), which
    keeps everything the node delivered.
    """

    def append(self, rows: Sequence[StoredMessage]) -> None:
        """Store ``rows`` (lines, or blocks of lines: see :attr:`StoredMessage.size`) in
        one transaction, durably once it returns (group commit: the
        writer hands in everything that queued up while the previous batch was committing).
        Raises :class:`StorageError` with nothing stored."""

    def query(
        self,
        target: str,
        peer: str,
        *,
        after: Anchor | None = None,
        before: Anchor | None = None,
        limit: int,
        newest: bool,
        not_before: float = 0.0,
        messages_only: bool = False,
    ) -> list[StoredMessage] | None:
        """Lines of one buffer strictly after ``after`` and strictly before ``before``
        (either may be None: unbounded), and not older than ``not_before``; the ``limit``
        newest of them when ``newest`` (LATEST, BEFORE), else the ``limit`` oldest (AFTER).
        Always returned oldest first. None when an anchor's msgid is not in the buffer.
        ``messages_only``: PRIVMSG and NOTICE lines only (for a client without
        ``draft/event-playback``; the limit counts those)."""

    def find(self, target: str, peer: str, msgid: str) -> StoredMessage | None:
        """One line of one buffer by msgid."""

    def targets(
        self, keys: Sequence[tuple[str, str]], start: float, end: float, limit: int
    ) -> list[tuple[str, str, float]]:
        """CHATHISTORY TARGETS: of the buffers ``(target, peer)`` in ``keys`` (a peer ""
        with target ``"~..."`` stands for every conversation of that owner), those whose
        latest line is between ``start`` and ``end`` (either order; a buffer that spoke
        again after ``end`` is not listed), as (target, peer, time of that line), in
        ascending order of that time: the ``limit`` nearest ``start``
        (the earliest when ``start`` is the earlier bound, else the latest), as the
        chathistory extension pages TARGETS (and as ``BETWEEN`` pages messages)."""

    def search(
        self,
        keys: Sequence[tuple[str, str]],
        *,
        text: str = "",
        sender: str = "",
        after: float | None = None,
        before: float | None = None,
        limit: int,
        timeout: float,
    ) -> list[StoredMessage]:
        """Lines of the buffers in ``keys`` (as for :meth:`targets`) whose text matches
        every word of ``text`` (full-text, case-insensitive; "" matches all), sent by the
        folded nick ``sender`` when given, strictly after ``after`` and strictly before
        ``before``; the ``limit`` newest, oldest first. A query that runs longer than
        ``timeout`` seconds is stopped and raises :class:`StorageTimeout`."""

    def redact(self, msgid: str) -> int:
        """Remove every stored copy of ``msgid`` (both parties' copies of a private message),
        from history and from search; the number removed."""

    def purge(
        self,
        *,
        older_than: float,
        max_rows: int,
        overrides: Mapping[str, tuple[float, int]] | None = None,
        batch: int = 10000,
    ) -> int:
        """Retention: remove lines older than ``older_than`` (Unix time; 0: none by age) and,
        per buffer, all but the newest ``max_rows`` (0: no count limit); ``overrides`` gives
        some channels their own (older_than, max_rows). Works in transactions of at most
        ``batch`` rows so that writers are not held up; the number removed."""

    def get_marker(self, owner: str, target: str) -> float | None:
        """The read marker of folded account ``owner`` on ``target`` (a channel's folded
        name or a folded nick), as a time."""

    def set_marker(self, owner: str, target: str, time: float) -> float:
        """Move the marker forward to ``time`` (never back); the marker now stored."""

    def set_markers(self, marks: Sequence[tuple[str, str, float]]) -> list[float]:
        """:meth:`set_marker` for each (owner, target, time) of ``marks``, in one
        transaction; the markers now stored, in the same order."""

    def markers(self, owner: str) -> dict[str, float]:
        """Every read marker of folded account ``owner``, by target (loaded when the
        account logs in, so that JOIN can answer from memory)."""


class StorageTimeout(StorageError):
    """A query ran out of its time (SEARCH); nothing is wrong with the database."""


class ChannelStore(Protocol):
    """Registered channels (ChanServ)."""

    def list_channels(self) -> list[ChannelRecord]:
        """Every registered channel, for the server's cache at start-up."""

    def get_channel(self, folded: Folded) -> ChannelRecord | None:
        """One registered channel (another node of a cluster changed it), if registered."""

    def create_channel(self, record: ChannelRecord) -> bool:
        """Store a new registration durably; False (and nothing stored) when the channel is
        registered already. Decided by the database's own key, in one statement: of two
        nodes of a cluster registering one channel at once on one database, one gets True.
        """

    def save_channel(self, record: ChannelRecord) -> None:
        """Create or replace a registration durably."""

    def delete_channel(self, folded: Folded) -> bool:
        """Drop a registration durably; False if there was none."""

    def write_channels(self, saved: Sequence[ChannelRecord], deleted: Sequence[Folded]) -> None:
        """:meth:`save_channel` each of ``saved`` and :meth:`delete_channel` each of
        ``deleted``, in one transaction."""


# -- rows of the SQL stores ------------------------------------------------------------------
# SQLite and PostgreSQL keep accounts and registered channels in tables of the same columns;
# these turn records into those columns' values and back (lists as JSON text).

ACCOUNT_COLUMNS = (
    "name, folded, password_hash, scram_salt, scram_iterations, scram_stored_key, "
    "scram_server_key, created, email"
)
"""The columns of the ``accounts`` table, in the order of :func:`account_row`."""

CHANNEL_COLUMNS = (
    "name, folded, founder, registered, topic, topic_setter, topic_time, modes, key, "
    "channel_limit, bans, excepts, invexes, access, history"
)
"""The columns of the ``channels`` table, in the order of :func:`channel_row`."""


def account_row(account: AccountRecord) -> tuple[object, ...]:
    """The values of ``account`` in the order of :data:`ACCOUNT_COLUMNS`."""
    scram = account.scram
    return (
        account.name,
        account.folded,
        account.password_hash,
        scram.salt,
        scram.iterations,
        scram.stored_key,
        scram.server_key,
        account.created,
        account.email,
    )


def account_from_row(row: Sequence[Any]) -> AccountRecord:
    """The account in a row of :data:`ACCOUNT_COLUMNS`."""
    name, folded, password_hash, salt, iterations, stored_key, server_key, created, email = row
    return AccountRecord(
        name=name,
        folded=Folded(folded),
        password_hash=password_hash,
        scram=ScramCredentials(bytes(salt), int(iterations), bytes(stored_key), bytes(server_key)),
        created=float(created),
        email=email,
    )


def _strings(text: str) -> tuple[str, ...]:
    """A JSON array of strings, as a tuple; anything else fails as a database fault."""
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"not a JSON array of strings: {text[:80]!r}")
    return tuple(value)


def _access(text: str) -> tuple[tuple[str, str], ...]:
    """The JSON ``[[account, level], ...]`` of an access list."""
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError(f"not a JSON array: {text[:80]!r}")
    entries = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, str) for part in item)
        ):
            raise ValueError(f"not an access entry: {item!r}")
        entries.append((item[0], item[1]))
    return tuple(entries)


def channel_row(record: ChannelRecord) -> tuple[object, ...]:
    """The values of ``record`` in the order of :data:`CHANNEL_COLUMNS`."""
    return (
        record.name,
        record.folded,
        record.founder,
        record.registered,
        record.topic,
        record.topic_setter,
        record.topic_time,
        record.modes,
        record.key,
        record.limit,
        json.dumps(list(record.bans)),
        json.dumps(list(record.excepts)),
        json.dumps(list(record.invexes)),
        json.dumps([list(entry) for entry in record.access]),
        record.history,
    )


def access_without(access: str, account: str) -> str | None:
    """The ``access`` column (JSON) without the entries of the folded ``account``; None when
    it has none (or cannot be read: the registry then keeps it as it is)."""
    try:
        entries = json.loads(access)
    except ValueError:
        return None
    if not isinstance(entries, list):
        return None
    kept = [entry for entry in entries if not (isinstance(entry, list) and entry[:1] == [account])]
    return None if len(kept) == len(entries) else json.dumps(kept)


def channel_from_row(row: Sequence[Any]) -> ChannelRecord:
    """The registered channel in a row of :data:`CHANNEL_COLUMNS` (a malformed list is a
    ``ValueError``, which the stores report as a database fault)."""
    name, folded, founder, registered, topic, setter, topic_time, modes, key, limit = row[:10]
    bans, excepts, invexes, access, history = row[10:]
    return ChannelRecord(
        name=name,
        folded=Folded(folded),
        founder=founder,
        registered=float(registered),
        topic=topic,
        topic_setter=setter,
        topic_time=float(topic_time),
        modes=modes,
        key=key,
        limit=int(limit),
        bans=_strings(bans),
        excepts=_strings(excepts),
        invexes=_strings(invexes),
        access=_access(access),
        history=history,
    )
