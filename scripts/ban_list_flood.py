"""Reproduce the ban-list flood: how long one client's ``PONG`` waits while others make the
server check long wildcard ban lists on every message.

Setup: one operator per channel fills ``#c1``..``#c4`` with a mute ``m:*!*@*`` and 99 bans of
45 wildcards (``*a*a*…*z<i>*!*@*``, never matching) and 100 exceptions like them; the attackers,
whose nick and user name are all ``a`` (each ``*a`` piece then matches at once and the last
piece is searched for along the whole subject), join the channels (mutes let them in) and
send ``PRIVMSG #c1,#c2,#c3,#c4 :x`` in bursts of 20 lines (what flood control lets through at
once) every 5 s. A victim sends ``PING`` every 300 ms (under flood control's 4 lines a
second) and the worst round trip is printed.

Run against a server started with ``hubbub serve --config <toml>``::

    .venv/bin/python scripts/ban_list_flood.py --port 6667 --attackers 1 --seconds 15

A server that refuses masks with too many wildcards (``696``) gets as many as it takes (the
counts kept are printed); ``--wildcards 16`` gives the most it takes. ``--renick`` has each
attacker change nick (between two all-``a`` nicks) before every message, so that no verdict
a server keeps on a user can be used twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

CHANNELS = ("#c1", "#c2", "#c3", "#c4")


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, nick: str, user: str) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        client.send(f"NICK {nick}", f"USER {user} 0 * :{user}")
        await client.expect(" 001 ")
        return client

    def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode())

    async def expect(self, text: str) -> str:
        while True:
            line = (await self.reader.readline()).decode(errors="replace")
            if not line:
                raise ConnectionError("closed")
            if line.startswith("PING"):
                self.send("PONG" + line[4:].rstrip("\r\n"))
            if text in line:
                return line

    async def drain_forever(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while await self.reader.readline():
                pass


def masks(kind: str, count: int, wildcards: int) -> list[str]:
    """``count`` masks of ``wildcards`` wildcards each, ``!*@*`` included."""
    body = "*a" * (wildcards - 4)
    return [f"{body}*{kind}{i}*!*@*" for i in range(count)]


async def fill(port: int, channel: str, index: int, wildcards: int) -> None:
    op = await Client.connect(port, f"op{index}", f"op{index}")
    op.send(f"JOIN {channel}")
    await op.expect(" 366 ")
    bans = ["m:*!*@*", *masks("z", 99, wildcards)]
    excepts = masks("y", 100, wildcards)
    changes = [("b", m) for m in bans] + [("e", m) for m in excepts]
    for start in range(0, len(changes), 4):
        chunk = changes[start : start + 4]
        op.send(f"MODE {channel} +{''.join(c for c, _ in chunk)} {' '.join(m for _, m in chunk)}")
    op.send(f"PING done{index}")
    await op.expect(f"done{index}")
    op.send(f"MODE {channel} +b", f"MODE {channel} +e", f"PING listed{index}")
    listed = {"367": 0, "348": 0}
    while True:
        line = await op.expect("")
        code = line.split(" ")[1]
        if code in listed:
            listed[code] += 1
        if f"listed{index}" in line:
            break
    print(f"{channel}: {listed['367']} bans, {listed['348']} exceptions kept")
    asyncio.get_running_loop().create_task(op.drain_forever())


async def run(args: argparse.Namespace) -> None:
    port = args.port
    await asyncio.gather(*(fill(port, c, i, args.wildcards) for i, c in enumerate(CHANNELS)))
    attackers = []
    for i in range(args.attackers):
        nick = "a" * (20 + 2 * i)  # all a's, each its own nick
        client = await Client.connect(port, nick, "a" * 10)
        client.send(f"JOIN {','.join(CHANNELS)}")
        for _ in CHANNELS:
            await client.expect(" 366 ")
        attackers.append(client)
    victim = await Client.connect(port, "victim", "victim")
    for client in attackers:
        asyncio.get_running_loop().create_task(client.drain_forever())
    stop = time.monotonic() + args.seconds
    line = f"PRIVMSG {','.join(CHANNELS)} :x"

    async def burst(client: Client, index: int) -> None:
        nicks = ("a" * (20 + 2 * index), "a" * (21 + 2 * index))
        while time.monotonic() < stop:
            if args.renick:  # each message after a nick change: no verdict can be kept
                client.send(*[x for i in range(10) for x in (f"NICK {nicks[i % 2]}", line)])
            else:
                client.send(*([line] * 20))
            await asyncio.sleep(5)

    tasks = [asyncio.get_running_loop().create_task(burst(c, i)) for i, c in enumerate(attackers)]
    worst = 0.0
    rtts: list[float] = []
    n = 0
    while time.monotonic() < stop:
        n += 1
        sent = time.monotonic()
        victim.send(f"PING t{n}")
        await victim.expect(f"t{n}")
        rtt = time.monotonic() - sent
        rtts.append(rtt)
        worst = max(worst, rtt)
        await asyncio.sleep(max(0.0, args.interval - rtt))
    for task in tasks:
        task.cancel()
    rtts.sort()
    print(
        f"attackers={args.attackers} wildcards={args.wildcards}: victim PONG worst "
        f"{worst * 1000:.0f} ms, median {rtts[len(rtts) // 2] * 1000:.1f} ms over {len(rtts)} pings"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=6667)
    parser.add_argument("--attackers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--wildcards", type=int, default=45)
    parser.add_argument(
        "--renick",
        action="store_true",
        help="attackers change nick before each message (10 NICK + 10 PRIVMSG a burst)",
    )
    parser.add_argument(
        "--interval", type=float, default=0.3, help="seconds between PINGs (flood control: 4/s)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
