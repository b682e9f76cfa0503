#!/usr/bin/env python3
"""Cost of relaying a PRIVMSG in the server core alone (no sockets, no event loop).

Usage: .venv/bin/python scripts/core_relay_bench.py [MEMBERS] [MESSAGES]
Prints messages/s, deliveries/s and microseconds per message for one sender in a channel of
MEMBERS clients whose output is discarded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.harness import Client, make_server  # noqa: E402


def main() -> None:
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    server = make_server(max_clients_per_ip=members + 1)
    clients = [Client(server).register(f"u{i}") for i in range(members)]
    for client in clients:
        client.send("JOIN #bench")
        client.lines()
    line = [b"PRIVMSG #bench :" + b"x" * 50]
    sender = clients[0].session
    start = time.perf_counter()
    for i in range(count):
        server.receive(sender, line)
        if i % 64 == 63:  # what the event loop's flusher does once per iteration
            for client in clients:
                client.session.outbuf.clear()
            server.dirty.clear()
    elapsed = time.perf_counter() - start
    print(
        f"{members} members: {count / elapsed:,.0f} msgs/s, "
        f"{count * (members - 1) / elapsed / 1e6:.2f} M deliveries/s, "
        f"{elapsed / count * 1e6:.1f} us/msg"
    )


if __name__ == "__main__":
    main()
