"""The SSRF guard: which hosts a webhook may be delivered to, checked again at connect time.

One :class:`TargetPolicy` and three places that apply it:

* :func:`check_url`, static and before DNS, when an endpoint is created and before each attempt:
  scheme, userinfo, port, length, fragment, IP-literal hosts (non-canonical numeric forms such as
  ``127.1`` or ``0x7f000001`` are refused outright) and ``localhost`` names.
* :func:`resolve_and_check` resolves a name and refuses it if *any* address is not public.
* :class:`GuardedConnector`, the ``aiohttp.TCPConnector`` deliveries are sent through. Its
  :class:`GuardedResolver` checks every DNS answer at connect time and gives aiohttp only the
  checked addresses, so a name that re-binds to 127.0.0.1 after the static check is refused; its
  ``connect`` repeats the static check on every request and redirect hop, which covers IP-literal
  URLs (aiohttp never hands those to a resolver) and refuses proxies.

Addresses are classified by explicit tables (:func:`classify`), not by ``ipaddress.is_private``,
whose answers differ between Python releases. IPv6 forms that embed an IPv4 address (mapped,
translated, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the embedded address.

Refusals raise :class:`ForbiddenTarget`. It is a ``BadRequest`` (the API renders a 400 problem
``forbidden_target``) and an ``OSError``, so at send time aiohttp wraps it in a
``ClientConnectorError``; :func:`find_forbidden_target` digs it out of such a chain::

    RampwireError
    └── ClientError
        └── BadRequest
            └── ForbiddenTarget      also an OSError
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, Final, TypeAlias

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import Connection
from aiohttp.resolver import DefaultResolver
from aiohttp.tracing import Trace
from yarl import URL

from ..errors import BadRequest, ConfigError

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network

MAX_URL_LENGTH: Final = 2048  # characters
ALLOW_PRIVATE_ENV: Final = "RAMPWIRE_ALLOW_PRIVATE_TARGETS"
HTTPS_ONLY_ENV: Final = "RAMPWIRE_HTTPS_ONLY_TARGETS"
ALLOWLIST_ENV: Final = "RAMPWIRE_TARGET_ALLOWLIST"  # comma-separated CIDRs
PORTS_ENV: Final = "RAMPWIRE_TARGET_PORTS"  # comma-separated; empty: any port
_PASSED_MAX: Final = 4096  # (scheme, host, port) triples a connector remembers as allowed
_HINT: Final = f"set {ALLOW_PRIVATE_ENV} for development or allow-list the network"


class ForbiddenTarget(BadRequest, OSError):
    """The webhook URL is not an allowed delivery target."""

    code = "forbidden_target"

    def __init__(self, message: str | None = None, **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.strerror = self.message  # so aiohttp's ClientConnectorError shows the reason


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


@dataclass(frozen=True, kw_only=True)
class TargetPolicy:
    """Where deliveries may go. The default is strict: public addresses only, any port."""

    allow_private: bool = False  # development and tests: lift every refusal but cloud metadata
    https_only: bool = False
    allowlist: tuple[IPNetwork, ...] = ()  # networks allowed although not public
    allowed_ports: frozenset[int] | None = None  # None: any port from 1 to 65535

    def __post_init__(self) -> None:
        for port in self.allowed_ports or ():
            if not 1 <= port <= 65535:
                raise ConfigError(f"{PORTS_ENV}: {port} is not a TCP port (1-65535)")

    @classmethod
    def from_strings(
        cls,
        *,
        allow_private: bool | str = False,
        https_only: bool | str = False,
        allowlist: str | Iterable[str] = "",
        allowed_ports: str | Iterable[int] = "",
    ) -> TargetPolicy:
        """Build a policy from configuration text: ``allowlist="10.0.0.0/8,fd00::/8"``."""
        if isinstance(allowlist, str):
            allowlist = allowlist.split(",")
        if isinstance(allowed_ports, str):
            allowed_ports = [_port(text) for text in allowed_ports.split(",") if text.strip()]
        ports = frozenset(allowed_ports)
        return cls(
            allow_private=_flag(ALLOW_PRIVATE_ENV, allow_private),
            https_only=_flag(HTTPS_ONLY_ENV, https_only),
            allowlist=tuple(_network(text) for text in allowlist if text.strip()),
            allowed_ports=ports or None,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TargetPolicy:
        """The policy that the ``RAMPWIRE_*`` variables in ``env`` describe."""
        return cls.from_strings(
            allow_private=env.get(ALLOW_PRIVATE_ENV, ""),
            https_only=env.get(HTTPS_ONLY_ENV, ""),
            allowlist=env.get(ALLOWLIST_ENV, ""),
            allowed_ports=env.get(PORTS_ENV, ""),
        )

    def allows(self, address: IPAddress) -> bool:
        """Whether a connection to ``address`` is allowed."""
        kind = classify(address)
        if kind is AddressClass.PUBLIC or self._allow_listed(address):
            return True
        return self.allow_private and kind is not AddressClass.METADATA

    def _allow_listed(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, IPv6Address) and (v4 := embedded_ipv4(address)) is not None:
            candidates.append(v4)
        return any(a in network for a in candidates for network in self.allowlist)


def _flag(name: str, value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), not {value!r}")


def _port(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigError(f"{PORTS_ENV}: {text.strip()!r} is not a port number") from exc


def _network(text: str) -> IPNetwork:
    text = text.strip()
    try:
        return ip_network(text)
    except ValueError as exc:
        try:
            hint = f"; did you mean {ip_network(text, strict=False)}?"
        except ValueError:
            hint = "; write networks in CIDR form, e.g. 10.0.0.0/8 or fd00::/8"
        raise ConfigError(f"{ALLOWLIST_ENV}: {text!r} is not a network ({exc}){hint}") from exc


def check_address(address: IPAddress, policy: TargetPolicy, *, subject: str) -> None:
    """Raise :class:`ForbiddenTarget` unless ``policy`` allows ``address``.

    ``subject`` starts the message: ``"url resolves to"`` or ``"url host is"``.
    """
    if policy.allows(address):
        return
    kind = classify(address)
    shown = str(address)
    if isinstance(address, IPv6Address) and (v4 := embedded_ipv4(address)) is not None:
        shown += f" (IPv4 {v4})"
    if kind is AddressClass.METADATA and policy.allow_private:
        hint = f"cloud metadata stays refused under {ALLOW_PRIVATE_ENV}; allow-list it to override"
    else:
        hint = _HINT
    article = "an" if kind.value[0] in "aeiou" else "a"
    raise ForbiddenTarget(f"{subject} {shown}, {article} {kind.value} address; {hint}")


@dataclass(frozen=True, kw_only=True)
class ParsedTarget:
    """A URL that passed the static check."""

    url: str  # normalised: lower-case scheme and host, IDNA host, percent-encoded path
    scheme: str  # "http" or "https"
    host: str  # ASCII; an IPv6 literal without brackets
    port: int
    address: IPAddress | None  # the host, when it is an IP literal


_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")
_ENDS_IN_NUMBER = re.compile(r"(?:^|\.)(?:[0-9]+|0[xX][0-9A-Fa-f]*)\.?\Z")  # WHATWG: IPv4-like
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\.?\Z){_LABEL}(?:\.{_LABEL})*\.?")  # 253: DNS limit


def check_url(url: str, policy: TargetPolicy) -> ParsedTarget:
    """Check a webhook URL before any DNS lookup; raise :class:`ForbiddenTarget` if refused."""
    if len(url) > MAX_URL_LENGTH:
        raise ForbiddenTarget(f"url is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in url):
        raise ForbiddenTarget("url contains whitespace, a control character or a backslash")
    if "#" in url:
        raise ForbiddenTarget("url has a fragment (#...); fragments are never sent, remove it")
    try:
        parsed = URL(url)
    except ValueError as exc:
        raise ForbiddenTarget(f"url is malformed: {exc}") from exc
    authority = _AUTHORITY.match(url)
    if parsed.raw_user is not None or (authority is not None and "@" in authority.group(1)):
        raise ForbiddenTarget("url has credentials (user:pass@); send them as custom headers")
    return check_request_url(parsed, policy)


def check_request_url(url: URL, policy: TargetPolicy) -> ParsedTarget:
    """The structural half of :func:`check_url`, for a URL aiohttp already parsed."""
    if not url.scheme:
        raise ForbiddenTarget("url must be absolute, e.g. https://example.com/webhooks")
    if url.scheme not in ("http", "https"):
        raise ForbiddenTarget(f"url scheme must be http or https, not {url.scheme!r}")
    if policy.https_only and url.scheme != "https":
        raise ForbiddenTarget(f"url must use https ({HTTPS_ONLY_ENV} is set)")
    host = url.raw_host
    if not host:
        raise ForbiddenTarget("url has no host")
    port = url.port
    if port is None or not 1 <= port <= 65535:
        raise ForbiddenTarget(f"url port {port} is not a TCP port (1-65535)")
    if policy.allowed_ports is not None and port not in policy.allowed_ports:
        allowed = ", ".join(str(p) for p in sorted(policy.allowed_ports))
        raise ForbiddenTarget(f"url port {port} is not allowed ({PORTS_ENV}: {allowed})")
    address = _literal(host)
    if address is not None:
        check_address(address, policy, subject="url host is")
    else:
        _check_name(host, policy)
    return ParsedTarget(url=str(url), scheme=url.scheme, host=host, port=port, address=address)


def _literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, or None for a name; refuse the ambiguous spellings."""
    host = host.removeprefix("[").removesuffix("]")
    if ":" in host:
        if "%" in host:
            raise ForbiddenTarget(f"url host {host} is a scoped IPv6 address (zone id)")
        try:
            return IPv6Address(host)
        except ValueError as exc:
            raise ForbiddenTarget(f"url host {host} is not a valid IPv6 address") from exc
    if _ENDS_IN_NUMBER.search(host):
        try:
            return IPv4Address(host)  # dotted quad only: no octal, hex, short or integer forms
        except ValueError:
            raise ForbiddenTarget(
                f"url host {host} is not a canonical IPv4 address; write it as four decimal"
                " numbers from 0 to 255 without leading zeros, or use a host name"
            ) from None
    return None


def _check_name(host: str, policy: TargetPolicy) -> None:
    if not _HOSTNAME.fullmatch(host):
        raise ForbiddenTarget(f"url host {host!r} is not a valid host name")
    name = host.rstrip(".").lower()
    if not policy.allow_private and (name == "localhost" or name.endswith(".localhost")):
        raise ForbiddenTarget(f"url host {host} is a localhost name; {_HINT}")


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


def is_forbidden_target(exc: BaseException) -> bool:
    """Whether a delivery attempt failed because the guard refused the target."""
    return find_forbidden_target(exc) is not None
