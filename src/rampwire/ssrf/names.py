"""The check at connect time: a name is resolved and refused if any of its addresses is not
allowed; :class:`~.wire.WireClient` connects only to the addresses this returns.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address

from .addresses import ForbiddenTarget, IPAddress
from .policy import TargetPolicy, _check_name, _literal, check_address


async def resolve_and_check(host: str, port: int, policy: TargetPolicy) -> list[IPAddress]:
    """Resolve ``host`` (``loop.getaddrinfo``) and return its addresses; refuse it if any of
    them is not allowed. A name that does not resolve raises ``socket.gaierror`` (an
    ``OSError``), not :class:`ForbiddenTarget`.
    """
    address = _literal(host)
    if address is not None:
        check_address(address, policy, subject="url host is")
        return [address]
    _check_name(host, policy)
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _check_answers(host, [str(sockaddr[0]) for *_, sockaddr in infos], policy)


def _check_answers(host: str, answers: list[str], policy: TargetPolicy) -> list[IPAddress]:
    if not answers:
        raise OSError(f"{host} resolved to no addresses")
    addresses = []
    for answer in answers:
        try:
            address = ip_address(answer)
        except ValueError:
            raise ForbiddenTarget(f"the resolver answered {answer!r} for {host}") from None
        check_address(address, policy, subject="url resolves to")
        if address not in addresses:
            addresses.append(address)
    return addresses
