"""The client address behind trusted proxies (``RAMPWIRE_TRUSTED_PROXIES``, api.proxies)."""

from __future__ import annotations

import ipaddress

import pytest

from rampwire.api.proxies import TrustedProxies
from rampwire.errors import ConfigError
from rampwire.settings import Settings

LOCAL = TrustedProxies([ipaddress.ip_network("127.0.0.1/32")])
CHAIN = TrustedProxies([ipaddress.ip_network(n) for n in ("127.0.0.1/32", "10.0.0.0/8")])

CASES: list[tuple[str, TrustedProxies, str | None, list[str], str | None]] = [
    ("no proxies: the socket's peer, whatever the header", TrustedProxies(), "127.0.0.1",
     ["203.0.113.7"], "127.0.0.1"),
    ("peer not a proxy: the header is the client's own words", LOCAL, "198.51.100.9",
     ["203.0.113.7"], "198.51.100.9"),
    ("trusted peer, one hop", LOCAL, "127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
    ("spoofed entries left of the real one are ignored", LOCAL, "127.0.0.1",
     ["203.0.113.7, 198.51.100.9"], "198.51.100.9"),
    ("a chain of trusted proxies is walked from the right", CHAIN, "127.0.0.1",
     ["203.0.113.7, 198.51.100.9, 10.1.2.3"], "198.51.100.9"),
    ("several header lines are one list, in order", CHAIN, "127.0.0.1",
     ["198.51.100.9", "10.1.2.3"], "198.51.100.9"),
    ("every hop trusted: the left-most", CHAIN, "127.0.0.1", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),
    ("no header: the proxy itself", LOCAL, "127.0.0.1", [], "127.0.0.1"),
    ("an entry that is no address is kept as it is", LOCAL, "127.0.0.1",
     ["203.0.113.7, unknown"], "unknown"),
    ("IPv4-mapped IPv6 peers are the IPv4 address", LOCAL, "::ffff:127.0.0.1",
     ["203.0.113.7"], "203.0.113.7"),
    ("no peer", LOCAL, None, ["203.0.113.7"], None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "proxies", "peer", "header", "client"), CASES, ids=[c[0] for c in CASES]
)
def test_the_client_address(
    case: str, proxies: TrustedProxies, peer: str | None, header: list[str], client: str | None
) -> None:
    assert proxies.client(peer, header) == client


def test_trusted_proxies_are_read_from_the_environment() -> None:
    env = {"RAMPWIRE_DATABASE_URL": "sqlite:///x.db"}
    assert Settings.from_env(env).trusted_proxies == ()
    found = Settings.from_env({**env, "RAMPWIRE_TRUSTED_PROXIES": " 10.0.0.0/8, 127.0.0.1 ,::1,"})
    assert [str(n) for n in found.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
    with pytest.raises(ConfigError, match=r"RAMPWIRE_TRUSTED_PROXIES: 'proxy\.local'"):
        Settings.from_env({**env, "RAMPWIRE_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"})
