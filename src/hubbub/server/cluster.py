"""Cluster mode, the core's side (sans-I/O): several nodes, one network.

The core talks to a :class:`Bus`, never to Redis: it publishes one record per change made by
one of its own users and is handed the records of the other nodes, in one order
(:meth:`ClusterLink.receive`). Nicks are claimed through the bus, which decides atomically
for the whole network (:meth:`Bus.claim_nick`), and so are the account names of nodes with a
database each (:meth:`Bus.claim_account`). The Redis implementation lives on the I/O
side (:mod:`hubbub.cluster.redis_bus`); :class:`LocalHub` links several cores in one process
(the sans-I/O tests, and the design's in-process default). See docs/cluster.md.

A user of another node is a :class:`~hubbub.server.user.User` with neither a session nor a
service, owned by that node (:attr:`ClusterLink.owner`): channels hold it like any member,
and local delivery, which writes to sessions only, skips it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from hubbub.protocol.caps import Cap
from hubbub.protocol.casemap import Folded
from hubbub.server.channel import PREFIX_MODES, Channel, ListEntry
from hubbub.server.events import (
    AccountChanged,
    AwayChanged,
    ChannelModesChanged,
    Event,
    HostChanged,
    Invited,
    Joined,
    Kicked,
    ModeChange,
    MultilineRelayed,
    NickChanged,
    Parted,
    Quit,
    RealnameChanged,
    Redacted,
    Registered,
    Relayed,
    Stamp,
    TopicChanged,
    UserModesChanged,
)
from hubbub.server.network import NewChannel
from hubbub.server.user import User

if TYPE_CHECKING:
    from hubbub.server.network import Network
    from hubbub.server.session import Session

log = logging.getLogger("hubbub.cluster")

Record = dict[str, Any]
"""One change as it crosses the bus: JSON-able, ``k`` its kind, ``n`` the node that made it."""

Claimed = Callable[["bool | None"], None]
"""Told whether a nick claim was won (True), lost (False) or could not be decided (None:
the bus is unreachable; the claim is refused, never granted on a guess)."""

Advanced = Callable[["int | None"], None]
"""Told the version a channel had in Redis before an attempt to advance it (it was advanced
if that is the version the node knew), or None when the bus is unreachable."""

AccountsSynced = Callable[[dict[str, str]], None]
"""Told, once a node claimed the names of every account of its own database, those that
other nodes hold (folded name -> the node that holds it)."""

ChannelClaimed = Callable[["str | None"], None]
"""Told the answer to a channel claim: ``""`` when it was won, the token of the claim that
holds the channel when it was lost, None when the bus is unreachable."""


class Bus(Protocol):
    """What a node asks of the cluster (Redis, or :class:`LocalHub` in one process)."""

    def publish(self, record: Record) -> None:
        """Send ``record`` to every other node, after those published before it. Never
        blocks: the bus keeps it until it is written."""

    def claim_nick(self, folded: str, done: Claimed) -> None:
        """Claim ``folded`` for this node, atomically for the whole network; ``done`` is
        called (later, on the core's thread) with the answer."""

    def release_nick(self, folded: str) -> None:
        """Give ``folded`` back (only if this node holds it)."""

    def claim_account(self, folded: str, done: Claimed) -> None:
        """Claim the account name ``folded`` for this node (an account about to be made in
        its own database), atomically for the whole network and after every account claim
        and release this node asked for before: won when nobody holds it or this node
        does. Unlike a nick's, the claim outlives the node's lease (the account does)."""

    def release_account(self, folded: str) -> None:
        """Give the account name ``folded`` back (only if this node holds it), after the
        account claims and releases asked for before."""

    def sync_accounts(self, names: list[str], done: AccountsSynced) -> None:
        """Claim every name of ``names`` (the accounts of this node's own database) and give
        back those this node holds that are not among them, in one step, after the account
        claims and releases asked for before; ``done`` gets the names other nodes hold. Tried
        until it is done (never answered on a guess)."""

    def claim_channel(
        self, folded: str, token: str, stale: str | None, done: ChannelClaimed
    ) -> None:
        """Claim the making of channel ``folded`` under ``token``, atomically for the whole
        network: won if nobody holds it, or if the one who holds it is ``stale`` (a claim
        whose channel never came: taken over)."""

    def release_channel(self, folded: str, token: str) -> None:
        """The channel made under ``token`` is gone: its claim goes (if still that one).
        Its version count is kept (a while, in Redis): the channel may live on after all,
        claimed again under the same token (:meth:`reclaim_channel`), and its count must
        then go on from where it was, never from zero."""

    def reclaim_channel(
        self, folded: str, token: str, version: int, done: ChannelClaimed, stale: str = ""
    ) -> None:
        """The channel made under ``token`` lives on after all (this node gave its claim
        back, then heard another node's user join it): claim it again under the same token,
        after the releases this node asked for before, if nobody holds it (or ``stale``
        does: this node's own claim of the channel it made anew, given over to ``token``),
        with its version count at least ``version`` (the count this node knows: a floor,
        should the count kept at the release be gone). ``done`` gets ``""`` when the claim
        is that token's, else the token that holds it; tried until it is done."""

    def advance_channel(self, token: str, known: int, done: Advanced) -> None:
        """Admit one change of the state of the channel made under ``token``: atomically,
        if its version is still ``known`` (this node has applied every change before),
        make it ``known + 1``; ``done`` gets the version it had. A count below ``known``
        (lost: Redis restarted without its data) is raised to ``known + 1`` and the change
        admitted (``done(known)``): a count never goes back."""


SEEN_RECORDS = 100_000
"""Sequence numbers remembered per node to apply each record once (more than one outbox
transaction's worth: a record is only ever written twice within one)."""

UNDELIVERED = "Your message could not reach the other servers of the network"
"""What a local sender is told when the bus had to drop its message."""

MISSED = (
    "This server fell behind the rest of the network and missed part of it: it has asked the "
    "other servers for their state again (messages from their users may be missing)"
)
"""What local users are told when this node finds that it missed records (see
:meth:`ClusterLink.resync`)."""

DELAYED = (
    "The other servers of the network cannot be reached for now: your messages wait, "
    "and are sent on once they can"
)
"""What a local sender whose acknowledgement waited a whole lease for Redis is told."""

_ACKED = Cap.ECHO_MESSAGE | Cap.LABELED_RESPONSE


class ClusterLink:
    """This node's part in a cluster: a subscriber of the network that publishes the changes
    made by local users, and the one that applies the other nodes' records to the network."""

    def __init__(
        self,
        network: Network,
        node: str,
        bus: Bus,
        server_name: str = "",
        notify: Callable[[User, str], None] | None = None,
    ) -> None:
        self.network = network
        self.node = node
        self.bus = bus
        self.server_name = server_name
        self.notify = notify
        """How a local user is told something (a server notice), when the core gives one."""
        self.owner: dict[User, str] = {}
        """Every remote user, with the node it is connected to."""
        self._uids: dict[User, int] = {}
        """This node's users, each with its uid: the number the other nodes know it by,
        whatever its nick (see :meth:`uid`)."""
        self._uid_count = 0
        self._by_uid: dict[tuple[str, int], User] = {}
        """Every remote user whose node told its uid, by (node, uid)."""
        self._uid_of: dict[User, tuple[str, int]] = {}
        """The key of each remote user of :attr:`_by_uid`."""
        self.held: set[str] = set()
        """The nicks this node holds in the cluster (claimed for its local users)."""
        self.applying = False
        """True while a remote record is applied: what the network emits then is not ours."""
        self._seen: dict[str, tuple[float, set[int], deque[int]]] = {}
        """Per node: its start time and the sequence numbers of its last records applied (a
        record written twice, after a lost reply, is applied once; a node's burst may come
        before records it made earlier, so these are not just the highest)."""
        self._seq = 0
        self.started = network.clock()
        self._channel_state: dict[Folded, Record] = {}
        """The state of channels this node does not know yet, from another node's burst."""
        self.tokens: dict[Folded, str] = {}
        """The claim under which each channel this node knows was made (see
        :meth:`claim_channel`)."""
        self.wait = 10.0
        """Seconds a JOIN waits for a channel another node claimed to get here before the
        claim is taken for stale (the application sets the lease)."""
        self._waiting: dict[Folded, list[tuple[float, Callable[[bool], None]]]] = {}
        """JOINs waiting for a channel another node made: (until when, what to do)."""
        self._tokens = 0
        self._ready: list[Callable[[bool], None]] = []
        self.versions: dict[Folded, int] = {}
        """How many changes of its state (modes, topic, kicks) each channel has had, as
        this node applied them (see :meth:`admit`)."""
        self._admitted: dict[Folded, int] = {}
        """The version each change admitted and being made now gets (until it is told)."""
        self._told: set[Folded] = set()
        """The channels whose admitted change was told (a record carried its version)."""
        self._version_waiting: dict[Folded, list[tuple[int, float, Callable[[bool], None]]]] = {}
        """Changes waiting for this node to catch up with a channel's version."""
        self.hold: Callable[[Session, int], None] | None = None
        """Holds a local sender's output until its record ``seq`` is written (set by the
        server: its acknowledgement waits, as for history, so that nothing acknowledged is
        lost with this node)."""
        self.release: Callable[[int], None] | None = None
        """Releases the senders held for records up to ``seq`` (set by the server)."""
        self._unwritten: deque[int] = deque()
        """This node's records not yet written by the bus, in the order they were made."""
        self._written_early: set[int] = set()
        """Records written before some made earlier (a burst goes first)."""
        self.on_stored: dict[str, Callable[[Folded], None]] = {}
        """What to do when another node says it wrote an account (``"acctdb"``) or a
        channel registration (``"chandb"``) in the database all nodes share: read it
        again (set by the server)."""
        self.on_marker: Callable[[Record], None] | None = None
        """What to do with another node's read marker (``"mark"``: an account's marker moved
        there and is in the database all nodes share; set by the server)."""
        self._holding: deque[tuple[int, float, Session]] = deque()
        """Senders held, with the record they wait for and since when (see :meth:`tick`)."""
        self._adopt: dict[Folded, set[User]] = {}
        """After :meth:`resync`: the channels whose state comes from the others' bursts,
        each with its local members then (until :attr:`_adopt_until`)."""
        self._adopt_until = 0.0
        self.on_resync: list[Callable[[], None]] = []
        """What else to read again when this node finds it missed records (set by the
        server: the accounts and registrations of a shared database)."""
        self._quiet = False
        """True while channels empty here only because this node forgets what it knew:
        their claims are not given back (they still exist on the other nodes)."""
        self._emptied: dict[Folded, tuple[str, float]] = {}
        """The claim token of each channel that emptied here lately, and when (see
        :class:`_Merge`)."""
        self._made: dict[Folded, tuple[str, Record, str]] = {}
        """The channels this node made just after one of the same name emptied here: the
        token, the state it made them with, and the token of the one that emptied."""
        self._replaced: dict[Folded, str] = {}
        """The claim each merged channel gave up (an answer naming it is not news)."""
        self._merging: dict[Folded, _Merge] = {}
        """The channels this node made anew in a race and is giving up (see :class:`_Merge`)."""
        self._renamed: dict[Folded, tuple[User, str, str]] = {}
        """Users of other nodes renamed to a nick a local user still held here (this node
        was taken for gone, and its claim given away): by that nick, the user (known here
        by its old nick until the local user lets the nick go), its node and new nick."""
        self.on_claims_lost: list[Callable[[], None]] = []
        """What to claim again when this node's claims may have been lost (its lease ran
        out: Redis lost its data, or took this node for gone): the account names of a
        database of its own (set by the server)."""
        network.subscribe(self.hear)
        network.claims = self

    # -- nicks -----------------------------------------------------------------------------

    def holds(self, folded: str) -> bool:
        """Whether this node holds ``folded`` in the cluster already."""
        return folded in self.held

    def uid(self, user: User) -> int:
        """The number by which the other nodes know this node's ``user`` for as long as it
        is connected, whatever its nick: records name their user by it too, so that a
        record that comes after the node's burst (which may give the user another nick
        than the other nodes know yet) still reaches the same user, never a second one."""
        uid = self._uids.get(user)
        if uid is None:
            self._uid_count += 1
            uid = self._uids[user] = self._uid_count
        return uid

    def claim(self, folded: Folded, done: Claimed) -> None:
        """Claim ``folded`` for a local user (NICK); ``done`` gets the answer."""

        def answered(won: bool | None) -> None:
            if won:
                self.held.add(folded)
            done(won)

        self.bus.claim_nick(folded, answered)

    def give_back(self, folded: Folded) -> None:
        """A claim that was won but is not used after all (the client left meanwhile)."""
        self.held.discard(folded)
        self.bus.release_nick(folded)

    def rename_lost(self, folded: str, guest: str) -> None:
        """This node was taken for gone and another node's user took the nick ``folded``
        meanwhile: the local user on it becomes ``guest`` (a nick the bus claimed for it),
        so that a nick stays one user's in the whole network."""
        network = self.network
        user = network.users.get(network.fold(folded))
        self.held.discard(folded)
        if user is None or user.session is None:
            self.bus.release_nick(network.fold(guest))
            return
        self.held.add(network.fold(guest))
        old = user.nick
        network.change_nick(user, guest, network.fold(guest))
        if self.notify is not None:
            self.notify(
                user,
                f"Your nick {old} was taken while this server was cut off: you are now {guest}",
            )

    def released(self, user: User, folded: Folded) -> None:
        """The network's hook: a local user gave ``folded`` back."""
        if folded in self.held:
            self.held.discard(folded)
            self.bus.release_nick(folded)

    # -- account names (a node with a database of its own) ------------------------------------

    def claim_account(self, folded: Folded, done: Claimed) -> None:
        """Claim the account name ``folded`` before an account is made in this node's own
        database: one account per name in the whole network (see :meth:`Bus.claim_account`)."""
        self.bus.claim_account(folded, done)

    def release_account(self, folded: Folded) -> None:
        """This node no longer has an account called ``folded``: the name is free again."""
        self.bus.release_account(folded)

    def sync_accounts(self, names: list[Folded], done: AccountsSynced) -> None:
        """Claim the names of every account this node has, give back the others it held;
        ``done`` gets those another node holds (see :meth:`Bus.sync_accounts`)."""
        self.bus.sync_accounts(list(names), done)

    def claims_lost(self) -> None:
        """This node's claims may be gone (its lease ran out): claim again what outlives a
        lease (the names of its accounts). Nicks and channels are the bus's part."""
        for then in self.on_claims_lost:
            try:
                then()
            except Exception:
                log.exception("cluster: claiming the account names again failed")

    # -- channels ----------------------------------------------------------------------------

    def claim_channel(self, folded: Folded, stale: str | None, done: ChannelClaimed) -> None:
        """Claim the making of ``folded`` for a local user's JOIN; ``done`` gets the answer
        (``""``: won, and the channel is to be made here with this node's token)."""
        self._tokens += 1
        token = f"{self.node}/{self.started:.3f}/{self._tokens}"

        def answered(holder: str | None) -> None:
            if holder == "":
                if folded in self.network.channels:  # (it came meanwhile: made elsewhere)
                    self.bus.release_channel(folded, token)
                else:
                    self.tokens[folded] = token
            done(holder)

        self.bus.claim_channel(folded, token, stale, answered)

    def claimed_elsewhere(self, folded: Folded, token: str) -> None:
        """This node was taken for gone and another node made the channel ``folded`` anew
        meanwhile (under ``token``): the two are one channel now (each side hears the
        other's members), ordered under that claim from now on."""
        if self.tokens.get(folded) != token:
            self.tokens[folded] = token
            self.versions.pop(folded, None)

    def unclaim_channel(self, folded: Folded) -> None:
        """A channel claim that was won is not used (its client left meanwhile)."""
        token = self.tokens.pop(folded, None)
        if token is not None and folded not in self.network.channels:
            self.bus.release_channel(folded, token)

    def when_known(self, folded: Folded, then: Callable[[bool], None]) -> None:
        """Call ``then(True)`` once the channel ``folded`` is known here (made by another
        node), or ``then(False)`` after :attr:`wait` seconds without it."""
        if folded in self.network.channels:
            then(True)
            return
        until = self.network.clock() + self.wait
        self._waiting.setdefault(folded, []).append((until, then))

    def _known(self, folded: Folded) -> None:
        """The channel ``folded`` came: the JOINs that waited for it go on (once the record
        that made it is applied, as this node's own changes: see :meth:`receive`)."""
        for _, then in self._waiting.pop(folded, ()):
            self._ready.append(then)

    def tick(self, now: float) -> None:
        """The core's timer: JOINs that waited too long for a channel give up waiting, and
        so do changes that waited too long for the changes before them; senders held a
        whole lease for a bus that cannot write are released and told that their messages
        wait (they are written once it can)."""
        if self._adopt and self._adopt_until <= now:
            self._adopt.clear()  # (no other node told the state of those: nobody else is there)
        for folded in [f for f, (_, at) in self._emptied.items() if at + self.wait <= now]:
            del self._emptied[folded]
        for folded, merge in list(self._merging.items()):
            if merge.target is not None and merge.until <= now:  # (waited, or Redis was down)
                if merge.target > merge.known:
                    log.warning("cluster: %s skips channel changes it never received", folded)
                merge.known, merge.target = max(merge.known, merge.target), None
                self._admit_merge(folded, merge)
        holding = self._holding
        if holding and holding[0][1] + self.wait <= now:
            told: set[Session] = set()
            while holding and holding[0][1] + self.wait <= now:
                seq, _, session = holding.popleft()
                if not session.closed and session not in told and self.notify is not None:
                    told.add(session)
                    self.notify(session.user, DELAYED)
                if self.release is not None:
                    self.release(seq)
        for folded, vwaiting in list(self._version_waiting.items()):
            vdue = [then for _, until, then in vwaiting if until <= now]
            if vdue:
                self._version_waiting[folded] = [w for w in vwaiting if w[1] > now]
                for then in vdue:
                    then(False)
        for folded, waiting in list(self._waiting.items()):
            due = [then for until, then in waiting if until <= now]
            if due:
                left = [(until, then) for until, then in waiting if until > now]
                if left:
                    self._waiting[folded] = left
                else:
                    del self._waiting[folded]
                for then in due:
                    then(False)

    def admit(self, folded: Folded, done: Callable[[bool | None], None]) -> None:
        """Before a local user changes the state of channel ``folded`` (MODE, TOPIC, KICK):
        have Redis admit the change, which it does only for a node that has applied every
        change of the channel before (a compare-and-set of the channel's version). A node
        that is behind waits for the changes it misses (at most :attr:`wait` seconds: a
        change whose node died before telling it is skipped), then asks again. ``done(True)``:
        make the change now; None: the cluster is unreachable."""
        token = self.tokens.get(folded)
        if token is None:
            done(True)  # (a channel from before this node joined: not ordered)
            return
        known = self.versions.get(folded, 0)

        def answered(held: int | None) -> None:
            if held is None:
                done(None)
            elif held == known:
                self.versions[folded] = self._admitted[folded] = known + 1
                done(True)
            elif held < known or folded not in self.network.channels:
                # (the buses raise a count below what a node knows, so not for that: for
                # a channel gone here meanwhile, go on from the bus's count)
                self.versions[folded] = held
                self.admit(folded, done)
            else:
                self._await_version(
                    folded, held, lambda came: self._caught_up(folded, held, done, token)
                )

        self.bus.advance_channel(token, known, answered)

    def _caught_up(
        self, folded: Folded, held: int, done: Callable[[bool | None], None], token: str
    ) -> None:
        if self.tokens.get(folded) == token and self.versions.get(folded, 0) < held:
            log.warning("cluster: %s skips channel changes it never received", folded)
            self.versions[folded] = held
        self.admit(folded, done)

    def _await_version(self, folded: Folded, version: int, then: Callable[[bool], None]) -> None:
        if self.versions.get(folded, 0) >= version:
            then(True)
            return
        until = self.network.clock() + self.wait
        self._version_waiting.setdefault(folded, []).append((version, until, then))

    def _reached(self, folded: Folded, version: object, token: object = None) -> None:
        """A change of another node's brought ``folded`` to ``version`` (of the count of
        ``token``, when the record names it: a count of another claim is not this one's)."""
        if not isinstance(version, int):
            return
        merge = self._merging.get(folded)
        if merge is not None and token == merge.token:
            merge.known = max(merge.known, version)
            if merge.target is not None and merge.known >= merge.target:
                merge.target = None
                self._ready.append(lambda _: self._admit_merge(folded, merge))
            return
        if isinstance(token, str) and self.tokens.get(folded) not in (None, token):
            return
        if version > self.versions.get(folded, 0):
            self.versions[folded] = version
        waiting = self._version_waiting.get(folded)
        if waiting:
            now = self.versions[folded]
            self._version_waiting[folded] = [w for w in waiting if w[0] > now]
            self._ready.extend(then for v, _, then in waiting if v <= now)

    def admitted_done(self, folded: Folded, name: str) -> None:
        """The admitted change of ``folded`` is made: if it changed nothing, the others are
        told its version anyway (they wait for every version)."""
        version = self._admitted.pop(folded, None)
        if version is not None and folded not in self._told:
            self.publish("cver", chan=name, v=version, vt=self.tokens.get(folded))
        self._told.discard(folded)

    def _version_of(self, channel: Channel) -> int | None:
        """The version an admitted change being told carries (every event it makes)."""
        version = self._admitted.get(channel.folded)
        if version is not None:
            self._told.add(channel.folded)
        return version

    def channel_gone(self, channel: Channel) -> None:
        """The network's hook: a channel is empty here, so it is empty everywhere (or soon
        will be): its claim goes. Every node that sees it go says so; only the claim it
        was made under is dropped (never a newer one)."""
        token = self.tokens.pop(channel.folded, None)
        self.versions.pop(channel.folded, None)
        self._made.pop(channel.folded, None)
        self._merging.pop(channel.folded, None)
        self._replaced.pop(channel.folded, None)
        if token is not None and not self._quiet:
            self._emptied[channel.folded] = (token, self.network.clock())
            self.bus.release_channel(channel.folded, token)

    # -- publishing ------------------------------------------------------------------------

    def publish(self, kind: str, **fields: Any) -> int:
        """Send one record of this node's to the others; its sequence number (reported by
        the bus through :meth:`written`)."""
        self._seq += 1
        seq = self._seq
        self._unwritten.append(seq)
        self.bus.publish({"k": kind, "n": self.node, "t": self.started, "s": seq, **fields})
        return seq

    @property
    def written_through(self) -> int:
        """Every record of this node's up to this sequence number is written."""
        return self._unwritten[0] - 1 if self._unwritten else self._seq

    def written(self, seq: int) -> None:
        """The bus wrote this node's record ``seq`` (or dropped it, telling its sender):
        release the senders that waited for it and those before it."""
        unwritten = self._unwritten
        if not unwritten or seq < unwritten[0]:
            return
        self._written_early.add(seq)
        early = self._written_early
        while unwritten and unwritten[0] in early:
            early.discard(unwritten.popleft())
        through = self.written_through
        holding = self._holding
        while holding and holding[0][0] <= through:
            holding.popleft()
        if self.release is not None:
            self.release(through)

    def _acknowledged(self, user: User, seq: int) -> None:
        """``user`` sent the message of record ``seq``: if it is told so (echo-message, a
        labeled reply), that waits until the record is written."""
        session = user.session
        if self.hold is None or session is None or not session.caps & _ACKED:
            return
        if seq > self.written_through:
            self.hold(session, seq)
            self._holding.append((seq, self.network.clock(), session))

    def hear(self, event: Event) -> None:
        """The subscriber: publish the changes made here (not those applied from others)."""
        if self._renamed and isinstance(event, (NickChanged, Quit)):
            if isinstance(event, NickChanged):
                gone = self.network.fold(event.old_nick)
            else:
                gone = event.user.folded
            if gone in self._renamed and self.network.users.get(gone) is None:
                self.network.later(lambda: self._rename_waiting(gone))
        if self.applying:
            return
        kind = type(event)
        handler = _PUBLISHERS.get(kind)
        if handler is not None:
            handler(self, event)

    def _local(self, user: User | None) -> bool:
        """Whether ``user`` is one of this node's own users (not a service, not remote)."""
        return user is not None and user.session is not None

    def _by(self, user: User | None) -> str | None:
        return user.nick if user is not None else None

    def _by_uid_of(self, user: User | None) -> int | None:
        """The uid of a change's local author (None: the server, or a service)."""
        return self.uid(user) if self._local(user) and user is not None else None

    def _pub_registered(self, event: Registered) -> None:
        if self._local(event.user):
            self.publish("user", **self.user_fields(event.user))

    def _pub_nick(self, event: NickChanged) -> None:
        if self._local(event.user):
            self.publish("nick", old=event.old_nick, nick=event.user.nick, u=self.uid(event.user))

    def _pub_quit(self, event: Quit) -> None:
        if self._local(event.user):
            self.publish("quit", nick=event.user.nick, reason=event.reason, u=self.uid(event.user))
            self._uids.pop(event.user, None)

    def _pub_joined(self, event: Joined) -> None:
        user, channel = event.user, event.channel
        if self._local(user):
            if event.created:
                token = self.tokens.get(channel.folded)
                emptied = self._emptied.pop(channel.folded, None)
                if token is not None and emptied is not None:  # (see _made_anew)
                    self._made[channel.folded] = (token, channel_fields(channel), emptied[0])
                self.publish("chan", **self.channel_fields(channel))
            # A JOIN to a channel that existed carries its state and claim: a node where
            # it just emptied (its last member left there within one round trip) makes it
            # again from them, not anew (see _apply_join).
            carried = {} if event.created else {"state": self._carried(channel)}
            self.publish(
                "join",
                nick=user.nick,
                chan=channel.name,
                modes=channel.members.get(user, ""),
                u=self.uid(user),
                **carried,
            )

    def _carried(self, channel: Channel) -> Record:
        """What a JOIN record carries of the channel it joins: its state and claim."""
        return {
            **channel_fields(channel),
            "token": self.tokens.get(channel.folded),
            "v": self.versions.get(channel.folded, 0),
        }

    def _pub_parted(self, event: Parted) -> None:
        if self._local(event.user):
            self.publish(
                "part",
                nick=event.user.nick,
                chan=event.channel.name,
                reason=event.reason,
                u=self.uid(event.user),
            )

    def _pub_kicked(self, event: Kicked) -> None:
        if event.by is None or self._local(event.by):
            self.publish(
                "kick",
                by=self._by(event.by),
                u=self._by_uid_of(event.by),
                chan=event.channel.name,
                nick=event.target.nick,
                reason=event.reason,
                v=self._version_of(event.channel),
                vt=self.tokens.get(event.channel.folded),
            )

    def _pub_cmodes(self, event: ChannelModesChanged) -> None:
        if event.by is None or self._local(event.by):
            by = event.by
            self.publish(
                "cmode",
                by=self._by(by),
                u=self._by_uid_of(by),
                setter=by.prefix if by is not None else self.server_name,
                chan=event.channel.name,
                changes=[list(c) for c in event.changes],
                v=self._version_of(event.channel),
                vt=self.tokens.get(event.channel.folded),
            )

    def _pub_umodes(self, event: UserModesChanged) -> None:
        if self._local(event.user):
            self.publish(
                "umode",
                nick=event.user.nick,
                added=event.added,
                removed=event.removed,
                u=self.uid(event.user),
            )

    def _pub_topic(self, event: TopicChanged) -> None:
        if event.by is None or self._local(event.by):
            self.publish(
                "topic",
                by=self._by(event.by),
                u=self._by_uid_of(event.by),
                chan=event.channel.name,
                topic=event.topic,
                setter=event.setter,
                v=self._version_of(event.channel),
                vt=self.tokens.get(event.channel.folded),
            )

    def _pub_away(self, event: AwayChanged) -> None:
        if self._local(event.user):
            self.publish("away", nick=event.user.nick, away=event.away, u=self.uid(event.user))

    def _pub_realname(self, event: RealnameChanged) -> None:
        if self._local(event.user):
            self.publish(
                "realname", nick=event.user.nick, realname=event.realname, u=self.uid(event.user)
            )

    def _pub_host(self, event: HostChanged) -> None:
        user = event.user
        if self._local(user):
            self.publish(
                "host", nick=user.nick, user=user.username, host=user.host, u=self.uid(user)
            )

    def _pub_account(self, event: AccountChanged) -> None:
        if self._local(event.user):
            self.publish(
                "account", nick=event.user.nick, account=event.account, u=self.uid(event.user)
            )

    def _pub_invited(self, event: Invited) -> None:
        if self._local(event.by):
            self.publish(
                "invite",
                by=event.by.nick,
                u=self.uid(event.by),
                nick=event.target.nick,
                chan=event.channel.name,
            )

    def _pub_relayed(self, event: Relayed) -> None:
        source, target = event.source, event.target
        if not self._local(source):
            return
        if isinstance(target, Channel):
            where, to_channel = target.name, True
        elif target in self.owner:
            where, to_channel = target.nick, False
        else:
            return  # (a local user, or a service: nothing for the other nodes)
        seq = self.publish(
            "msg",
            nick=source.nick,
            u=self.uid(source),
            cmd=event.command,
            to=where,
            chan=to_channel,
            shown=event.shown,
            status=event.status,
            idp=event.id_prefix,
            first=event.first,
            lines=event.lines,
            time=event.time,
            tags=dict(event.tags),
            wire=event.wire.decode("utf-8", "surrogateescape"),
        )
        self._acknowledged(source, seq)

    def channel_fields(self, channel: Channel) -> Record:
        """A channel's state as the other nodes need it (what a JOIN cannot carry), with
        its members as this node knows them (for a node that reads the network again:
        :meth:`resync`)."""
        return {
            **channel_fields(channel),
            "token": self.tokens.get(channel.folded),
            "v": self.versions.get(channel.folded, 0),
            "members": {user.nick: modes for user, modes in channel.members.items()},
        }

    def _target_fields(self, target: Channel | User) -> Record | None:
        """Where a message goes, as a record names it; None when no other node needs it
        (a local user, a service)."""
        if isinstance(target, Channel):
            return {"to": target.name, "chan": True}
        if target in self.owner:
            return {"to": target.nick, "chan": False}
        return None

    def _pub_multiline(self, event: MultilineRelayed) -> None:
        where = self._target_fields(event.target)
        if not self._local(event.source) or where is None:
            return
        seq = self.publish(
            "ml",
            nick=event.source.nick,
            u=self.uid(event.source),
            cmd=event.command,
            shown=event.shown,
            status=event.status,
            lines=list(event.lines),
            concat=list(event.concat),
            time=event.stamp.time,
            msgid=event.stamp.msgid,
            tags=dict(event.tags),
            **where,
        )
        self._acknowledged(event.source, seq)

    def _pub_redacted(self, event: Redacted) -> None:
        where = self._target_fields(event.target)
        if not self._local(event.by) or where is None:
            return
        self.publish(
            "redact",
            nick=event.by.nick,
            u=self.uid(event.by),
            msgid=event.msgid,
            reason=event.reason,
            **where,
        )

    def user_fields(self, user: User) -> Record:
        """What the other nodes need to know of a user of this node."""
        return {
            "nick": user.nick,
            "user": user.username,
            "host": user.host,
            "real": user.realname,
            "account": user.account,
            "modes": user.modes,
            "away": user.away,
            "signon": user.signon,
            "u": self.uid(user),
        }

    # -- bursts ----------------------------------------------------------------------------

    def hello(self) -> None:
        """This node (re)joins the cluster: ask every other node for its state."""
        self.publish("hello")

    def resync(self) -> None:
        """The bus lost records of the other nodes that this node had not applied yet (it
        fell further behind than the stream keeps): what it knows of them may be wrong (a
        user who left, a topic, a ban, a KICK of a local user). It forgets the other
        nodes' users (they quit here, as in a netsplit, without giving their channels'
        claims back), asks every node for its state again, and takes the state of the
        channels its own users are in from the first burst that tells it: modes, topic,
        lists, and its local members' places (a local user kicked meanwhile is kicked
        here). Its local users are told that they may have missed messages."""
        log.warning("cluster: %s missed records of the other nodes; reading them again", self.node)
        self._quiet = True
        try:
            for node in sorted(self.nodes()):
                self.node_gone(node)
        finally:
            self._quiet = False
        self._seen.clear()
        self._channel_state.clear()
        self._adopt = {
            folded: {user for user in channel.members if user.session is not None}
            for folded, channel in self.network.channels.items()
        }
        self._adopt_until = self.network.clock() + self.wait
        if self.notify is not None:
            for user in list(self.network.users.values()):
                if user.session is not None and user.session.registered:
                    self.notify(user, MISSED)
        for then in self.on_resync:
            try:
                then()
            except Exception:
                log.exception("cluster: reading the shared database again failed")
        self.hello()

    def burst(self) -> None:
        """Tell the other nodes everything they need of this node: its users, their
        channels and memberships, and the state of those channels; and last (``bend``),
        the list of its users (uid and nick), after which a node drops those of this node
        it has and this node does not (see :meth:`_apply_bend`). A bus that puts the burst
        before the records that waited (the Redis bus, when the node finds its lease gone)
        puts that last one after them."""
        users: list[list[Any]] = []
        told: set[Folded] = set()
        for user in list(self.network.users.values()):
            session = user.session
            if session is None or not session.registered:
                continue
            users.append([self.uid(user), user.nick])
            self.publish("user", **self.user_fields(user))
            for channel in user.channels.values():
                if channel.folded not in told:
                    told.add(channel.folded)
                    self.publish("chan", **self.channel_fields(channel))
                self.publish(
                    "join",
                    nick=user.nick,
                    chan=channel.name,
                    modes=channel.members.get(user, ""),
                    u=self.uid(user),
                )
        self.publish("bend", users=users)

    # -- applying the other nodes' records -------------------------------------------------

    def receive(self, record: Record) -> None:
        """Apply one record of another node (the bus hands them over in stream order).
        A record that no longer fits what this node knows (a message from a user it never
        heard of) is dropped; a malformed one is logged, never raised."""
        node = record.get("n")
        if node == self.node or not isinstance(node, str):
            return
        started, seq = record.get("t", 0.0), record.get("s", 0)
        last = self._seen.get(node)
        if last is not None and last[0] != started:
            # The node started again (within its lease, under the same name): the users of
            # its last run are gone.
            self.node_gone(node)
            last = None
        if last is None:
            last = self._seen[node] = (started, set(), deque())
        _, seen, order = last
        if seq in seen:
            return  # (written twice: the first reply was lost)
        seen.add(seq)
        order.append(seq)
        if len(order) > SEEN_RECORDS:
            seen.discard(order.popleft())
        apply = _APPLIERS.get(record.get("k", ""))
        if apply is None:
            return
        self.applying = True
        try:
            apply(self, node, record)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.exception("cluster record %r from %s could not be applied", record.get("k"), node)
        finally:
            self.applying = False
        ready, self._ready = self._ready, []
        for then in ready:
            try:
                then(True)
            except Exception:  # (one waiting command's bug must not stop the others)
                log.exception("cluster: a command waiting for %r failed", record.get("k"))

    def remote(self, node: str, nick: str, uid: object = None) -> User | None:
        """The user of ``node`` called ``nick``, if this node knows it (also one renamed to
        ``nick`` there and still known here by its old nick: see :meth:`_apply_nick`). A
        record that names its user's ``uid`` (every record of a node of this version) means
        that user, whatever its nick here; one that does not (an older node) is matched by
        nick."""
        if isinstance(uid, int):
            return self._by_uid.get((node, uid))
        folded = self.network.fold(nick)
        user = self.network.users.get(folded)
        if user is not None and self.owner.get(user) == node:
            return user
        waiting = self._renamed.get(folded)
        if waiting is not None and waiting[1] == node and self.owner.get(waiting[0]) == node:
            return waiting[0]
        return None

    def named(self, nick: str) -> User | None:
        """The user another node's record means by ``nick``: while a local user still holds
        that nick here and a user of another node's rename to it waits (see
        :meth:`_rename`), that user (known here by its old nick), never the local one."""
        waiting = self._renamed.get(self.network.fold(nick))
        if waiting is not None and self.owner.get(waiting[0]) == waiting[1]:
            return waiting[0]
        return self.network.find_user(nick)

    def user_of(self, node: str, nick: str | None, uid: object = None) -> User | None:
        """A record's acting user: the remote one of ``node``, or any (a service) by nick."""
        if nick is None:
            return None
        return self.remote(node, nick, uid)

    def _forget(self, user: User) -> None:
        """``user`` of another node is no longer known here."""
        self.owner.pop(user, None)
        key = self._uid_of.pop(user, None)
        if key is not None and self._by_uid.get(key) is user:
            del self._by_uid[key]

    def _apply_hello(self, node: str, record: Record) -> None:
        self.network.later(self.burst)

    def _apply_bend(self, node: str, record: Record) -> None:
        """The end of a burst of ``node``: ``record`` lists its users as they were when it
        told it. A node that found its lease gone puts its burst before the records that
        waited in its outbox, and this comes after them: by now they are applied (each to
        the user it names by uid, whatever its nick: one user here per user there), and
        this node's view of ``node``'s users is what the burst said. Should it not be (a
        record could not be applied), it is made so: a user ``node`` no longer has quits
        here, one known by another nick takes the nick ``node`` gives it."""
        wanted = {int(uid): str(nick) for uid, nick in record["users"]}
        renames: dict[User, str] = {}
        for user, owner in list(self.owner.items()):
            if owner != node:
                continue
            key = self._uid_of.get(user)
            if key is None:
                continue  # (a user its node told without a uid: an older node's)
            nick = wanted.get(key[1])
            if nick is None:
                log.warning("cluster: %s no longer has %s; it quits here", node, user.nick)
                self._drop(user, node)
            elif nick != user.nick:
                renames[user] = nick
        # One of them may have taken a nick another of them has let go since: that one
        # moves first.
        network = self.network
        while renames:
            moved = False
            for user, nick in list(renames.items()):
                holder = network.users.get(network.fold(nick))
                if holder is not None and holder is not user and holder in renames:
                    continue
                del renames[user]
                log.warning("cluster: %s's user %s is %s there", node, user.nick, nick)
                self._rename(user, node, nick)
                moved = True
            if not moved:  # (nicks that went round among them: left as they are)
                log.warning("cluster: %s's users %s swapped nicks", node, sorted(renames.values()))
                break

    def _drop(self, user: User, node: str) -> None:
        """A user of ``node`` known here that ``node`` says it no longer has (by a burst)
        quits here, as in a netsplit (the reason its QUIT gave was already told)."""
        self.network.quit(user, f"{self.server_name} {node}.split")
        self._forget(user)
        self._renamed = {k: w for k, w in self._renamed.items() if w[0] is not user}

    def _apply_user(self, node: str, record: Record) -> None:
        network = self.network
        nick = record["nick"]
        uid = record.get("u")
        key = (node, uid) if isinstance(uid, int) else None
        if key is not None and key in self._by_uid:
            # A burst telling a user known here, maybe by another nick: the records that
            # waited in its node's outbox (its NICK among them) come next, and bring it
            # where the burst says it is (see _apply_bend).
            return
        folded = network.fold(nick)
        holder = network.users.get(folded)
        if holder is not None:
            # (held by a user of the same node: its NICK away from it is one of the records
            # that waited behind the burst, and this one's registration too)
            if self.owner.get(holder) != node:
                log.warning("cluster: %s says it has %s, which is taken here", node, nick)
            return
        user = User(record["host"], float(record["signon"]))
        user.nick, user.folded = nick, folded
        user.username, user.realname = record["user"], record["real"]
        user.account, user.away = record["account"], record["away"]
        user.modes = record["modes"]
        self.owner[user] = node
        if key is not None:
            self._by_uid[key] = user
            self._uid_of[user] = key
        network.register(user)
        if "o" in user.modes:
            network.opers.add(user)

    def _apply_nick(self, node: str, record: Record) -> None:
        user = self.remote(node, record["old"], record.get("u"))
        if user is None:
            return
        self._renamed.pop(self.network.fold(record["old"]), None)
        self._rename(user, node, record["nick"])

    def _rename(self, user: User, node: str, nick: str) -> None:
        """``user`` of ``node`` is now ``nick``. If a local user still holds that nick here
        (this node was taken for gone, its claim freed and won by ``node``'s user; the
        local user is renamed once this node sees it), the rename waits until it lets the
        nick go: the user stays known here by its old nick, and by the new one for the
        records of its node (see :meth:`remote`)."""
        network = self.network
        if user.nick == nick:
            return
        folded = network.fold(nick)
        holder = network.users.get(folded)
        if holder is not None and holder is not user:
            # (or a remote user whose own rename waits: that nick is free elsewhere, and
            # here once that rename is made)
            if holder.session is not None or any(w[0] is holder for w in self._renamed.values()):
                self._renamed[folded] = (user, node, nick)
            else:
                log.warning("cluster: %s renamed a user to %s, which is taken here", node, nick)
            return
        network.change_nick(user, nick, folded)

    def _rename_waiting(self, folded: Folded) -> None:
        """The local user who held ``folded`` let it go: the user of another node renamed to
        it meanwhile takes it here too."""
        waiting = self._renamed.pop(folded, None)
        if waiting is None:
            return
        user, node, nick = waiting
        if self.owner.get(user) != node or self.network.users.get(user.folded) is not user:
            return  # (gone meanwhile)
        applying, self.applying = self.applying, True
        try:
            self._rename(user, node, nick)
        finally:
            self.applying = applying

    def _apply_quit(self, node: str, record: Record) -> None:
        user = self.remote(node, record["nick"], record.get("u"))
        if user is not None:
            self.network.quit(user, record["reason"])
            self._forget(user)

    def _apply_chan(self, node: str, record: Record) -> None:
        folded = self.network.fold(record["name"])
        channel = self.network.channels.get(folded)
        local = self._adopt.pop(folded, None)
        if channel is not None and local is not None:
            channel = self._adopt_state(channel, record, local)
        if channel is None:
            self._channel_state[folded] = record
        token = record.get("token")
        if isinstance(token, str) and (folded not in self.tokens or local is not None):
            if self.tokens.get(folded) != token:
                self.versions.pop(folded, None)
            self.tokens[folded] = token
            self._reached(folded, record.get("v"))

    def _adopt_state(self, channel: Channel, record: Record, local: set[User]) -> Channel | None:
        """After :meth:`resync`: make ``channel`` what another node's burst says it is
        (through the network, so that local clients see each change), and its local
        members (those of ``local`` still there) what they are there. Returns the channel,
        or None if it emptied (its last local member had been kicked meanwhile)."""
        network = self.network
        members = record.get("members")
        if isinstance(members, dict):
            places = {network.fold(str(nick)): str(modes) for nick, modes in members.items()}
            gone = [user for user in local if user in channel.members and user.folded not in places]
            self._quiet = True  # (the channel lives on elsewhere: its claim stays)
            try:
                for user in gone:
                    network.kick(None, channel, user, "Removed while this server was cut off")
            finally:
                self._quiet = False
            if channel.folded not in network.channels:
                return None
        else:
            places = {}
        changes: list[ModeChange] = []
        flags = set(record["flags"])
        changes += [("-", m, None) for m in sorted(channel.flags - flags)]
        changes += [("+", m, None) for m in sorted(flags - channel.flags)]
        key, limit = record["key"], record["limit"]
        if key != channel.key:
            changes.append(("+", "k", key) if key else ("-", "k", channel.key))
        if limit != channel.limit:
            changes.append(("+", "l", str(limit)) if limit else ("-", "l", None))
        lists: dict[str, list[ListEntry]] = {}
        for mode, entries in record["lists"].items():
            if mode not in channel.lists:
                continue
            theirs = [ListEntry(str(m), str(s), int(t)) for m, s, t in entries]
            lists[mode] = theirs
            ours = {network.fold(e.mask) for e in channel.lists[mode]}
            wanted = {network.fold(e.mask) for e in theirs}
            changes += [
                ("-", mode, e.mask)
                for e in channel.lists[mode]
                if network.fold(e.mask) not in wanted
            ]
            changes += [("+", mode, e.mask) for e in theirs if network.fold(e.mask) not in ours]
        for user in local:
            place = places.get(user.folded)
            have = channel.members.get(user)
            if place is None or have is None:
                continue
            changes += [("-", m, user.nick) for m in PREFIX_MODES if m in have and m not in place]
            changes += [("+", m, user.nick) for m in PREFIX_MODES if m in place and m not in have]
        if changes:
            network.change_channel_modes(None, channel, changes, self.server_name)
        for mode, theirs in lists.items():  # (with their setters and times, as the others keep)
            channel.set_list(mode, theirs)
        if record["topic"] != channel.topic:
            network.set_topic(None, channel, record["topic"], record["setter"])
        channel.topic_setter, channel.topic_time = record["setter"], int(record["ttime"])
        return channel

    def _apply_join(self, node: str, record: Record) -> None:
        user = self.remote(node, record["nick"], record.get("u"))
        if user is None:
            return
        network = self.network
        name = record["chan"]
        folded = network.fold(name)
        channel = network.channels.get(folded)
        if channel is not None and user in channel.members:
            return
        modes = "".join(m for m in PREFIX_MODES if m in record["modes"])
        new = None
        carried = record.get("state")
        if channel is None:
            channel = Channel(name, folded, network.clock())
            state = self._channel_state.pop(folded, None)
            if isinstance(carried, dict):
                state = carried
            if state is not None:
                set_channel(channel, state)
            new = NewChannel(channel, modes)
        network.join(user, name, folded, new, modes=modes)
        if new is not None:
            if isinstance(carried, dict):
                self._remade(folded, carried)
            self._known(folded)
        elif isinstance(carried, dict):
            self._made_anew(folded, carried)

    def _remade(self, folded: Folded, carried: Record) -> None:
        """A channel another node's user joined, unknown here (its last member here left
        within one round trip, and this node may have given its claim back) is made again
        from the state the JOIN carried: with its claim's token and version, and the claim
        taken again under that token if it is gone (a third node must not make it anew)."""
        token = carried.get("token")
        if not isinstance(token, str):
            return
        self.tokens[folded] = token
        self.versions.pop(folded, None)
        self._reached(folded, carried.get("v"))
        self.bus.reclaim_channel(
            folded, token, self.versions.get(folded, 0), self._reclaimed(folded, token)
        )

    def _made_anew(self, folded: Folded, carried: Record) -> None:
        """Another node's user joined the channel ``folded`` as it was before it emptied
        here (the JOIN carries that channel's claim token and state), and this node made
        it anew meanwhile, its user its creator, from a claim it won because the old one
        had just been given back (the JOIN raced the last PART, and this node had applied
        the PART, not the JOIN). Two channels of one name met: this node gives its own up
        (see :class:`_Merge`)."""
        made = self._made.get(folded)
        token = carried.get("token")
        if (
            made is None
            or folded in self._merging
            or not isinstance(token, str)
            or token != made[2]  # (only the channel that emptied here just before)
            or self.tokens.get(folded) != made[0]
        ):
            return
        version = carried.get("v")
        merge = _Merge(token, version if isinstance(version, int) else 0, carried, made[1])
        self._merging[folded] = merge
        log.warning("cluster: %s was made anew here as it lived on elsewhere; merging", folded)
        self._admit_merge(folded, merge)

    def _admit_merge(self, folded: Folded, merge: _Merge) -> None:
        """Have the merge admitted as a change of the old channel's count, then (see
        :meth:`_merge`) of this node's own: no change of either is made by a node that has
        not applied the merge, or is told after it but made before it."""

        def answered(held: int | None) -> None:
            if self._merging.get(folded) is not merge:
                return  # (the channel emptied meanwhile)
            if held is None:  # (tried again after the wait)
                log.warning("cluster: %s cannot be merged yet: the cluster is unreachable", folded)
                merge.target, merge.until = merge.known, self.network.clock() + self.wait
            elif held == merge.known:
                merge.known += 1
                merge.admitted = True
                self.admit(folded, lambda ok: self._merge(folded, merge, ok))
            else:  # (changes of the old channel this node has not applied yet: wait)
                merge.target = held
                merge.until = self.network.clock() + self.wait

        if merge.admitted:  # (only this node's own count is left to admit it)
            self.admit(folded, lambda ok: self._merge(folded, merge, ok))
        else:
            self.bus.advance_channel(merge.token, merge.known, answered)

    def _merge(self, folded: Folded, merge: _Merge, admitted: bool | None) -> None:
        """Both counts admitted the merge: this node's copy of the channel takes the old
        channel's state where the two differed when they met, the channel takes the old
        claim back (this node gives its own over), and the others do the same at the same
        place in the stream (a ``cmerge`` record)."""
        version = self._admitted.pop(folded, None)  # (this change's, if admitted)
        own = self.tokens.get(folded)
        if self._merging.get(folded) is merge and admitted is None:  # (tried after the wait)
            merge.target, merge.until = merge.known, self.network.clock() + self.wait
            return
        channel = self.network.channels.get(folded)
        if self._merging.pop(folded, None) is not merge or channel is None or own is None:
            name = str(merge.state.get("name", folded))  # (the versions taken are told)
            self.publish("cver", chan=name, v=merge.known, vt=merge.token)
            if version is not None:
                self.publish("cver", chan=name, v=version, vt=own)
            return
        applying, self.applying = self.applying, True  # (one record, not the changes it makes)
        try:
            self._converge(channel, merge.made, merge.state)
        finally:
            self.applying = applying
        self.tokens[folded] = merge.token
        self.versions[folded] = merge.known
        self._made.pop(folded, None)
        self._replaced[folded] = own
        self.publish(
            "cmerge",
            chan=channel.name,
            token=merge.token,
            v=merge.known,
            was=own,
            wv=version,
            made=merge.made,
            state=merge.state,
        )
        token = merge.token

        self.bus.reclaim_channel(
            folded, token, merge.known, self._reclaimed(folded, token), stale=own
        )

    def _reclaimed(self, folded: Folded, token: str) -> ChannelClaimed:
        """The answer to claiming ``folded`` again under ``token``: held by a newer claim,
        the channel is ordered under that from now on (unless it is the claim a merge
        gave up: see :class:`_Merge`)."""

        def answered(holder: str | None) -> None:
            if holder in (None, "", token, self._replaced.get(folded)):
                return
            if self.tokens.get(folded) == token:
                log.warning("cluster: %s was made anew by %s meanwhile", folded, holder)
                self.claimed_elsewhere(folded, str(holder))

        return answered

    def _converge(self, channel: Channel, made: Record, state: Record) -> None:
        """Make ``channel`` what the old channel's ``state`` says wherever it differs from
        the state the new one was ``made`` with (through the network: local clients see
        each change). Every node applies the same changes of the two since, in the same
        order, so what they did not differ in is the same on every node already."""
        network = self.network
        changes: list[ModeChange] = []
        made_flags, flags = set(made["flags"]), set(state["flags"])
        changes += [("+", m, None) for m in sorted(flags - made_flags) if m not in channel.flags]
        changes += [("-", m, None) for m in sorted(made_flags - flags) if m in channel.flags]
        key, limit = state["key"], state["limit"]
        if made["key"] != key and channel.key != key:
            if key:
                changes.append(("+", "k", key))
            elif channel.key:
                changes.append(("-", "k", channel.key))
        if made["limit"] != limit and channel.limit != limit:
            changes.append(("+", "l", str(limit)) if limit else ("-", "l", None))
        entries: dict[str, dict[Folded, ListEntry]] = {}
        for mode in channel.lists:
            theirs = {
                network.fold(str(m)): ListEntry(str(m), str(s), int(t))
                for m, s, t in state["lists"].get(mode, ())
            }
            before = {network.fold(str(e[0])) for e in made["lists"].get(mode, ())}
            ours = {network.fold(e.mask): e for e in channel.lists[mode]}
            added = {f: e for f, e in theirs.items() if f not in before}
            entries[mode] = added
            changes += [("+", mode, e.mask) for f, e in added.items() if f not in ours]
            changes += [
                ("-", mode, e.mask) for f, e in ours.items() if f in before and f not in theirs
            ]
        if changes:
            network.change_channel_modes(None, channel, changes, self.server_name)
        for mode, wanted in entries.items():  # (with their setters and times, as kept there)
            channel.set_list(
                mode, (wanted.get(network.fold(e.mask), e) for e in channel.lists[mode])
            )
        if made["topic"] != state["topic"]:
            if channel.topic != state["topic"]:
                network.set_topic(None, channel, state["topic"], state["setter"])
            channel.topic_setter, channel.topic_time = state["setter"], int(state["ttime"])

    def _apply_cmerge(self, node: str, record: Record) -> None:
        """A node that made a channel anew in a race gave it up for the old one (see
        :class:`_Merge`): the same changes here, and the old claim with its count."""
        network = self.network
        folded = network.fold(record["chan"])
        token, was = record["token"], record["was"]
        if self.tokens.get(folded) == was:
            self._reached(folded, record.get("wv"), was)
        channel = network.channels.get(folded)
        if channel is None:
            return
        self._converge(channel, record["made"], record["state"])
        if isinstance(was, str):
            self._replaced[folded] = was
        if self.tokens.get(folded) != token:
            self.tokens[folded] = token
            self.versions.pop(folded, None)
        self._reached(folded, record.get("v"), token)

    def _apply_part(self, node: str, record: Record) -> None:
        user = self.remote(node, record["nick"], record.get("u"))
        channel = self.network.find_channel(record["chan"])
        if user is not None and channel is not None and user in channel.members:
            self.network.part(user, channel, record["reason"])

    def _apply_cver(self, node: str, record: Record) -> None:
        self._reached(self.network.fold(record["chan"]), record.get("v"), record.get("vt"))

    def _apply_kick(self, node: str, record: Record) -> None:
        self._apply_cver(node, record)
        channel = self.network.find_channel(record["chan"])
        target = self.named(record["nick"])
        if channel is None or target is None or target not in channel.members:
            return
        self.network.kick(
            self.user_of(node, record["by"], record.get("u")), channel, target, record["reason"]
        )

    def _apply_cmode(self, node: str, record: Record) -> None:
        self._apply_cver(node, record)
        channel = self.network.find_channel(record["chan"])
        if channel is None:
            return
        changes: list[ModeChange] = [(str(s), str(m), p) for s, m, p in record["changes"]]
        if self._renamed:  # (a member named by a nick whose rename waits here: see named)
            changes = [
                (s, m, self._nick_here(p) if m in PREFIX_MODES and isinstance(p, str) else p)
                for s, m, p in changes
            ]
        self.network.change_channel_modes(
            self.user_of(node, record["by"], record.get("u")), channel, changes, record["setter"]
        )

    def _nick_here(self, nick: str) -> str:
        """The nick by which this node knows the user another node's record calls ``nick``."""
        user = self.named(nick)
        return user.nick if user is not None else nick

    def _apply_umode(self, node: str, record: Record) -> None:
        user = self.remote(node, record["nick"], record.get("u"))
        if user is not None:
            added = "".join(m for m in record["added"] if m not in user.modes)
            removed = "".join(m for m in record["removed"] if m in user.modes)
            if added or removed:
                self.network.set_user_modes(user, added, removed)

    def _apply_topic(self, node: str, record: Record) -> None:
        self._apply_cver(node, record)
        channel = self.network.find_channel(record["chan"])
        if channel is not None:
            self.network.set_topic(
                self.user_of(node, record["by"], record.get("u")),
                channel,
                record["topic"],
                record["setter"],
            )

    def _apply_away(self, node: str, record: Record) -> None:
        user = self.remote(node, record["nick"], record.get("u"))
        if user is not None:
            self.network.set_away(user, record["away"])

    def _apply_realname(self, node: str, record: Record) -> None:
        user = self.remote(node, record["nick"], record.get("u"))
        if user is not None:
            self.network.set_realname(user, record["realname"])

    def _apply_host(self, node: str, record: Record) -> None:
        user = self.remote(node, record["nick"], record.get("u"))
        if user is not None:
            self.network.change_host(user, record["user"], record["host"])

    def _apply_account(self, node: str, record: Record) -> None:
        user = self.remote(node, record["nick"], record.get("u"))
        if user is not None:
            self.network.set_account(user, record["account"])

    def _apply_invite(self, node: str, record: Record) -> None:
        by = self.remote(node, record["by"], record.get("u"))
        target = self.named(record["nick"])
        channel = self.network.find_channel(record["chan"])
        if by is not None and target is not None and channel is not None:
            self.network.invite(by, target, channel)

    def _target(self, record: Record) -> Channel | User | None:
        """A message record's target here: a channel, or a local user (a user of another
        node is not this node's to deliver to)."""
        network = self.network
        if record["chan"]:
            return network.find_channel(record["to"])
        user = self.named(record["to"])
        return user if user is not None and user.session is not None else None

    def _speaker(self, node: str, nick: str, uid: object = None) -> User | None:
        """The sender of a message of ``node``, if it is known here by that nick (a user
        whose rename waits here is not: the message's lines name it by a nick that is a
        local user's here, so it is not delivered here)."""
        user = self.remote(node, nick, uid)
        return user if user is not None and user.folded == self.network.fold(nick) else None

    def _apply_ml(self, node: str, record: Record) -> None:
        source = self._speaker(node, record["nick"], record.get("u"))
        target = self._target(record)
        if source is None or target is None:
            return
        self.network.tell(
            MultilineRelayed(
                source,
                record["cmd"],
                target,
                record["shown"],
                record["status"],
                tuple(str(line) for line in record["lines"]),
                tuple(bool(c) for c in record["concat"]),
                Stamp(float(record["time"]), str(record["msgid"])),
                record["tags"],
            )
        )

    def _apply_stored(self, node: str, record: Record) -> None:
        then = self.on_stored.get(str(record.get("k")))
        name = record.get("name")
        if then is not None and isinstance(name, str):
            then(Folded(name))

    def _apply_mark(self, node: str, record: Record) -> None:
        if self.on_marker is not None:
            self.on_marker(record)

    def _apply_redact(self, node: str, record: Record) -> None:
        by = self.remote(node, record["nick"], record.get("u"))
        target = self._target(record)
        if by is not None and target is not None:
            self.network.redact(by, target, record["msgid"], record["reason"])

    def _apply_msg(self, node: str, record: Record) -> None:
        source = self._speaker(node, record["nick"], record.get("u"))
        if source is None:
            return
        network = self.network
        target = self._target(record)
        if target is None:
            return
        tags: Mapping[str, str] = record["tags"]
        event = Relayed(
            source,
            record["cmd"],
            target,
            record["shown"],
            record["status"],
            record["idp"],
            int(record["first"]),
            int(record["lines"]),
            float(record["time"]),
            tags,
            record["wire"].encode("utf-8", "surrogateescape"),
        )
        network.tell(event)

    # -- nodes that go -----------------------------------------------------------------------

    def nodes(self) -> set[str]:
        """The other nodes this node has users from."""
        return set(self.owner.values())

    def node_gone(self, node: str) -> None:
        """``node``'s lease ran out: its users quit here (and its record count restarts)."""
        gone = [user for user, owner in self.owner.items() if owner == node]
        if gone:
            log.warning("cluster: node %s is gone; %d of its users quit here", node, len(gone))
        self.applying = True
        try:
            for user in gone:
                self._forget(user)
                self.network.quit(user, f"{self.server_name} {node}.split")
        finally:
            self.applying = False
        self._seen.pop(node, None)
        self._renamed = {k: w for k, w in self._renamed.items() if w[1] != node}

    def undelivered(self, record: Record) -> None:
        """The bus had to drop one of this node's records: tell its local sender."""
        if record.get("k") not in ("msg", "ml") or self.notify is None:
            return
        user = self.network.users.get(self.network.fold(record.get("nick", "")))
        if user is not None and user.session is not None:
            self.notify(user, f"{UNDELIVERED} (to {record.get('to')})")


class _Merge:
    """A channel this node made anew in a race, being given up for the one it replaced.

    The last member of a channel left on one node while a user of a second node joined it
    (that node still saw the channel: its JOIN record carries the channel's claim token and
    state); this node had applied the PART, not yet the JOIN, when one of its users joined
    the channel: the claim had been given back, so this node won a new one and made the
    channel anew (its user its creator). When the JOIN reaches this node, the two channels
    of one name meet: the nodes that saw the new one have its bare state, those that saw
    the old one keep its state. This node then has a change admitted in the old channel's
    count (:attr:`known`: the last version of it this node applied) and in its own, and
    tells the others (a ``cmerge`` record) to make the channel what the old one's state
    says wherever the two states differed when they met (:meth:`ClusterLink._converge`),
    under the old claim from then on."""

    __slots__ = ("admitted", "known", "made", "state", "target", "token", "until")

    def __init__(self, token: str, known: int, state: Record, made: Record) -> None:
        self.token = token
        self.known = known
        self.state = state
        self.made = made
        self.target: int | None = None
        """The version of the old channel's count this merge waits for (a change of it
        not applied here yet), until :attr:`until`."""
        self.until = 0.0
        self.admitted = False
        """Whether the old channel's count admitted the merge (as :attr:`known`)."""


def channel_fields(channel: Channel) -> Record:
    """A channel's state as a node tells it in a burst (what a JOIN cannot carry)."""
    return {
        "name": channel.name,
        "created": channel.created,
        "born": channel.born,
        "closed": list(channel.closed_since),
        "flags": "".join(sorted(channel.flags)),
        "key": channel.key,
        "limit": channel.limit,
        "topic": channel.topic,
        "setter": channel.topic_setter,
        "ttime": channel.topic_time,
        "lists": {m: [[e.mask, e.setter, e.time] for e in es] for m, es in channel.lists.items()},
    }


def set_channel(channel: Channel, state: Record) -> None:
    """Make a channel this node does not know yet what another node says it is."""
    channel.created = int(state["created"])
    channel.born = float(state.get("born", channel.created))
    closed = state.get("closed") or (None, None)
    channel.closed_since = (closed[0], closed[1])
    channel.flags = set(state["flags"])
    channel.key = state["key"]
    channel.limit = state["limit"]
    channel.topic, channel.topic_setter = state["topic"], state["setter"]
    channel.topic_time = int(state["ttime"])
    for mode, entries in state["lists"].items():
        if mode in channel.lists:
            channel.set_list(mode, (ListEntry(str(m), str(s), int(t)) for m, s, t in entries))


_PUBLISHERS: dict[type, Callable[[ClusterLink, Any], None]] = {
    Registered: ClusterLink._pub_registered,
    NickChanged: ClusterLink._pub_nick,
    Quit: ClusterLink._pub_quit,
    Joined: ClusterLink._pub_joined,
    Parted: ClusterLink._pub_parted,
    Kicked: ClusterLink._pub_kicked,
    ChannelModesChanged: ClusterLink._pub_cmodes,
    UserModesChanged: ClusterLink._pub_umodes,
    TopicChanged: ClusterLink._pub_topic,
    AwayChanged: ClusterLink._pub_away,
    RealnameChanged: ClusterLink._pub_realname,
    HostChanged: ClusterLink._pub_host,
    AccountChanged: ClusterLink._pub_account,
    Invited: ClusterLink._pub_invited,
    Relayed: ClusterLink._pub_relayed,
    MultilineRelayed: ClusterLink._pub_multiline,
    Redacted: ClusterLink._pub_redacted,
}
"""How each kind of event is told to the other nodes."""

_APPLIERS: dict[str, Callable[[ClusterLink, str, Record], None]] = {
    "hello": ClusterLink._apply_hello,
    "bend": ClusterLink._apply_bend,
    "user": ClusterLink._apply_user,
    "nick": ClusterLink._apply_nick,
    "quit": ClusterLink._apply_quit,
    "chan": ClusterLink._apply_chan,
    "join": ClusterLink._apply_join,
    "part": ClusterLink._apply_part,
    "kick": ClusterLink._apply_kick,
    "cver": ClusterLink._apply_cver,
    "cmerge": ClusterLink._apply_cmerge,
    "cmode": ClusterLink._apply_cmode,
    "umode": ClusterLink._apply_umode,
    "topic": ClusterLink._apply_topic,
    "away": ClusterLink._apply_away,
    "realname": ClusterLink._apply_realname,
    "host": ClusterLink._apply_host,
    "account": ClusterLink._apply_account,
    "invite": ClusterLink._apply_invite,
    "msg": ClusterLink._apply_msg,
    "ml": ClusterLink._apply_ml,
    "redact": ClusterLink._apply_redact,
    "acctdb": ClusterLink._apply_stored,
    "chandb": ClusterLink._apply_stored,
    "mark": ClusterLink._apply_mark,
}
"""How each kind of record of another node is applied here."""


class LocalHub:
    """The in-process bus: links several cores in one process (sans-I/O tests of a cluster,
    and the model the Redis bus follows). Records wait until :meth:`pump` hands them to every
    other node, in the one order they were published; nick claims are decided at once."""

    def __init__(self) -> None:
        self.links: list[ClusterLink] = []
        self.queue: list[Record] = []
        self.nicks: dict[str, str] = {}
        self.channels: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        """Each channel token's version count (kept when its claim is given back, as
        Redis keeps it a while: the channel may be claimed again under that token)."""
        self.accounts: dict[str, str] = {}
        """Account names claimed, with the node that holds each (they outlive the node)."""

    def bus(self, node: str) -> LocalBus:
        """The bus of the node ``node``."""
        return LocalBus(self, node)

    def join(self, link: ClusterLink) -> None:
        """Add a node's link (it says hello: the others burst)."""
        self.links.append(link)
        link.hello()

    def pump(self) -> int:
        """Hand every waiting record to every node but its own; returns how many."""
        count = 0
        while self.queue:
            record = self.queue.pop(0)
            count += 1
            for link in list(self.links):
                if link.node == record.get("n"):
                    link.written(int(record["s"]))
                link.receive(record)
        return count

    def kill(self, node: str) -> None:
        """``node`` dies: its claims go and the others see its lease run out."""
        self.links = [link for link in self.links if link.node != node]
        self.nicks = {k: v for k, v in self.nicks.items() if v != node}
        for link in self.links:
            link.node_gone(node)


class LocalBus:
    """One node's end of a :class:`LocalHub`."""

    def __init__(self, hub: LocalHub, node: str) -> None:
        self.hub = hub
        self.node = node

    def publish(self, record: Record) -> None:
        self.hub.queue.append(record)

    def claim_nick(self, folded: str, done: Claimed) -> None:
        holder = self.hub.nicks.setdefault(folded, self.node)
        done(holder == self.node)

    def release_nick(self, folded: str) -> None:
        if self.hub.nicks.get(folded) == self.node:
            del self.hub.nicks[folded]

    def claim_account(self, folded: str, done: Claimed) -> None:
        done(self.hub.accounts.setdefault(folded, self.node) == self.node)

    def release_account(self, folded: str) -> None:
        if self.hub.accounts.get(folded) == self.node:
            del self.hub.accounts[folded]

    def sync_accounts(self, names: list[str], done: AccountsSynced) -> None:
        accounts = self.hub.accounts
        wanted = set(names)
        for name in [k for k, v in accounts.items() if v == self.node and k not in wanted]:
            del accounts[name]
        taken = {}
        for name in names:
            holder = accounts.setdefault(name, self.node)
            if holder != self.node:
                taken[name] = holder
        done(taken)

    def claim_channel(
        self, folded: str, token: str, stale: str | None, done: ChannelClaimed
    ) -> None:
        holder = self.hub.channels.get(folded)
        if holder is None or holder == stale:
            self.hub.channels[folded] = token
            done("")
        else:
            done(holder)

    def release_channel(self, folded: str, token: str) -> None:
        if self.hub.channels.get(folded) == token:
            del self.hub.channels[folded]

    def reclaim_channel(
        self, folded: str, token: str, version: int, done: ChannelClaimed, stale: str = ""
    ) -> None:
        holder = self.hub.channels.get(folded)
        if holder is None or holder == stale:
            holder = self.hub.channels[folded] = token
        if holder == token and self.hub.versions.get(token, 0) < version:
            self.hub.versions[token] = version
        done("" if holder == token else holder)

    def advance_channel(self, token: str, known: int, done: Advanced) -> None:
        held = self.hub.versions.get(token, 0)
        if held <= known:
            self.hub.versions[token] = known + 1
        done(max(held, known))
