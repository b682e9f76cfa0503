"""The Redis bus: how the nodes of a cluster share one truth (see docs/cluster.md).

- Every node's records go, in order, through one outbox into one Redis stream
  (``XADD ... MAXLEN ~``); each node reads the stream with ``XREAD BLOCK`` from the last
  entry it applied, so a node that lost Redis for a while catches up where it stopped.
- Nick claims are one hash, field = folded nick, value = node: ``HSETNX`` decides who gets
  a nick; a Lua script gives one back only if this node holds it.
- Each node holds a lease (a key with a time to live); a node whose lease ran out is gone:
  its users quit on the others, and its nick claims are dropped.
- Account names (nodes with a database each) are one hash too, field = folded name, value =
  node, claimed and given back through the outbox, so in the order the node asked; they
  outlive leases (an account outlives its node's run).

Runs on the application's event loop with redis-py's asyncio client (hiredis parses the
replies when installed). The core never waits for Redis: it hands records over and is called
back with nick claims' answers and the other nodes' records.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections import deque
from collections.abc import Coroutine
from typing import Any

from hubbub.server.cluster import (
    AccountsSynced,
    Advanced,
    ChannelClaimed,
    Claimed,
    ClusterLink,
    Record,
)

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - the cluster extra is not installed
    aioredis = None  # type: ignore[assignment]
    RedisError = Exception  # type: ignore[assignment,misc]

log = logging.getLogger("hubbub.cluster")

BATCH = 256
"""Records written to the stream in one transaction, at most."""

MESSAGES = frozenset({"msg", "ml"})
"""The records that a full outbox drops (their senders are told): messages. Every other
record changes what the network is, and waits whatever the outbox holds."""

BACKOFF_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)
"""How long to wait before trying Redis again, after each failure in a row."""

RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""
"""Give a nick back, only if this node holds it."""

DROP_NODE = """
local n = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] then
    redis.call('HDEL', KEYS[1], all[i])
    n = n + 1
  end
end
return n
"""
"""Drop every nick claim of one node (it is gone, or it starts again)."""

REAP = (
    """
if redis.call('EXISTS', KEYS[3]) == 1 then
  return -1
end
redis.call('SREM', KEYS[2], ARGV[1])
"""
    + DROP_NODE
)
"""Take a node for gone if its lease is gone: drop its nick claims and its name from the
nodes, in one step (a node that renews its lease a moment later then claims its nicks
again; it never has them dropped after it did). -1 when the lease is there."""

CLAIM_CHANNEL = """
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if (not holder) or holder == ARGV[2] or (ARGV[3] ~= '' and holder == ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PERSIST', KEYS[2])
  if KEYS[3] and ARGV[3] ~= '' and ARGV[3] ~= ARGV[2] then
    redis.call('PEXPIRE', KEYS[3], ARGV[5])
  end
  local floor = tonumber(ARGV[4] or '0')
  if floor > tonumber(redis.call('GET', KEYS[2]) or '0') then
    redis.call('SET', KEYS[2], floor)
  end
  return ''
end
return holder
"""
"""Claim the making of a channel: won if nobody holds it, if the token holds it already
(a channel claimed again), or if its holder is the stale claim named (a channel that
never came; a node's own claim of a channel it made anew, given over); else the holder's
token. A claim won keeps the token's version count (``KEYS[2]``: one
kept since a release, no longer to expire), raised to the floor given if below it; the
count of a stale claim it replaced (``KEYS[3]``, when given) is kept only as a released
one's (``ARGV[5]`` ms), since nobody orders changes under that claim any more."""

RELEASE_CHANNEL = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 0
"""
"""Give a channel's claim back (only if it is still that token's); its version count is
kept for :data:`KEPT_VERSION_SECONDS` (the channel may be claimed again under the same
token, and its count must not start again from zero), then goes."""

RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""Give a lease back, only if it is still the one this run of the node took."""

KEPT_VERSION_SECONDS = 3600
"""How long the version count of a channel whose claim was given back is kept: a channel
claimed again under its token (a JOIN raced its last PART, a node taken for gone) comes
within a round trip or a lease; a count gone after that is raised again to what the nodes
know (see :data:`ADVANCE_CHANNEL`)."""

ADVANCE_CHANNEL = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
local known = tonumber(ARGV[1])
if held <= known then
  redis.call('SET', KEYS[1], known + 1, 'KEEPTTL')
  return known
end
return held
"""
"""Admit one change of a channel's state (its count, one key per channel token): advance
its version if it is the one the node knows; the version it had, either way. A count below
what the node knows (Redis lost it) is raised, never followed back: the change is
admitted as the next after what the node knows."""


CLAIM_ACCOUNT = """
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if not holder then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
if holder == ARGV[2] then
  return 1
end
return 0
"""
"""Claim an account name for a node: 1 when it is the node's (now, or already), else 0."""

SYNC_ACCOUNTS = """
local node = ARGV[1]
local wanted = {}
for i = 2, #ARGV do
  wanted[ARGV[i]] = true
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i + 1] == node and not wanted[all[i]] then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
local taken = {}
for i = 2, #ARGV do
  local holder = redis.call('HGET', KEYS[1], ARGV[i])
  if not holder then
    redis.call('HSET', KEYS[1], ARGV[i], node)
  elseif holder ~= node then
    taken[#taken + 1] = ARGV[i]
    taken[#taken + 1] = holder
  end
end
return taken
"""
"""Claim the names of every account of a node's database and give back the others it held,
in one step; the names held by other nodes, each followed by its holder."""


JOIN_NETWORK = """
local live = false
for _, node in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if node ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. node) == 1 then
    live = true
    break
  end
end
if not live then
  redis.call('DEL', KEYS[1])
end
local differ = {}
for i = 3, #ARGV, 2 do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  if not held then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  elseif held ~= ARGV[i + 1] then
    differ[#differ + 1] = ARGV[i]
    differ[#differ + 1] = held
  end
end
if #differ == 0 then
  redis.call('SADD', KEYS[2], ARGV[2])
end
return differ
"""
"""Join the network's nodes (``KEYS[2]``) if this node's settings (``ARGV[3:]``, name and
value pairs) are the network's (``KEYS[1]``): those of the first node that joined while
no other node held a lease (``ARGV[1]`` is the lease keys' prefix), kept as long as one
does (a network stopped whole may start again with other settings). In one step, so two
nodes that start at once with different settings do not both set them. The settings that
differ, each followed by the network's value; nothing when the node joined."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisUnavailable(RuntimeError):
    """Cluster mode was asked for and Redis cannot be used (not installed, unreachable)."""


class ClusterRefused(RuntimeError):
    """This node must not join the cluster: its node_id is a live node's, or a setting
    that every node must share differs from the network's."""


def _honour_cancel() -> None:
    """Raise CancelledError if the running task was asked to stop. Python 3.11's
    ``asyncio.wait_for`` (which redis-py awaits replies with) returns a reply that comes in
    the same turn of the loop as a cancellation and drops the cancellation (CPython
    gh-86296): a bus loop that went on would never end, and neither would the process
    that waits for it at exit. The loops call this at the top of every pass."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _id(entry: bytes | str) -> tuple[int, int]:
    """A stream entry id as numbers, for comparing (``1700000000000-3``)."""
    text = entry.decode() if isinstance(entry, bytes) else entry
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class RedisBus:
    """One node's end of the cluster, in Redis (the core's :class:`~hubbub.server.cluster.Bus`)."""

    def __init__(
        self,
        url: str,
        node: str,
        lease: float = 10.0,
        stream_maxlen: int = 100_000,
        outbox: int = 100_000,
        prefix: str = "hubbub:",
        settings: dict[str, str] | None = None,
    ) -> None:
        if aioredis is None:
            raise RedisUnavailable("cluster mode needs redis-py: pip install 'hubbub[cluster]'")
        self.url = url
        self.node = node
        self.lease = lease
        self.stream_maxlen = stream_maxlen
        self.outbox_limit = outbox
        self.stream = f"{prefix}events"
        self.nicks = f"{prefix}nicks"
        self.channels = f"{prefix}channels"
        self.versions = f"{prefix}version:"
        """The prefix of the channels' version counts, one key per claim token."""
        self.accounts = f"{prefix}accounts"
        """Account names, each with the node whose database has it (nodes without a shared
        database: see :meth:`claim_account`)."""
        self.members = f"{prefix}nodes"
        """The set of the nodes that joined and were not taken for gone yet: the lease task
        looks at every one, not only at those this node knows users of (a node that dies
        with connections still registering leaves nick claims nobody else would free)."""
        self.prefix = prefix
        self.settings = dict(settings or {})
        """What every node of the network must share (``casemapping``: the claims' keys are
        folded with it), checked against the network's when this node joins."""
        self.network_settings = f"{prefix}settings"
        self.link: ClusterLink | None = None
        self.last_id: bytes | str = "0-0"
        """The last stream entry this node applied (it reads on from there)."""
        self.up = True
        """Whether Redis answered the last time it was asked."""
        self._outbox: deque[tuple[str, Any]] = deque()
        """What waits to be written, in order: ("x", record), ("release", (hash, field,
        holder)) to give a nick or an account name back, ("unclaim", (channel, token)) a
        channel's claim, ("claim", (name, done)) and ("sync", (names, done)) for account
        names, ("reclaim", (channel, token, version, done, stale)) to claim a channel again
        that lives on after all."""
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._client: Any = None
        self._reader: Any = None
        self._grace_until = 0.0
        """After Redis comes back, the other nodes' leases are not judged before this (loop
        time): they have not had the time to renew them."""
        self.written = 0
        """Records written to the stream (for the benchmark)."""
        self._front: list[tuple[str, Any]] | None = None
        self._lease_until = 0.0
        """Until when (loop time) this node's lease is known to hold: a write after that
        first makes sure that it does (see :meth:`_rejoin`)."""
        self.outages = 0
        """How many times Redis became unreachable (for the log and the tests)."""
        self._inflight = 0
        """How many entries at the head of the outbox the writer has sent and not yet seen
        written (they stay at the head until then: a burst goes in after them)."""
        self.resyncs = 0
        """How many times this node found that it had missed records (for the tests)."""
        self._owed = False
        """This node found its lease gone and has not queued its burst yet (a Redis failure
        on the way must not make it forget: the next renewal finds the lease there)."""

    def lease_key(self, node: str) -> str:
        return f"{self.prefix}lease:{node}"

    # -- the core's Bus --------------------------------------------------------------------

    def publish(self, record: Record) -> None:
        if self._front is not None:  # (a burst that goes before what waits: see _rejoin)
            self._front.append(("x", record))
            return
        if len(self._outbox) >= self.outbox_limit and record.get("k") in MESSAGES:
            # Only a message may be dropped (its sender is told): a change of the network
            # (a PART, a QUIT, a NICK) dropped would leave the other nodes wrong for good.
            log.warning("cluster outbox full (%d records): a message dropped", self.outbox_limit)
            if self.link is not None:
                self.link.undelivered(record)
                self.link.written(int(record["s"]))  # (its sender is told, not held)
            return
        self._outbox.append(("x", record))
        self._wake.set()

    def claim_nick(self, folded: str, done: Claimed) -> None:
        async def claim() -> None:
            try:
                won: bool | None = bool(await self._client.hsetnx(self.nicks, folded, self.node))
            except (RedisError, OSError) as exc:
                log.warning("cluster: nick claim for %s failed: %s", folded, exc)
                won = None
            done(won)

        self._spawn(claim())

    def release_nick(self, folded: str) -> None:
        self._outbox.append(("release", (self.nicks, folded, self.node)))
        self._wake.set()

    def claim_account(self, folded: str, done: Claimed) -> None:
        # Through the outbox: after the releases asked for before (a name dropped and
        # registered again must not have its new claim given back by the old release).
        if not self.up:
            done(None)  # (never granted on a guess)
            return
        self._outbox.append(("claim", (folded, done)))
        self._wake.set()

    def release_account(self, folded: str) -> None:
        self._outbox.append(("release", (self.accounts, folded, self.node)))
        self._wake.set()

    def sync_accounts(self, names: list[str], done: AccountsSynced) -> None:
        self._outbox.append(("sync", (list(names), done)))
        self._wake.set()

    def _refuse_claims(self) -> None:
        """Redis failed: every account claim waiting is refused now (its client is told to
        try again), and becomes a release, in its place, of what the claim may have taken
        (a transaction whose answer was lost may have been made)."""
        outbox = self._outbox
        for i, (kind, item) in enumerate(outbox):
            if kind == "claim":
                folded, done = item
                outbox[i] = ("release", (self.accounts, folded, self.node))
                try:
                    done(None)
                except Exception:
                    log.exception("cluster: refusing an account claim failed")

    def claim_channel(
        self, folded: str, token: str, stale: str | None, done: ChannelClaimed
    ) -> None:
        async def claim() -> None:
            try:
                holder = await self._client.eval(
                    CLAIM_CHANNEL,
                    3,
                    self.channels,
                    self.versions + token,
                    self.versions + (stale or ""),
                    folded,
                    token,
                    stale or "",
                    0,
                    KEPT_VERSION_SECONDS * 1000,
                )
                answer: str | None = holder.decode() if isinstance(holder, bytes) else str(holder)
            except (RedisError, OSError) as exc:
                log.warning("cluster: channel claim for %s failed: %s", folded, exc)
                answer = None
            done(answer)

        self._spawn(claim())

    def release_channel(self, folded: str, token: str) -> None:
        self._outbox.append(("unclaim", (folded, token)))
        self._wake.set()

    def reclaim_channel(
        self, folded: str, token: str, version: int, done: ChannelClaimed, stale: str = ""
    ) -> None:
        # Through the outbox: after this node's own release of that claim (which it may
        # have asked for a moment ago, when the channel emptied here).
        self._outbox.append(("reclaim", (folded, token, version, done, stale)))
        self._wake.set()

    def advance_channel(self, token: str, known: int, done: Advanced) -> None:
        async def advance() -> None:
            try:
                held: int | None = int(
                    await self._client.eval(ADVANCE_CHANNEL, 1, self.versions + token, str(known))
                )
            except (RedisError, OSError) as exc:
                log.warning("cluster: a channel change could not be admitted: %s", exc)
                held = None
            done(held)

        self._spawn(advance())

    # -- running ---------------------------------------------------------------------------

    async def start(self, link: ClusterLink) -> None:
        """Connect, take this node's lease (:meth:`_take_lease`), join the network if this
        node's settings are its (:data:`JOIN_NETWORK`), drop what an earlier run of this
        node left, start reading from the stream's end, and say hello (the other nodes
        burst). Raises :class:`RedisUnavailable` when Redis does not answer and
        :class:`ClusterRefused` when this node must not join; either way the others have
        heard nothing of it and it holds nothing in Redis."""
        self.link = link
        self._client = aioredis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
        self._reader = aioredis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
        leased = False
        try:
            await self._client.ping()
            await self._take_lease(link)
            leased = True
            pairs = itertools.chain.from_iterable(sorted(self.settings.items()))
            differ = [
                _text(value)
                for value in await self._client.eval(
                    JOIN_NETWORK,
                    2,
                    self.network_settings,
                    self.members,
                    self.lease_key(""),
                    self.node,
                    *pairs,
                )
            ]
            if differ:
                raise ClusterRefused(
                    "; ".join(
                        f"{name} is {self.settings[name]!r} here but {held!r} on the other "
                        "nodes of the network"
                        for name, held in zip(differ[::2], differ[1::2], strict=True)
                    )
                    + " (every node must have the same)"
                )
            await self._client.eval(DROP_NODE, 1, self.nicks, self.node)
            last = await self._client.xrevrange(self.stream, count=1)
            self.last_id = last[0][0] if last else "0-0"
            self._lease_until = asyncio.get_running_loop().time() + self.lease * 2 / 3
        except (RedisError, OSError) as exc:
            await self._give_up(link, leased)
            raise RedisUnavailable(f"cannot use Redis at {self.url}: {exc}") from exc
        except ClusterRefused:
            await self._give_up(link, leased)
            raise
        log.info("joined the cluster as node %s (lease %gs)", self.node, self.lease)
        self._spawn(self._write())
        self._spawn(self._read())
        self._spawn(self._keep_lease())
        link.hello()

    async def _take_lease(self, link: ClusterLink) -> None:
        """Take this node's lease, if nobody holds it. Someone who does is an earlier run
        of this node that did not leave cleanly (killed): nobody renews its lease, which
        runs out within its time to live, and this node takes it then; or a live node with
        the same node_id, which renews it (its time to live goes up): starting in its place
        would drop its nick claims and make the other nodes drop its users, so this node
        refuses to (:class:`ClusterRefused`)."""
        key = self.lease_key(self.node)
        value = str(link.started)
        waited: int | None = None
        while not await self._client.set(key, value, px=int(self.lease * 1000), nx=True):
            left = int(await self._client.pttl(key))
            if left == -2:
                continue  # (it ran out just now)
            if left == -1 or (waited is not None and left > waited):
                raise ClusterRefused(
                    f"cluster.node_id {self.node!r} is taken: a live node with it renews its "
                    "lease in Redis; give every node its own node_id"
                )
            if waited is None:
                log.warning(
                    "cluster: node %s's lease is held (an earlier run of this node that did "
                    "not stop cleanly, or another node with this node_id): waiting up to "
                    "%.1fs for it to run out",
                    self.node,
                    left / 1000,
                )
            waited = left
            await asyncio.sleep(min(left / 1000, 0.1))

    async def _give_up(self, link: ClusterLink, leased: bool) -> None:
        """Start-up failed: give back the lease taken, if any (only if still this run's),
        and close."""
        if leased:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._client.eval(
                        RELEASE_LEASE, 1, self.lease_key(self.node), str(link.started)
                    ),
                    1.0,
                )
        await self.close()

    async def stop(self, timeout: float = 5.0) -> None:
        """Leave cleanly: write what waits (at most ``timeout`` seconds), give the lease and
        this node's nicks back, and close."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._outbox and self.up and loop.time() < deadline:
            self._wake.set()
            await asyncio.sleep(0.05)
        if self._outbox:
            log.warning("cluster: %d records not written at shutdown", len(self._outbox))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._leave(), timeout)
        await self.close()

    async def _leave(self) -> None:
        """Give the lease and this node's nicks back (a clean stop: nobody waits for the
        lease to run out)."""
        await self._client.delete(self.lease_key(self.node))
        await self._client.eval(DROP_NODE, 1, self.nicks, self.node)
        await self._client.srem(self.members, self.node)

    async def close(self) -> None:
        """Close the connections to Redis (at most a second each)."""
        for client in (self._client, self._reader):
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.aclose(), 1.0)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        """A task of the bus ended: one that ended on an exception says so in the log (it
        would otherwise only be seen, if ever, when the task is collected)."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cluster: a task of the bus failed", exc_info=task.exception())

    def _failed(self, what: str, exc: BaseException) -> None:
        if self.up:
            log.warning("cluster: Redis unreachable (%s): %s; retrying", what, exc)
            self.outages += 1
        self.up = False

    def _recovered(self) -> None:
        """Redis answered (the reader, the writer or the lease task): after an outage, the
        other nodes' leases are not judged for one lease from now, the time they need to
        renew theirs."""
        if not self.up:
            log.info("cluster: Redis reachable again")
            self.up = True
            self._grace_until = asyncio.get_running_loop().time() + self.lease

    # -- the outbox ------------------------------------------------------------------------

    async def _write(self) -> None:
        """Write the outbox to Redis in order, a transaction at a time; what fails is tried
        again (a record written twice is applied once: see ClusterLink.receive)."""
        failures = 0
        while True:
            _honour_cancel()
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                _honour_cancel()
                try:
                    if asyncio.get_running_loop().time() >= self._lease_until:
                        await self._rejoin()  # (the others may have taken this node for gone)
                except Exception as exc:  # (never let the loop die)
                    self._failed("lease", exc)
                    self._refuse_claims()
                    await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
                    failures += 1
                    continue
                batch = list(itertools.islice(self._outbox, BATCH))
                self._inflight = len(batch)
                try:
                    async with self._client.pipeline(transaction=True) as pipe:
                        for kind, item in batch:
                            if kind == "x":
                                pipe.xadd(
                                    self.stream,
                                    {"r": json.dumps(item, separators=(",", ":"))},
                                    maxlen=self.stream_maxlen,
                                    approximate=True,
                                )
                            elif kind == "unclaim":
                                folded, token = item
                                pipe.eval(
                                    RELEASE_CHANNEL,
                                    2,
                                    self.channels,
                                    self.versions + token,
                                    folded,
                                    token,
                                    KEPT_VERSION_SECONDS * 1000,
                                )
                            elif kind == "claim":
                                pipe.eval(CLAIM_ACCOUNT, 1, self.accounts, item[0], self.node)
                            elif kind == "sync":
                                pipe.eval(SYNC_ACCOUNTS, 1, self.accounts, self.node, *item[0])
                            elif kind == "reclaim":  # (set if absent, stale or that token)
                                folded, token, version, _, stale = item
                                pipe.eval(
                                    CLAIM_CHANNEL,
                                    3,
                                    self.channels,
                                    self.versions + token,
                                    self.versions + stale,
                                    folded,
                                    token,
                                    stale,
                                    version,
                                    KEPT_VERSION_SECONDS * 1000,
                                )
                            else:
                                key, field, holder = item
                                pipe.eval(RELEASE, 1, key, field, holder)
                        results = await pipe.execute()
                except Exception as exc:  # (never let the loop die: a dead loop is a dead node)
                    self._inflight = 0
                    self._failed("write", exc)
                    self._refuse_claims()
                    await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
                    failures += 1
                    continue
                self._inflight = 0
                failures = 0
                self._recovered()
                for _ in batch:
                    self._outbox.popleft()
                self._answer(batch, results)
                self.written += sum(1 for kind, _ in batch if kind == "x")
                link = self.link
                if link is not None:  # (held senders get their acknowledgement now)
                    try:
                        for kind, item in batch:
                            if kind == "x" and item.get("n") == self.node:
                                link.written(int(item["s"]))
                    except Exception:  # (the writer goes on: a dead writer is a mute node)
                        log.exception("cluster: releasing the senders of written records failed")

    def _answer(self, batch: list[tuple[str, Any]], results: list[Any]) -> None:
        """Tell the core the answers of the account claims and syncs just written (after
        they left the outbox: what the answers queue goes after them)."""
        for (kind, item), result in zip(batch, results, strict=True):
            try:
                if kind == "claim":
                    item[1](bool(int(result)))
                elif kind == "reclaim":
                    item[3](_text(result))
                elif kind == "sync":
                    flat = [_text(value) for value in result or ()]
                    item[1](dict(zip(flat[::2], flat[1::2], strict=True)))
            except Exception:  # (the writer goes on: a dead writer is a mute node)
                log.exception("cluster: answering an account claim failed")

    # -- the stream ------------------------------------------------------------------------

    async def _read(self) -> None:
        """Apply the stream's entries in order, from the last one applied; after a failure,
        go on from there (or from the start, if Redis lost the stream)."""
        failures = 0
        while True:
            _honour_cancel()
            try:
                if failures:
                    await self._check_stream()
                # The stream's first entry comes with what is read: if it is past the last
                # entry applied here, the stream was trimmed beyond what this node had read.
                async with self._reader.pipeline(transaction=False) as pipe:
                    pipe.xrange(self.stream, count=1)
                    pipe.xread({self.stream: self.last_id}, count=1000, block=1000)
                    first, reply = await pipe.execute()
            except Exception as exc:  # (never let the loop die: a dead loop is a dead node)
                self._failed("read", exc)
                await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
                failures += 1
                continue
            failures = 0
            self._recovered()
            if first and self._missed(first[0][0]):
                log.warning(
                    "cluster: the stream no longer holds what this node had not read yet "
                    "(it was further behind than [cluster] stream_maxlen); reading the "
                    "network's state again"
                )
                self.resyncs += 1
                if self.link is not None:
                    try:
                        self.link.resync()
                    except Exception:  # (the reader goes on: a dead reader is a deaf node)
                        log.exception("cluster: reading the network again failed")
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    self._apply(entry_id, fields)

    def _apply(self, entry_id: bytes | str, fields: dict[bytes, bytes]) -> None:
        """Hand one stream entry to the core. Whatever goes wrong with one entry is logged
        and the reader goes on with the next: a reader that stops is a node that silently
        stops hearing the others."""
        link = self.link
        try:
            record = json.loads(fields[b"r"])
        except (KeyError, ValueError) as exc:
            log.warning("cluster: a stream entry that is not a record: %s", exc)
            return
        if link is None or not isinstance(record, dict):
            return
        try:
            link.receive(record)
        except Exception:
            log.exception("cluster: stream entry %r could not be applied", entry_id)

    def _missed(self, first: bytes | str) -> bool:
        """Whether the stream, whose oldest entry is ``first``, lost entries this node had
        not applied: the last one it applied is gone (trimmed) and so, but for the rare
        case where ``first`` is the very next one, is what came after it."""
        last = _id(self.last_id)
        return last != (0, 0) and _id(first) > last

    async def _check_stream(self) -> None:
        """After Redis came back: if its stream ends before what this node applied, Redis
        lost it (restarted without its append-only file): read it again from the start,
        and ask the other nodes for their state again (this node's own goes again when it
        finds its lease gone)."""
        last = await self._reader.xrevrange(self.stream, count=1)
        behind = not last or _id(last[0][0]) < _id(self.last_id)
        if behind and _id(self.last_id) != (0, 0):
            log.warning("cluster: Redis lost the stream; reading it again from the start")
            self.last_id = "0-0"
            if self.link is not None:
                self.link.hello()

    # -- leases ----------------------------------------------------------------------------

    async def _keep_lease(self) -> None:
        """Renew this node's lease every third of it; judge the other nodes' leases."""
        period = self.lease / 3
        loop = asyncio.get_running_loop()
        while True:
            _honour_cancel()
            await asyncio.sleep(period)
            link = self.link
            if link is None:
                continue
            try:
                await self._rejoin()
                # (Redis may answer this task first after an outage: the grace starts here
                # then, not once the reader or the writer get through)
                self._recovered()
                if loop.time() < self._grace_until:
                    continue
                await self._reap(link)
            except Exception as exc:  # (never let the loop die: a dead loop is a dead node)
                self._failed("lease", exc)

    async def _reap(self, link: ClusterLink) -> None:
        """Take the nodes whose lease is gone for gone: their claims go (in Redis, in the
        same step as the look at the lease: see :data:`REAP`), their users quit here."""
        named = await self._client.smembers(self.members)
        nodes = link.nodes() | {n.decode() if isinstance(n, bytes) else n for n in named}
        nodes.discard(self.node)
        for node in sorted(nodes):
            reaped = await self._client.eval(
                REAP, 3, self.nicks, self.members, self.lease_key(node), node
            )
            if int(reaped) >= 0:
                try:
                    link.node_gone(node)
                except Exception:  # (not Redis's fault: the lease task goes on)
                    log.exception("cluster: taking node %s for gone failed", node)

    async def _rejoin(self) -> None:
        """Renew this node's lease. If it had run out, the others took this node for gone
        (its users quit there, its nicks were freed): claim its nicks again, and put its
        burst before whatever waits in the outbox, so that the others know its users again
        before they hear what those users did meanwhile (records that name their user by
        uid: a user the others still know, by the nick it had before, is the same user);
        the burst's last record, the list of its users, goes after them."""
        link = self.link
        if link is None:
            return
        loop = asyncio.get_running_loop()
        asked = loop.time()
        had = await self._client.set(
            self.lease_key(self.node), str(link.started), px=int(self.lease * 1000), get=True
        )
        self._lease_until = asked + self.lease * 2 / 3
        if had is None:
            log.warning("cluster: this node's lease had run out; telling its state again")
            self._owed = True
            await self._client.sadd(self.members, self.node)
        if not self._owed:
            return
        await self._claim_again(link)
        front: list[tuple[str, Any]] = []
        self._front = front
        try:
            link.burst()
        finally:
            self._front = None
        # The burst goes first, but after what the writer has under way (the lease task
        # renews while a write may be waiting for Redis's answer: those entries stay at
        # the head until it comes, and the writer then takes that many off).
        # Its last record (``bend``: the users it told) goes after what waited: the others
        # check their view of this node's users against it once they applied those too.
        outbox = self._outbox
        under_way = [outbox.popleft() for _ in range(min(self._inflight, len(outbox)))]
        end = [entry for entry in front if entry[1].get("k") == "bend"]
        outbox.extendleft(reversed([entry for entry in front if entry[1].get("k") != "bend"]))
        outbox.extendleft(reversed(under_way))
        outbox.extend(end)
        self._owed = False
        self._wake.set()

    async def _claim_again(self, link: ClusterLink) -> None:
        """This node was taken for gone (its claims dropped): claim its nicks again. A nick
        another node's user took meanwhile stays theirs: the local user gets a guest nick."""
        renamed = False
        for folded in sorted(link.held):
            won = await self._client.hsetnx(self.nicks, folded, self.node)
            if not won:
                holder = await self._client.hget(self.nicks, folded)
                if holder is not None and _text(holder) != self.node:
                    log.warning("cluster: %s was taken by node %s meanwhile", folded, _text(holder))
                    link.rename_lost(folded, await self._guest(link))
                    renamed = True
        if renamed:  # (the users who took those nicks were refused here: hear them again)
            link.hello()
        # Account names outlive leases, but not a Redis that lost its data: claim them
        # again (queued: the outbox runs it before whatever account claims come after).
        link.claims_lost()
        # Its channels' claims went too, where the others saw them empty: claim them again,
        # or no other node would know that they are taken.
        for folded, token in sorted(link.tokens.items()):
            channel = link.network.channels.get(folded)
            if channel is None or not any(u.session is not None for u in channel.members):
                continue
            holder = await self._client.eval(
                CLAIM_CHANNEL,
                2,
                self.channels,
                self.versions + token,
                folded,
                token,
                "",
                link.versions.get(folded, 0),
            )
            holder = holder.decode() if isinstance(holder, bytes) else str(holder)
            if holder not in ("", token):
                log.warning("cluster: %s was made anew by %s meanwhile", folded, holder)
                link.claimed_elsewhere(folded, holder)

    async def _guest(self, link: ClusterLink) -> str:
        """A guest nick nobody holds, claimed for this node."""
        while True:
            nick = f"Guest{secrets.randbelow(100_000):05d}"
            folded = link.network.fold(nick)
            if folded not in link.network.users and await self._client.hsetnx(
                self.nicks, folded, self.node
            ):
                return nick
