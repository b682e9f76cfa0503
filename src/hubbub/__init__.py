"""hubbub: a self-hostable IRC chat server, terminal client and web client."""

__version__ = "0.1.0"
