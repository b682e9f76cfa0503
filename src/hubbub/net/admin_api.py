"""The admin HTTP API: ``POST /v1/<action>`` for every action of :mod:`hubbub.server.admin`,
each behind a bearer token from ``[admin] tokens``.

This module is the HTTP side only: it checks the token, turns the body into a JSON object,
runs the action on the core (on the event loop, where the core lives) and turns its reply
into a response. ``docs/admin-api.md`` describes the endpoints.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from hubbub.config import AdminSection, admin_token_matches
from hubbub.net.http import HttpLimits, Request, Response, Routes
from hubbub.server import admin
from hubbub.server.core import Server

__all__ = ["PREFIX", "http_limits", "mount"]

log = logging.getLogger("hubbub.admin")

PREFIX = "/v1/"
"""Every endpoint is this and an action's name: ``/v1/status``, ``/v1/account/create``."""

REALM = 'Bearer realm="hubbub admin"'


def http_limits(section: AdminSection) -> HttpLimits:
    """The HTTP server's limits from ``[admin]``."""
    return HttpLimits(
        max_body_bytes=section.max_request_bytes,
        max_header_bytes=section.max_header_bytes,
        max_headers=section.max_headers,
        max_connections=section.max_connections,
        timeout=section.timeout,
    )


def mount(routes: Routes, server: Server, section: Callable[[], AdminSection]) -> None:
    """Add a ``POST`` route for every admin action to ``routes``.

    ``section`` gives the ``[admin]`` section in force, read at each request: tokens a
    REHASH adds or removes count from the next request on.
    """
    for name in admin.ACTIONS:
        routes.add("POST", PREFIX + name, _endpoint(server, section, name))


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    header = request.header("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _refused(message: str, challenge: str) -> Response:
    """``401`` with the ``WWW-Authenticate`` challenge RFC 6750 asks for."""
    body = {"error": message, "code": "UNAUTHORIZED"}
    return Response.json(401, body, (("www-authenticate", challenge),))


def _endpoint(
    server: Server, section: Callable[[], AdminSection], name: str
) -> Callable[[Request], asyncio.Future[Response] | Response]:
    def endpoint(request: Request) -> asyncio.Future[Response] | Response:
        current = section()
        offered = bearer_token(request)
        where = (request.method, request.path, request.peer)
        if offered is None:
            log.warning("admin API: %s %s from %s without a token", *where)
            return _refused("missing bearer token", REALM)
        if not admin_token_matches(current, offered):
            log.warning("admin API: %s %s from %s with a wrong token", *where)
            return _refused("wrong bearer token", REALM + ', error="invalid_token"')
        if not current.enabled:
            return Response.json(
                503,
                {"error": "the admin API was disabled; restart to close it", "code": "DISABLED"},
            )
        try:
            body: object = json.loads(request.body) if request.body.strip() else {}
        except (ValueError, RecursionError) as exc:  # (JSONDecodeError, bad UTF-8, nesting)
            return Response.json(
                400, {"error": f"the body is not JSON: {exc}", "code": "INVALID_REQUEST"}
            )
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def done(reply: admin.Reply) -> None:
            if future.done():
                return
            try:
                future.set_result(Response.json(reply.status, reply.body))
            except Exception as exc:  # a body that is not JSON: a bug, answered all the same
                future.set_exception(exc)

        admin.handle(server, name, body, done)
        return future

    return endpoint
