"""The network's state and the one place that changes it (sans-I/O).

The transports hand the :class:`Server` complete lines with :meth:`Server.receive` and call
:meth:`Server.tick` a few times a second. What the server says is queued per session and
handed to each session's :class:`~hubbub.server.session.Sink` by :meth:`Server.flush`, which
the application runs once per event-loop iteration. Nothing here awaits, so every state change
is applied whole before its messages are queued.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from hubbub import __version__
from hubbub.config import Config
from hubbub.protocol import numerics as n
from hubbub.protocol.caps import Cap, CapBits
from hubbub.protocol.casemap import Casemapping, Folded, folder
from hubbub.protocol.errors import LineTooLong, ProtocolError
from hubbub.protocol.message import Message, check_length, decode, parse
from hubbub.server.channel import Channel
from hubbub.server.cloak import Cloaker
from hubbub.server.cluster import Bus, ClusterLink
from hubbub.server.commands import COMMANDS
from hubbub.server.commands.accounts import expire_grace, reload_accounts
from hubbub.server.commands.dispatch import Command, Context
from hubbub.server.commands.multiline import cap_value, expire, take_line
from hubbub.server.commands.ordering import order_channel_changes
from hubbub.server.commands.registration import NICK_CHANGE_WINDOW
from hubbub.server.delivery import LocalDelivery
from hubbub.server.delivery import format_time as format_time
from hubbub.server.fastpath import relay, relay_block
from hubbub.server.isupport import build_isupport
from hubbub.server.network import Network, node_id
from hubbub.server.peer import in_networks, is_loopback, networks
from hubbub.server.pluginloading import PluginManager
from hubbub.server.response import Response, render
from hubbub.server.session import PeerInfo, Session, Sink, shared
from hubbub.server.user import User

if TYPE_CHECKING:
    from hubbub.server.accounts import AccountService
    from hubbub.server.chanregistry import ChannelRegistry
    from hubbub.server.history import History
    from hubbub.server.metrics import Metrics

log = logging.getLogger("hubbub.server")

REPLY_LINES_FREE = 100
"""Lines of one command's reply (or users or channels it looks through: a WHO mask, a LIST
filter) that flood control does not count (a WHO of a busy channel, MOTD, HELP)."""
REPLY_LINES_PER_LINE = 100
"""Beyond :data:`REPLY_LINES_FREE`, how many reply lines count as one line sent: a LIST of
2,000 channels costs 20, so a client that asks for it over and over is held to a LIST
every 5 s (at ``flood_rate`` 4), where each had cost one line; one LIST now and then
costs a client nothing it would notice."""
TAG_BYTES_PER_LINE = 512
"""A line's tag section counts against flood control as one line more per this many bytes:
the client-only tags of a TAGMSG or PRIVMSG (up to 4,094 bytes) are copied to every member
of a channel, and 20 connections sending 4 KB tags at a full burst had filled the SendQ of
every member of a 200-member channel, disconnecting them all (an attack audit)."""
MAX_PENDING_LINES = 64
"""Lines held for a flooding client beyond its token bucket before it is disconnected
(alongside ``[limits] recvq``, the bytes held)."""


@functools.lru_cache(maxsize=4096)
def address_bucket(ip: str) -> str:
    """What per-address limits count ``ip`` as: an IPv4 address itself (an IPv4-mapped IPv6
    one as IPv4), an IPv6 address as its /64, the block one host is usually given (else a
    host with a /64 would be 2**64 addresses to the limits). Anything else as it is."""
    if ":" not in ip:
        return ip
    try:
        address = ipaddress.IPv6Address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return ipaddress.IPv6Network((address, 64), strict=False).with_prefixlen


def refill(tokens: float, elapsed: float, rate: float, burst: int) -> float:
    """A token bucket's tokens after ``elapsed`` seconds at ``rate`` per second, at most
    ``burst`` (flood control per client, the connection throttle per address)."""
    return min(float(burst), tokens + elapsed * rate)


T = TypeVar("T")

Lane = Literal["storage", "hash", "search"]
"""Where offloaded work waits for a thread: ``"storage"`` (database reads and writes, config
files: the default), ``"hash"`` (password hashing and checks: CPU-heavy, so that a flood of
login attempts cannot hold up everything else) and ``"search"`` (full-text searches, which
may run up to their timeout). A host may give each its own threads; one that does not runs
them all alike."""


class Host(Protocol):
    """What the application around the core gives it. The core does no I/O and never waits:
    what needs a thread, a timer or a file, it asks of its host."""

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
        """Run blocking work (disk, password hashing) away from the core's thread, in the
        threads of ``lane``, then call ``done`` with its result back on the core's thread.
        ``key`` names who asked (an address block, :func:`address_bucket`): a lane that
        queues serves the keys in turn, so that one address's flood of work delays its own
        requests rather than everyone's. Work that such a lane cannot start within
        ``within`` seconds is dropped unrun, and ``late`` is called (on the core's thread)
        instead of ``done``. Work whose ``gone()`` is true when its turn comes (the client
        that asked for a password check has left) is dropped unrun, and nothing is
        called."""

    def wake(self) -> None:
        """Bytes were queued where none were: run :meth:`Server.flush` at the end of this
        event-loop iteration."""

    def reload_config(self) -> Config | None:
        """REHASH (run through :meth:`offload`): read and check the config file again,
        with what it names (certificates), changing nothing; None when the server has no
        config file. Raises ConfigError or OSError on a bad file."""

    def config_applied(self, config: Config) -> None:
        """REHASH has just applied ``config`` (new certificates may now be used)."""

    def pause_input(self, paused: bool) -> None:
        """Stop (or go back to) reading from clients: backpressure while the history
        writer catches up with what it was given."""


class InlineHost:
    """The host of a core that runs on its own (tests, tools): blocking work runs at once,
    whoever drives the core flushes it, and there is no config file to read again."""

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
        done(work())

    def wake(self) -> None:
        pass

    def reload_config(self) -> Config | None:
        return None

    def config_applied(self, config: Config) -> None:
        pass

    def pause_input(self, paused: bool) -> None:
        pass


class Server:
    """The IRC network as this node sees it: sessions, nicks and channels."""

    casemapping: Casemapping

    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = time.time,
        motd: list[str] | None = None,
        host: Host | None = None,
    ) -> None:
        self.clock = clock
        self.host: Host = host if host is not None else InlineHost()
        """What the application provides: threads for blocking work, flushes, REHASH."""
        self.created = clock()
        self.sessions: dict[Session, None] = {}
        """Every connected session (a dict: smaller than a set, and in connection order)."""
        self.local_users = 0
        """Sessions that completed registration (the others are LUSERS' unknown ones)."""
        self.client_room = 1 << 62
        """The clients the process has descriptors for (the application sets it from its
        open-files limit); beyond it, as beyond ``[limits] max_clients``, a connection is
        refused with ``ERROR :Server is full``."""
        node = config.cluster.node_id or node_id(config.server.name)
        self.network = Network(clock, node, self.created)
        """Users, channels and every change to them (see :mod:`hubbub.server.network`)."""
        self.delivery = LocalDelivery(self)
        """The network's first subscriber: what this process's clients see of each change."""
        self.network.subscribe(self.delivery.hear, confidant=True)
        self.cluster: ClusterLink | None = None
        """This node's link to the other nodes of a cluster (None: it runs alone); set by
        :meth:`join_cluster`."""
        self.ip_counts: Counter[str] = Counter()
        self.connect_buckets: dict[str, tuple[float, float]] = {}
        """Connection throttle per address: (tokens left, when counted); forgotten once full."""
        self.register_buckets: dict[str, tuple[float, float]] = {}
        """Account registrations per address, as :attr:`connect_buckets`."""
        self.dirty: set[Session] = set()
        """Sessions with bytes queued since the last :meth:`flush`."""
        self._wake = self.wake
        """:meth:`wake`, bound once: every session keeps it (a bound method made for each
        would cost 64 bytes a client)."""
        self.held: dict[Session, dict[str, int]] = {}
        """Sessions whose output waits (their own message, which their next output
        acknowledges, is not safe yet), with what each waits for: per *gate* (``"history"``:
        the history writer's commit; ``"cluster"``: the bus's write to Redis), a sequence
        number of that gate. See :meth:`hold`."""
        self.input_waits: dict[Session, int] = {}
        """Sessions whose input waits for work besides a password check (see
        :meth:`wait_input`), with how many works it waits for."""
        self._tickets: dict[str, tuple[int, dict[int, None]]] = {}
        """Per gate of :meth:`hold_until`: the last ticket given, and the tickets whose work
        has not ended yet (in the order given)."""
        self.history: History | None = None
        """Message history, when ``[history] enabled`` and there is storage (set by
        ``history.attach``)."""
        self.metrics: Metrics | None = None
        """Prometheus metrics, when ``[metrics] enabled`` (set by ``metrics.attach``); what
        the core counts it adds only when this is set."""
        self.accounts: AccountService | None = None
        """User accounts, when the server has storage (set by ``accounts.attach``)."""
        self.channel_registry: ChannelRegistry | None = None
        """Registered channels (ChanServ's), when the server has storage (set by the
        application with the accounts)."""
        self.extra_caps: list[CapBits] = []
        """Capabilities offered beyond the always-on ones (``sasl`` and the account
        capabilities when accounts exist); set by ``accounts.attach``."""
        self.sts_port: int | None = None
        """The TLS port STS sends plain-text clients to; set by the application after it
        binds, when ``[sts] enabled`` (None: STS is not offered)."""
        self.cap_values: dict[CapBits, str] = {}
        """CAP LS 302 values, e.g. ``{Cap.SASL: "PLAIN,SCRAM-SHA-256"}``."""
        self._last_timeouts = 0.0
        self._handling: Session | None = None
        self.cloak_secret = secrets.token_hex(32)
        """What cloaks are keyed with when ``[cloaks] secret`` is empty: the application
        sets the one kept in the database (:meth:`set_cloak_secret`) before clients come;
        until then, and in tests, one made for this server."""
        self.commands: dict[str, Command] = dict(COMMANDS)
        """This server's command table: the built-in commands, and those plugins add."""
        self.apply_config(config, motd)
        self.plugins = PluginManager(self)
        """The plugins: the built-in ones (NickServ) from now, those of ``[plugins]`` once
        the application has imported them (:meth:`PluginManager.apply`), again at REHASH."""
        self.plugins.start_builtins()

    # -- configuration ---------------------------------------------------------------------

    def apply_config(self, config: Config, motd: list[str] | None = None) -> None:
        """Take a (re)loaded config. Users stay connected; new limits apply from now on.

        Everything is computed before anything changes, so a config whose MOTD file cannot be
        read (ConfigError) leaves the old one in force. The casemapping cannot change while
        the server runs: the indexes are folded with it.
        """
        casemapping = Casemapping(config.server.casemapping)
        if hasattr(self, "casemapping") and casemapping is not self.casemapping:
            raise ValueError("the casemapping cannot change while the server runs")
        base = config.path.parent if config.path else None
        new_motd = motd if motd is not None else config.server.motd_lines(base)
        isupport = build_isupport(config, history=self.history is not None)
        cloaker = self._cloaker(config)
        self.config = config
        self.cloaker = cloaker
        self.name = config.server.name
        self.limits = config.limits
        self._full_bucket = float(config.limits.flood_burst)
        """A new client's flood tokens (one float object for all: 24 bytes a client)."""
        self.max_pending = max(MAX_PENDING_LINES, config.limits.multiline_max_lines + 2)
        """Lines held for a flooding client before it is disconnected: enough for one
        whole multiline batch sent at once, whose lines flood control counts."""
        self._scanned = 0
        """Users or channels the command being handled looked through (:meth:`scanned`)."""
        self.nick_changes: dict[Session, tuple[int, float]] = {}
        """Nick changes of each client in its current window (count, start), for the
        clients that changed nick within the last ``NICK_CHANGE_WINDOW`` seconds."""
        self.cap_values[Cap.MULTILINE] = cap_value(config.limits)
        self.exempt_networks = networks(config.limits.exempt)
        self.trusted_proxies = networks(config.limits.trusted_proxies)
        """``[limits] trusted_proxies``: whose forwarding headers are believed."""
        self.gateway_networks = self.trusted_proxies + tuple(
            block for gateway in config.webirc for block in networks(gateway.hosts)
        )
        """Where proxies and WebIRC gateways connect from: addresses that speak for others,
        so not limited as one client's (the clients they name are, by their own)."""
        self.casemapping = casemapping
        self.fold = folder(casemapping)
        self.network.fold = self.fold
        self.network.casemapping = casemapping
        self.network.whowas_limit = config.limits.whowas
        self.fold_cache: dict[bytes, Folded] = {}
        """Recently folded message targets (the fast path's; bounded there)."""
        self.motd = new_motd
        self.isupport = isupport
        if self.accounts is not None:
            self.accounts.apply_config(self)
        if self.history is not None:
            self.history.apply_config(config.history)

    def _cloaker(self, config: Config) -> Cloaker | None:
        cloaks = config.cloaks
        if not cloaks.enabled:
            return None
        return Cloaker(cloaks.secret or self.cloak_secret, cloaks.suffix)

    def set_cloak_secret(self, secret: str) -> None:
        """Key cloaks with ``secret`` (the one kept in the database) unless the config names
        one. Clients already connected keep their cloaks."""
        self.cloak_secret = secret
        self.cloaker = self._cloaker(self.config)

    # -- connections -----------------------------------------------------------------------

    def connect(self, sink: Sink, peer: PeerInfo) -> Session | None:
        """A transport accepted a connection. Returns None (and closes) when refused."""
        now = self.clock()
        exempt = self._exempt(peer.ip)
        bucket = address_bucket(peer.ip)
        if not exempt and self.ip_counts[bucket] >= self.limits.max_clients_per_ip:
            sink.write(b"ERROR :Too many connections from your IP address\r\n")
            sink.close()
            return None
        if len(self.sessions) >= min(self.limits.max_clients, self.client_room):
            sink.write(b"ERROR :Server is full\r\n")
            sink.close()
            return None
        if not exempt and peer.transport != "unix" and not self._admit_rate(peer.ip, now):
            sink.write(b"ERROR :Too many connections from your IP address too quickly\r\n")
            sink.close()
            return None
        cloaker = self.cloaker
        # A peer its transport names (a Unix socket: localhost) keeps that name.
        host = cloaker.cloak(peer.ip) if cloaker and peer.hostname is None else None
        session = Session(sink, peer, now, self.dirty, self._wake, host)
        session.flood_tokens = self._full_bucket
        self.sessions[session] = None
        self.ip_counts[bucket] += 1
        return session

    def _exempt(self, ip: str) -> bool:
        """True for an address in ``[limits] exempt`` (no per-address limits), or one of a
        trusted proxy or a WebIRC gateway (its clients are counted by their own)."""
        return in_networks(ip, self.exempt_networks) or in_networks(ip, self.gateway_networks)

    def readdress(self, session: Session, peer: PeerInfo) -> str | None:
        """A gateway named the address of the client behind ``session`` (WEBIRC, before
        registration): from now on it is ``peer`` for everything, the per-address counts,
        limits and throttle included, and its host is made again from it. Returns why it is
        refused instead (too many clients from that address), changing nothing."""
        old = session.peer
        exempt = self._exempt(peer.ip)
        bucket, old_bucket = address_bucket(peer.ip), address_bucket(old.ip)
        if (
            not exempt
            and bucket != old_bucket
            and self.ip_counts[bucket] >= self.limits.max_clients_per_ip
        ):
            return "Too many connections from your IP address"
        if not exempt and not self._admit_rate(peer.ip, self.clock()):
            return "Too many connections from your IP address too quickly"
        self.ip_counts[old_bucket] -= 1
        if self.ip_counts[old_bucket] <= 0:
            del self.ip_counts[old_bucket]
        self.ip_counts[bucket] += 1
        session.peer = peer
        cloaker = self.cloaker
        host = cloaker.cloak(peer.ip) if cloaker is not None else None
        self.network.readdress(session.user, shared(host or peer.hostname or peer.ip))
        return None

    def _admit_rate(self, ip: str, now: float) -> bool:
        """Connection throttle: a token bucket per address (an IPv6 one's /64, see
        :func:`address_bucket`; ``connect_burst`` connections at
        once, then ``connect_rate`` per second). Loopback addresses are not throttled while
        ``exempt_loopback`` is on (the default): they are this machine's own gateways,
        bouncers and benchmarks."""
        burst = self.limits.connect_burst
        if not burst or (self.limits.exempt_loopback and is_loopback(ip)):
            return True
        bucket = address_bucket(ip)
        tokens, last = self.connect_buckets.get(bucket, (float(burst), now))
        tokens = refill(tokens, now - last, self.limits.connect_rate, burst)
        if tokens < 1.0:
            return False
        self.connect_buckets[bucket] = (tokens - 1.0, now)
        return True

    def spared(self, session: Session) -> bool:
        """True for a client that per-address allowances spare: on a Unix socket, on
        loopback while ``exempt_loopback`` is on, or from ``[limits] exempt`` (gateways and
        bouncers act for many)."""
        ip = session.peer.ip
        if session.peer.transport == "unix" or self._exempt(ip):
            return True
        return self.limits.exempt_loopback and is_loopback(ip)

    def admit_registration(self, session: Session) -> bool:
        """Account registration throttle: a token bucket per address (``[accounts]
        register_burst`` accounts at once, then ``register_per_hour``), taken from when a
        registration is tried (the callers check the name and password first, so a refused
        one costs nothing). What the connection throttle spares (Unix sockets, loopback with
        ``exempt_loopback``, ``[limits] exempt``) is spared here too: gateways and bouncers
        register for many."""
        burst = self.config.accounts.register_burst
        ip = session.peer.ip
        if not burst or self.spared(session):
            return True
        now = self.clock()
        rate = self.config.accounts.register_per_hour / 3600.0
        bucket = address_bucket(ip)
        tokens, last = self.register_buckets.get(bucket, (float(burst), now))
        tokens = refill(tokens, now - last, rate, burst)
        if tokens < 1.0:
            return False
        self.register_buckets[bucket] = (tokens - 1.0, now)
        return True

    def receive(self, session: Session, lines: Iterable[bytes | LineTooLong]) -> None:
        """Lines arrived from ``session``'s peer; apply flood control, then handle them."""
        if session.closed:
            return
        now = self.clock()
        session.last_recv = now
        session.ping_sent = None
        if not self.limits.flood and not session.pending and not session.checking_password:
            lines = iter(lines)  # what the loop leaves is what must wait
            for line in lines:
                if not isinstance(line, bytes):
                    self._input_too_long(session)
                elif line and not (line[:1] in b"PN" and relay(self, session, line)):
                    self._dispatch(session, line)
                if session.closed or session.checking_password:
                    break
            else:
                return
            # A command started blocking work: hold what is left until it is done.
            lines = list(lines)
        pending = session.pending
        if pending is None:
            pending = session.pending = []
        for line in lines:
            pending.append(line)
            session.pending_bytes += len(line) if isinstance(line, bytes) else 1
        self._drain(session, now)

    def receive_block(self, session: Session, data: bytes) -> bool:
        """Complete lines arrived from ``session``'s peer as one block (each ends with LF).

        When they are all plain messages to one target (what a client that sends faster
        than it hears back puts in each read), they are relayed in one go; see
        :func:`~hubbub.server.fastpath.relay_block`. Returns False, having done nothing,
        for anything else: the caller splits the block and calls :meth:`receive`.
        """
        if session.closed or session.pending or session.checking_password:
            return False
        if not data.endswith(b"\n"):
            return False
        now = self.clock()
        limits = self.limits
        tokens = 0.0
        if limits.flood:  # one token per line, as when they are handled one by one
            tokens = self._flood_tokens(session, now) - data.count(b"\n")
            if tokens < 0.0:
                return False
        if not relay_block(self, session, data, now):
            return False
        session.last_recv = now
        session.ping_sent = None
        if limits.flood:
            session.flood_tokens = tokens
            session.flood_time = now
        return True

    @contextmanager
    def answering(self, reply: Response) -> Iterator[None]:
        """What changes made inside the block show their own client goes into ``reply``
        (for the work a command finishes later, after a password check, say)."""
        delivery = self.delivery
        outer, delivery.answering = delivery.answering, reply
        try:
            yield
        finally:
            delivery.answering = outer

    def wait_input(self, session: Session) -> Callable[[], None]:
        """Handle none of ``session``'s next lines until the returned function is called
        (the read markers of the account it has just logged in to are being read: its
        JOINs and MARKREADs must find them). Unlike a password check's, such a wait may
        outlast the command that began it; the lines go on once every wait has ended."""
        waits = self.input_waits
        waits[session] = waits.get(session, 0) + 1
        session.checking_password = True
        told = False

        def ended() -> None:
            nonlocal told
            if told:
                return
            told = True
            left = waits.get(session, 1) - 1
            if left > 0:
                waits[session] = left
                return
            waits.pop(session, None)
            self.resume(session)

        return ended

    def resume(self, session: Session) -> None:
        """Blocking work for ``session`` (a password check) is done: handle its held input
        (unless it waits for more: :meth:`wait_input`)."""
        if session in self.input_waits and not session.closed:
            return
        session.checking_password = False
        if not session.closed and self._handling is not session:
            # (when the work finished inline, inside the command, the caller's loop goes on)
            self._drain(session, self.clock())

    def _drain(self, session: Session, now: float) -> None:
        pending = session.pending
        if pending is None:
            return
        if self.limits.flood:
            tokens = self._flood_tokens(session, now)
            session.flood_time = now
            while pending and tokens >= 1.0 and not session.closed:
                if session.checking_password:
                    break
                session.flood_tokens = tokens - 1.0
                self._handle_pending(session)
                tokens = session.flood_tokens  # (less what the command charged: charge())
            session.flood_tokens = tokens
        else:
            while pending and not session.closed and not session.checking_password:
                self._handle_pending(session)
        if (
            len(pending) > self.max_pending or session.pending_bytes > self.limits.recvq
        ) and not session.closed:
            # More input held than the RecvQ allows: a flood, not a burst.
            pending.clear()
            session.pending_bytes = 0
            if self.metrics is not None:
                self.metrics.flood_disconnects += 1
            self.quit(session, "Excess Flood", error="Excess Flood")
        if not pending and session.pending is pending:
            session.pending = None  # most clients hold nothing back: keep no list for them

    def charge(self, session: Session, lines: float) -> None:
        """Count ``lines`` more against ``session``'s flood control, for the command being
        handled: one whose cost to everyone grows with its parameters (a JOIN of many
        channels tells every member of each). The client's next lines wait the longer."""
        if self.limits.flood:
            session.flood_tokens -= lines

    def scanned(self, count: int) -> None:
        """The command being handled looked through ``count`` users or channels (a WHO
        mask, a LIST filter): flood control counts them as it counts the lines of a long
        reply, so that a mask matching nobody costs what one matching everybody does."""
        self._scanned = max(self._scanned, count)

    def _flood_tokens(self, session: Session, now: float) -> float:
        """The lines ``session`` may send now: its bucket, refilled since it was last used."""
        limits = self.limits
        return refill(
            session.flood_tokens, now - session.flood_time, limits.flood_rate, limits.flood_burst
        )

    def _handle_pending(self, session: Session) -> None:
        assert session.pending is not None
        line = session.pending.pop(0)
        session.pending_bytes -= len(line) if isinstance(line, bytes) else 1
        self.handle_line(session, line)

    def _input_too_long(self, session: Session) -> None:
        self.send(session, self.numeric(session, n.ERR_INPUTTOOLONG, "Input line was too long"))

    def handle_line(self, session: Session, raw: bytes | LineTooLong) -> None:
        """Parse one line and run its command. Bad input is answered, never raised."""
        if isinstance(raw, LineTooLong):
            self._input_too_long(session)
            return
        if not raw:  # an empty line: counted by flood control, otherwise ignored
            return
        if raw[:1] in b"PN" and relay(self, session, raw):
            return
        self._dispatch(session, raw)

    def _dispatch(self, session: Session, raw: bytes) -> None:
        """The full handling of a line (see :mod:`hubbub.server.fastpath` for the short one)."""
        outer, self._handling = self._handling, session
        try:
            self._handle_line(session, raw)
        finally:
            self._handling = outer

    def _handle_line(self, session: Session, raw: bytes) -> None:
        if session.room < 0:
            return  # its output outgrew the SendQ: it is dropped at the next flush
        metrics = self.metrics
        start = metrics.clock() if metrics is not None else 0.0
        try:
            check_length(raw)
        except ProtocolError:
            self._input_too_long(session)
            return
        if raw[:1] == b"@":  # (a tag section of n x 512 bytes counts as n lines more)
            tag_bytes = raw.find(b" ")
            if tag_bytes >= TAG_BYTES_PER_LINE:
                self.charge(session, tag_bytes // TAG_BYTES_PER_LINE)
        text, utf8 = decode(raw)
        try:
            msg = parse(text)
        except ProtocolError:
            return  # Modern IRC: silently ignore lines that are not messages
        command = msg.command.upper()
        label = (msg.tags.get("label") or None) if msg.tags else None  # (a value is required)
        reply = Response(session, self.name, label)
        if not utf8:
            # (the command itself may be what is not UTF-8: then it is not shown)
            shown = command if command.isascii() and command.isprintable() else "*"
            reply.fail(shown, "INVALID_UTF8", "Message rejected: it is not valid UTF-8")
            reply.flush()
            return
        if (session.multiline is not None or (msg.tags and "batch" in msg.tags)) and take_line(
            self, session, msg, command, reply
        ):
            return  # (a line of a multiline batch: answered when the batch ends)
        entry = self.commands.get(command)
        charged = session.flood_tokens  # (to tell whether the command charges for itself)
        self._scanned = 0
        if entry is None:
            if session.registered:
                reply.numeric(n.ERR_UNKNOWNCOMMAND, msg.command, "Unknown command")
            else:
                reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        elif not session.registered and not entry.pre_registration:
            reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        elif len(msg.params) < entry.min_params:
            reply.numeric(n.ERR_NEEDMOREPARAMS, command, "Not enough parameters")
        elif entry.oper and "o" not in session.user.modes:
            reply.numeric(n.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        else:
            if entry.idle_reset:
                session.user.last_active = self.clock()
            delivery = self.delivery
            outer, delivery.answering = delivery.answering, reply
            try:
                entry.handler(Context(self, session, msg, reply))
            except Exception:  # a bug in one handler must not take the server down
                log.exception("error handling %r from %s", text, session)
                reply.numeric(n.ERR_UNKNOWNERROR, command, "Internal error; the command failed")
            finally:
                delivery.answering = outer
        if not session.closed:
            lines = max(len(reply.messages), self._scanned)
            # (a command that counted its own cost, JOIN of many channels, is not again)
            if lines > REPLY_LINES_FREE and session.flood_tokens == charged:
                self.charge(session, (lines - REPLY_LINES_FREE) / REPLY_LINES_PER_LINE)
            try:
                reply.flush()
            except ProtocolError:
                log.exception("unserialisable reply to %r from %s", text, session)
        if metrics is not None and entry is not None:  # (a known command: a bounded label)
            metrics.observe_command(command, metrics.clock() - start)

    def tick(self) -> None:
        """Run timers: flood queues every call; registration and ping timeouts, and the
        grace periods of registered nicks, each second."""
        now = self.clock()
        for session in [s for s in self.sessions if s.pending]:
            self._drain(session, now)  # (also what was held before a REHASH ended flood control)
        if now - self._last_timeouts < 1.0:
            return
        elapsed = now - self._last_timeouts
        self._last_timeouts = now
        limits = self.limits
        if self.connect_buckets:  # forget addresses whose bucket has filled up again
            burst, rate = limits.connect_burst, limits.connect_rate
            for ip, (tokens, last) in list(self.connect_buckets.items()):
                if refill(tokens, now - last, rate, burst) >= burst:
                    del self.connect_buckets[ip]
        if self.nick_changes:  # (forget the windows that ended, and closed clients)
            window = NICK_CHANGE_WINDOW
            for session, (_, since) in list(self.nick_changes.items()):
                if session.closed or now - since >= window:
                    del self.nick_changes[session]
        if self.register_buckets:  # (the same for registrations)
            accounts = self.config.accounts
            burst, rate = accounts.register_burst, accounts.register_per_hour / 3600.0
            for ip, (tokens, last) in list(self.register_buckets.items()):
                if refill(tokens, now - last, rate, burst) >= burst:
                    del self.register_buckets[ip]
        if self.accounts is not None and self.accounts.grace:
            expire_grace(self, now)  # nick protection: only the clients counting down
        if self.history is not None:
            self.history.tick(now)  # (a retention pass every purge_interval)
        if self.cluster is not None:
            self.cluster.tick(now)  # (JOINs waiting for a channel made on another node)
        for session in list(self.sessions):
            if session.multiline is not None:
                expire(self, session, now)
            if not session.registered:
                if session.checking_password:
                    # The registration clock stops while the server works for the client
                    # (a password check waiting its turn behind a flood of them): its
                    # connection time moves on by as much (no one sees it before the welcome).
                    session.user.signon += min(elapsed, limits.registration_timeout)
                elif now - session.user.signon > limits.registration_timeout:
                    self.quit(session, "Registration timed out", error="Registration timed out")
            elif session.ping_sent is not None:
                if now - session.ping_sent > limits.ping_timeout:
                    waited = int(now - session.last_recv)
                    self.quit(session, f"Ping timeout: {waited} seconds")
            elif now - session.last_recv > limits.ping_interval:
                session.ping_sent = now
                session.write(f"PING :{self.name}\r\n".encode())

    def shutdown(self, reason: str) -> None:
        """Tell every client why, and close them all."""
        for session in list(self.sessions):
            self.quit(
                session, f"Server shutting down: {reason}", error=f"Server shutting down: {reason}"
            )

    # -- sending ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Bytes were queued: the host flushes at the end of this event-loop iteration."""
        self.host.wake()

    def offload(
        self,
        work: Callable[[], T],
        done: Callable[[T], None],
        lane: Lane = "storage",
        within: float | None = None,
        late: Callable[[], None] | None = None,
        abandon: bool = False,
    ) -> None:
        """Run blocking work away from the core's thread (see :meth:`Host.offload`), on
        behalf of the client whose line is being handled, if any (its address block is the
        work's key). With ``abandon``, work that has not started when that client leaves
        never runs, and ``done`` is not called (a password check: a client that asks for
        checks and hangs up leaves no work behind it)."""
        handling = self._handling
        gone = None
        if abandon and handling is not None:
            gone = functools.partial(getattr, handling, "closed")
        self.host.offload(work, done, lane, self.asker(), within, late, gone)

    def asker(self) -> str:
        """The address block of the client whose line is being handled ("" for none): the
        key of the work it asks for."""
        handling = self._handling
        return address_bucket(handling.peer.ip) if handling is not None else ""

    def hold(self, session: Session, seq: int, gate: str = "history") -> None:
        """Send ``session`` nothing more until ``gate`` has done its work up to ``seq`` (the
        history row ``seq`` is committed; the cluster record ``seq`` is written): what it
        is sent next acknowledges its message (echo-message, a labeled reply), and nothing
        acknowledged may be lost. A session may wait for several gates at once."""
        gates = self.held.setdefault(session, {})
        if gates.get(gate, -1) < seq:
            gates[gate] = seq

    def hold_until(self, session: Session, gate: str) -> Callable[[], None]:
        """Send ``session`` nothing more until the returned function is called, when the
        work it waits for (a read marker's or a registered channel's write) has ended: what
        the session is sent next acknowledges a change, which must be on disk by then.
        Works of one gate may end in any order: a session is released once every work it
        waits for, and every one begun before them, has ended."""
        last, open_ = self._tickets.get(gate, (0, {}))
        ticket = last + 1
        open_[ticket] = None
        self._tickets[gate] = (ticket, open_)
        self.hold(session, ticket, gate)

        def ended() -> None:
            if ticket not in open_:
                return  # (told twice)
            del open_[ticket]
            first = next(iter(open_), None)
            self.release(self._tickets[gate][0] if first is None else first - 1, gate)

        return ended

    def release(self, seq: int, gate: str = "history") -> None:
        """``gate`` has done its work up to ``seq``: flush the sessions that waited for it
        (and for no other gate)."""
        held = self.held
        if not held:
            return
        ready = []
        for session, gates in held.items():
            want = gates.get(gate)
            if want is not None and want <= seq:
                del gates[gate]
                if not gates:
                    ready.append(session)
        for session in ready:
            del held[session]
            if session.closed:  # it quit meanwhile: its echo, its ERROR, then the end
                self._flush_one(session)
                session.sink.close()
            elif session.outbuf or session.room < 0:
                self.dirty.add(session)
        if ready:
            self.host.wake()

    def flush(self) -> None:
        """Hand each session's queued bytes to its sink, in one write per session;
        disconnect the sessions whose output outgrew their SendQ. With ``[metrics]`` on, the
        bytes are counted here, once per client and flush (the IRC lines, before TLS or
        WebSocket framing), rather than in every transport's write."""
        dirty = self.dirty
        sent = self.metrics.bytes_sent if self.metrics is not None else None
        held = self.held
        while dirty:
            session = dirty.pop()
            if held and session in held:
                continue  # (released, and flushed, once its message is on disk)
            buf = session.outbuf
            if buf:
                data = b"".join(buf) if len(buf) > 1 else buf[0]
                buf.clear()
                session.sink.write(data)
                if sent is not None:
                    sent[session.peer.transport] += len(data)
            elif session.room < 0:  # (an overflow empties the queue: see Session.overflow)
                self._sendq_exceeded(session)

    def _sendq_exceeded(self, session: Session) -> None:
        """``session`` was sent more than its SendQ holds (it does not read): what was
        queued for it is gone already (:meth:`Session.overflow`); say why and close."""
        log.info("SendQ exceeded for %s", session)
        if self.metrics is not None:
            self.metrics.sendq_disconnects += 1
        session.outbuf.clear()
        session.room = 0
        self.quit(session, "SendQ exceeded", error="SendQ exceeded")

    def _flush_one(self, session: Session) -> None:
        """Hand what is queued for ``session`` to its sink now (as :meth:`flush` does)."""
        buf = session.outbuf
        if buf:
            data = b"".join(buf) if len(buf) > 1 else buf[0]
            buf.clear()
            session.sink.write(data)
            if self.metrics is not None:
                self.metrics.bytes_sent[session.peer.transport] += len(data)

    def numeric(self, session: Session, code: str, *params: str) -> Message:
        """A numeric reply to ``session``."""
        return Message(code, (session.user.nick, *params), self.name)

    def notice(self, session: Session, text: str) -> Message:
        """A server NOTICE to ``session``."""
        return Message("NOTICE", (session.user.nick, text), self.name)

    def send(self, session: Session, msg: Message) -> None:
        """Send one message to one client, serialised for its capabilities."""
        session.write(render(msg, session.caps))

    def msgid(self) -> str:
        """A new message id, unique across restarts and nodes (IRCv3 ``msgid``)."""
        return self.network.msgid()

    def tags(
        self, sender: User | None = None, client_tags: dict[str, str] | None = None
    ) -> dict[str, str]:
        """Server tags for a new message: time, msgid, and the sender's account."""
        tags = {"time": format_time(self.clock()), "msgid": self.network.msgid()}
        if sender is not None:
            tags.update(self.network.sender_tags(sender))
        if client_tags:
            tags.update(client_tags)
        return tags

    def deliver(
        self,
        recipients: Iterable[User],
        msg: Message,
        skip: User | None = None,
        need: CapBits = Cap.NONE,
    ) -> None:
        """Fan ``msg`` out to the local connections of ``recipients`` (not a change of the
        network: WALLOPS, notices), serialised once per render key."""
        self.delivery.deliver(recipients, msg, skip, need)

    def snotice(self, text: str, but: User | None = None) -> None:
        """A server notice to every local operator who has user mode ``s`` (but ``but``, who
        did it and is answered)."""
        for oper in self.network.opers:
            session = oper.session
            if session is not None and "s" in oper.modes and oper is not but:
                self.send(session, Message("NOTICE", (oper.nick, f"*** {text}"), self.name))

    # -- lookups ---------------------------------------------------------------------------

    def find_user(self, nick: str) -> User | None:
        """The registered user called ``nick``, if any."""
        return self.network.find_user(nick)

    def find_channel(self, name: str) -> Channel | None:
        """The channel called ``name``, if it exists."""
        return self.network.channels.get(self.fold(name))

    def visible_to(self, viewer: User, user: User) -> bool:
        """WHO and friends: invisible users are seen only by those sharing a channel."""
        if "i" not in user.modes or viewer is user or "o" in viewer.modes:
            return True
        return any(ch in user.channels for ch in viewer.channels)

    def join_cluster(self, bus: Bus, node: str) -> ClusterLink:
        """Become the node ``node`` of a cluster whose other nodes ``bus`` reaches: this
        node's changes go to them and theirs come here (see :mod:`hubbub.server.cluster`)."""

        def notify(user: User, text: str) -> None:
            if user.session is not None:
                self.send(user.session, self.notice(user.session, text))

        self.cluster = ClusterLink(self.network, node, bus, self.name, notify)
        link = self.cluster
        link.hold = lambda session, seq: self.hold(session, seq, "cluster")
        link.release = lambda seq: self.release(seq, "cluster")
        accounts, registry = self.accounts, self.channel_registry

        # One database for every node (PostgreSQL): what one node writes, the others read
        # again when it tells them, or their caches would not know it until a REHASH.
        def announcer(kind: str) -> Callable[[Folded], None]:
            def announce(folded: Folded) -> None:
                link.publish(kind, name=folded)

            return announce

        if accounts is not None and getattr(accounts.storage, "shared", False):
            accounts.stored = announcer("acctdb")
            link.on_stored["acctdb"] = lambda folded: accounts.refresh(self, folded)
            link.on_resync.append(lambda: reload_accounts(self, lambda said, failed: None))
        elif accounts is not None:
            # A database of its own: the database cannot keep a name one account in the
            # whole network, so each name is claimed in the cluster (see accounts.py).
            accounts.claims = link
            link.on_claims_lost.append(lambda: accounts.claim_names(self, lost=True))
            accounts.claim_names(self)
        if registry is not None and getattr(registry.store, "shared", False):
            registry.stored = announcer("chandb")
            link.on_stored["chandb"] = lambda folded: registry.refresh(self, folded)
            link.on_resync.append(lambda: registry.reload(self))

        # Read markers (MARKREAD) with a store the nodes share: a marker moved on one node
        # moves on every node, and its connections there hear it (see history.py).
        def heard_marker(record: dict[str, Any]) -> None:
            if self.history is not None:
                self.history.heard_marker(record)

        def read_markers_again() -> None:
            if self.history is not None:
                self.history.read_markers_again()

        link.on_marker = heard_marker
        link.on_resync.append(read_markers_again)
        order_channel_changes(self)
        return link

    # -- connections that come and go ------------------------------------------------------

    def register(self, session: Session) -> None:
        """``session`` completed registration: its user is now on the network."""
        session.mark_registered()
        self.local_users += 1
        self.network.register(session.user)

    def quit(self, session: Session, reason: str, error: str | None = None) -> None:
        """Take ``session``'s user off the network (its peers hear why), and close it."""
        if session.closed:
            return
        was_registered = session.registered
        session.mark_closed()
        user = session.user
        if was_registered:
            self.local_users -= 1
            self.network.quit(user, reason)
        else:
            self.network.forget(user)
        if session.monitoring:
            self.network.unmonitor(session, session.monitoring)
        self.sessions.pop(session, None)
        self.input_waits.pop(session, None)
        bucket = address_bucket(session.peer.ip)
        self.ip_counts[bucket] -= 1
        if self.ip_counts[bucket] <= 0:
            del self.ip_counts[bucket]
        closing = error if error is not None else reason
        farewell = Message("ERROR", (f"Closing Link: {user.host} ({closing})",))
        session.outbuf.append(render(farewell, Cap.NONE))  # (a long quit reason is cut)
        self.dirty.discard(session)
        if session in self.held:
            return  # (closed once its last message is on disk: see release)
        self._flush_one(session)
        session.sink.close()

    def stats(self) -> tuple[int, int, int, int]:
        """(registered users, invisible users, operators, unregistered connections)."""
        users, invisible, opers = self.network.stats()
        return users, invisible, opers, len(self.sessions) - self.local_users

    @property
    def version(self) -> str:
        """The version string shown by 002, 004 and VERSION."""
        return f"hubbub-{__version__}"
