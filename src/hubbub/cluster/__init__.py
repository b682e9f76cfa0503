"""Cluster mode, the I/O side: the Redis implementation of the core's bus
(:mod:`hubbub.server.cluster` is the core's side). See docs/cluster.md."""
