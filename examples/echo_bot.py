"""An echo bot: says back whatever is said to it, in a channel or in private.

python examples/echo_bot.py [HOST[:PORT]]      (joins #echo on 127.0.0.1:6667 by default)
"""

import asyncio
import sys

from hubbub.client import ChatMessage, Client


async def main(address: str) -> None:
    async with Client(address, nick="echobot", channels=["#echo"]) as client:
        async for event in client:
            if isinstance(event, ChatMessage) and not (event.from_self or event.notice):
                await client.send_message(event.conversation, event.text)


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:6667"))
