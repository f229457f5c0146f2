"""Which address a request comes from, behind the reverse proxies the operator trusts.

The socket's peer is the client unless it is one of ``RAMPWIRE_TRUSTED_PROXIES``; only then is
``X-Forwarded-For`` read, from the right (each proxy appends the address it received from), and
the client is the right-most address that is not a trusted proxy. Anything to the left of it was
written by the client itself, so it proves nothing. uvicorn's own rewriting is off
(``rampwire serve`` passes ``proxy_headers=False``): by default it believes the header from
127.0.0.1, so any local proxy or tunnel would let anyone name their address (issue 16).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final

from ..settings import Network

FORWARDED_FOR: Final = "x-forwarded-for"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return address


class TrustedProxies:
    """The configured proxies (networks); :meth:`client` finds a request's client address."""

    __slots__ = ("_networks",)

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self._networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, text: str) -> bool:
        address = _address(text.strip())
        return address is not None and any(address in net for net in self._networks)

    def client(self, peer: str | None, forwarded_for: Sequence[str]) -> str | None:
        """The client's address: ``peer`` (the socket's), or when ``peer`` is a trusted proxy,
        the right-most ``X-Forwarded-For`` entry that is not (``forwarded_for``: every value of
        the header, in the order received). An entry that is not an IP address is returned as
        it is, and no allow-list will match it."""
        if peer is None or not self._networks or not self.trusts(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        client = peer
        for hop in reversed(hops):
            if not hop:
                continue
            client = hop
            if not self.trusts(hop):
                break
        return client  # every hop trusted: the left-most one is the client
