"""Transports: asyncio at the edge, moving bytes between sockets and the server core."""
