"""User accounts on the server: the in-memory cache, durable writes, logging in and out.

The :class:`AccountService` keeps every account in memory (loaded at start-up, and again at
each REHASH: see :meth:`AccountService.reload`) so that lookups never touch the disk.
Whatever is slow (argon2, PBKDF2, the database) runs through ``server.offload``; its
callback runs back on the core's thread, and only then is the client answered, so an
acknowledged account is a committed one.

:func:`attach` gives a server its service and offers the capabilities that need it: ``sasl``,
``account-notify``, ``account-tag`` and ``draft/account-registration``.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from weakref import WeakKeyDictionary

from hubbub.config import MAX_PASSWORD_BYTES
from hubbub.passwords import check_password, hash_password
from hubbub.protocol import numerics as n
from hubbub.protocol.caps import CAP_NAMES, Cap, CapBits
from hubbub.protocol.casemap import Folded, is_valid_nick
from hubbub.protocol.message import Message
from hubbub.protocol.sasl import Reassembler
from hubbub.server.events import ModeChange
from hubbub.server.extbans import ACCOUNT, MUTE
from hubbub.server.response import Response
from hubbub.server.sasl import (
    MAX_PAYLOAD,
    MECHANISMS,
    ServerMechanism,
    make_scram_credentials,
)
from hubbub.server.session import Session
from hubbub.storage.base import AccountRecord, ScramCredentials, Storage

if TYPE_CHECKING:
    from hubbub.server.core import Server

__all__ = [
    "HELD_ELSEWHERE",
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_LENGTH",
    "OFFERED_CAPS",
    "AccountClaims",
    "AccountService",
    "AuthState",
    "Outcome",
    "Reloaded",
    "attach",
    "guest_nick",
    "log_in",
    "log_out",
    "new_account_problem",
    "password_problem",
    "reserved_for_other",
    "service_of",
    "valid_email",
    "user_mask",
]

log = logging.getLogger("hubbub.accounts")

MIN_PASSWORD_LENGTH = 8
"""The default of ``[accounts] password_min_length``: shorter passwords are refused at
registration (``WEAK_PASSWORD``). ``MAX_PASSWORD_BYTES``, the longest, is the config's."""

OFFERED_CAPS = (Cap.SASL, Cap.ACCOUNT_NOTIFY, Cap.ACCOUNT_TAG, Cap.ACCOUNT_REGISTRATION)
"""The capabilities that work once a server has accounts."""

_EMAIL = re.compile(r"[^@\s,]+@([^@\s,]+)")
"""``local@domain``; the domain's dot is looked for apart (one regex with both backtracks:
quadratic in the length of a hostile address)."""


class Outcome(enum.Enum):
    """How a write to storage ended."""

    DONE = "done"
    TAKEN = "taken"
    """The account name is already registered."""
    FAILED = "failed"
    """The database refused or failed (logged); try again later."""


@dataclass(frozen=True)
class Reloaded:
    """What :meth:`AccountService.reload` changed in the cache: the database was changed
    behind the server's back (``hubbub account`` on the file, a restored backup)."""

    added: list[AccountRecord]
    """Accounts the server did not know (or a new account under a known name)."""
    removed: list[AccountRecord]
    """Accounts gone from the database (or replaced by a new account of the same name)."""
    changed: list[AccountRecord]
    """Accounts still there with new credentials or e-mail address."""
    total: int
    """How many accounts the server knows now."""


HELD_ELSEWHERE = (
    "The account {name} is registered on another server of this network, which holds the "
    "name: log in there"
)
"""What a client is told when it logs in to an account of this node's own database whose
name another node of the cluster holds (see :attr:`AccountService.conflicts`)."""


class AccountClaims(Protocol):
    """Where a node with a database of its own claims its account names, so that a name is
    one account in the whole cluster (the :class:`~hubbub.server.cluster.ClusterLink`)."""

    def claim_account(self, folded: Folded, done: Callable[[bool | None], None]) -> None:
        """Claim ``folded`` for this node; ``done``: won, lost (another node holds it), or
        None (the cluster cannot be reached)."""

    def release_account(self, folded: Folded) -> None:
        """Give ``folded`` back."""

    def sync_accounts(self, names: list[Folded], done: Callable[[dict[str, str]], None]) -> None:
        """Claim every name of ``names`` and give back the others this node held; ``done``
        gets the names other nodes hold, with the node that holds each."""


MAX_LOGIN_FAILURES = 5
"""Refused logins (SASL, IDENTIFY or OPER) one connection may have before it is disconnected:
a password guesser must reconnect, and pay the connection limits, every few guesses."""


@dataclass(eq=False)
class AuthState:
    """One session's SASL exchange in progress."""

    mechanism: ServerMechanism | None = None
    reader: Reassembler = field(default_factory=lambda: Reassembler(MAX_PAYLOAD))

    def reset(self) -> None:
        """End the current exchange, if any."""
        self.mechanism = None
        self.reader.clear()


@functools.cache
def _dummy_hash() -> str:
    # A password check for an unknown account costs the same as for a real one.
    return hash_password(secrets.token_urlsafe(16))


class AccountService:
    """Every account, cached in memory, written through ``storage``."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.records: dict[Folded, AccountRecord] = {}
        self._pending: set[Folded] = set()
        self._reloads: list[set[Folded]] = []
        """For each reload under way, the accounts the server itself wrote since it began
        (see :meth:`reload`)."""
        self._states: WeakKeyDictionary[Session, AuthState] = WeakKeyDictionary()
        self.guesses: dict[Folded, tuple[float, float]] = {}
        """Failed logins per account, as a token bucket (``[accounts] login_burst``, then
        ``login_per_hour``): (allowance left, when counted); forgotten once full again."""
        self.grace: dict[Session, float] = {}
        """Clients on a nick reserved by an account they are not logged in to, with when
        their grace period ends (``[accounts] nick_protection``): the server's timer looks
        at these only, not at every client."""
        self.stored: Callable[[Folded], None] | None = None
        """Told the account this server has just created, changed or deleted in the
        database (a cluster with a shared database tells the other nodes: see
        :meth:`refresh`)."""
        self.claims: AccountClaims | None = None
        """A cluster node with a database of its own (not shared with the other nodes)
        claims each account name in the cluster before creating the account, and the names
        of its existing accounts at start (:meth:`claim_names`): a name is one account in
        the whole network. None: no claims (a lone server, or a shared database, whose own
        key decides)."""
        self.conflicts: dict[Folded, str] = {}
        """Accounts of this node's database whose name another node of the cluster holds,
        with that node: nobody may log in to them here (two people, one name)."""
        self._confirmed: set[Folded] = set()
        """With :attr:`claims`: the accounts whose name this node is known to hold; only
        these may be logged in to."""
        self._syncing = 0
        self._when_claimed: list[Callable[[], None]] = []

    def apply_config(self, server: Server) -> None:
        """Offer the account capabilities as ``server``'s (re)loaded config says, and tell
        the clients with ``cap-notify`` when ``draft/account-registration`` comes or goes."""
        before = Cap.ACCOUNT_REGISTRATION in server.extra_caps
        for cap in OFFERED_CAPS:
            if cap not in server.extra_caps:
                server.extra_caps.append(cap)
        server.cap_values[Cap.SASL] = ",".join(MECHANISMS)
        policy = server.config.accounts.registration
        if policy == "closed":
            server.extra_caps.remove(Cap.ACCOUNT_REGISTRATION)
            server.cap_values.pop(Cap.ACCOUNT_REGISTRATION, None)
        else:
            # Registering before connection registration would get round a server password.
            early = policy == "open" and not server.config.auth.password
            value = ("before-connect," if early else "") + "custom-account-name"
            server.cap_values[Cap.ACCOUNT_REGISTRATION] = value
        after = Cap.ACCOUNT_REGISTRATION in server.extra_caps
        if before != after:
            _announce_cap(server, Cap.ACCOUNT_REGISTRATION, after)

    def load(self, records: Iterable[AccountRecord], fold: Callable[[str], Folded]) -> None:
        """Fill the cache (at start-up), keyed by the server's current case folding."""
        for record in records:
            self.records[fold(record.name)] = record

    def _wrote(self, folded: Folded) -> None:
        """The server changed the account ``folded`` in the cache after storing the change:
        a reload under way (whose read may predate the write) keeps the cache's version."""
        for written in self._reloads:
            written.add(folded)

    def _forget(self, written: set[Folded]) -> None:
        """A reload or refresh is over: stop recording writes for it (this very set: two
        that recorded nothing are equal, and ``list.remove`` could take the other's)."""
        self._reloads = [each for each in self._reloads if each is not written]

    def refresh(self, server: Server, folded: Folded) -> None:
        """Read the account ``folded`` from the database again (another node of a cluster
        that shares it created, changed or deleted it), off the event loop, and keep what
        it holds. A failed read keeps the cache as it was (logged)."""
        storage = self.storage
        self._reloads.append(set())
        written = self._reloads[-1]

        def work() -> tuple[bool, AccountRecord | None]:
            try:
                return True, storage.get_account(folded)
            except Exception as exc:  # (StorageError) the cache is kept
                log.warning("could not read the account %r again: %s", folded, exc)
                return False, None

        def finish(result: tuple[bool, AccountRecord | None]) -> None:
            self._forget(written)
            ok, record = result
            if not ok or folded in written:
                return  # (this server wrote it meanwhile: its own version is newer)
            if record is None:
                self.records.pop(folded, None)
            else:
                self.records[server.fold(record.name)] = record

        server.offload(work, finish)

    def reload(self, server: Server, done: Callable[[Reloaded | None], None]) -> None:
        """Read every account from storage again (off the event loop) and replace the cache
        with them whole, then call ``done`` on the core's thread with what changed (None if
        the database failed: the cache is kept as it was, and the failure logged).

        The cache is what the server has written, the database is also what others wrote
        (``hubbub account`` on the file): REHASH calls this so that the server sees those
        writes. An account the server itself writes or is registering while the read is
        under way keeps its cached state (the read may have been made before that write).
        Logging out the sessions of removed accounts is the caller's part.
        """
        storage = self.storage
        written: set[Folded] = set()
        self._reloads.append(written)

        def work() -> list[AccountRecord] | None:
            try:
                return storage.list_accounts()
            except OSError as exc:  # StorageError: the database failed, one line says how
                log.error("could not reload the accounts: %s", exc)
            except Exception:
                log.exception("could not reload the accounts")
            return None

        def finish(records: list[AccountRecord] | None) -> None:
            self._forget(written)
            if records is None:
                done(None)
                return
            fresh = {server.fold(record.name): record for record in records}
            for key in written | self._pending:
                current = self.records.get(key)
                if current is None:
                    fresh.pop(key, None)
                else:
                    fresh[key] = current
            old = self.records
            same = {
                key
                for key, record in fresh.items()
                if (known := old.get(key)) is not None and known.created == record.created
            }
            result = Reloaded(
                added=[record for key, record in fresh.items() if key not in same],
                removed=[record for key, record in old.items() if key not in same],
                changed=[record for key in same if (record := fresh[key]) != old[key]],
                total=len(fresh),
            )
            old.clear()
            old.update(fresh)
            for record in result.removed:  # (deleted behind its back, or made anew)
                _forget(server, record)
            if self.claims is not None:  # (accounts made or deleted behind its back)
                for record in result.removed:
                    self._confirmed.discard(record.folded)
                self.claim_names(server)
            done(result)

        server.offload(work, finish)

    # -- account names in a cluster ---------------------------------------------------------

    def usable(self, folded: Folded) -> bool:
        """Whether anyone may log in to the account ``folded`` here: always, unless this
        node of a cluster has a database of its own and does not hold the name (another
        node does: :attr:`conflicts`; or its claim has not been answered yet)."""
        return self.claims is None or folded in self._confirmed

    def claim_names(self, server: Server, lost: bool = False) -> None:
        """Claim, in the cluster, the name of every account of this node's database (and
        of those being registered), and give back the names this node held for accounts it
        no longer has (deleted while it was down). Run at start, after a REHASH read the
        accounts again, and when the claims may have been lost (``lost``: none is taken
        for held until the answer). Each name another node holds is an account nobody may
        log in to here: logged as an error, and its sessions here are logged out."""
        claims = self.claims
        if claims is None:
            return
        if lost:
            self._confirmed.clear()
        names = sorted(set(self.records) | self._pending)
        self._syncing += 1

        def answered(taken: dict[str, str]) -> None:
            self._syncing -= 1
            conflicts: dict[Folded, str] = {}
            for name in names:
                holder = taken.get(name)
                if holder is None:
                    if name in self.records or name in self._pending:  # (not deleted since)
                        self._confirmed.add(name)
                    continue
                self._confirmed.discard(name)
                record = self.records.get(name)
                if record is None:
                    continue  # (being registered: its own claim answers it)
                conflicts[name] = holder
                if self.conflicts.get(name) != holder:
                    log.error(
                        "the account %r of this node's database is also registered on node "
                        "%s, which holds the name in the cluster: nobody may log in to it "
                        "here (drop one of the two)",
                        record.name,
                        holder,
                    )
                    self._log_out_everywhere(server, record)
            self.conflicts = conflicts
            if self._syncing == 0:
                waiting, self._when_claimed = self._when_claimed, []
                for then in waiting:
                    then()

        claims.sync_accounts(list(names), answered)

    def when_claimed(self, then: Callable[[], None]) -> None:
        """Call ``then`` once every claim of account names asked for has been answered (at
        once when none waits): a node starts taking clients after that."""
        if self._syncing == 0:
            then()
        else:
            self._when_claimed.append(then)

    def _log_out_everywhere(self, server: Server, record: AccountRecord) -> None:
        """Log out the sessions of this node logged in to ``record`` (its name turned out to
        be another node's), telling them why."""
        for session in list(server.sessions):
            account = session.user.account
            if account is not None and server.fold(account) == record.folded:
                reply = Response(session, server.name, None)
                log_out(server, session, reply)
                reply.add(server.notice(session, HELD_ELSEWHERE.format(name=record.name)))
                reply.flush()

    def _give_back(self, folded: Folded) -> None:
        """The name ``folded`` is no account here after all: its claim goes."""
        if self.claims is not None and folded not in self.records and folded not in self._pending:
            self._confirmed.discard(folded)
            self.conflicts.pop(folded, None)
            self.claims.release_account(folded)

    def find(self, server: Server, name: str) -> AccountRecord | None:
        """The account called ``name`` (in any case), if it exists."""
        return self.records.get(server.fold(name))

    def taken(self, server: Server, name: str) -> bool:
        """True if ``name`` is registered or being registered."""
        folded = server.fold(name)
        return folded in self.records or folded in self._pending

    def state(self, session: Session) -> AuthState:
        """The account state of ``session`` (created on first use, gone with the session)."""
        state = self._states.get(session)
        if state is None:
            state = self._states[session] = AuthState()
        return state

    def exchange(self, session: Session) -> AuthState | None:
        """The SASL state of ``session`` if it ever started one (creates nothing)."""
        return self._states.get(session)

    def _allowance(self, server: Server, folded: Folded) -> float:
        """How many more failed logins the account ``folded`` is allowed now."""
        accounts = server.config.accounts
        burst = accounts.login_burst
        found = self.guesses.get(folded)
        if found is None:
            return float(burst)
        tokens, last = found
        rate = accounts.login_per_hour / 3600.0
        tokens = min(float(burst), tokens + (server.clock() - last) * rate)
        if tokens >= burst:
            del self.guesses[folded]
        return tokens

    def may_guess(self, server: Server, folded: Folded) -> bool:
        """False while the account ``folded`` has used up its allowance of failed logins:
        its logins are then refused unchecked, so that guessing its password from any
        number of addresses gets nowhere (``[accounts] login_burst``; 0: no limit)."""
        return not server.config.accounts.login_burst or self._allowance(server, folded) >= 1.0

    def guessed_wrong(self, server: Server, name: str) -> None:
        """A login to the account ``name`` failed: count it against its allowance (an
        unknown account has none to count)."""
        record = self.find(server, name)
        if record is None or not server.config.accounts.login_burst:
            return
        folded = record.folded
        left = self._allowance(server, folded) - 1.0
        self.guesses[folded] = (max(left, 0.0), server.clock())
        if 0.0 <= left < 1.0:
            why = f"too many failed logins to the account {record.name}; refused for a while"
            log.warning("%s", why)
            server.snotice(why.capitalize())

    def scram_lookup(self, server: Server) -> Callable[[str], ScramCredentials | None]:
        """A lookup of SCRAM verifiers by account name, for :class:`ScramSha256Mechanism`
        (an account past its allowance of failed logins is looked up as none: its proof
        fails whatever it is)."""

        def lookup(name: str) -> ScramCredentials | None:
            record = self.find(server, name)
            if record is None or not self.usable(record.folded):
                return None
            if not self.may_guess(server, record.folded):
                log.info("a login to the account %r refused: too many failed logins", name)
                return None
            return record.scram

        return lookup

    # -- slow work, off the event loop ---------------------------------------------------------

    def register(
        self,
        server: Server,
        name: str,
        email: str,
        password: str,
        done: Callable[[Outcome, AccountRecord | None], None],
    ) -> None:
        """Create an account: hash the password both ways, store it durably, then cache it
        and call ``done`` on the core's thread."""
        folded = server.fold(name)
        if folded in self.records or folded in self._pending:
            done(Outcome.TAKEN, None)
            return
        self._pending.add(folded)
        claims = self.claims
        if claims is None:
            self._create(server, name, folded, email, password, done)
            return

        def claimed(won: bool | None) -> None:
            if won:
                self._create(server, name, folded, email, password, done)
                return
            self._pending.discard(folded)
            if won is None:
                log.warning("could not claim the account name %r in the cluster", name)
            done(Outcome.FAILED if won is None else Outcome.TAKEN, None)

        claims.claim_account(folded, claimed)

    def _create(
        self,
        server: Server,
        name: str,
        folded: Folded,
        email: str,
        password: str,
        done: Callable[[Outcome, AccountRecord | None], None],
    ) -> None:
        """:meth:`register`'s second half, once the name is this node's: hash, store."""
        created = server.clock()
        storage = self.storage

        def work() -> tuple[Outcome, AccountRecord | None]:
            try:
                record = AccountRecord(
                    name=name,
                    folded=folded,
                    password_hash=hash_password(password),
                    scram=make_scram_credentials(password),
                    created=created,
                    email=email,
                )
                if not storage.create_account(record):
                    # Taken in the database but not in the cache: made behind the server's
                    # back (``hubbub account`` on the file). The stored one is learnt.
                    return Outcome.TAKEN, storage.get_account(folded)
            except OSError as exc:  # StorageError: the database failed, one line says how
                log.error("could not store the new account %r: %s", name, exc)
                return Outcome.FAILED, None
            except Exception:  # a bug: the caller tells the client, the traceback is logged
                log.exception("could not store the new account %r", name)
                return Outcome.FAILED, None
            return Outcome.DONE, record

        def finish(result: tuple[Outcome, AccountRecord | None]) -> None:
            self._pending.discard(folded)
            outcome, record = result
            if record is not None and outcome is Outcome.TAKEN:
                if folded not in self.records:
                    log.info(
                        "the account %r is in the database but was not loaded (REHASH "
                        "reloads every account): it is known from now on",
                        record.name,
                    )
                    self.records[folded] = record
                    self._wrote(folded)
                record = None  # not created: the caller only hears that the name is taken
            elif record is not None:
                self.records[folded] = record
                self._wrote(folded)
                if self.stored is not None:
                    self.stored(folded)
            if self.claims is not None:
                if folded in self.records:
                    self._confirmed.add(folded)
                else:  # (not stored: the name is free again)
                    self._give_back(folded)
            done(outcome, record)

        server.offload(work, finish, "hash")

    def verify(
        self,
        server: Server,
        name: str,
        password: str,
        done: Callable[[AccountRecord | None], None],
    ) -> None:
        """Check ``password`` for the account ``name``; ``done`` gets the account if it
        matches, None otherwise (an unknown account takes as long as a wrong password). An
        account past its allowance of failed logins (:meth:`may_guess`) is refused at
        once, unchecked; a wrong password counts against it."""
        record = self.find(server, name)
        if record is not None and not self.usable(record.folded):
            log.info("a login to the account %r refused: this node does not hold its name", name)
            record = None  # (checked against nothing, as long as a real check takes)
        if record is not None and not self.may_guess(server, record.folded):
            log.info("a login to the account %r refused: too many failed logins", name)
            done(None)
            return
        stored = record.password_hash if record is not None else None

        def work() -> bool:
            return check_password(stored or _dummy_hash(), password)

        def finish(ok: bool) -> None:
            if not ok and record is not None:
                self.guessed_wrong(server, record.name)
            done(record if ok and record is not None else None)

        server.offload(work, finish, "hash", abandon=True)

    def change_password(
        self, server: Server, record: AccountRecord, password: str, done: Callable[[Outcome], None]
    ) -> None:
        """Replace the credentials of ``record`` durably, then in the cache."""
        storage = self.storage
        folded = record.folded

        def work() -> tuple[Outcome, str, ScramCredentials | None]:
            try:
                password_hash = hash_password(password)
                scram = make_scram_credentials(password)
                if not storage.set_password(folded, password_hash, scram):
                    return Outcome.FAILED, "", None
            except OSError as exc:
                log.error("could not change the password of %r: %s", record.name, exc)
                return Outcome.FAILED, "", None
            except Exception:
                log.exception("could not change the password of %r", record.name)
                return Outcome.FAILED, "", None
            return Outcome.DONE, password_hash, scram

        def finish(result: tuple[Outcome, str, ScramCredentials | None]) -> None:
            outcome, password_hash, scram = result
            key = server.fold(record.name)
            current = self.records.get(key)
            if outcome is Outcome.DONE and scram is not None and current is not None:
                self.records[key] = AccountRecord(
                    current.name,
                    current.folded,
                    password_hash,
                    scram,
                    current.created,
                    current.email,
                )
                self._wrote(key)
                if self.stored is not None:
                    self.stored(folded)
            done(outcome)

        server.offload(work, finish, "hash")

    def delete(
        self, server: Server, record: AccountRecord, done: Callable[[Outcome], None]
    ) -> None:
        """Remove ``record`` durably, then from the cache (an account already gone from the
        database is forgotten too). Logging out its sessions is the caller's part."""
        storage = self.storage
        folded = record.folded

        def work() -> Outcome:
            try:
                storage.delete_account(folded)
            except OSError as exc:
                log.error("could not delete the account %r: %s", record.name, exc)
                return Outcome.FAILED
            except Exception:
                log.exception("could not delete the account %r", record.name)
                return Outcome.FAILED
            return Outcome.DONE

        def finish(outcome: Outcome) -> None:
            if outcome is Outcome.DONE:
                key = server.fold(record.name)
                current = self.records.get(key)
                if current is not None and current.folded == folded:
                    del self.records[key]
                _forget(server, record)
                self._wrote(key)
                if self.stored is not None:
                    self.stored(folded)
                self._give_back(key)
            done(outcome)

        server.offload(work, finish)


def _forget(server: Server, record: AccountRecord) -> None:
    """``record``'s account is gone: its read markers in memory, the channels it founded,
    its access entries and the exceptions naming it go too, so that whoever registers the
    name next (another account) inherits none of them."""
    if server.history is not None:
        server.history.forget_account(server.fold(record.name))
    if server.channel_registry is not None:
        server.channel_registry.forget_account(server, record.folded)
    _drop_exceptions(server, server.fold(record.name))


def _drop_exceptions(server: Server, account: Folded) -> None:
    """Take the ``+e`` and ``+I`` entries that name ``account`` exactly (``a:name``, and
    ``m:a:name``, which lifts a mute) off every channel, announced as the server's mode
    changes. Bans (``+b a:name``) stay: dropping and registering the account again must not
    lift them, and a ban on a name only keeps its next owner out, which an operator can
    undo; an exception would let a stranger in."""
    names = {f"{ACCOUNT}:{account}", f"{MUTE}:{ACCOUNT}:{account}"}
    network = server.network
    for channel in list(network.channels.values()):
        changes: list[ModeChange] = [
            ("-", mode, entry.mask)
            for mode in ("e", "I")
            for entry in channel.lists[mode]
            if server.fold(entry.mask) in names
        ]
        if changes:
            network.change_channel_modes(None, channel, changes, server.name)


NICKSERV = "NickServ"
"""The accounts service's nick (no user holds it: the server answers for it), which no
account may be called."""


def new_account_problem(
    server: Server, service: AccountService, name: str, password: str
) -> tuple[str, str] | None:
    """Why ``name`` and ``password`` cannot make a new account, as an account-registration
    ``FAIL`` code and its text; None if they can."""
    if not is_valid_nick(name, server.limits.nicklen):
        return "BAD_ACCOUNT_NAME", "Account names follow the rules of nicknames"
    folded = server.fold(name)
    holder = server.network.users.get(folded)
    if folded == server.fold(NICKSERV) or (holder is not None and holder.service is not None):
        # (an account called ChanServ would be shown as `account=ChanServ` on what its
        # owner says, and in WHOIS: a phisher's dream)
        return "BAD_ACCOUNT_NAME", "That name is a service's"
    if service.taken(server, name):
        return "ACCOUNT_EXISTS", "An account with that name already exists"
    return password_problem(password, server.config.accounts.password_min_length)


def password_problem(
    password: str, min_length: int = MIN_PASSWORD_LENGTH
) -> tuple[str, str] | None:
    """Why ``password`` cannot be an account's password (a ``FAIL REGISTER`` code and its
    text), or None; ``min_length`` is ``[accounts] password_min_length``."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return "UNACCEPTABLE_PASSWORD", f"Passwords are at most {MAX_PASSWORD_BYTES} bytes long"
    if len(password) < min_length:
        return "WEAK_PASSWORD", f"Passwords are at least {min_length} characters long"
    return None


def valid_email(email: str) -> bool:
    """A plausible e-mail address (hubbub sends no mail; it only keeps the address)."""
    found = _EMAIL.fullmatch(email)
    return found is not None and "." in found[1][1:-1]


# -- logging in and out ----------------------------------------------------------------------


def user_mask(session: Session) -> str:
    """``nick!user@host``, also before registration (with ``*`` for what is missing)."""
    if session.registered:
        return session.user.prefix
    return f"{session.user.nick}!{session.user.username or '*'}@{session.user.host}"


def log_in(server: Server, session: Session, record: AccountRecord, reply: Response) -> None:
    """``session`` is now logged in to ``record``: RPL_LOGGEDIN, and ``ACCOUNT`` to those
    who share a channel with it (and itself) when they enabled ``account-notify``."""
    reply.numeric(
        n.RPL_LOGGEDIN,
        user_mask(session),
        record.name,
        f"You are now logged in as {record.name}",
    )
    with server.answering(reply):
        server.network.set_account(session.user, record.name)


def log_out(server: Server, session: Session, reply: Response) -> None:
    """``session`` is no longer logged in: RPL_LOGGEDOUT and ``ACCOUNT *``."""
    if session.user.account is None:
        return
    reply.numeric(n.RPL_LOGGEDOUT, user_mask(session), "You are now logged out")
    with server.answering(reply):
        server.network.set_account(session.user, None)


# -- the service of a server -----------------------------------------------------------------


def attach(server: Server, service: AccountService) -> None:
    """Give ``server`` its accounts and offer the capabilities that rely on them (again at
    each REHASH: see :meth:`AccountService.apply_config`)."""
    server.accounts = service
    service.apply_config(server)


def _announce_cap(server: Server, cap: CapBits, offered: bool) -> None:
    """``CAP NEW`` or ``CAP DEL`` for ``cap`` to every client with ``cap-notify``; a deleted
    capability is also switched off for those that had it."""
    name = CAP_NAMES[cap]
    value = server.cap_values.get(cap)
    for session in server.sessions:
        if offered:
            if not session.caps & Cap.CAP_NOTIFY:
                continue
            shown = f"{name}={value}" if value and session.cap_version >= 302 else name
            params = (session.user.nick if session.registered else "*", "NEW", shown)
        else:
            if session.caps & cap:
                session.set_caps(session.caps & ~cap)
            if not session.caps & Cap.CAP_NOTIFY:
                continue
            params = (session.user.nick if session.registered else "*", "DEL", name)
        server.send(session, Message("CAP", params, server.name))


# -- nick protection -------------------------------------------------------------------------


def reserved_for_other(
    server: Server, session: Session, folded: Folded | None = None
) -> AccountRecord | None:
    """The account that reserves the nick ``folded`` (``session``'s own by default) when
    ``session`` is not logged in to it; None when nothing stops ``session`` using the nick
    (no such account, the owner, or ``[accounts] nick_protection = "off"``)."""
    service = server.accounts
    if service is None or server.config.accounts.nick_protection == "off":
        return None
    record = service.records.get(session.user.folded if folded is None else folded)
    if record is None or not service.usable(record.folded):
        return None  # (an account nobody may log in to here reserves nothing)
    if session.user.account is not None and server.fold(session.user.account) == record.folded:
        return None
    return record


GUEST_DIGITS = 5
"""Random digits after ``[accounts] guest_prefix`` in a guest nick (fewer if NICKLEN is short)."""

GUEST_TRIES = 50
"""Random guest nicks tried before giving up (only a tiny NICKLEN makes them all taken)."""


def guest_nick(server: Server) -> str | None:
    """A free nick made of ``[accounts] guest_prefix`` and random digits (``Guest12345``),
    within NICKLEN, neither in use nor an account; None if none was found."""
    nicklen = server.limits.nicklen
    prefix = server.config.accounts.guest_prefix
    prefix = prefix[: max(1, nicklen - GUEST_DIGITS)]
    width = min(GUEST_DIGITS, nicklen - len(prefix))
    service = server.accounts
    for _ in range(GUEST_TRIES):
        digits = str(secrets.randbelow(10**width)).zfill(width) if width > 0 else ""
        nick = prefix + digits
        folded = server.fold(nick)
        if folded in server.network.users or (service is not None and service.taken(server, nick)):
            continue
        return nick
    return None


def service_of(server: Server) -> AccountService | None:
    """The accounts of ``server``; None when it has no storage."""
    return server.accounts
