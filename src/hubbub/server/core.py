"""The network's state and the one place that changes it (sans-I/O).

The transports hand the :class:`Server` complete lines with :meth:`Server.receive` and call
:meth:`Server.tick` a few times a second. What the server says is queued per session and
handed to each session's :class:`~hubbub.server.session.Sink` by :meth:`Server.flush`, which
the application runs once per event-loop iteration. Nothing here awaits, so every state change
is applied whole before its messages are queued.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar

from hubbub import __version__
from hubbub.protocol import numerics as n
from hubbub.protocol.caps import Cap, CapBits
from hubbub.protocol.casemap import Casemapping, Folded, folder
from hubbub.protocol.errors import LineTooLong, ProtocolError
from hubbub.protocol.message import Message, check_length, decode, parse
from hubbub.server.channel import Channel
from hubbub.server.cloak import Cloaker
from hubbub.server.commands import COMMANDS
from hubbub.server.commands.accounts import expire_grace
from hubbub.server.commands.dispatch import Command, Context
from hubbub.server.config import Config
from hubbub.server.fastpath import relay, relay_block
from hubbub.server.isupport import build_isupport
from hubbub.server.response import Response, render
from hubbub.server.session import PeerInfo, Session, Sink, WhowasEntry

if TYPE_CHECKING:
    from hubbub.server.accounts import AccountService

log = logging.getLogger("hubbub.server")

MAX_PENDING_LINES = 64
"""Lines held for a flooding client beyond its token bucket before it is disconnected
(alongside ``[limits] recvq``, the bytes held)."""


_last_second: tuple[int, str] = (-1, "")
"""The last whole second :func:`format_time` formatted, with its text (strftime is slow);
replaced whole, so a reader never sees one second with another's text."""


def format_time(now: float) -> str:
    """An IRCv3 ``server-time`` timestamp: ``2026-11-23T20:10:27.123Z``."""
    global _last_second
    second, text = _last_second
    if second != int(now):
        second = int(now)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    return f"{text}.{int(now * 1000) % 1000:03d}Z"


def refill(tokens: float, elapsed: float, rate: float, burst: int) -> float:
    """A token bucket's tokens after ``elapsed`` seconds at ``rate`` per second, at most
    ``burst`` (flood control per client, the connection throttle per address)."""
    return min(float(burst), tokens + elapsed * rate)


T = TypeVar("T")


class Offloader(Protocol):
    """Runs blocking work (disk, password hashing) away from the core's thread, then calls
    ``done`` with its result back on the core's thread."""

    def __call__(self, work: Callable[[], T], done: Callable[[T], None]) -> None: ...


def _nothing() -> None:
    pass


def _run_inline(work: Callable[[], T], done: Callable[[T], None]) -> None:
    done(work())


class Server:
    """The IRC network as this node sees it: sessions, nicks and channels."""

    casemapping: Casemapping

    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = time.time,
        motd: list[str] | None = None,
    ) -> None:
        self.clock = clock
        self.created = clock()
        self.sessions: dict[Session, None] = {}
        """Every connected session (a dict: smaller than a set, and in connection order)."""
        self.users: dict[Folded, Session] = {}
        self.channels: dict[Folded, Channel] = {}
        self.whowas: deque[WhowasEntry] = deque()
        self.monitors: dict[Folded, set[Session]] = {}
        self.ip_counts: Counter[str] = Counter()
        self.connect_buckets: dict[str, tuple[float, float]] = {}
        """Connection throttle per address: (tokens left, when counted); forgotten once full."""
        self.opers: set[Session] = set()
        self.max_users = 0
        self.user_count = 0
        """Registered users (kept, not counted: LUSERS runs on every registration)."""
        self.invisible_count = 0
        self.commands: dict[str, Command] = dict(COMMANDS)
        """This server's command table: the built-in commands, and those plugins add."""
        self.rehash_hook: Callable[[], Config] | None = None
        """Set by the application: reads and checks the config file again, with what it names
        (certificates), changing nothing; raises ConfigError or OSError on a bad file. REHASH
        runs it through :attr:`offload`."""
        self.rehash_commit: Callable[[Config], None] | None = None
        """Set by the application: called with the config REHASH has just applied."""
        self.offload: Offloader = _run_inline
        """Runs blocking work (password hashing, storage) and hands its result to a callback
        on the core's thread. The application sets a thread-pool version; tests keep it
        inline."""
        self.dirty: set[Session] = set()
        """Sessions with bytes queued since the last :meth:`flush`."""
        self.wake: Callable[[], None] = _nothing
        """Called when bytes are queued and none were: the application schedules a
        :meth:`flush` for the end of the event-loop iteration. Tests call flush themselves."""
        self.accounts: AccountService | None = None
        """User accounts, when the server has storage (set by ``accounts.attach``)."""
        self.extra_caps: list[CapBits] = []
        """Capabilities offered beyond the always-on ones (``sasl`` and the account
        capabilities when accounts exist); set by ``accounts.attach``."""
        self.sts_port: int | None = None
        """The TLS port STS sends plain-text clients to; set by the application after it
        binds, when ``[sts] enabled`` (None: STS is not offered)."""
        self.cap_values: dict[CapBits, str] = {}
        """CAP LS 302 values, e.g. ``{Cap.SASL: "PLAIN,SCRAM-SHA-256"}``."""
        self._msgids = itertools.count(1)
        self._msgid_prefix = f"{int(self.created * 1000):x}-"
        self._last_timeouts = 0.0
        self._handling: Session | None = None
        self.cloak_secret = secrets.token_hex(32)
        """What cloaks are keyed with when ``[cloaks] secret`` is empty: the application
        sets the one kept in the database (:meth:`set_cloak_secret`) before clients come;
        until then, and in tests, one made for this server."""
        self.apply_config(config, motd)

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
        isupport = build_isupport(config)
        cloaker = self._cloaker(config)
        self.config = config
        self.cloaker = cloaker
        self.name = config.server.name
        self.limits = config.limits
        self.exempt_networks = [ipaddress.ip_network(e, strict=False) for e in config.limits.exempt]
        self.casemapping = casemapping
        self.fold = folder(casemapping)
        self.fold_cache: dict[bytes, Folded] = {}
        """Recently folded message targets (the fast path's; bounded there)."""
        self.motd = new_motd
        self.isupport = isupport
        if self.accounts is not None:
            self.accounts.apply_config(self)

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
        if not exempt and self.ip_counts[peer.ip] >= self.limits.max_clients_per_ip:
            sink.write(b"ERROR :Too many connections from your IP address\r\n")
            sink.close()
            return None
        if len(self.sessions) >= self.limits.max_clients:
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
        session.flood_tokens = float(self.limits.flood_burst)
        self.sessions[session] = None
        self.ip_counts[peer.ip] += 1
        return session

    def _exempt(self, ip: str) -> bool:
        """True for an address in ``[limits] exempt`` (no per-address limits)."""
        networks = self.exempt_networks
        if not networks:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in networks)

    def _admit_rate(self, ip: str, now: float) -> bool:
        """Connection throttle: a token bucket per address (``connect_burst`` connections at
        once, then ``connect_rate`` per second). Loopback addresses are not throttled while
        ``exempt_loopback`` is on (the default): they are this machine's own gateways,
        bouncers and benchmarks."""
        burst = self.limits.connect_burst
        if not burst or (self.limits.exempt_loopback and (ip.startswith("127.") or ip == "::1")):
            return True
        tokens, last = self.connect_buckets.get(ip, (float(burst), now))
        tokens = refill(tokens, now - last, self.limits.connect_rate, burst)
        if tokens < 1.0:
            return False
        self.connect_buckets[ip] = (tokens - 1.0, now)
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
                elif not (line[:1] in b"PN" and relay(self, session, line)):
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

    def resume(self, session: Session) -> None:
        """Blocking work for ``session`` (a password check) is done: handle its held input."""
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
                tokens -= 1.0
                self._handle_pending(session)
            session.flood_tokens = tokens
        else:
            while pending and not session.closed and not session.checking_password:
                self._handle_pending(session)
        if (
            len(pending) > MAX_PENDING_LINES or session.pending_bytes > self.limits.recvq
        ) and not session.closed:
            # More input held than the RecvQ allows: a flood, not a burst.
            pending.clear()
            session.pending_bytes = 0
            self.quit(session, "Excess Flood", error="Excess Flood")
        if not pending and session.pending is pending:
            session.pending = None  # most clients hold nothing back: keep no list for them

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
        try:
            check_length(raw)
        except ProtocolError:
            self._input_too_long(session)
            return
        text, utf8 = decode(raw)
        try:
            msg = parse(text)
        except ProtocolError:
            return  # Modern IRC: silently ignore lines that are not messages
        command = msg.command.upper()
        label = msg.tags.get("label") if msg.tags else None
        reply = Response(session, self.name, label)
        if not utf8:
            reply.fail(command, "INVALID_UTF8", "Message rejected: it is not valid UTF-8")
            reply.flush()
            return
        entry = self.commands.get(command)
        if entry is None:
            if session.registered:
                reply.numeric(n.ERR_UNKNOWNCOMMAND, msg.command, "Unknown command")
            else:
                reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        elif not session.registered and not entry.pre_registration:
            reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        elif len(msg.params) < entry.min_params:
            reply.numeric(n.ERR_NEEDMOREPARAMS, command, "Not enough parameters")
        elif entry.oper and "o" not in session.modes:
            reply.numeric(n.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        else:
            if entry.idle_reset:
                session.last_active = self.clock()
            try:
                entry.handler(Context(self, session, msg, reply))
            except Exception:  # a bug in one handler must not take the server down
                log.exception("error handling %r from %s", text, session)
                reply.numeric(n.ERR_UNKNOWNERROR, command, "Internal error; the command failed")
        if not session.closed:
            try:
                reply.flush()
            except ProtocolError:
                log.exception("unserialisable reply to %r from %s", text, session)

    def tick(self) -> None:
        """Run timers: flood queues every call; registration and ping timeouts, and the
        grace periods of registered nicks, each second."""
        now = self.clock()
        if self.limits.flood:
            for session in [s for s in self.sessions if s.pending]:
                self._drain(session, now)
        if now - self._last_timeouts < 1.0:
            return
        self._last_timeouts = now
        limits = self.limits
        if self.connect_buckets:  # forget addresses whose bucket has filled up again
            burst, rate = limits.connect_burst, limits.connect_rate
            for ip, (tokens, last) in list(self.connect_buckets.items()):
                if refill(tokens, now - last, rate, burst) >= burst:
                    del self.connect_buckets[ip]
        if self.accounts is not None and self.accounts.grace:
            expire_grace(self, now)  # nick protection: only the clients counting down
        for session in list(self.sessions):
            if not session.registered:
                if now - session.signon > limits.registration_timeout:
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

    def _wake(self) -> None:
        self.wake()

    def flush(self) -> None:
        """Hand each session's queued bytes to its sink, in one write per session;
        disconnect the sessions whose output outgrew their SendQ."""
        dirty = self.dirty
        while dirty:
            session = dirty.pop()
            buf = session.outbuf
            if buf:
                data = b"".join(buf) if len(buf) > 1 else buf[0]
                buf.clear()
                session.sink.write(data)
            elif session.room < 0:  # (an overflow empties the queue: see Session.overflow)
                self._sendq_exceeded(session)

    def _sendq_exceeded(self, session: Session) -> None:
        """``session`` was sent more than its SendQ holds (it does not read): what was
        queued for it is gone already (:meth:`Session.overflow`); say why and close."""
        log.info("SendQ exceeded for %s", session)
        session.outbuf.clear()
        session.room = 0
        self.quit(session, "SendQ exceeded", error="SendQ exceeded")

    @staticmethod
    def _flush_one(session: Session) -> None:
        """Hand what is queued for ``session`` to its sink now (as :meth:`flush` does)."""
        buf = session.outbuf
        if buf:
            data = b"".join(buf) if len(buf) > 1 else buf[0]
            buf.clear()
            session.sink.write(data)

    def numeric(self, session: Session, code: str, *params: str) -> Message:
        """A numeric reply to ``session``."""
        return Message(code, (session.nick, *params), self.name)

    def notice(self, session: Session, text: str) -> Message:
        """A server NOTICE to ``session``."""
        return Message("NOTICE", (session.nick, text), self.name)

    def send(self, session: Session, msg: Message) -> None:
        """Send one message to one client, serialised for its capabilities."""
        session.write(render(msg, session.caps))

    def msgid(self) -> str:
        """A new message id, unique on this server (IRCv3 ``msgid``)."""
        return f"{self._msgid_prefix}{next(self._msgids):x}"

    def tags(
        self, sender: Session | None = None, client_tags: dict[str, str] | None = None
    ) -> dict[str, str]:
        """Server tags for a new message: time, msgid, and the sender's account."""
        now = self.clock()
        tags = {"time": format_time(now), "msgid": self.msgid()}
        if sender is not None and sender.account:
            tags["account"] = sender.account
        if "B" in (sender.modes if sender else ()):
            tags["bot"] = ""
        if client_tags:
            tags.update(client_tags)
        return tags

    def deliver(
        self,
        recipients: Iterable[Session],
        msg: Message,
        skip: Session | None = None,
        need: CapBits = Cap.NONE,
    ) -> None:
        """Fan ``msg`` out: serialised once per distinct set of tag-relevant capabilities.

        ``skip`` is left out (usually the sender); ``need`` limits delivery to clients that
        enabled those capabilities.
        """
        cache: dict[CapBits, bytes] = {}
        dirty = self.dirty
        was_idle = not dirty
        add = dirty.add
        for session in recipients:
            if session is skip or (need and session.caps & need != need):
                continue
            key = session.render_key
            data = cache.get(key)
            if data is None:
                data = cache[key] = render(msg, key)
            session.outbuf.append(data)
            room = session.room = session.room - len(data)
            if room < 0:
                session.overflow()
            add(session)
        if was_idle and dirty:
            self.wake()

    def deliver_variants(
        self,
        recipients: Iterable[Session],
        cap: CapBits,
        with_cap: Message | None,
        without_cap: Message | None,
        skip: Session | None = None,
    ) -> None:
        """Fan out one of two forms of a message, by whether each recipient has ``cap``."""
        have: list[Session] = []
        lack: list[Session] = []
        for session in recipients:
            if session is not skip:
                (have if session.caps & cap else lack).append(session)
        if with_cap is not None:
            self.deliver(have, with_cap)
        if without_cap is not None:
            self.deliver(lack, without_cap)

    def notify_peers(self, session: Session, msg: Message, need: CapBits) -> None:
        """Tell those who can see ``session`` about a change to it (away, realname, host,
        account): channel peers with ``need``, and the clients that MONITOR its nick with
        ``need`` and extended-monitor. Each hears it once."""
        peers = self.peers_of(session)
        self.deliver(peers, msg, need=need)
        watchers = self.monitors.get(session.folded)
        if watchers:
            self.deliver(watchers - peers, msg, skip=session, need=need | Cap.EXTENDED_MONITOR)

    def peers_of(self, session: Session) -> set[Session]:
        """Everyone who shares a channel with ``session`` (``session`` excluded)."""
        peers: set[Session] = set()
        for channel in session.channels.values():
            peers.update(channel.members)
        peers.discard(session)
        return peers

    def snotice(self, text: str) -> None:
        """A server notice to every operator who has user mode ``s``."""
        for oper in self.opers:
            if "s" in oper.modes:
                self.send(oper, Message("NOTICE", (oper.nick, f"*** {text}"), self.name))

    # -- lookups ---------------------------------------------------------------------------

    def find_user(self, nick: str) -> Session | None:
        """The registered client using ``nick``, if any."""
        session = self.users.get(self.fold(nick))
        return session if session is not None and session.registered else None

    def find_channel(self, name: str) -> Channel | None:
        """The channel called ``name``, if it exists."""
        return self.channels.get(self.fold(name))

    def visible_to(self, viewer: Session, session: Session) -> bool:
        """WHO and friends: invisible users are seen only by those sharing a channel."""
        if "i" not in session.modes or viewer is session or "o" in viewer.modes:
            return True
        return any(ch in session.channels for ch in viewer.channels)

    # -- state changes used by several command families ------------------------------------

    def quit(self, session: Session, reason: str, error: str | None = None) -> None:
        """Remove ``session`` from the network, tell its peers, and close it."""
        if session.closed:
            return
        was_registered = session.registered
        session.mark_closed()
        if was_registered:
            self.user_count -= 1
            if "i" in session.modes:
                self.invisible_count -= 1
            quit_msg = Message("QUIT", (reason,), session.prefix, self.tags(session))
            self.deliver(self.peers_of(session), quit_msg)
            self.record_whowas(session)
            self.snotice(
                f"Client exiting: {session.nick} ({session.user}@{session.host}) [{reason}]"
            )
        for channel in list(session.channels.values()):
            self.remove_member(channel, session)
        session.channels.clear()
        if self.users.get(session.folded) is session:
            del self.users[session.folded]
            if was_registered:
                self.monitor_notify(session, online=False)
        for folded in session.monitoring:
            watchers = self.monitors.get(folded)
            if watchers is not None:
                watchers.discard(session)
                if not watchers:
                    del self.monitors[folded]
        session.monitoring = frozenset()  # (the shared empty one is only for new sessions)
        self.opers.discard(session)
        self.sessions.pop(session, None)
        self.ip_counts[session.peer.ip] -= 1
        if self.ip_counts[session.peer.ip] <= 0:
            del self.ip_counts[session.peer.ip]
        closing = error if error is not None else reason
        farewell = Message("ERROR", (f"Closing Link: {session.host} ({closing})",))
        session.outbuf.append(render(farewell, Cap.NONE))  # (a long quit reason is cut)
        self.dirty.discard(session)
        self._flush_one(session)
        session.sink.close()

    def record_whowas(self, session: Session) -> None:
        """Remember ``session``'s nick as it is now for WHOWAS (it is quitting or changing
        nick), keeping at most ``[limits] whowas`` entries: the oldest go first."""
        self.whowas.appendleft(
            WhowasEntry(
                session.nick, session.user, session.host, session.realname, int(self.clock())
            )
        )
        while len(self.whowas) > self.limits.whowas:
            self.whowas.pop()

    def change_host(self, session: Session, user: str, host: str) -> None:
        """Give ``session`` a new user and host (IRCv3 chghost).

        Peers with ``chghost`` get a CHGHOST line; the others see the user quit and join
        again with its channel modes, as the spec's fallback says.
        """
        old_prefix = session.prefix
        session.user, session.host = user, host
        session.update_prefix()
        tags = self.tags(session)
        change = Message("CHGHOST", (user, host), old_prefix, tags)
        self.notify_peers(session, change, Cap.CHGHOST)
        if session.caps & Cap.CHGHOST:
            self.send(session, change)
        lacking = {p for p in self.peers_of(session) if not p.caps & Cap.CHGHOST}
        if not lacking:
            return
        self.deliver(lacking, Message("QUIT", ("Changing host",), old_prefix, tags))
        for channel in session.channels.values():
            members = [m for m in channel.members if m in lacking]
            plain = Message("JOIN", (channel.name,), session.prefix, tags)
            extended = Message(
                "JOIN",
                (channel.name, session.account or "*", session.realname),
                session.prefix,
                tags,
            )
            self.deliver_variants(members, Cap.EXTENDED_JOIN, extended, plain)
            modes = channel.members[session]
            if modes:
                mode = Message(
                    "MODE",
                    (channel.name, "+" + modes, *[session.nick] * len(modes)),
                    self.name,
                    tags,
                )
                self.deliver(members, mode)
            if session.away is not None:
                away = Message("AWAY", (session.away,), session.prefix, tags)
                self.deliver(members, away, need=Cap.AWAY_NOTIFY)

    def remove_member(self, channel: Channel, session: Session) -> None:
        """Take ``session`` out of ``channel``; an empty channel ceases to exist."""
        channel.remove(session)
        session.channels.pop(channel.folded, None)
        if not channel.members:
            self.channels.pop(channel.folded, None)

    def monitor_notify(self, session: Session, online: bool) -> None:
        """Tell the clients that MONITOR ``session``'s nick that it came or went."""
        watchers = self.monitors.get(session.folded)
        if not watchers:
            return
        if online:
            msg = Message(n.RPL_MONONLINE, ("*", session.prefix), self.name)
        else:
            msg = Message(n.RPL_MONOFFLINE, ("*", session.nick), self.name)
        for watcher in watchers:
            self.send(watcher, Message(msg.command, (watcher.nick, *msg.params[1:]), self.name))

    def stats(self) -> tuple[int, int, int, int]:
        """(registered users, invisible users, operators, unregistered connections)."""
        users = self.user_count
        return users, self.invisible_count, len(self.opers), len(self.sessions) - users

    @property
    def version(self) -> str:
        """The version string shown by 002, 004 and VERSION."""
        return f"hubbub-{__version__}"
