"""Cluster mode: a change of a channel's state (MODE, TOPIC, KICK) is admitted by the cluster
before it is made, so that every node makes the changes of one channel in one order, each on
a state that has every change before it (see :meth:`hubbub.server.cluster.ClusterLink.admit`
and docs/cluster.md). The client's next lines wait meanwhile, as for a password check."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubbub.protocol import numerics as n
from hubbub.server.commands.dispatch import Context, Handler, defer_reply

if TYPE_CHECKING:
    from hubbub.server.core import Server

CLUSTER_CHANGE_FAILED = "Cannot change the channel: the network's cluster is unreachable"
"""Why a MODE, TOPIC or KICK fails when the cluster cannot admit it."""


def _mode_channel(params: tuple[str, ...]) -> str | None:
    return params[0] if len(params) >= 2 else None  # (MODE #chan alone changes nothing)


def _topic_channel(params: tuple[str, ...]) -> str | None:
    return params[0] if len(params) >= 2 else None  # (TOPIC #chan alone asks)


def _kick_channel(params: tuple[str, ...]) -> str | None:
    return params[0] if params else None


ORDERED: dict[str, Callable[[tuple[str, ...]], str | None]] = {
    "MODE": _mode_channel,
    "TOPIC": _topic_channel,
    "KICK": _kick_channel,
}
"""The commands that change a channel's state, with the channel each one's parameters name
(None: this use of the command changes nothing)."""


def order_channel_changes(server: Server) -> None:
    """Make the server's MODE, TOPIC and KICK wait for the cluster's admission."""
    for name, channel_of in ORDERED.items():
        entry = server.commands.get(name)
        if entry is not None:
            server.commands[name] = dataclasses.replace(
                entry, handler=_ordered(entry.handler, channel_of)
            )


def _ordered(handler: Handler, channel_of: Callable[[tuple[str, ...]], str | None]) -> Handler:
    def run(ctx: Context) -> None:
        server, session = ctx.server, ctx.session
        cluster = server.cluster
        name = channel_of(ctx.params)
        channel = server.find_channel(name) if name and cluster is not None else None
        if cluster is None or channel is None or channel.folded not in cluster.tokens:
            handler(ctx)
            return
        folded, shown = channel.folded, channel.name
        reply = defer_reply(ctx)
        session.checking_password = True

        def admitted(ok: bool | None) -> None:
            session.checking_password = False
            if ok is None:
                reply.numeric(n.ERR_UNAVAILRESOURCE, shown, CLUSTER_CHANGE_FAILED)
            elif not session.closed:
                with server.answering(reply):
                    try:
                        handler(Context(server, session, ctx.msg, reply))
                    finally:
                        cluster.admitted_done(folded, shown)
            else:
                cluster.admitted_done(folded, shown)  # (nothing made; the version is told)
            if not session.closed:
                reply.flush()
                server.resume(session)

        cluster.admit(folded, admitted)

    return run
