"""Addresses and how they are classed: explicit tables, not ``ipaddress.is_private``, whose
answers differ between Python releases; IPv6 forms that embed an IPv4 address are judged by
it. :class:`ForbiddenTarget` is what every refusal raises.
"""

from __future__ import annotations

from enum import Enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, Final, TypeAlias

from ..errors import BadRequest

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network


class ForbiddenTarget(BadRequest, OSError):
    """The webhook URL is not an allowed delivery target."""

    code = "forbidden_target"

    def __init__(self, message: str | None = None, **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.strerror = self.message  # what code reading an OSError's reason shows


class AddressClass(Enum):
    """What kind of address an IP is; everything but ``PUBLIC`` is refused by default."""

    PUBLIC = "public"
    UNSPECIFIED = "unspecified"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    SHARED = "shared (carrier-grade NAT)"
    LINK_LOCAL = "link-local"
    METADATA = "cloud metadata"
    MULTICAST = "multicast"
    BROADCAST = "broadcast"
    DOCUMENTATION = "documentation"
    BENCHMARKING = "benchmarking"
    TEREDO = "Teredo"
    RESERVED = "reserved"


_C = AddressClass
# First match wins, so specific entries come before the ranges that contain them.
_V4_TABLE: Final = tuple(
    (IPv4Network(cidr), kind)
    for cidr, kind in (
        ("169.254.169.254/32", _C.METADATA),  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        ("169.254.170.2/32", _C.METADATA),  # AWS ECS task credentials
        ("100.100.100.200/32", _C.METADATA),  # Alibaba Cloud
        ("0.0.0.0/32", _C.UNSPECIFIED),
        ("0.0.0.0/8", _C.UNSPECIFIED),  # "this network"; Linux connects 0.x to the local host
        ("10.0.0.0/8", _C.PRIVATE),
        ("100.64.0.0/10", _C.SHARED),
        ("127.0.0.0/8", _C.LOOPBACK),
        ("169.254.0.0/16", _C.LINK_LOCAL),
        ("172.16.0.0/12", _C.PRIVATE),
        ("192.0.0.0/24", _C.RESERVED),  # IETF protocol assignments
        ("192.0.2.0/24", _C.DOCUMENTATION),
        ("192.88.99.0/24", _C.RESERVED),  # former 6to4 relay anycast
        ("192.168.0.0/16", _C.PRIVATE),
        ("198.18.0.0/15", _C.BENCHMARKING),
        ("198.51.100.0/24", _C.DOCUMENTATION),
        ("203.0.113.0/24", _C.DOCUMENTATION),
        ("224.0.0.0/4", _C.MULTICAST),
        ("255.255.255.255/32", _C.BROADCAST),
        ("240.0.0.0/4", _C.RESERVED),
    )
)
_V6_TABLE: Final = tuple(
    (IPv6Network(cidr), kind)
    for cidr, kind in (
        ("fd00:ec2::254/128", _C.METADATA),  # AWS IMDS over IPv6
        ("fd00:ec2::23/128", _C.METADATA),  # AWS EKS pod identity
        ("::/128", _C.UNSPECIFIED),
        ("::1/128", _C.LOOPBACK),
        ("64:ff9b:1::/48", _C.PRIVATE),  # local-use NAT64
        ("100::/64", _C.RESERVED),  # discard-only
        ("2001::/32", _C.TEREDO),
        ("2001::/23", _C.RESERVED),  # IETF protocol assignments
        ("2001:db8::/32", _C.DOCUMENTATION),
        ("3fff::/20", _C.DOCUMENTATION),
        ("fc00::/7", _C.PRIVATE),  # unique local
        ("fe80::/10", _C.LINK_LOCAL),
        ("fec0::/10", _C.PRIVATE),  # deprecated site-local
        ("ff00::/8", _C.MULTICAST),
    )
)
_GLOBAL_UNICAST: Final = IPv6Network("2000::/3")  # IPv6 outside it (and the table) is reserved
_EMBEDDING_LOW_32: Final = (
    IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    IPv6Network("64:ff9b::/96"),  # well-known NAT64
)
_SIX_TO_FOUR: Final = IPv6Network("2002::/16")  # the IPv4 address is in bits 16-47


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, translated, NAT64, 6to4), if any."""
    if any(address in network for network in _EMBEDDING_LOW_32):
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    if address in _SIX_TO_FOUR:
        return IPv4Address((int(address) >> 80) & 0xFFFF_FFFF)
    return None


def classify(address: IPAddress) -> AddressClass:
    """The kind of ``address``; an IPv6 form of an IPv4 address is judged by the IPv4 one."""
    if isinstance(address, IPv4Address):
        return next((kind for net, kind in _V4_TABLE if address in net), AddressClass.PUBLIC)
    if (v4 := embedded_ipv4(address)) is not None:
        return classify(v4)
    kind = next((kind for net, kind in _V6_TABLE if address in net), None)
    if kind is not None:
        return kind
    return AddressClass.PUBLIC if address in _GLOBAL_UNICAST else AddressClass.RESERVED
