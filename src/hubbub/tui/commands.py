"""The input line's slash commands: parsing and help (executing them is the app's job)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandInfo:
    """A command's usage line and what it does."""

    usage: str
    help: str


COMMANDS: dict[str, CommandInfo] = {
    "join": CommandInfo("/join #channel [key]", "join a channel and switch to it"),
    "part": CommandInfo("/part [#channel] [reason]", "leave a channel (default: this one)"),
    "msg": CommandInfo("/msg nick|#channel text", "send a message without switching"),
    "query": CommandInfo("/query nick [text]", "open a private conversation with nick"),
    "me": CommandInfo("/me action", "send an action: * you waves"),
    "notice": CommandInfo("/notice target text", "send a notice"),
    "nick": CommandInfo("/nick newnick", "change your nick"),
    "topic": CommandInfo("/topic [new topic]", "show or set this channel's topic"),
    "away": CommandInfo("/away [message]", "mark yourself away; without a message: back"),
    "whois": CommandInfo("/whois nick", "ask the server about nick"),
    "names": CommandInfo("/names [#channel]", "list who is in a channel (default: this one)"),
    "list": CommandInfo(
        "/list [#mask]", "list the server's channels, with users and topic (in the server window)"
    ),
    "kick": CommandInfo("/kick [#channel] nick [reason]", "put nick out of a channel (this one)"),
    "mode": CommandInfo(
        "/mode [#channel|yournick] [modes]",
        "show or change a channel's modes (default: this one), e.g. /mode +m, /mode +o bob",
    ),
    "invite": CommandInfo("/invite nick [#channel]", "invite nick to a channel (this one)"),
    "ctcp": CommandInfo("/ctcp nick COMMAND [args]", "send a CTCP request: VERSION, PING, TIME"),
    "clear": CommandInfo("/clear", "empty this window (scrolling back does not bring it back)"),
    "search": CommandInfo(
        "/search [in:#chan] [from:nick] words",
        "search the history; Enter on a result opens the conversation there",
    ),
    "set": CommandInfo("/set [typing on|off]", "show or change a setting"),
    "close": CommandInfo("/close", "close this conversation (leaving the channel)"),
    "raw": CommandInfo("/raw LINE", "send a raw IRC line, e.g. /raw MODE #c +m"),
    "quit": CommandInfo("/quit [reason]", "disconnect and exit"),
    "help": CommandInfo("/help [command]", "list the commands and keys"),
}
"""Every command, in the order ``/help`` lists them."""

ALIASES = {
    "j": "join",
    "leave": "part",
    "m": "msg",
    "q": "query",
    "exit": "quit",
    "quote": "raw",
    "action": "me",
    "h": "help",
}

KEYS = [
    ("Enter", "send the line (or run the /command)"),
    ("Tab", "complete a nick, #channel or /command; again for the next match"),
    ("Up / Down", "previous / next line you typed"),
    ("Ctrl+N / Ctrl+P, Alt+Down / Alt+Up", "next / previous conversation"),
    ("Alt+1 … Alt+9", "go to conversation 1 … 9"),
    ("PageUp / PageDown", "scroll the messages; PageUp at the top loads older ones"),
    ("Ctrl+End", "back to the latest messages (after a search or a long scroll back)"),
    ("Ctrl+Q", "quit"),
]


@dataclass(frozen=True)
class Command:
    """A parsed slash command: its canonical name and the rest of the line."""

    name: str
    args: str

    def split(self, count: int) -> list[str]:
        """The first ``count - 1`` words and the rest: ``split(2)`` of ``"ann hi there"`` is
        ``["ann", "hi there"]``. Missing parts are empty strings."""
        parts = self.args.split(None, count - 1)
        return parts + [""] * (count - len(parts))


def parse_input(text: str) -> Command | str:
    """A :class:`Command` for ``/name args``, otherwise the text to send. ``//text`` sends
    ``/text`` as a message; ``/`` alone is a command without a name (not a message)."""
    if text.startswith("//"):
        return text[1:]
    if not text.startswith("/"):
        return text
    name, _, args = text[1:].partition(" ")
    name = name.lower()
    return Command(ALIASES.get(name, name), args.strip())


def help_lines(topic: str = "") -> list[str]:
    """The ``/help`` text: every command and key, or one command's usage."""
    if topic:
        name = ALIASES.get(topic.lstrip("/").lower(), topic.lstrip("/").lower())
        info = COMMANDS.get(name)
        if info is None:
            return [f"no command /{name}; /help lists them"]
        return [f"{info.usage} — {info.help}"]
    width = max(len(i.usage) for i in COMMANDS.values())
    lines = ["commands:"]
    lines += [f"  {i.usage.ljust(width)}  {i.help}" for i in COMMANDS.values()]
    lines.append("keys:")
    key_width = max(len(k) for k, _ in KEYS)
    lines += [f"  {k.ljust(key_width)}  {what}" for k, what in KEYS]
    return lines
