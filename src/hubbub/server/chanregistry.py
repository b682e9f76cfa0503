"""Registered channels on the server: the in-memory cache ChanServ reads, written through to
the database off the event loop.

Like the accounts (:mod:`hubbub.server.accounts`), every registration is kept in memory, loaded
once at start-up by the application, so that a JOIN that brings a registered channel back
never waits for the disk. The cache is the server's, not ChanServ's: it outlives a REHASH that
sets the plugin up again. ChanServ (:mod:`hubbub.plugins.chanserv`) decides what changes;
this module keeps it and turns a channel into a record and back.

Writes: each change replaces the channel's record in the cache and asks for a write of that
channel through ``server.offload``. The write runs in a worker thread and stores whatever the
cache holds for the channel *when it runs* (or deletes it when the cache has none), one write
at a time: so writes that finish out of order still leave the newest state on disk, and a
burst of changes to one channel costs one write while one is waiting.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from hubbub.protocol.casemap import Folded
from hubbub.server.channel import FLAG_MODES, Channel, ListEntry
from hubbub.storage.base import ChannelRecord, ChannelStore

if TYPE_CHECKING:
    from hubbub.server.core import Server

__all__ = ["HISTORY_SETTINGS", "LEVELS", "ChannelRegistry", "Registered", "restore", "snapshot"]

log = logging.getLogger("hubbub.chanserv")

Registered = Literal["created", "exists", "failed"]
"""How a registration ended (see :meth:`ChannelRegistry.register`)."""

LEVELS = ("founder", "op", "voice")
"""Access levels, highest first: the founder (the account that registered the channel), then
those of the access list."""

HISTORY_SETTINGS = ("default", "on", "public", "off")
"""The values of ``Channel.history`` a registered channel may keep."""


def snapshot(channel: Channel, base: ChannelRecord) -> ChannelRecord:
    """``base`` (the registration) with what ``channel`` is now: its topic, flag modes, key,
    limit, lists and history setting."""
    return dataclasses.replace(
        base,
        topic=channel.topic,
        topic_setter=channel.topic_setter,
        topic_time=float(channel.topic_time),
        modes="".join(sorted(channel.flags)),
        key=channel.key or "",
        limit=channel.limit or 0,
        bans=tuple(e.mask for e in channel.lists["b"]),
        excepts=tuple(e.mask for e in channel.lists["e"]),
        invexes=tuple(e.mask for e in channel.lists["I"]),
        history=channel.history,
    )


def restore(channel: Channel, record: ChannelRecord, setter: str) -> None:
    """Make a channel being created what ``record`` keeps (its name as registered, topic,
    modes, key, limit, lists, history setting; its creation time is the registration's).
    List entries were kept as masks only: they come back set by ``setter`` at the channel's
    creation."""
    channel.name = record.name
    channel.name_bytes = record.name.encode()
    channel.created = int(record.registered)
    channel.born = record.registered
    channel.topic = record.topic
    channel.topic_setter = record.topic_setter
    channel.topic_time = int(record.topic_time)
    channel.flags = {mode for mode in record.modes if mode in FLAG_MODES}
    channel.key = record.key or None
    channel.limit = record.limit if record.limit > 0 else None
    channel.note_closed(record.registered)
    now = channel.created
    for mode, masks in (("b", record.bans), ("e", record.excepts), ("I", record.invexes)):
        channel.set_list(mode, (ListEntry(mask, setter, now) for mask in masks))
    channel.history = record.history if record.history in HISTORY_SETTINGS else "default"


class ChannelRegistry:
    """Every registered channel, cached in memory, written through ``store``."""

    def __init__(self, store: ChannelStore) -> None:
        self.store = store
        self.records: dict[Folded, ChannelRecord] = {}
        """The registrations by folded channel name: what the database holds, or will once
        the writes asked for are done."""
        self._queued: set[Folded] = set()
        """Channels with a write asked for and not begun: another change needs no other."""
        self._writing: set[Folded] = set()
        """The channels of the write under way (at most one at a time, of every channel
        queued when it was asked for: a flood of changes to many registered channels costs
        the database one transaction after another, never a queue of them ahead of
        everyone's history reads)."""
        self._begun = False
        """The write under way has read the records it stores (set from its thread): a
        change of one of its channels after that needs another write."""
        self._creating: set[Folded] = set()
        """Channels being registered, not yet created in the database: they are written by
        the creation (:meth:`register`), never replaced by another write before it."""
        self._write_lock = threading.Lock()
        """One write at a time (each stores the newest state when it runs)."""
        self._changes: dict[Folded, int] = {}
        """Changes of each channel so far: a write stores every change counted when it
        reads the record (see :meth:`update`'s ``done``)."""
        self._waiters: dict[Folded, list[tuple[int, Callable[[bool], None]]]] = {}
        """Who waits for a change (its count) to be written, by channel."""
        self.stored: Callable[[Folded], None] | None = None
        """Told each registration this server has just written or dropped in the database
        (a cluster with a shared database tells the other nodes: see :meth:`refresh`)."""

    def refresh(self, server: Server, folded: Folded) -> None:
        """Read the registration of ``folded`` again (another node of a cluster that shares
        the database changed it), off the event loop. A failed read keeps the cache."""
        store = self.store

        def work() -> tuple[bool, ChannelRecord | None]:
            try:
                return True, store.get_channel(folded)
            except Exception as exc:  # (StorageError) the cache is kept
                log.warning("could not read the registration of %s again: %s", folded, exc)
                return False, None

        def finish(result: tuple[bool, ChannelRecord | None]) -> None:
            ok, record = result
            if not ok or folded in self._queued | self._writing | self._creating:
                return  # (this server is about to write its own version)
            if record is None:
                self.records.pop(folded, None)
            else:
                self.records[folded] = record

        server.offload(work, finish)

    def reload(self, server: Server) -> None:
        """Read every registration again (a node of a cluster that missed what the others
        said they wrote), off the event loop. A failed read keeps the cache."""
        store = self.store

        def work() -> list[ChannelRecord] | None:
            try:
                return store.list_channels()
            except Exception as exc:  # (StorageError) the cache is kept
                log.warning("could not read the channel registrations again: %s", exc)
                return None

        def finish(records: list[ChannelRecord] | None) -> None:
            if records is None:
                return
            fresh = {record.folded: record for record in records}
            for folded in self._queued | self._writing | self._creating:  # (its own)
                current = self.records.get(folded)
                if current is None:
                    fresh.pop(folded, None)
                else:
                    fresh[folded] = current
            self.records = fresh

        server.offload(work, finish)

    def load(self, records: Iterable[ChannelRecord]) -> None:
        """Take the registrations read at start-up."""
        self.records = {record.folded: record for record in records}

    def get(self, folded: Folded) -> ChannelRecord | None:
        """The registration of the channel ``folded``, if it is registered."""
        return self.records.get(folded)

    def founded_by(self, founder: str) -> list[ChannelRecord]:
        """The channels the folded account ``founder`` registered."""
        return [r for r in self.records.values() if r.founder == founder]

    # -- changes -----------------------------------------------------------------------------

    def register(
        self, server: Server, record: ChannelRecord, done: Callable[[Registered], None]
    ) -> None:
        """Register a channel: create its row in the database, which refuses it when the
        channel is registered there already (another node of a cluster sharing the database
        registered it a moment ago). ``done("created")`` once the database has it,
        ``done("exists")`` when it refused (the cache then holds the database's registration,
        not this one), ``done("failed")`` when the database failed (the registration is
        withdrawn). Until the database has answered, changes of the channel are kept in the
        cache only; the creation stores the newest, and what changes while it runs is
        written after it."""
        folded = record.folded
        self.records[folded] = record
        self._creating.add(folded)

        def finish(result: tuple[Registered, ChannelRecord | None]) -> None:
            outcome, stored = result
            self._creating.discard(folded)
            current = self.records.get(folded)  # (ours: no refresh or drop replaced it)
            if outcome == "exists":
                if stored is None:
                    self.records.pop(folded, None)
                else:
                    self.records[folded] = stored
            elif outcome == "failed":
                self.records.pop(folded, None)
            else:
                if current is not None and current != stored:
                    self._queue(server, folded)  # (changed while the creation ran)
                self._written(folded, True)
            done(outcome)

        server.offload(lambda: self._create(folded, record), finish)

    def _create(
        self, folded: Folded, record: ChannelRecord
    ) -> tuple[Registered, ChannelRecord | None]:
        """Create the registration as the cache has it now (in a worker thread): the outcome
        and the record the database now holds, if known."""
        with self._write_lock:
            current = self.records.get(folded, record)
            try:
                if self.store.create_channel(current):
                    return "created", current
                try:
                    return "exists", self.store.get_channel(folded)
                except OSError as exc:  # (the cache forgets it; a refresh brings it back)
                    log.error("could not read the registration of %s: %s", folded, exc)
                    return "exists", None
                except Exception:
                    log.exception("could not read the registration of %s", folded)
                    return "exists", None
            except OSError as exc:  # (StorageError: the database failed, one line says how)
                log.error("could not write the registration of %s: %s", folded, exc)
                return "failed", None
            except Exception:  # (a store's own bug) the server goes on
                log.exception("could not write the registration of %s", folded)
                return "failed", None

    def update(
        self, server: Server, record: ChannelRecord, done: Callable[[bool], None] | None = None
    ) -> None:
        """A registered channel changed (its topic, modes, access list...): keep ``record``
        and write it soon. A failed write is logged; the next change writes it all again.
        ``done(ok)``, if given, is called once a write holding this change has ended
        (``ok``: it is in the database), so that a command is acknowledged only then;
        ``done(False)`` at once for a channel dropped meanwhile or still being registered."""
        folded = record.folded
        if folded not in self.records or (done is not None and folded in self._creating):
            if done is not None:
                done(False)
            return
        self.records[folded] = record
        count = self._changes[folded] = self._changes.get(folded, 0) + 1
        if done is not None:
            self._waiters.setdefault(folded, []).append((count, done))
        if folded not in self._creating:  # (else the creation stores it, or writes it after)
            self._queue(server, folded)

    def _queue(self, server: Server, folded: Folded) -> None:
        """Ask for a write of ``folded`` unless one waits to begin: with the write under way,
        if there is none; else with the next, once it has ended."""
        if folded in self._writing and not self._begun:
            return  # the write waiting to begin will store this
        self._queued.add(folded)
        if not self._writing:
            self._write_queued(server)

    def _write_queued(self, server: Server) -> None:
        """Write every channel queued, in one transaction off the event loop; then the ones
        queued meanwhile."""
        batch = sorted(self._queued)
        self._writing, self._queued, self._begun = set(batch), set(), False

        def finish(results: list[tuple[bool, int]]) -> None:
            self._writing = set()
            for folded, (ok, count) in zip(batch, results, strict=True):
                self._written(folded, ok, count)
            if self._queued:
                self._write_queued(server)

        server.offload(lambda: self._write_all(batch), finish)

    def _write_all(self, batch: list[Folded]) -> list[tuple[bool, int]]:
        """The write of the queued channels ``batch`` (in a worker thread): see
        :meth:`_store`."""
        with self._write_lock:
            self._begun = True
            return self._store(batch)

    def _store(self, batch: list[Folded]) -> list[tuple[bool, int]]:
        """Store each channel of ``batch`` as the cache has it now, or delete it when the
        cache has none, in one transaction (holding the write lock): for each, whether it
        worked (a failure is logged) and the count of changes it holds (read before the
        record: a change counted later is written by the write it queued)."""
        counts = [self._changes.get(folded, 0) for folded in batch]
        records = [self.records.get(folded) for folded in batch]
        try:
            self.store.write_channels(
                [record for record in records if record is not None],
                [f for f, record in zip(batch, records, strict=True) if record is None],
            )
        except OSError as exc:  # (StorageError: the database failed, one line says how)
            log.error("could not write the registrations of %s: %s", ", ".join(batch), exc)
            return [(False, count) for count in counts]
        except Exception:  # (a store's own bug) the server goes on
            log.exception("could not write the registrations of %s", ", ".join(batch))
            return [(False, count) for count in counts]
        return [(True, count) for count in counts]

    def forget_account(self, server: Server, account: str) -> None:
        """The folded ``account`` was deleted: the channels it founded are registered no
        more, and its access entries go, so that whoever registers the name next inherits
        neither (a failed write is logged, as any)."""
        for record in self.founded_by(account):
            log.info("dropping %s: its founder's account %s was deleted", record.name, account)
            self.drop(server, record.folded, lambda ok: None)
        for record in list(self.records.values()):
            kept = tuple(entry for entry in record.access if entry[0] != account)
            if kept != record.access:
                self.update(server, dataclasses.replace(record, access=kept))

    def drop(self, server: Server, folded: Folded, done: Callable[[bool], None]) -> None:
        """Drop a registration; ``done(True)`` once the database no longer has it,
        ``done(False)`` when the database failed (the registration is then kept)."""
        if folded in self._creating:  # (whose registration is not decided yet)
            done(False)
            return
        record = self.records.pop(folded, None)
        if record is None:
            done(True)
            return

        def finish(result: tuple[bool, int]) -> None:
            ok = result[0]
            if not ok and folded not in self.records:
                self.records[folded] = record
            self._written(folded, ok)  # (those waiting for a change of it hear now)
            if ok and folded not in self.records:
                self._changes.pop(folded, None)
            done(ok)

        server.offload(lambda: self._write(folded), finish)

    def _write(self, folded: Folded) -> tuple[bool, int]:
        """The write of one channel (a drop, in a worker thread), which a write queued for
        it need not repeat: see :meth:`_store`."""
        with self._write_lock:
            self._queued.discard(folded)
            return self._store([folded])[0]

    def _written(self, folded: Folded, ok: bool, count: int | None = None) -> None:
        """A write of ``folded`` ended (on the core's thread): tell :attr:`stored`, and
        those waiting for a change it holds (all of them when ``count`` is None)."""
        if ok and self.stored is not None:
            self.stored(folded)
        waiting = self._waiters.get(folded)
        if not waiting:
            return
        due = [done for needed, done in waiting if count is None or needed <= count]
        left = [(needed, done) for needed, done in waiting if count is not None and needed > count]
        if left:
            self._waiters[folded] = left
        else:
            del self._waiters[folded]
        for done in due:
            done(ok)
