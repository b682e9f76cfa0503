"""Prometheus metrics: counters of what happened, gauges of what is (sans-I/O).

A :class:`Metrics` is kept per server (``server.metrics``, None when ``[metrics] enabled`` is
off) and has a registry of its own, never prometheus-client's global one: several servers
may run in one process (the tests do). Every metric is listed in ``docs/metrics.md``.

What a hot path adds to is a plain int, or a dict of ints, on this object: no lock, no
prometheus-client object and nothing per recipient. The network's events feed the message
counters, one addition per event (a block of lines to one target is one event, its
recipients counted with one ``len``); the core counts SendQ and flood disconnects, refused
logins and how long each command took; the transports count bytes; the application
measures the event loop's lag. Gauges (connections, users, channels) are not kept at all:
they are read from the server when Prometheus scrapes, by :meth:`Metrics.collect`, which
turns everything into metric families (prometheus-client's custom-collector interface).
Nothing here does I/O but prometheus-client's process collector, which reads ``/proc`` at
scrape time (a few small in-memory files).
"""

from __future__ import annotations

import ipaddress
import re
import time
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, get_args

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from hubbub import __version__
from hubbub.server.channel import PREFIX_MODES, PREFIX_SYMBOLS, Channel
from hubbub.server.events import Event, Relayed

if TYPE_CHECKING:
    from hubbub.server.core import Server

__all__ = [
    "COMMAND_BUCKETS",
    "EVENT_TYPES",
    "LOOP_LAG_BUCKETS",
    "RELAY_COMMANDS",
    "TRANSPORTS",
    "Histogram",
    "Metrics",
    "attach",
    "detach",
    "event_name",
    "recipients",
]

TRANSPORTS = ("tcp", "tls", "unix", "ws", "wss")
"""The transports a connection comes in on (``PeerInfo.transport``), each shown from the
start (at 0) so that ``rate()`` has a series before the first connection."""

RELAY_COMMANDS = ("PRIVMSG", "NOTICE", "TAGMSG")
"""The commands a :class:`~hubbub.server.events.Relayed` event carries."""

COMMAND_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
)
"""Upper bounds (seconds) of the command duration histogram: most commands take tens of
microseconds; a big WHO or LIST takes milliseconds."""

LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds (seconds) of the event-loop lag histogram."""


def event_name(kind: type) -> str:
    """The ``event`` label of an event type: ``NickChanged`` is ``nick_changed``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind.__name__).lower()


EVENT_TYPES: tuple[type, ...] = tuple(kind for kind in get_args(Event) if kind is not Relayed)
"""The event types counted (each shown from the start, at 0) in ``hubbub_events_total``:
all but :class:`~hubbub.server.events.Relayed`, whose lines have counters of their own."""


class Histogram:
    """A histogram kept as plain numbers: an observation is one bisect and two additions
    (prometheus-client's own takes a lock and walks its buckets in Python)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        """Observations per bucket (not cumulative); the last one is above every bound."""
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation of ``value`` (a bucket holds the values up to its bound)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        """How many observations there were."""
        return sum(self.counts)

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, ``+Inf`` last, as the exposition format has
        them."""
        out: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return out


def recipients(event: Relayed) -> int:
    """How many users ``event`` is addressed to: 1 for a user; for a channel, its members
    but the sender (only those with the ``status`` prefix or a higher one, for a message to
    ``@#chan``). Echoes to the sender (``echo-message``) are not counted, nor is whether a
    recipient's connection took the bytes."""
    target = event.target
    if not isinstance(target, Channel):
        return 1
    members: Mapping[Any, str] = target.members
    source = event.source
    status = event.status
    if not status:
        return len(members) - (source in members)
    # The lowest rank named, and every rank above it (@ is o; + is o or v).
    lowest = max((PREFIX_SYMBOLS.index(c) for c in status if c in PREFIX_SYMBOLS), default=-1)
    modes = PREFIX_MODES[: lowest + 1]
    tally = Counter(members.values())  # (a few distinct mode strings, counted in C)
    count = sum(n for held, n in tally.items() if any(mode in held for mode in modes))
    held = members.get(source)
    if held is not None and any(mode in held for mode in modes):
        count -= 1
    return count


RENDER_EVERY = 1.0
"""Seconds between two renderings of the metrics page, at most one a second: each takes some
10 ms of the event loop once every command has been counted, and 64 scrapers asking at once
had held it 0.86 s. A Prometheus scrape interval is 15 s or more."""


class Metrics:
    """The metrics of one server: counters the server adds to, gauges read at scrape time.

    It is the network's event subscriber (call it with each event) and a prometheus-client
    collector (:meth:`collect`), registered in :attr:`registry` along with the process,
    platform and garbage-collector collectors.
    """

    def __init__(
        self,
        server: Server,
        clock: Callable[[], float] = time.perf_counter,
        process: bool = True,
    ) -> None:
        self.server = server
        self.clock = clock
        """What command durations are measured with (monotonic, fine-grained)."""
        self.relayed: defaultdict[str, int] = defaultdict(int, dict.fromkeys(RELAY_COMMANDS, 0))
        """Lines relayed (PRIVMSG, NOTICE, TAGMSG), by command."""
        self.deliveries: defaultdict[str, int] = defaultdict(int, dict.fromkeys(RELAY_COMMANDS, 0))
        """Lines times the users each was addressed to (see :func:`recipients`)."""
        self.events: defaultdict[type, int] = defaultdict(int, dict.fromkeys(EVENT_TYPES, 0))
        """Network events but relayed messages, by type."""
        self.bytes_received: defaultdict[str, int] = defaultdict(int, dict.fromkeys(TRANSPORTS, 0))
        """Bytes read from clients, by transport (the transports add to it)."""
        self.bytes_sent: defaultdict[str, int] = defaultdict(int, dict.fromkeys(TRANSPORTS, 0))
        """Bytes handed to clients' connections, by transport (the transports add to it)."""
        self.sendq_disconnects = 0
        """Clients disconnected because their output outgrew the SendQ."""
        self.flood_disconnects = 0
        """Clients disconnected for flooding (``Excess Flood``)."""
        self.logins_refused = 0
        """Refused logins: SASL, NickServ IDENTIFY and OPER with wrong credentials."""
        self.commands: dict[str, Histogram] = {}
        """How long the core took to handle each command (its full handler; see
        :meth:`observe_command`)."""
        self.loop_lag = Histogram(LOOP_LAG_BUCKETS)
        """How late the application's periodic timer ran (see :meth:`observe_loop_lag`)."""
        self.render_every = RENDER_EVERY
        """Seconds a rendered page is served again to the scrapers that ask meanwhile."""
        self._rendered: dict[str, tuple[float, bytes]] = {}
        self.registry = CollectorRegistry()
        """This server's registry (never prometheus-client's global one)."""
        self.registry.register(self)
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    # -- fed by the network, the core and the transports -----------------------------------

    def __call__(self, event: Event) -> None:
        """Count ``event`` (see :meth:`hear`)."""
        self.hear(event)

    def hear(self, event: Event) -> None:
        """The network's event subscriber: count ``event``. A relayed message or block costs
        a few hundred nanoseconds, whatever the number of its lines and recipients (but for
        a message to ``@#chan``, rare, whose recipients are counted one by one)."""
        if type(event) is not Relayed:
            self.events[type(event)] += 1
            return
        target = event.target
        if type(target) is not Channel:
            count = 1
        elif event.status:
            count = recipients(event)
        else:
            members: Mapping[Any, str] = target.members
            count = len(members) - (event.source in members)
        lines = event.lines
        command = event.command
        self.relayed[command] += lines
        self.deliveries[command] += lines * count

    def observe_command(self, command: str, seconds: float) -> None:
        """``command`` (one of the command table's) took ``seconds`` to handle."""
        histogram = self.commands.get(command)
        if histogram is None:
            histogram = self.commands[command] = Histogram(COMMAND_BUCKETS)
        histogram.observe(seconds)

    def observe_loop_lag(self, seconds: float) -> None:
        """A timer ran ``seconds`` after it was due (the event loop was busy that long)."""
        self.loop_lag.observe(max(seconds, 0.0))

    # -- read at scrape time ---------------------------------------------------------------

    def collect(self) -> Iterable[Metric]:
        """Every hubbub metric, as prometheus-client's collector interface asks for it."""
        server = self.server
        yield _labelled(
            GaugeMetricFamily(
                "hubbub_build_info", "The hubbub version (the value is 1)", labels=["version"]
            ),
            {__version__: 1},
        )
        connections = dict.fromkeys(TRANSPORTS, 0)
        for session in server.sessions:
            transport = session.peer.transport
            connections[transport] = connections.get(transport, 0) + 1
        yield _labelled(
            GaugeMetricFamily(
                "hubbub_connections",
                "Open client connections (registered or not), by transport",
                labels=["transport"],
            ),
            connections,
        )
        network = server.network
        yield GaugeMetricFamily("hubbub_users", "Registered users", value=network.user_count)
        yield GaugeMetricFamily("hubbub_channels", "Channels", value=len(network.channels))
        yield GaugeMetricFamily("hubbub_operators", "IRC operators", value=len(network.opers))
        yield _labelled(
            CounterMetricFamily(
                "hubbub_messages_relayed",
                "Lines of PRIVMSG, NOTICE and TAGMSG relayed, by command",
                labels=["command"],
            ),
            self.relayed,
        )
        yield _labelled(
            CounterMetricFamily(
                "hubbub_message_deliveries",
                "Relayed lines times the users each was addressed to, by command",
                labels=["command"],
            ),
            self.deliveries,
        )
        yield _labelled(
            CounterMetricFamily(
                "hubbub_events",
                "Network events but relayed messages (joins, quits...), by type",
                labels=["event"],
            ),
            {event_name(kind): count for kind, count in self.events.items()},
        )
        yield _labelled(
            CounterMetricFamily(
                "hubbub_received_bytes",
                "Bytes read from clients, by transport (without TLS or WebSocket framing)",
                labels=["transport"],
            ),
            self.bytes_received,
        )
        yield _labelled(
            CounterMetricFamily(
                "hubbub_sent_bytes",
                "Bytes sent to clients, by transport (without TLS or WebSocket framing)",
                labels=["transport"],
            ),
            self.bytes_sent,
        )
        yield CounterMetricFamily(
            "hubbub_sendq_disconnects",
            "Clients disconnected because their output outgrew the SendQ",
            value=self.sendq_disconnects,
        )
        yield CounterMetricFamily(
            "hubbub_flood_disconnects",
            "Clients disconnected for flooding (Excess Flood)",
            value=self.flood_disconnects,
        )
        yield CounterMetricFamily(
            "hubbub_logins_refused",
            "Refused logins (SASL, NickServ IDENTIFY, OPER)",
            value=self.logins_refused,
        )
        durations = HistogramMetricFamily(
            "hubbub_command_duration_seconds",
            "Time the core took to handle a command (full handler; not blocking work such "
            "as password hashing, nor the fast-path relay of plain PRIVMSG and NOTICE)",
            labels=["command"],
        )
        for command, histogram in sorted(self.commands.items()):
            durations.add_metric([command], histogram.buckets(), histogram.sum)
        yield durations
        lag = self.loop_lag
        yield HistogramMetricFamily(
            "hubbub_event_loop_lag_seconds",
            "How late the server's periodic timer ran: the event loop was busy that long",
            buckets=lag.buckets(),
            sum_value=lag.sum,
        )

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The metrics as an HTTP body and its content type: the Prometheus text format, or
        OpenMetrics when the ``Accept`` header asks for it. For any HTTP server to serve."""
        encoder, content_type = choose_encoder(accept or "")
        now = time.monotonic()
        cached = self._rendered.get(content_type)
        if cached is not None and now - cached[0] < self.render_every:
            return cached[1], content_type
        body = encoder(self.registry)
        self._rendered[content_type] = (now, body)
        return body, content_type


def _labelled(family: CounterMetricFamily | GaugeMetricFamily, values: Mapping[str, int]) -> Metric:
    """``family`` with one sample per ``label value: number`` of ``values``."""
    for label, value in values.items():
        family.add_metric([label], value)
    return family


def may_scrape(address: str, allow: Iterable[str]) -> bool:
    """Whether a scraper at ``address`` (an IP address) is in ``[metrics] allow``; an
    IPv4-mapped IPv6 address counts as its IPv4 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in allow)


def attach(server: Server, metrics: Metrics) -> None:
    """Turn metrics on for ``server``: the core, the transports and the application count
    into ``metrics`` from now on, and it hears the network's events."""
    server.metrics = metrics
    server.network.subscribe(metrics.hear)  # (a bound method: cheaper to call)


def detach(server: Server) -> None:
    """Turn metrics off for ``server`` (its counts are dropped)."""
    metrics = server.metrics
    if metrics is None:
        return
    server.metrics = None
    server.network.unsubscribe(metrics.hear)
