"""The server core: sessions, commands, users and channels, with no sockets."""
