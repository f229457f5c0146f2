"""The checks at connect time: names resolved and refused if any address is not public, and
the aiohttp connector deliveries go through, which gives aiohttp only checked addresses.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address
from typing import Any, Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import Connection
from aiohttp.resolver import DefaultResolver
from aiohttp.tracing import Trace
from yarl import URL

from .addresses import ForbiddenTarget, IPAddress
from .policy import TargetPolicy, _check_name, _literal, check_address, check_request_url

_PASSED_MAX: Final = 4096  # (scheme, host, port) triples a connector remembers as allowed


async def resolve_and_check(
    host: str, port: int, policy: TargetPolicy, *, resolver: AbstractResolver | None = None
) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses; refuse it if any of them is not allowed.

    Uses ``loop.getaddrinfo`` unless a ``resolver`` is given. A name that does not resolve raises
    the resolver's ``OSError`` (``socket.gaierror``), not :class:`ForbiddenTarget`.
    """
    address = _literal(host)
    if address is not None:
        check_address(address, policy, subject="url host is")
        return [address]
    _check_name(host, policy)
    if resolver is None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        answers = [str(sockaddr[0]) for *_, sockaddr in infos]
    else:
        answers = [r["host"] for r in await resolver.resolve(host, port, socket.AF_UNSPEC)]
    return _check_answers(host, answers, policy)


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


class GuardedResolver(AbstractResolver):
    """A resolver that refuses a name if any of its addresses is not allowed.

    It returns the checked addresses themselves, so aiohttp connects to exactly what was checked.
    ``resolver`` is the one it asks (aiohttp's default when None); it is closed with this one
    only if this one created it.
    """

    def __init__(self, policy: TargetPolicy, resolver: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._resolver = resolver
        self._owns_resolver = resolver is None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = _literal(host)
        if address is not None:
            check_address(address, self.policy, subject="url host is")
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
            return [_result(host, str(address), port, family, 0, flags)]
        _check_name(host, self.policy)
        if self._resolver is None:
            self._resolver = DefaultResolver()
        answers = await self._resolver.resolve(host, port, family)
        _check_answers(host, [a["host"] for a in answers], self.policy)  # raises unless all pass
        return [
            _result(
                host, str(ip_address(a["host"])), a["port"], a["family"], a["proto"], a["flags"]
            )
            for a in answers
        ]

    async def close(self) -> None:
        if self._owns_resolver and self._resolver is not None:
            await self._resolver.close()


def _result(
    host: str, address: str, port: int, family: int, proto: int, flags: int
) -> ResolveResult:
    return ResolveResult(
        hostname=host, host=address, port=port, family=family, proto=proto, flags=flags
    )


class GuardedConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that applies ``policy`` to every connection it makes.

    Names go through a :class:`GuardedResolver` around ``resolver``; every request, redirect hop
    included, first passes :func:`check_request_url` (IP literals, scheme, port; the verdict for a
    scheme, host and port that passed is remembered, see :meth:`_check`). Proxies are
    refused: through one, the guard could not see the address finally connected to. Other
    keyword arguments go to ``aiohttp.TCPConnector``. Build it inside a running event loop.
    """

    def __init__(
        self, policy: TargetPolicy, *, resolver: AbstractResolver | None = None, **kwargs: Any
    ) -> None:
        self._guard = GuardedResolver(policy, resolver)
        super().__init__(resolver=self._guard, **kwargs)
        self.policy = policy
        self._passed: set[tuple[str, str | None, int | None]] = set()
        self._passed_policy = policy

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        try:
            if req.proxy is not None:
                raise ForbiddenTarget("deliveries cannot go through a proxy")
            self._check(req.url)
        except ForbiddenTarget as exc:
            raise aiohttp.ClientConnectorError(req.connection_key, exc) from exc
        return await super().connect(req, traces, timeout)

    def _check(self, url: URL) -> None:
        """:func:`check_request_url`, remembering the (scheme, host, port) triples that passed.

        The static check reads only those three parts of the URL and the policy, so its verdict
        for a triple never changes while the policy stays the same; remembering it skips the
        ``ipaddress`` parsing on every request. Refusals are not remembered (each raises afresh),
        and DNS answers are not covered by this: :class:`GuardedResolver` still checks every
        answer when a new connection is made, so a name that re-binds is refused as before.
        """
        if self._passed_policy is not self.policy:  # replaced: forget what the old one allowed
            self._passed.clear()
            self._passed_policy = self.policy
        key = (url.scheme, url.raw_host, url.port)
        if key in self._passed:
            return
        check_request_url(url, self.policy)
        if len(self._passed) >= _PASSED_MAX:
            self._passed.clear()
        self._passed.add(key)

    async def close(self, *, abort_ssl: bool = False) -> None:
        try:
            await super().close(abort_ssl=abort_ssl)
        finally:
            await self._guard.close()


def find_forbidden_target(exc: BaseException) -> ForbiddenTarget | None:
    """The :class:`ForbiddenTarget` behind ``exc`` (its causes, contexts, ``os_error``), if any."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ForbiddenTarget):
            return current
        if isinstance(current, aiohttp.ClientConnectorError):
            pending.append(current.os_error)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None
