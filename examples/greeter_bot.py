"""A greeter bot: welcomes everyone who joins, and says how many are in the room.

python examples/greeter_bot.py [HOST[:PORT]]   (joins #lobby on 127.0.0.1:6667 by default)
"""

import asyncio
import sys

from hubbub.client import Client, Join


async def main(address: str) -> None:
    async with Client(address, nick="greeter", channels=["#lobby"], reconnect=True) as client:
        async for event in client:
            if isinstance(event, Join) and not event.is_self:
                count = len(client.state.members(event.channel))
                await client.send_message(event.channel, f"Welcome, {event.nick}! {count} here.")


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:6667"))
