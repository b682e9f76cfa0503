"""Host cloaks: what other users see of a client instead of its IP address (pure, no I/O).

The shape is UnrealIRCd's (and InspIRCd's "full" cloak), keyed with HMAC-SHA256:

- IPv4 ``ALPHA.BETA.GAMMA.IP``: ALPHA stands for the address, BETA for its /24, GAMMA for
  its /16;
- IPv6 ``ALPHA:BETA:GAMMA:IP``: ALPHA for the address, BETA for its /64, GAMMA for its /48.

Each part is the first 32 bits of HMAC-SHA256(secret, the network in CIDR notation) in
upper-case hex; ``IP`` is the configured suffix. Clients of one /24 (or IPv6 /64) share the
end of their cloaks, so a channel operator who never sees an address can still ban a range:
``*!*@*.BETA.GAMMA.IP`` covers the /24, ``*!*@*.GAMMA.IP`` the /16. Without the secret a cloak
cannot be turned back into its address (not even by trying all 2**32 IPv4 addresses): keep
the secret secret, and the same on every restart so that cloaks and bans on them stay put.
"""

from __future__ import annotations

import hmac
import ipaddress

__all__ = ["CLOAK_CACHE", "Cloaker"]

CLOAK_CACHE = 4096
"""Addresses whose cloaks a :class:`Cloaker` remembers (it forgets them all when full)."""

_PREFIXES = {4: ((32, 24, 16), "."), 6: ((128, 64, 48), ":")}
"""Per IP version: the prefix lengths hashed, most specific first, and the separator."""


class Cloaker:
    """Cloaks addresses with one secret and suffix (the server makes a new one when its
    config changes). Remembers recent cloaks: many clients share an address."""

    __slots__ = ("_cache", "_key", "suffix")

    def __init__(self, secret: str, suffix: str = "IP") -> None:
        if not secret:
            raise ValueError("a cloak secret must not be empty")
        self._key = secret.encode("utf-8")
        self.suffix = suffix
        self._cache: dict[str, str] = {}

    def cloak(self, address: str) -> str | None:
        """The cloak of the IP address ``address``; None when it is not an IP address."""
        found = self._cache.get(address)
        if found is not None:
            return found
        try:
            ip = ipaddress.ip_address(address.partition("%")[0])  # without an IPv6 zone
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1 and looks the same
        prefixes, separator = _PREFIXES[ip.version]
        parts = [
            self._hash(ipaddress.ip_network((ip, length), strict=False).with_prefixlen)
            for length in prefixes
        ]
        found = separator.join([*parts, self.suffix])
        cache = self._cache
        if len(cache) >= CLOAK_CACHE:
            cache.clear()
        cache[address] = found
        return found

    def _hash(self, network: str) -> str:
        return hmac.digest(self._key, network.encode("ascii"), "sha256")[:4].hex().upper()
