"""The running server: config, core, listeners, timers, signals and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import faulthandler
import functools
import ipaddress
import itertools
import logging
import os
import resource
import secrets
import signal
import socket
import ssl
import stat
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hubbub.config import Config, ListenSection, load_config
from hubbub.net import admin_api
from hubbub.net.epoll import EpollListener, Hub, make_hub
from hubbub.net.http import HttpServer, Routes
from hubbub.net.http import Request as HttpRequest
from hubbub.net.http import Response as HttpResponse
from hubbub.net.tcp import Flusher, IRCProtocol, TLSListener, bind_sockets
from hubbub.server.accounts import AccountService, attach
from hubbub.server.chanregistry import ChannelRegistry
from hubbub.server.commands.accounts import reload_accounts
from hubbub.server.commands.oper import Reread, config_name, read_config, rehash
from hubbub.server.core import Lane, Server
from hubbub.server.history import History
from hubbub.server.history import attach as attach_history
from hubbub.server.metrics import Metrics, may_scrape
from hubbub.server.metrics import attach as attach_metrics
from hubbub.server.metrics import detach as detach_metrics
from hubbub.server.pluginloading import import_plugins
from hubbub.storage import postgres_storage
from hubbub.storage.base import AccountRecord, ChannelRecord, HistoryStore, Storage
from hubbub.storage.sqlite import SqliteStorage
from hubbub.storage.writer import HistoryWriter

if TYPE_CHECKING:
    from websockets.asyncio.server import Server as WebSocketServer

    from hubbub.cluster.redis_bus import RedisBus
    from hubbub.storage.postgres import PostgresStorage

log = logging.getLogger("hubbub")
T = TypeVar("T")

CLOAK_SECRET_KEY = "cloak_secret"
"""The database setting that keeps the generated cloak secret (see ``[cloaks] secret``)."""

TICK_SECONDS = 0.25
"""How often the core's timers run (flood queues; timeouts are checked once a second)."""


SHUTDOWN_WORK_SECONDS = 5.0
"""On shutdown, how long blocking work already running (a registration being hashed and
stored) may take to finish and answer its client before the clients are disconnected and the
database closes."""
HASH_THREADS = 1
"""Threads that hash and check passwords. One: argon2 already spreads each check over
several threads (``parallelism``), so a second would only share the same cores."""
HASH_NICE = 10
"""How much lower than the server's the hashing thread's CPU priority is (its ``nice``
increment; argon2's own threads inherit it): under a flood of login attempts the event loop
keeps the CPU it needs and logins wait, rather than everything slowing down."""
SEARCH_THREADS = 1
"""Threads that run searches (one at a time also bounds their memory and disk reads)."""
STORAGE_THREADS = 4
"""Threads that read and write the database for everything else (history reads, read
markers, redactions, accounts, registered channels). SQLite takes one writer at a time and
history reads share one connection: more threads would only wait for those."""
TURNS: dict[Lane, int] = {
    "hash": HASH_THREADS,
    "search": SEARCH_THREADS,
    "storage": STORAGE_THREADS,
}
"""The lanes whose queue serves the askers (address blocks) in turn, with their threads:
a flood of work from some addresses (logins, searches, redactions, history reads) delays
another's by at most one piece of work per flooding address, and an address that has asked
for none lately goes ahead of them (:data:`RECENT_TURN_SECONDS`)."""
RECENT_TURN_SECONDS = 30.0
"""How long an address that started work of a lane is served after those that have not."""
FRESH_SCAN = 256
"""How far down the line of addresses the next turn looks for one not served lately (the
cost of a turn is bounded; one further back moves up a place at every turn)."""


@dataclass(eq=False, slots=True)
class _Waiting:
    """Work queued in a lane that takes turns: how to start it, and the timer that drops it
    if it has not started in time."""

    start: Callable[[], asyncio.Future[Any]]
    timer: asyncio.TimerHandle | None = None
    gone: Callable[[], bool] | None = None
    """True when the client it is for has left: it is then dropped unrun."""


def _lower_priority(increment: int) -> None:
    """Lower the calling thread's CPU priority by ``increment`` (Linux: ``nice`` is per
    thread; elsewhere, or when refused, it stays as it is)."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)


SPARE_DESCRIPTORS = 256
"""Descriptors wanted beyond one per client: listeners, the database, logs, the loop's own."""


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files to its hard limit (every client is a
    descriptor); returns the limit now in force. Logs it, with the clients it leaves room
    for, and warns when that is fewer than ``wanted`` less :data:`SPARE_DESCRIPTORS` (the
    clients ``[limits] max_clients`` allows).

    Many systems start processes with a soft limit of 1024 and a much higher hard limit;
    a server that kept 1024 would refuse its thousandth client. Only a privileged process
    can raise the hard limit (``ulimit -Hn``, systemd's ``LimitNOFILE=``).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinity = resource.RLIM_INFINITY
    targets = [hard] if hard != infinity else []
    targets.append(wanted)  # (an unlimited or huge hard limit may be above the kernel's)
    for target in targets:
        if soft == infinity or soft >= target:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.debug("cannot raise the open files limit to %d: %s", target, exc)
            continue
        log.info("open files limit raised from %d to %d", soft, target)
        soft = target
        break
    shown_hard = "unlimited" if hard == infinity else str(hard)
    if soft != infinity and soft < wanted:
        log.warning(
            "open files limit %d (hard limit %s) leaves room for %d clients, fewer than "
            "[limits] max_clients %d: clients beyond that are refused ('Server is full'); "
            "raise the hard limit (ulimit -Hn, or LimitNOFILE= under systemd)",
            soft,
            shown_hard,
            max(0, soft - SPARE_DESCRIPTORS),
            wanted - SPARE_DESCRIPTORS,
        )
    else:
        log.info("open files limit %s (hard limit %s)", soft, shown_hard)
    return soft


class Listener(Protocol):
    """What the app needs of a listening server: an asyncio one or a websockets one."""

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


@dataclass(frozen=True)
class Bound:
    """A listener that is accepting connections."""

    listen: ListenSection
    kind: str
    """``irc`` (TCP), ``ircs`` (TLS), ``unix``, ``ws`` or ``wss``."""
    host: str | None
    port: int | None
    path: str | None

    @property
    def url(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        scheme = {"ws": "http", "wss": "https"}.get(self.kind, self.kind)
        return f"{scheme}://{host}:{self.port}"


def make_tls_context(listen: ListenSection, base: Path | None) -> ssl.SSLContext:
    """A server TLS context from the listener's certificate and key files."""
    assert listen.cert is not None
    assert listen.key is not None
    cert = Path(listen.cert) if base is None else base / listen.cert
    key = Path(listen.key) if base is None else base / listen.key
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


class App:
    """One hubbub node: owns the event-loop side of the server, and is its core's
    :class:`~hubbub.server.core.Host`."""

    def __init__(self, config: Config, worker: int | None = None) -> None:
        self.config = config
        self.worker = worker
        """This process's number among ``hubbub serve --workers N`` (None: the only one).
        Workers share their TCP and TLS ports (SO_REUSEPORT); the other listeners (Unix,
        WebSocket, admin) are worker 0's alone."""
        self.flusher: Flusher | None = None
        self.server = Server(config, host=self)
        self._configure_metrics()
        self.bound: list[Bound] = []
        self._servers: list[Listener] = []
        self._closers: list[asyncio.Future[None] | asyncio.Task[None]] = []
        self._current_tls: dict[int, ssl.SSLContext] = {}
        """The context each TLS listener's handshakes use now, by id of its [[listen]]
        section (replaced by REHASH)."""
        self._reloaded: tuple[Config | None, dict[int, ssl.SSLContext]] = (None, {})
        """What the last REHASH read, until it is applied."""
        self._ticker: asyncio.TimerHandle | None = None
        self._tick_due = 0.0
        """When (loop time) the scheduled tick is due: how late it runs is the loop's lag."""
        self._stopped = asyncio.Event()
        self.hub: Hub | None = None
        """Plain TCP and Unix clients (None where epoll is missing: asyncio transports)."""
        self.storage: Storage | None = None
        self.history_writer: HistoryWriter | None = None
        """The group-commit writer of message history (its own thread), when kept."""
        self._websockets: list[WebSocketServer] = []
        self._work: set[asyncio.Future[Any]] = set()
        """Blocking work handed to the thread pool and not finished yet."""
        self._lanes: dict[Lane, ThreadPoolExecutor] = {
            "hash": ThreadPoolExecutor(
                HASH_THREADS, "hubbub-hash", initializer=_lower_priority, initargs=(HASH_NICE,)
            ),
            "search": ThreadPoolExecutor(SEARCH_THREADS, "hubbub-search"),
            "storage": ThreadPoolExecutor(STORAGE_THREADS, "hubbub-storage"),
        }
        """The threads of each lane (see :data:`~hubbub.server.core.Lane`)."""
        self._queues: dict[Lane, dict[str, deque[_Waiting]]] = {lane: {} for lane in TURNS}
        """Work of the lanes that take turns (:data:`TURNS`) not started yet, by lane and key
        (in the order the keys are served)."""
        self._running: dict[Lane, int] = dict.fromkeys(TURNS, 0)
        """Work of those lanes running (at most their threads)."""
        self._recent: dict[Lane, OrderedDict[str, float]] = {lane: OrderedDict() for lane in TURNS}
        """Per lane, the keys that started work in the last :data:`RECENT_TURN_SECONDS`,
        with when (the oldest first)."""
        self._closing = False
        """Set on shutdown: no new blocking work is started."""
        self.input_paused = False
        """True while history backpressure holds clients' input (see :meth:`pause_input`)."""
        self.http_routes = Routes()
        """What the HTTP listener serves: the admin API when ``[admin] enabled``; other
        endpoints (``GET /metrics``) are one ``http_routes.add`` away."""
        self.http: HttpServer | None = None
        self.http_address: tuple[str, int] | None = None
        """(host, port) the HTTP listener is bound to, once started."""
        self.cluster_bus: RedisBus | None = None
        """This node's link to the cluster's Redis (``[cluster] redis``), once joined."""
        self._bound_early: dict[int, list[socket.socket]] = {}
        """The TCP ports bound before joining the cluster (by id of their [[listen]]
        section), not accepting yet: see :meth:`start`."""

    def wake(self) -> None:
        """The core queued bytes: flush them at the end of this loop iteration."""
        if self.flusher is not None:
            self.flusher.wake()

    def offload(
        self,
        work: Callable[[], T],
        done: Callable[[T], None],
        lane: Lane = "storage",
        key: str = "",
        within: float | None = None,
        late: Callable[[], None] | None = None,
        gone: Callable[[], bool] | None = None,
    ) -> None:
        """Run blocking work in the threads of ``lane``; hand its result back on the loop.

        Password hashing has one thread of its own at a lower CPU priority (argon2 takes
        0.1 to 0.2 s of two cores per check): a flood of wrong passwords queues there, and
        neither the event loop nor history reads wait behind it. Searches have their own
        thread (each may run up to ``[history] search_timeout``), and the rest of the
        database work its own few. The queue of each lane (:data:`TURNS`) serves the
        ``key`` of each request (the asker's address block) in turn, one piece of work each:
        a flood from some addresses (even of right passwords, which nothing else limits; of
        slow searches; of redactions) delays their own requests, and anyone else's waits at
        most one piece of work per flooding address. (Storage work still queued at shutdown
        is run then: the caches it writes for have promised it.)

        Work of those lanes given ``within`` that has not started that many seconds after
        it was asked for never runs: it leaves the queue and ``late`` is called instead of
        ``done`` (a search answered that it timed out, not after everyone else's). Work
        whose ``gone()`` is true when its turn comes is dropped: nothing is called.

        A key that has started work of the lane in the last :data:`RECENT_TURN_SECONDS`
        is served after those that have not: a client logging in once waits for no
        flooding address at all, rather than for one piece of work of each.

        Work that raises is logged and its callback is not called: the work is expected to
        turn its own failures into a result (a refused login, a failed write). Once shutdown
        has begun new work is refused: the client that asked is held until it is told
        ``ERROR`` and disconnected, and the database is never used after it closes."""
        if self._closing:
            log.info("shutting down: blocking work refused")
            return
        queues = self._queues.get(lane)
        if queues is None:
            self._run(work, done, lane)
            return
        waiting = _Waiting(lambda: self._run(work, done, lane), gone=gone)
        queue = queues.setdefault(key, deque())
        queue.append(waiting)
        if within is not None:
            loop = asyncio.get_running_loop()
            waiting.timer = loop.call_later(within, self._expire, lane, key, waiting, late)
        self._next(lane)

    def _next(self, lane: Lane, _: object = None) -> None:
        """Start queued work of ``lane`` while one of its threads is free, taking the keys
        in turn (a key served goes to the back of the line)."""
        if _ is not None:
            self._running[lane] -= 1
        queues = self._queues[lane]
        recent = self._recent[lane]
        while self._running[lane] < TURNS[lane] and queues and not self._closing:
            key = self._turn(queues, recent)
            queue = queues.pop(key)
            waiting = queue.popleft()
            if queue:
                queues[key] = queue
            if waiting.timer is not None:
                waiting.timer.cancel()
            if waiting.gone is not None and waiting.gone():
                continue
            recent[key] = time.monotonic()
            recent.move_to_end(key)
            self._running[lane] += 1
            waiting.start().add_done_callback(functools.partial(self._next, lane))

    @staticmethod
    def _turn(queues: dict[str, deque[_Waiting]], recent: OrderedDict[str, float]) -> str:
        """The key whose work starts next: the first in line that has not started any in
        the last :data:`RECENT_TURN_SECONDS` (among the first :data:`FRESH_SCAN` in line),
        else the first in line."""
        horizon = time.monotonic() - RECENT_TURN_SECONDS
        while recent:
            oldest = next(iter(recent))
            if recent[oldest] >= horizon:
                break
            del recent[oldest]
        first = None
        for key in itertools.islice(queues, FRESH_SCAN):
            if key not in recent:
                return key
            if first is None:
                first = key
        assert first is not None
        return first

    def _expire(
        self, lane: Lane, key: str, waiting: _Waiting, late: Callable[[], None] | None
    ) -> None:
        """``waiting`` did not start in time: drop it from its queue, then call ``late``."""
        queues = self._queues[lane]
        queue = queues.get(key)
        if queue is None or waiting not in queue:
            return  # (started meanwhile)
        queue.remove(waiting)
        if not queue:
            del queues[key]
        if late is not None:
            try:
                late()
            except Exception:
                log.exception("error after blocking work expired")

    def _run(
        self, work: Callable[[], T], done: Callable[[T], None], lane: Lane
    ) -> asyncio.Future[T]:
        """Run ``work`` in the threads of ``lane`` now; ``done`` with its result after."""
        future = asyncio.get_running_loop().run_in_executor(self._lanes.get(lane), work)
        self._work.add(future)
        future.add_done_callback(self._work.discard)

        def finish(f: asyncio.Future[T]) -> None:
            try:
                result = f.result()
            except Exception:
                log.exception("blocking work failed")
                return
            try:
                done(result)
            except Exception:
                log.exception("error after blocking work")

        future.add_done_callback(finish)
        return future

    def pause_input(self, paused: bool) -> None:
        """Stop (or go back to) reading from clients while the history writer catches up:
        the epoll hub's clients, those on asyncio transports, and WebSocket clients
        (connections made meanwhile start paused: ``input_paused``)."""
        self.input_paused = paused
        if self.hub is not None:
            self.hub.pause(paused)
        for session in self.server.sessions:
            pause = getattr(session.sink, "pause_input", None)
            if pause is not None:
                pause(paused)

    def reload_config(self) -> Config:
        """REHASH, in a worker thread: read the config file again and load each TLS
        listener's certificate into a new context, changing nothing (raises on a bad file,
        so a bad certificate or key leaves the old one in service)."""
        if self.config.path is None:
            return self.config
        config = load_config(self.config.path)
        base = config.path.parent if config.path else None
        contexts = {
            key: make_tls_context(bound.listen, base)
            for bound in self.bound
            if (key := id(bound.listen)) in self._current_tls  # a TLS listener: cert and key set
        }
        self._reloaded = (config, contexts)
        return config

    def config_applied(self, config: Config) -> None:
        """REHASH applied ``config``: new TLS handshakes use the certificates read with it,
        the history writer its new commit interval."""
        self.config = config
        writer = self.history_writer
        if writer is not None:
            writer.interval = config.history.commit_interval
            writer.full = max(config.history.queue_limit // 4, 1)
        self._configure_sts()
        self._configure_metrics()
        loaded, contexts = self._reloaded
        if loaded is config:
            self._current_tls.update(contexts)
        self._reloaded = (None, {})

    def rehash(self, why: str) -> None:
        """REHASH from outside IRC (``why``: ``SIGHUP``): read the config file (off the event
        loop) and apply it whole or not at all, then reload the accounts from the database,
        as an operator's REHASH does. Operators with ``+s`` hear of it; the log says how it
        went."""
        server = self.server

        def reloaded(new: Config, news: str | None, failed: bool) -> None:
            if news is not None:
                server.snotice(news)
            if failed:
                log.warning("%s: rehashed %s, but not the accounts", why, config_name(new))
            else:
                log.info("%s: rehashed %s and reloaded the accounts", why, config_name(new))

        def loaded(result: Reread | str) -> None:
            if isinstance(result, str):
                log.warning("%s: rehash failed, keeping the old config: %s", why, result)
                server.snotice(f"{why}: rehash failed, keeping the old config: {result}")
                return
            new, motd, imported = result
            rehash(server, new, motd, imported, None)
            server.snotice(f"{why}: rehashing the server config file")
            reload_accounts(server, lambda news, failed: reloaded(new, news, failed))

        self.offload(lambda: read_config(server), loaded)

    def _tls_context(self, listen: ListenSection) -> ssl.SSLContext:
        """The listener's context. It hands each handshake to the context loaded last, so a
        REHASH changes certificates without touching a context that handshakes are using."""
        base = self.config.path.parent if self.config.path else None
        ctx = make_tls_context(listen, base)
        key = id(listen)
        self._current_tls[key] = ctx
        current = self._current_tls

        def pick(conn: ssl.SSLObject, server_name: str | None, initial: ssl.SSLContext) -> None:
            latest = current.get(key)
            if latest is not None and latest is not initial:
                conn.context = latest

        ctx.sni_callback = pick  # called for every handshake, with or without SNI
        return ctx

    async def start(self) -> None:
        """Open every listener; returns when all accept connections. A start that fails
        (a port taken, Redis refusing this node) undoes what it did, the cluster included,
        before it raises."""
        try:
            await self._start()
        except BaseException:
            try:
                await self.stop("cannot start")
            except Exception:  # (the first failure is the one to tell)
                log.exception("undoing a failed start")
            raise

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        files = raise_open_files_limit(self.config.limits.max_clients + SPARE_DESCRIPTORS)
        if files != resource.RLIM_INFINITY:
            self.server.client_room = max(1, files - SPARE_DESCRIPTORS)
        if self.worker is None:  # (the workers of --workers share their SQLite file)
            for warning in self.config.warnings():
                log.warning("config: %s", warning)
        await self._open_storage()
        await self._load_plugins()
        self.flusher = Flusher(loop, self.server)
        listens = [
            listen
            for listen in self.config.listen
            if not (self.worker and (listen.websocket or listen.unix_path is not None))
        ]  # (those left out are worker 0's)
        # The TCP ports are bound before the cluster hears of this node (a node that cannot
        # listen must not join: its hello makes every other node burst, or, with a node_id
        # that is not its own, drop the users of the node that has it); they accept once
        # it has joined (the other nodes' users are known before the first client comes).
        shared = self.worker is not None  # (--workers: one port for all)
        for listen in listens:
            if listen.unix_path is None:
                self._bound_early[id(listen)] = await bind_sockets(
                    listen.host, listen.port or 0, 1024, reuse_port=shared and not listen.websocket
                )
        await self._join_cluster()
        self.hub = make_hub(loop, self.server)
        for listen in listens:
            tls = self._tls_context(listen) if listen.tls else None
            if listen.websocket:
                await self._start_websocket(listen, tls)
            elif listen.unix_path is not None:
                await self._start_unix(listen)
            else:
                await self._start_tcp(listen, tls)
        for bound in self.bound:
            log.info("listening on %s", bound.url)
        if self.config.admin.enabled and not self.worker:
            await self._start_admin()
        self._configure_sts()
        self._schedule_tick()

    async def _join_cluster(self) -> None:
        """``[cluster] redis``: join the cluster before accepting clients (the other nodes'
        users are known before the first client comes). Raises OSError (the node does not
        start) when Redis cannot be used, or does not let this node join (its node_id is a
        live node's, its casemapping is not the network's)."""
        section = self.config.cluster
        if not section.redis:
            return
        try:
            from hubbub.cluster.redis_bus import ClusterRefused, RedisBus, RedisUnavailable
        except ImportError as exc:  # (redis-py missing: the cluster extra)
            raise OSError(f"cluster.redis: {exc}; pip install 'hubbub[cluster]'") from exc
        try:
            bus = RedisBus(
                section.redis,
                section.node_id,
                lease=section.lease,
                stream_maxlen=section.stream_maxlen,
                outbox=section.outbox,
                settings={"server.casemapping": self.config.server.casemapping},
            )
            link = self.server.join_cluster(bus, section.node_id)
            link.wait = section.lease  # (a claimed channel's maker has that long to show it)
            await bus.start(link)
        except RedisUnavailable as exc:
            raise OSError(f"cluster.redis: {exc}") from exc
        except ClusterRefused as exc:
            raise OSError(str(exc)) from exc
        self.cluster_bus = bus
        accounts = self.server.accounts
        if accounts is not None and accounts.claims is not None:
            # A database of its own: its account names are claimed in the cluster before
            # the first client comes (a name another node holds is logged, and refused).
            claimed = asyncio.Event()
            accounts.when_claimed(claimed.set)
            try:
                await asyncio.wait_for(claimed.wait(), section.lease)
            except TimeoutError:
                raise OSError(
                    "cluster.redis: the account names could not be claimed in Redis within "
                    f"the lease ({section.lease:g}s)"
                ) from None

    def _configure_sts(self) -> None:
        """Offer STS (when enabled) pointing at the configured or first bound TLS port."""
        sts = self.config.sts
        if not sts.enabled:
            self.server.sts_port = None
            return
        tls_ports = [b.port for b in self.bound if b.kind == "ircs" and b.port]
        self.server.sts_port = sts.port or (tls_ports[0] if tls_ports else None)

    def _configure_metrics(self) -> None:
        """Turn metrics on or off as ``[metrics] enabled`` now says (REHASH): turned off,
        their counts are dropped; turned on, they count from zero."""
        enabled = self.config.metrics.enabled
        if enabled and self.server.metrics is None:
            attach_metrics(self.server, Metrics(self.server))
        elif not enabled and self.server.metrics is not None:
            detach_metrics(self.server)

    async def _open_storage(self) -> None:
        """Open the database and load the accounts (off the event loop), then offer them."""
        section = self.config.storage
        storage: SqliteStorage | PostgresStorage
        path: str | Path
        # ":memory:" keeps accounts for this run only (tests); a file name is resolved.
        in_memory = not section.url and section.path == ":memory:"
        if section.url:  # PostgreSQL: what the nodes of a cluster share
            storage = postgres_storage(section.url, section.pool_size, section.connect_timeout)
            path = storage.path  # (the URL without its password)
        else:
            path = section.path if in_memory else self.config.resolve_path(section.path)
            storage = SqliteStorage(path)
            # --workers: the workers share this file as a cluster's nodes share PostgreSQL.
            storage.shared = self.worker is not None

        def open_and_load() -> tuple[list[AccountRecord], list[ChannelRecord], str]:
            storage.open()
            # Made on first start and kept, so that cloaks (and bans on them) stay put.
            secret = storage.ensure_setting(CLOAK_SECRET_KEY, secrets.token_hex(32))
            # Channels first: a channel's founder and access accounts existed before it
            # named them, so an account missing from the list read after is truly gone.
            channels = storage.list_channels()
            accounts = storage.list_accounts()
            return accounts, _without_orphans(storage, channels, accounts), secret

        loop = asyncio.get_running_loop()
        records, channels, secret = await loop.run_in_executor(None, open_and_load)
        self.server.set_cloak_secret(secret)
        if in_memory:
            self._warn_cloak_secret("an in-memory database")
        self.storage = storage
        service = AccountService(storage)
        service.load(records, self.server.fold)
        attach(self.server, service)
        registry = ChannelRegistry(storage)
        registry.load(channels)  # (before any client: a JOIN finds its registered channel)
        self.server.channel_registry = registry
        log.info(
            "storage: %s (%d accounts, %d registered channels)", path, len(records), len(channels)
        )
        if self.config.history.enabled:
            await self._open_history(storage)

    async def _open_history(self, storage: SqliteStorage | PostgresStorage) -> None:
        """Start the history writer on the database and give the server its history."""
        loop = asyncio.get_running_loop()
        store: HistoryStore = await loop.run_in_executor(None, storage.history)
        server = self.server
        history: list[History] = []

        def committed(seq: int, ok: bool) -> None:  # (on the writer's thread)
            def report() -> None:
                if history:
                    history[0].committed(seq, ok)

            with contextlib.suppress(RuntimeError):  # (a loop that has closed)
                loop.call_soon_threadsafe(report)

        config = self.config.history
        writer = HistoryWriter(
            store,
            committed,
            interval=config.commit_interval,
            full=max(config.queue_limit // 4, 1),
        )
        self.history_writer = writer
        history.append(attach_history(server, store, writer))

    async def _load_plugins(self) -> None:
        """Import the plugins of ``[plugins]`` (off the event loop) and set them up, before
        any client comes. One that fails is logged and left out: the server starts anyway."""
        manager = self.server.plugins
        modules = manager.to_import(self.config)
        if modules:
            loop = asyncio.get_running_loop()
            imported = await loop.run_in_executor(None, import_plugins, modules)
        else:
            imported = {}
        manager.apply(self.config, imported)

    def _warn_cloak_secret(self, why: str) -> None:
        cloaks = self.config.cloaks
        if cloaks.enabled and not cloaks.secret:
            log.warning(
                "cloaks: %s keeps no cloak secret; cloaks change at each restart "
                "(set [cloaks] secret)",
                why,
            )

    async def _start_tcp(self, listen: ListenSection, tls: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        kind = "ircs" if tls else "irc"
        server = self.server
        sockets = self._bound_early.pop(id(listen))
        servers: list[Listener] = []
        if self.hub is not None:
            servers.append(EpollListener(self.hub, sockets, tls=tls))
        elif tls is not None:
            servers.append(
                TLSListener(lambda: IRCProtocol(server, "tls", secure=True), tls, sockets)
            )
        else:
            for sock in sockets:  # (an asyncio server takes one bound socket)
                servers.append(
                    await loop.create_server(
                        lambda: IRCProtocol(server, "tcp", secure=False), sock=sock, backlog=1024
                    )
                )
        self._servers.extend(servers)
        for sock in sockets:
            addr = sock.getsockname()
            self.bound.append(Bound(listen, kind, str(addr[0]), int(addr[1]), None))

    async def _start_unix(self, listen: ListenSection) -> None:
        loop = asyncio.get_running_loop()
        path = listen.unix_path
        assert path is not None
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # a stale socket from a previous run
        server = self.server
        srv: Listener
        if self.hub is not None:
            srv = EpollListener.start_unix(self.hub, path, backlog=1024)
        else:
            srv = await loop.create_unix_server(
                lambda: IRCProtocol(server, "unix", secure=True), path, backlog=1024
            )
        self._servers.append(srv)
        self.bound.append(Bound(listen, "unix", None, None, path))

    async def _start_websocket(self, listen: ListenSection, tls: ssl.SSLContext | None) -> None:
        sockets = self._bound_early.pop(id(listen), [])
        try:
            from hubbub.net import websocket
        except ImportError:  # pragma: no cover - the module ships with hubbub
            log.warning("websocket support is not available; skipping %s", listen.address)
            for sock in sockets:
                sock.close()
            return
        kind = "wss" if tls else "ws"
        if self.hub is not None:
            endpoint = websocket.WebSocketEndpoint(self.server, listen, secure=tls is not None)
            if listen.unix_path is not None:
                path = listen.unix_path
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISSOCK(os.stat(path).st_mode):
                        os.unlink(path)  # a stale socket from a previous run
                srv = EpollListener.start_unix(self.hub, path, backlog=1024, endpoint=endpoint)
            else:
                srv = EpollListener(self.hub, sockets, tls=tls, endpoint=endpoint)
            self._servers.append(srv)
        elif listen.unix_path is not None:
            web = await websocket.serve(self.server, listen, tls)
            self._servers.append(web)
            self._websockets.append(web)
        else:
            for sock in sockets:  # (a websockets server takes one bound socket)
                web = await websocket.serve(self.server, listen, tls, sock)
                self._servers.append(web)
                self._websockets.append(web)
        if listen.unix_path is not None:
            self.bound.append(Bound(listen, kind, None, None, listen.unix_path))
            return
        for sock in sockets:
            addr = sock.getsockname()
            self.bound.append(Bound(listen, kind, str(addr[0]), int(addr[1]), None))

    def _serve_metrics(self, request: HttpRequest) -> HttpResponse:
        """``GET /metrics`` on the admin listener: for a scraper ``[metrics] allow`` lets in,
        no token needed (Prometheus scrapes without one by default)."""
        metrics = self.server.metrics
        if metrics is None:
            return HttpResponse.error(404, "metrics are off ([metrics] enabled = false)")
        if not may_scrape(request.peer, self.config.metrics.allow):
            log.info("metrics refused to %s: not in [metrics] allow", request.peer)
            return HttpResponse.error(403, "not in [metrics] allow")
        body, content_type = metrics.render(request.header("accept"))
        return HttpResponse(200, body, content_type, (("cache-control", "no-store"),))

    async def _start_admin(self) -> None:
        """Serve the admin API (``[admin]``) on its own HTTP listener."""
        section = self.config.admin
        admin_api.mount(self.http_routes, self.server, lambda: self.config.admin)
        self.http_routes.add("GET", self.config.metrics.path, self._serve_metrics)
        http = HttpServer(self.http_routes, admin_api.http_limits(section), "admin API")
        await http.start(section.host, section.port)
        self.http = http
        self._servers.append(http)
        host, port = self.http_address = http.address
        shown = f"[{host}]" if ":" in host else host
        log.info("admin API listening on http://%s:%d", shown, port)
        if section.allow_remote and not ipaddress.ip_address(host).is_loopback:
            log.warning(
                "admin API: listening beyond loopback (allow_remote): bearer tokens travel in "
                "clear text unless a TLS proxy is in front"
            )

    def _schedule_tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._tick_due = loop.time() + TICK_SECONDS
        self._ticker = loop.call_later(TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        metrics = self.server.metrics
        if metrics is not None:  # the tick is the timer whose lateness is measured
            metrics.observe_loop_lag(asyncio.get_running_loop().time() - self._tick_due)
        try:
            self.server.tick()
        except Exception:  # a bug in a timer must not stop the timers
            log.exception("error in server tick")
        self._schedule_tick()

    def address(self, kind: str = "irc") -> tuple[str, int]:
        """(host, port) of the first bound listener of ``kind``."""
        for bound in self.bound:
            if bound.kind == kind and bound.host is not None and bound.port is not None:
                return bound.host, bound.port
        raise LookupError(f"no {kind} listener")

    async def stop(self, reason: str = "shutting down") -> None:
        """Shut down in an order that loses nothing acknowledged: stop accepting, let the
        blocking work already running finish and answer (at most
        :data:`SHUTDOWN_WORK_SECONDS`), tell every client why, let queued output drain
        briefly, and only then close the database."""
        for web in self._websockets:  # its close() would drop the clients without an ERROR
            web.close(close_connections=False)
        for srv in self._servers:
            srv.close()
        for sockets in self._bound_early.values():  # (a start that failed half way)
            for sock in sockets:
                sock.close()
        self._bound_early.clear()
        await self._finish_work(SHUTDOWN_WORK_SECONDS)
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self.hub is not None:
            self.hub.going_away = True
        self.server.shutdown(reason)
        self.server.plugins.unload_all()
        if self.cluster_bus is not None:  # (the users' QUITs go first, then the lease)
            bus, self.cluster_bus = self.cluster_bus, None
            await bus.stop()
        if self.flusher is not None:
            self.flusher.flush()
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), timeout=2.0)
        if self.hub is not None:
            await self.hub.drain(2.0)
            self.hub.close()
            self.hub = None
        for bound in self.bound:
            if bound.path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(bound.path)
        self._servers.clear()
        self._websockets.clear()
        if self.history_writer is not None:
            writer, self.history_writer = self.history_writer, None
            await asyncio.get_running_loop().run_in_executor(None, writer.close, 10.0)
        if self.storage is not None:
            storage, self.storage = self.storage, None
            try:
                await asyncio.get_running_loop().run_in_executor(None, storage.close)
            except OSError as exc:
                log.error("closing the database: %s", exc)
        for pool in self._lanes.values():  # (work still running ends on its own)
            pool.shutdown(wait=False, cancel_futures=True)
        self._stopped.set()

    async def _finish_work(self, timeout: float) -> None:
        """Refuse new blocking work and wait up to ``timeout`` seconds for the work running
        (and the answers it sends) to finish."""
        self._closing = True
        for lane, queues in self._queues.items():
            for queue in queues.values():
                for waiting in queue:
                    if waiting.timer is not None:
                        waiting.timer.cancel()
                    if lane == "storage":  # (writes the cache has promised: run them all)
                        waiting.start()
            queues.clear()  # (the others never started: no answer but ERROR)
        if self._work:
            log.info("waiting for %d pieces of blocking work to finish", len(self._work))
            _, late = await asyncio.wait(set(self._work), timeout=timeout)
            if late:
                log.warning("%d pieces of blocking work still running at shutdown", len(late))

    async def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down cleanly; SIGHUP is a REHASH."""
        loop = asyncio.get_running_loop()
        await self.start()
        stop = asyncio.Event()
        received: list[str] = []

        def on_signal(name: str) -> None:
            received.append(name)
            stop.set()

        def on_hangup() -> None:
            log.info("received SIGHUP, rehashing")
            self.rehash("SIGHUP")

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, on_signal, sig.name)
        with contextlib.suppress(NotImplementedError, AttributeError):  # no SIGHUP on Windows
            loop.add_signal_handler(signal.SIGHUP, on_hangup)
        await stop.wait()
        log.info("received %s, shutting down", received[0] if received else "stop")
        await self.stop(f"received {received[0]}" if received else "shutting down")


def run(config: Config, worker: int | None = None) -> int:
    """Run a server until it is told to stop. Uses uvloop when it is installed.

    A fatal signal (SIGSEGV, SIGBUS, ...) still kills the process, but :mod:`faulthandler`
    first writes every thread's stack to standard error, so the death is never silent."""
    faulthandler.enable()
    app = App(config, worker)
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(app.serve_forever())
        else:
            uvloop.run(app.serve_forever())
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def _without_orphans(
    storage: SqliteStorage | PostgresStorage,
    channels: list[ChannelRecord],
    accounts: list[AccountRecord],
) -> list[ChannelRecord]:
    """``channels`` without the registrations whose founder's account no longer exists, and
    without the access entries of accounts that do not (both removed from the database
    too): a database where an account was deleted by an older hubbub, which left them,
    must not hand them to the name's next owner. In a worker thread, at start-up."""
    known = {account.folded for account in accounts}
    kept: list[ChannelRecord] = []
    for record in channels:
        if record.founder not in known:
            log.warning(
                "dropping the registration of %s: its founder's account %s no longer exists",
                record.name,
                record.founder,
            )
            storage.delete_channel(record.folded)
            continue
        access = tuple(entry for entry in record.access if entry[0] in known)
        if access != record.access:
            log.warning("%s: access entries of deleted accounts removed", record.name)
            record = dataclasses.replace(record, access=access)
            storage.save_channel(record)
        kept.append(record)
    return kept
