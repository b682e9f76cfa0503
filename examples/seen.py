"""A ``!seen`` service, as a hubbub server plugin: it remembers when it last saw each nick,
and what they were doing.

Load it from the server's config (a file name is relative to the config file)::

    [plugins]
    modules = ["examples/seen.py"]

    [plugins.seen]
    nick = "Seen"                  # the service user's nick
    channels = ["#lobby"]          # the channels it joins
    max_entries = 10000            # nicks it remembers; the least recently seen go first

Ask in one of its channels, ``!seen alice``, and it answers there; or privately,
``/msg Seen alice``, and it answers with a NOTICE. It sees only what a client in its
channels would see (messages, joins, parts, kicks, quits and nick changes there), so it
never tells what happened in a channel it is not in. What it remembers is in memory: a
restart or a REHASH (which loads the plugin anew) starts it afresh.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubbub.protocol.casemap import Folded
from hubbub.server.channel import Channel
from hubbub.server.events import Event, Joined, Kicked, NickChanged, Parted, Quit, Relayed
from hubbub.server.plugins import PluginAPI, ServiceHandle
from hubbub.server.user import User

TRIGGER = "!seen"
QUOTE_CHARS = 80
"""How much of a message it quotes."""


@dataclass(frozen=True)
class Settings:
    """``[plugins.seen]``, checked."""

    nick: str = "Seen"
    channels: tuple[str, ...] = ()
    max_entries: int = 10000

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> Settings:
        """The settings in ``table``; ValueError naming the key that is wrong."""
        unknown = set(table) - {"nick", "channels", "max_entries"}
        if unknown:
            raise ValueError(f"unknown key plugins.seen.{sorted(unknown)[0]}")
        nick = table.get("nick", cls.nick)
        channels = table.get("channels", cls.channels)
        max_entries = table.get("max_entries", cls.max_entries)
        if not isinstance(nick, str) or not nick:
            raise ValueError("plugins.seen.nick must be a nick")
        if not isinstance(channels, tuple | list) or not all(
            isinstance(c, str) and c.startswith("#") for c in channels
        ):
            raise ValueError('plugins.seen.channels must be channel names ("#lobby")')
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError("plugins.seen.max_entries must be a positive integer")
        return cls(nick, tuple(channels), max_entries)


@dataclass(frozen=True)
class Sighting:
    """The last time a nick was seen, and doing what."""

    nick: str
    time: float
    doing: str


def ago(seconds: float) -> str:
    """``3 minutes ago``, roughly."""
    seconds = max(0, int(seconds))
    if seconds < 5:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"  # (not reached)


def quote(text: str) -> str:
    return repr(text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…")


class Seen:
    """The plugin's state and behaviour, made anew by each :func:`setup`."""

    def __init__(self, api: PluginAPI, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.sightings: OrderedDict[Folded, Sighting] = OrderedDict()
        self.service: ServiceHandle = api.add_service(
            settings.nick, self.on_message, username="seen", realname="Ask me: !seen <nick>"
        )
        api.subscribe(self.on_event)
        for channel in settings.channels:
            self.service.join(channel)

    # -- remembering ---------------------------------------------------------------------

    def record(self, nick: str, time: float, doing: str) -> None:
        folded = self.api.network.fold(nick)
        self.sightings[folded] = Sighting(nick, time, doing)
        self.sightings.move_to_end(folded)
        while len(self.sightings) > self.settings.max_entries:
            self.sightings.popitem(last=False)

    def watching(self, channel: Channel) -> bool:
        """True when the service is in ``channel`` (it tells only what it saw there)."""
        return channel.folded in self.service.user.channels

    def shares_channel(self, channels: Mapping[Folded, Channel] | tuple[Channel, ...]) -> bool:
        values = channels.values() if isinstance(channels, Mapping) else channels
        return any(self.watching(channel) for channel in values)

    def on_event(self, event: Event) -> None:
        """Everything that happens on the network: what it sees, it remembers (and changes
        nothing: a subscriber must not; the answers are in :meth:`on_message`)."""
        me = self.service.user
        match event:
            case Relayed(source=source, target=Channel() as channel) if source is not me:
                if self.watching(channel) and event.command != "TAGMSG":
                    self.heard(event, channel)
            case Joined(user=user, channel=channel) if user is not me:
                if self.watching(channel):
                    self.record(user.nick, event.stamp.time, f"joining {channel.name}")
            case Parted(user=user, channel=channel) if user is not me:
                if self.watching(channel):
                    self.record(user.nick, event.stamp.time, f"leaving {channel.name}")
            case Kicked(target=user, channel=channel) if self.watching(channel):
                self.record(user.nick, event.stamp.time, f"being kicked from {channel.name}")
            case Quit(user=user, reason=reason, channels=channels) if user is not me:
                if self.shares_channel(channels):
                    doing = f"quitting ({reason})" if reason else "quitting"
                    self.record(user.nick, event.stamp.time, doing)
            case NickChanged(user=user, old_nick=old_nick) if user is not me:
                if self.shares_channel(user.channels):
                    self.record(old_nick, event.stamp.time, f"changing nick to {user.nick}")

    def heard(self, event: Relayed, channel: Channel) -> None:
        """A message in one of the service's channels: remember it."""
        text = event.texts[-1]
        self.record(event.source.nick, event.time, f"saying {quote(text)} in {channel.name}")

    # -- answering -----------------------------------------------------------------------

    def on_message(self, event: Relayed) -> None:
        """A message to the service, or to a channel it is in (after the relay: it may
        answer at once). In a channel, ``!seen alice`` is answered there; in private,
        ``alice`` or ``!seen alice`` is answered with a NOTICE. A NOTICE is never answered,
        so that two bots cannot talk forever."""
        if event.command != "PRIVMSG":
            return
        target = event.target
        for text in event.texts:
            if isinstance(target, Channel):
                if text.split(" ", 1)[0] == TRIGGER:
                    self.service.say(target, self.answer(event.source, text, event.time))
            else:
                question = text if text.startswith(TRIGGER) else f"{TRIGGER} {text}"
                answer = self.answer(event.source, question, event.time)
                self.service.say(event.source, answer, notice=True)

    def answer(self, asker: User, question: str, now: float) -> str:
        """What to say to ``!seen <nick>``."""
        words = question.split()
        if len(words) != 2:
            return f"Ask me {TRIGGER} <nick>"
        nick = words[1]
        network = self.api.network
        folded = network.fold(nick)
        if folded == self.service.user.folded:
            return "I am right here."
        if folded == asker.folded:
            return "That is you."
        online = network.find_user(nick)
        sighting = self.sightings.get(folded)
        if sighting is None:
            if online is not None:
                return f"{online.nick} is online, but I have not seen them in my channels."
            return f"I have not seen {nick}."
        last = f"{sighting.nick} was last seen {ago(now - sighting.time)}, {sighting.doing}."
        if online is not None:
            last += f" {online.nick} is online now."
        return last


def setup(api: PluginAPI) -> None:
    """Start the service (``[plugins.seen]`` is checked first: a bad table is refused)."""
    Seen(api, Settings.from_table(api.config))
