"""The SSRF guard without sockets: address tables, URL checks, policy parsing, a fake lookup."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.errors import BadRequest, ConfigError
from rampwire.ssrf import (
    AddressClass,
    ForbiddenTarget,
    IPAddress,
    TargetPolicy,
    check_url,
    classify,
    embedded_ipv4,
    resolve_and_check,
)

STRICT = TargetPolicy()
DEV = TargetPolicy(allow_private=True)
C = AddressClass

# Every forbidden range: its first address, its last address and what it is.
FORBIDDEN_RANGES = [
    ("0.0.0.0", "0.255.255.255", C.UNSPECIFIED),
    ("10.0.0.0", "10.255.255.255", C.PRIVATE),
    ("100.64.0.0", "100.127.255.255", C.SHARED),
    ("127.0.0.0", "127.255.255.255", C.LOOPBACK),
    ("169.254.0.0", "169.254.255.255", C.LINK_LOCAL),
    ("172.16.0.0", "172.31.255.255", C.PRIVATE),
    ("192.0.0.0", "192.0.0.255", C.RESERVED),
    ("192.0.2.0", "192.0.2.255", C.DOCUMENTATION),
    ("192.88.99.0", "192.88.99.255", C.RESERVED),
    ("192.168.0.0", "192.168.255.255", C.PRIVATE),
    ("198.18.0.0", "198.19.255.255", C.BENCHMARKING),
    ("198.51.100.0", "198.51.100.255", C.DOCUMENTATION),
    ("203.0.113.0", "203.0.113.255", C.DOCUMENTATION),
    ("224.0.0.0", "239.255.255.255", C.MULTICAST),
    ("240.0.0.0", "255.255.255.254", C.RESERVED),
    ("255.255.255.255", "255.255.255.255", C.BROADCAST),
    ("::", "::", C.UNSPECIFIED),
    ("::1", "::1", C.LOOPBACK),
    ("::2", "::fffe:ffff:ffff", C.RESERVED),  # IPv4-compatible and the rest of ::/8
    ("64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", C.PRIVATE),
    ("100::", "100::ffff:ffff:ffff:ffff", C.RESERVED),
    ("2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", C.TEREDO),
    ("2001:1::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", C.RESERVED),
    ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", C.DOCUMENTATION),
    ("3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", C.DOCUMENTATION),
    ("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C.PRIVATE),
    ("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C.LINK_LOCAL),
    ("fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C.PRIVATE),
    ("ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C.MULTICAST),
    ("4000::", "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C.RESERVED),  # outside 2000::/3
]
METADATA = ["169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "fd00:ec2::23"]
# IPv6 spellings of forbidden IPv4 addresses.
EMBEDDED = [
    ("::ffff:127.0.0.1", C.LOOPBACK),  # mapped
    ("::ffff:10.1.2.3", C.PRIVATE),
    ("::ffff:169.254.169.254", C.METADATA),
    ("::ffff:0:192.168.0.1", C.PRIVATE),  # translated
    ("64:ff9b::10.0.0.1", C.PRIVATE),  # NAT64
    ("64:ff9b::127.0.0.1", C.LOOPBACK),
    ("64:ff9b::100.100.100.200", C.METADATA),
    ("2002:a00:1::", C.PRIVATE),  # 6to4 of 10.0.0.1
    ("2002:7f00:1::1", C.LOOPBACK),
    ("2002:a9fe:a9fe::", C.METADATA),
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "1.0.0.0",
    "9.255.255.255",
    "11.0.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "126.255.255.255",
    "128.0.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.0",
    "192.167.255.255",
    "192.169.0.0",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "2001:200::1",
    "3ffe::1",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("first", "last", "kind"), FORBIDDEN_RANGES)
def test_every_forbidden_range_from_first_to_last(
    first: str, last: str, kind: AddressClass
) -> None:
    for text in (first, last):
        address = ip_address(text)
        assert classify(address) is kind, text
        assert not STRICT.allows(address)
        assert DEV.allows(address)


@pytest.mark.parametrize("text", METADATA)
def test_cloud_metadata_is_refused_even_in_development(text: str) -> None:
    address = ip_address(text)
    assert classify(address) is C.METADATA
    assert not DEV.allows(address)
    with pytest.raises(ForbiddenTarget, match="cloud metadata stays refused"):
        check_url(f"http://{_bracket(text)}/latest/meta-data/", DEV)
    assert TargetPolicy(allowlist=(ip_network(text),)).allows(address)


@pytest.mark.parametrize(("text", "kind"), EMBEDDED)
def test_ipv6_forms_of_ipv4_are_judged_by_the_ipv4_address(text: str, kind: AddressClass) -> None:
    assert classify(ip_address(text)) is kind
    with pytest.raises(ForbiddenTarget, match=rf"\(IPv4 [0-9.]+\), a {kind.value} address"):
        check_url(f"http://[{text}]/", STRICT)


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_are_allowed(text: str) -> None:
    address = ip_address(text)
    assert classify(address) is C.PUBLIC
    assert STRICT.allows(address)
    assert check_url(f"https://{_bracket(text)}/hook", STRICT).address == address


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://127.1/", "not a canonical IPv4 address"),
        ("http://127.0.1/", "not a canonical IPv4 address"),
        ("http://0x7f000001/", "not a canonical IPv4 address"),
        ("http://0x7f.0.0.1/", "not a canonical IPv4 address"),
        ("http://0177.0.0.1/", "not a canonical IPv4 address"),
        ("http://2130706433/", "not a canonical IPv4 address"),
        ("http://127.0.0.1./", "not a canonical IPv4 address"),
        ("http://8.8.8.08/", "not a canonical IPv4 address"),  # even a public one
        ("http://example.0x1/", "not a canonical IPv4 address"),
        ("http://127.0.0.1/", "url host is 127.0.0.1, a loopback address"),
        ("http://[::1]:8080/", "url host is ::1, a loopback address"),
        ("http://[::ffff:127.0.0.1]/", r"::ffff:7f00:1 \(IPv4 127.0.0.1\), a loopback"),
        ("http://[::ffff:7f00:1]/", "a loopback address"),
        ("http://[::]/", "url host is ::, an unspecified address"),
        ("http://0.0.0.0/", "unspecified address"),
        ("http://[fe80::1%25eth0]/", "scoped IPv6 address"),
        ("http://①②⑦.0.0.1/", "127.0.0.1, a loopback address"),  # IDNA folds it to ASCII
        ("http://10.0.0.5:8443/", "10.0.0.5, a private address; set RAMPWIRE_ALLOW_PRIVATE"),
        ("http://localhost/", "localhost name"),
        ("http://LOCALHOST./", "localhost name"),
        ("http://api.localhost:3000/", "localhost name"),
    ],
)
def test_tricky_hosts_are_refused_before_dns(url: str, match: str) -> None:
    with pytest.raises(ForbiddenTarget, match=match):
        check_url(url, STRICT)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ftp://example.com/", "scheme must be http or https, not 'ftp'"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("gopher://example.com/", "scheme must be http or https"),
        ("example.com/hook", "must be absolute"),
        ("//example.com/hook", "must be absolute"),
        ("http:///hook", "no host"),
        ("https://user:pass@example.com/", "credentials"),
        ("https://user@example.com/", "credentials"),
        ("https://:pass@example.com/", "credentials"),
        ("https://@example.com/", "credentials"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com/#", "fragment"),
        ("https://example.com:0/", "port 0 is not a TCP port"),
        ("https://example.com:65536/", "malformed"),
        ("https://example.com:-1/", "malformed"),
        ("https://example.com:http/", "malformed"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
        ("https://exa mple.com/", "whitespace"),
        ("https://example.com/\x00", "control character"),
        ("https://example.com\\@127.0.0.1/", "backslash"),
        ("https://ex%41mple.com/", "not a valid host name"),
        ("https://a..b/", "not a valid host name"),
        ("https://-a.example/", "not a valid host name"),
        ("https://" + "a" * 64 + ".example/", "not a valid host name"),
        ("http://[::1/", "malformed"),
        ("http://[2001:db8::g]/", "malformed|not a valid IPv6"),
    ],
)
def test_malformed_urls_are_refused(url: str, match: str) -> None:
    with pytest.raises(ForbiddenTarget, match=match):
        check_url(url, DEV)  # even in development


def test_check_url_normalises_and_returns_the_parts() -> None:
    target = check_url("HTTPS://Пример.РФ:8443/hooks?x=1", STRICT)
    assert target.url == "https://xn--e1afmkfd.xn--p1ai:8443/hooks?x=1"
    assert (target.scheme, target.host, target.port, target.address) == (
        "https",
        "xn--e1afmkfd.xn--p1ai",
        8443,
        None,
    )
    assert check_url("http://example.com", STRICT).port == 80
    assert check_url("https://example.com", STRICT).port == 443
    assert check_url("https://my_host.example.com./", STRICT).host == "my_host.example.com."
    assert check_url("https://example.com/" + "a" * 2000, STRICT).port == 443


def test_allow_private_lets_development_targets_through() -> None:
    assert check_url("http://localhost:8080/hook", DEV).host == "localhost"
    assert check_url("http://127.0.0.1:8080/", DEV).address == IPv4Address("127.0.0.1")
    assert check_url("http://[::1]/", DEV).address == IPv6Address("::1")
    assert check_url("http://10.0.0.5/", DEV).port == 80
    with pytest.raises(ForbiddenTarget, match="canonical"):
        check_url("http://127.1/", DEV)  # ambiguous spellings stay refused


def test_allowlist_admits_its_networks_only() -> None:
    policy = TargetPolicy.from_strings(allowlist="10.0.0.0/8, fd00::/8")
    assert check_url("http://10.1.2.3/", policy).address == IPv4Address("10.1.2.3")
    assert check_url("http://[::ffff:10.1.2.3]/", policy).host == "::ffff:a01:203"
    assert check_url("http://[fd12::1]/", policy).port == 80
    assert policy.allows(ip_address("fd00:ec2::254"))  # inside an allow-listed network
    for url in ("http://192.168.1.1/", "http://127.0.0.1/", "http://[fe80::1]/"):
        with pytest.raises(ForbiddenTarget, match="allow-list the network"):
            check_url(url, policy)
    with pytest.raises(ForbiddenTarget, match="localhost name"):
        check_url("http://localhost/", TargetPolicy.from_strings(allowlist="127.0.0.0/8"))


def test_https_only() -> None:
    policy = TargetPolicy(https_only=True)
    assert check_url("https://example.com/", policy).scheme == "https"
    with pytest.raises(ForbiddenTarget, match="must use https"):
        check_url("http://example.com/", policy)
    with pytest.raises(ForbiddenTarget, match="must use https"):
        check_url("http://localhost/", TargetPolicy(https_only=True, allow_private=True))


def test_allowed_ports() -> None:
    policy = TargetPolicy.from_strings(allowed_ports="443, 8443")
    assert policy.allowed_ports == frozenset({443, 8443})
    assert check_url("https://example.com/", policy).port == 443
    assert check_url("http://example.com:8443/", policy).port == 8443
    with pytest.raises(
        ForbiddenTarget, match=r"port 80 is not allowed \(RAMPWIRE_TARGET_PORTS: 443, 8443\)"
    ):
        check_url("http://example.com/", policy)
    assert TargetPolicy.from_strings(allowed_ports="").allowed_ports is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"allowlist": "10.0.0.1/8"}, r"'10.0.0.1/8' is not a network .*did you mean 10.0.0.0/8\?"),
        ({"allowlist": "10.0.0.0/33"}, "'10.0.0.0/33' is not a network.*CIDR form"),
        ({"allowlist": "10.0.0.0/8,nope"}, "'nope' is not a network"),
        ({"allowlist": "fd00::/129"}, "'fd00::/129' is not a network"),
        ({"allowlist": "fd00::1/8"}, r"did you mean fd00::/8\?"),
        ({"allowed_ports": "443,https"}, "'https' is not a port number"),
        ({"allowed_ports": "0"}, "0 is not a TCP port"),
        ({"allowed_ports": "70000"}, "70000 is not a TCP port"),
        ({"allow_private": "maybe"}, "RAMPWIRE_ALLOW_PRIVATE_TARGETS must be true or false"),
        ({"https_only": "2"}, "RAMPWIRE_HTTPS_ONLY_TARGETS must be true or false"),
    ],
)
def test_bad_configuration_says_what_to_fix(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TargetPolicy.from_strings(**kwargs)


def test_from_env_reads_the_rampwire_variables() -> None:
    assert TargetPolicy.from_env({}) == TargetPolicy()
    policy = TargetPolicy.from_env(
        {
            "RAMPWIRE_ALLOW_PRIVATE_TARGETS": "true",
            "RAMPWIRE_HTTPS_ONLY_TARGETS": "1",
            "RAMPWIRE_TARGET_ALLOWLIST": "10.0.0.0/8,192.168.1.7",
            "RAMPWIRE_TARGET_PORTS": "443",
        }
    )
    assert policy == TargetPolicy(
        allow_private=True,
        https_only=True,
        allowlist=(ip_network("10.0.0.0/8"), ip_network("192.168.1.7/32")),
        allowed_ports=frozenset({443}),
    )
    assert TargetPolicy.from_strings(allow_private="Off", https_only=True).https_only


def test_forbidden_target_is_a_400_problem_and_an_os_error() -> None:
    with pytest.raises(ForbiddenTarget) as info:
        check_url("http://10.0.0.5/", STRICT)
    exc = info.value
    assert isinstance(exc, BadRequest)
    assert isinstance(exc, OSError)
    assert (exc.status, exc.code) == (400, "forbidden_target")
    assert exc.message == str(exc) == exc.strerror
    assert exc.message == (
        "url host is 10.0.0.5, a private address; set RAMPWIRE_ALLOW_PRIVATE_TARGETS for"
        " development or allow-list the network"
    )
    assert ForbiddenTarget().message == "The webhook URL is not an allowed delivery target."


class FakeLookup:
    """The event loop's ``getaddrinfo``: each call answers the next list of addresses (the last
    one repeats)."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        self.calls.append(host)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [
            (
                socket.AF_INET6 if ":" in text else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (text, port),
            )
            for text in answer
        ]


def _answering(monkeypatch: pytest.MonkeyPatch, *answers: Sequence[str]) -> FakeLookup:
    lookup = FakeLookup(*answers)
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", lookup)
    return lookup


async def test_resolve_and_check_refuses_if_any_address_is_forbidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _answering(
        monkeypatch, ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "93.184.215.14"]
    )
    assert await resolve_and_check("example.com", 443, STRICT) == [
        IPv4Address("93.184.215.14"),
        IPv6Address("2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
    ]
    _answering(monkeypatch, ["93.184.215.14", "10.0.0.5"])
    with pytest.raises(ForbiddenTarget, match=r"url resolves to 10\.0\.0\.5, a private address"):
        await resolve_and_check("example.com", 443, STRICT)
    assert await resolve_and_check("example.com", 443, DEV) == [
        IPv4Address("93.184.215.14"),
        IPv4Address("10.0.0.5"),
    ]
    _answering(monkeypatch, ["::ffff:169.254.169.254"])
    with pytest.raises(ForbiddenTarget, match="cloud metadata"):
        await resolve_and_check("example.com", 443, DEV)
    _answering(monkeypatch, [])
    with pytest.raises(OSError, match="no addresses"):
        await resolve_and_check("example.com", 443, STRICT)
    _answering(monkeypatch, ["example.net"])
    with pytest.raises(ForbiddenTarget, match=r"the resolver answered 'example\.net'"):
        await resolve_and_check("example.com", 443, STRICT)


async def test_resolve_and_check_needs_no_dns_for_literals_and_localhost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    never = _answering(monkeypatch, [])
    assert await resolve_and_check("8.8.8.8", 53, STRICT) == [ip_address("8.8.8.8")]
    assert await resolve_and_check("[2606:4700::1]", 443, STRICT) == [ip_address("2606:4700::1")]
    for host, match in [
        ("127.0.0.1", "loopback"),
        ("localhost", "localhost name"),
        ("0x7f000001", "canonical"),
        ("::1", "loopback"),
        ("2130706433", "canonical"),
    ]:
        with pytest.raises(ForbiddenTarget, match=match):
            await resolve_and_check(host, 80, STRICT)
    assert never.calls == []


# An independent formulation of the IPv4 rules, on octets rather than networks.
def _v4_forbidden(address: IPv4Address) -> bool:
    a, b, c, _ = address.packed
    return (
        a in (0, 10, 127)
        or a >= 224
        or (a == 100 and 64 <= b <= 127)
        or (a == 169 and b == 254)
        or (a == 172 and 16 <= b <= 31)
        or (a == 192 and b == 168)
        or (a == 192 and b == 0 and c in (0, 2))
        or (a == 192 and b == 88 and c == 99)
        or (a == 198 and b in (18, 19))
        or (a == 198 and b == 51 and c == 100)
        or (a == 203 and b == 0 and c == 113)
    )


# ...and of the IPv6 rules, on 16-bit groups: only 2000::/3 is global unicast.
def _v6_forbidden(address: IPv6Address) -> bool:
    value = int(address)
    h = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    mapped = h[:5] == [0, 0, 0, 0, 0] and h[5] == 0xFFFF
    translated = h[:4] == [0, 0, 0, 0] and h[4:6] == [0xFFFF, 0]
    if mapped or translated:
        return _v4_forbidden(IPv4Address(value & 0xFFFFFFFF))
    if h[:6] == [0x64, 0xFF9B, 0, 0, 0, 0]:
        return _v4_forbidden(IPv4Address(value & 0xFFFFFFFF))
    if h[0] == 0x2002:
        return _v4_forbidden(IPv4Address((h[1] << 16) | h[2]))
    if not 0x2000 <= h[0] <= 0x3FFF:
        return True
    return (h[0] == 0x2001 and (h[1] < 0x200 or h[1] == 0xDB8)) or (
        h[0] == 0x3FFF and h[1] < 0x1000
    )


def _six(prefix: str, bits: int) -> st.SearchStrategy[IPv6Address]:
    base = int(IPv6Address(prefix))
    return st.integers(0, 2 ** (128 - bits) - 1).map(lambda low: IPv6Address(base | low))


ipv4s = st.ip_addresses(v=4)
ipv6s = st.one_of(
    st.ip_addresses(v=6),
    ipv4s.map(lambda a: IPv6Address(0xFFFF << 32 | int(a))),  # mapped
    ipv4s.map(lambda a: IPv6Address(0xFFFF << 48 | int(a))),  # translated
    ipv4s.map(lambda a: IPv6Address(0x64FF9B << 96 | int(a))),  # NAT64
    ipv4s.map(lambda a: IPv6Address(0x2002 << 112 | int(a) << 80)),  # 6to4
    _six("2000::", 3),
    _six("2001::", 16),
    _six("2001::", 23),
    _six("3fff::", 16),
)


@given(ipv4s)
def test_ipv4_classifier_agrees_with_octet_rules(address: IPv4Address) -> None:
    assert STRICT.allows(address) is not _v4_forbidden(address)


@given(ipv6s)
def test_ipv6_classifier_agrees_with_group_rules(address: IPv6Address) -> None:
    assert STRICT.allows(address) is not _v6_forbidden(address)


@given(ipv4s)
def test_every_ipv6_spelling_of_an_ipv4_address_is_judged_alike(address: IPv4Address) -> None:
    for prefix in (0xFFFF << 32, 0xFFFF << 48, 0x64FF9B << 96):
        six = IPv6Address(prefix | int(address))
        assert embedded_ipv4(six) == address
        assert classify(six) is classify(address)
    assert classify(IPv6Address(0x2002 << 112 | int(address) << 80)) is classify(address)


@given(st.one_of(ipv4s, ipv6s))
def test_development_and_allowlist_lift_every_refusal_but_metadata(address: IPAddress) -> None:
    kind = classify(address)
    assert DEV.allows(address) is (kind is not C.METADATA)
    network = ip_network(f"{address}/{address.max_prefixlen - 4}", strict=False)
    assert TargetPolicy(allowlist=(network,)).allows(address)


def _bracket(text: str) -> str:
    return f"[{text}]" if ":" in text else text
