"""The plugins that come with hubbub (see :mod:`hubbub.server.plugins` and docs/plugins.md).

:mod:`hubbub.plugins.nickserv`, the account service, is loaded whenever the server has
account storage.
"""
