"""The target policy (:class:`TargetPolicy`, from ``RAMPWIRE_*`` settings) and the static
checks of a URL before any DNS: scheme, userinfo, port, length, fragment, IP-literal hosts and
``localhost`` names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_network
from typing import Final

from yarl import URL

from ..errors import ConfigError
from .addresses import AddressClass, ForbiddenTarget, IPAddress, IPNetwork, classify, embedded_ipv4

MAX_URL_LENGTH: Final = 2048  # characters
ALLOW_PRIVATE_ENV: Final = "RAMPWIRE_ALLOW_PRIVATE_TARGETS"
HTTPS_ONLY_ENV: Final = "RAMPWIRE_HTTPS_ONLY_TARGETS"
ALLOWLIST_ENV: Final = "RAMPWIRE_TARGET_ALLOWLIST"  # comma-separated CIDRs
PORTS_ENV: Final = "RAMPWIRE_TARGET_PORTS"  # comma-separated; empty: any port
_HINT: Final = f"set {ALLOW_PRIVATE_ENV} for development or allow-list the network"


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
