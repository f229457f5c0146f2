"""The guarded HTTP/1.1 client against real servers on 127.0.0.1: how answers end (length,
chunks, close, HTTP/1.0), which connections are reused, the body cap, timeouts and failures,
the target policy at connect time (the connection made to the checked address) and TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.support.receivers import Handler, raw_server, read_request

from rampwire.ssrf import ForbiddenTarget, TargetPolicy
from rampwire.ssrf.wire import AnswerError, WireClient

DEV = TargetPolicy(allow_private=True)
CAP = 1024
HEADERS = {"content-type": "application/json", "x-sig": "abc"}


def client(policy: TargetPolicy = DEV, **kwargs: Any) -> WireClient:
    options = {"connect_timeout": 2.0, "total_timeout": 2.0, "body_cap": CAP, **kwargs}
    return WireClient(policy, **options)


def answering(*replies: bytes, close: bool = False) -> Handler:
    """Answer each request on a connection with the next reply; hang up after the last."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            await read_request(reader)
            writer.write(reply)
            await writer.drain()
        if not close:
            await reader.read()  # until the client hangs up

    return handle


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1\r\n!\r\n0\r\n\r\n"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx"


@pytest.mark.parametrize(
    ("reply", "body", "reused"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", True),
        (CHUNKED, b"ok!", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b"", True),
        (INTERIM, b"x", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", b"ok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok", b"ok", True),
    ],
)  # fmt: skip
async def test_answers_end_by_length_or_chunks_and_keep_their_connection_unless_told(
    reply: bytes, body: bytes, reused: bool
) -> None:
    async with raw_server(answering(reply, reply)) as server:
        async with client() as wire:
            for _ in range(2):
                answer = await wire.post(server.url, HEADERS, b"{}")
                assert answer.body == body and answer.status in (200, 201, 204)
    assert server.connections == (1 if reused else 2)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n",  # not chunked: ends with the connection
    ],
)
async def test_an_answer_ended_by_closing_is_complete(head: bytes) -> None:
    reply = head + b"\r\nall of it"
    async with raw_server(answering(reply, close=True)) as server:
        async with client() as wire:
            answer = await wire.post(server.url, HEADERS, b"{}")
    assert (answer.status, answer.body) == (200, b"all of it")


async def test_header_names_lower_case_and_repeated_headers_joined() -> None:
    reply = (
        b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nSet-Cookie: a=1\r\nX-Many: one\r\n"
        b"set-cookie: b=2\r\nX-MANY: two\r\nContent-Length: 0\r\n\r\n"
    )
    async with raw_server(answering(reply)) as server:
        async with client() as wire:
            answer = await wire.post(server.url, HEADERS, b"{}")
    assert answer.status == 302  # not followed: the client never follows a redirect
    assert answer.headers == {
        "location": "/elsewhere",
        "set-cookie": "a=1, b=2",
        "x-many": "one, two",
        "content-length": "0",
    }


async def test_the_request_is_sent_as_given_with_host_and_length() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async with raw_server(handle) as server:
        async with client() as wire:
            await wire.post(server.url + "?a=1&b=%20", {"x-sig": "abc", "user-agent": "t"}, b"{}")
    port = server.url.split(":")[2].split("/")[0]
    [(head, body)] = seen
    assert head.split(b"\r\n") == [
        b"POST /hooks?a=1&b=%20 HTTP/1.1",
        b"host: 127.0.0.1:" + port.encode(),
        b"x-sig: abc",
        b"user-agent: t",
        b"content-length: 2",
        b"",
        b"",
    ]
    assert body == b"{}"


async def test_a_header_with_a_line_break_is_refused_before_sending() -> None:
    async with raw_server(answering()) as server:
        async with client() as wire:
            with pytest.raises(ValueError, match="line break"):
                await wire.post(server.url, {"x-evil": "a\r\nhost: elsewhere"}, b"{}")
    assert server.connections == 0


async def test_a_huge_answer_is_capped_and_its_connection_not_reused() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
        for _ in range(10000000 // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()  # fails once the client hangs up

    async with raw_server(handle) as server:
        async with client() as wire:
            for _ in range(2):
                answer = await wire.post(server.url, HEADERS, b"{}")
                assert answer.status == 200 and answer.body == b"x" * CAP
    assert server.connections == 2


async def test_an_endless_head_is_refused_long_before_the_timeout() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
        while True:  # until the client hangs up
            writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
            await writer.drain()

    async with raw_server(handle) as server:
        async with client(total_timeout=60) as wire:
            with pytest.raises(AnswerError, match="head is over"):
                await wire.post(server.url, HEADERS, b"{}")


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await reader.read()


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    while True:
        await asyncio.sleep(0.05)
        writer.write(b"a")
        await writer.drain()


@pytest.mark.parametrize("handle", [hang, trickle])
async def test_no_complete_answer_within_the_total_timeout(handle: Handler) -> None:
    async with raw_server(handle) as server:
        async with client(total_timeout=0.3) as wire:
            with pytest.raises(TimeoutError):
                await wire.post(server.url, HEADERS, b"{}")


async def test_no_connection_within_the_connect_timeout_says_so() -> None:
    """A listener that never accepts, its queue full: the next connection is never made."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = []
    try:
        for _ in range(8):  # fill the accept queue: later handshakes get no answer
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            queued.append(filler)
        await asyncio.sleep(0.1)
        async with client(connect_timeout=0.3, total_timeout=5.0) as wire:
            with pytest.raises(TimeoutError, match="no connection within the connect timeout"):
                await wire.post(f"http://127.0.0.1:{port}/hooks", HEADERS, b"{}")
    finally:
        for filler in queued:
            filler.close()
        listener.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",  # then the server hangs up
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"",  # hangs up without a word
    ],
)
async def test_a_broken_or_cut_answer_is_an_answer_error(reply: bytes) -> None:
    async with raw_server(answering(reply, close=True)) as server:
        async with client() as wire:
            with pytest.raises(AnswerError):
                await wire.post(server.url, HEADERS, b"{}")


async def test_nothing_listening_is_a_refused_connection() -> None:
    async with raw_server(answering()) as server:
        url = server.url
    async with client() as wire:
        with pytest.raises(ConnectionRefusedError):
            await wire.post(url, HEADERS, b"{}")


# --- the policy at connect time --------------------------------------------------------------


class Names:
    """The event loop's ``getaddrinfo`` for the tests' names: each answers the listed addresses."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.later: dict[str, list[str]] = {}  # what a name answers from its second lookup on
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        self.asked.append(host)
        if self.asked.count(host) > 1 and host in self.later:
            return [(2, 1, 6, "", (address, port)) for address in self.later[host]]
        return [(2, 1, 6, "", (address, port)) for address in self.answers[host]]


@pytest.fixture
async def names(monkeypatch: pytest.MonkeyPatch) -> Names:
    found = Names({})
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", found)
    return found


async def test_a_name_is_connected_to_at_the_address_that_was_checked(names: Names) -> None:
    """A second lookup of ``hooks.example`` would answer 127.0.0.3, where nothing listens: the
    request arrives only because the socket is opened to the address the check saw."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await read_request(reader))[0])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async with raw_server(handle) as server:
        names.answers["hooks.example"] = ["127.0.0.1"]
        names.later["hooks.example"] = ["127.0.0.3"]
        url = server.url.replace("127.0.0.1", "hooks.example")
        async with client() as wire:
            assert (await wire.post(url, HEADERS, b"{}")).status == 200
    assert b"\r\nhost: hooks.example:" in seen[0]
    assert names.asked == ["hooks.example"]


async def test_sends_waiting_for_the_same_name_share_one_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twenty first sends to a new host at once: one lookup, not one each."""
    asked: list[str] = []

    async def slow(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        await asyncio.sleep(0.2)  # a lookup that takes a while: every send arrives meanwhile
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", slow)
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(answering(ok)) as server:
        url = server.url.replace("127.0.0.1", "hooks.example")
        async with client() as wire:
            sent = await asyncio.gather(*(wire.post(url, HEADERS, b"{}") for _ in range(20)))
    assert [answer.status for answer in sent] == [200] * 20
    assert asked == ["hooks.example"]


@pytest.mark.parametrize(
    ("host", "answers"),
    [
        ("127.0.0.1", []),
        ("hooks.example", ["127.0.0.1"]),
        ("hooks.example", ["93.184.215.14", "10.0.0.1"]),  # one bad address is enough
        ("localhost", []),
    ],
)
async def test_a_forbidden_target_is_refused_before_connecting(
    names: Names, host: str, answers: list[str]
) -> None:
    names.answers[host] = answers
    async with raw_server(answering()) as server:
        url = server.url.replace("127.0.0.1", host)
        async with client(TargetPolicy()) as wire:
            with pytest.raises(ForbiddenTarget):
                await wire.post(url, HEADERS, b"{}")
    assert server.connections == 0


async def test_connections_and_names_are_checked_again_when_the_policy_changes(
    names: Names,
) -> None:
    names.answers["hooks.example"] = ["127.0.0.1"]
    async with raw_server(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as server:
        url = server.url.replace("127.0.0.1", "hooks.example")
        async with client() as wire:
            assert (await wire.post(url, HEADERS, b"{}")).status == 200
            wire.policy = TargetPolicy()  # stricter now: the cached answer is not trusted
            with pytest.raises(ForbiddenTarget):
                await wire.post(url, HEADERS, b"{}")


# --- TLS ---------------------------------------------------------------------------------------


@asynccontextmanager
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, ssl.SSLContext, list[str]]]:
    """A TLS server on 127.0.0.1 with a certificate for ``hooks.example`` from a private CA:
    its URL (by that name), a client context trusting the CA, the SNI names it was sent."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rampwire test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("hooks.example"), x509.IPAddress(ipaddress.ip_address("127.0.0.2"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    sni: list[str] = []
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "leaf.pem")
    server_context.sni_callback = lambda _sock, name, _ctx: sni.append(name) or None  # type: ignore[func-returns-value]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    try:
        yield f"https://hooks.example:{port}/hooks", trusting, sni
    finally:
        server.close()
        await server.wait_closed()


async def test_https_verifies_the_certificate_for_the_name_and_sends_it_as_sni(
    tmp_path: Path, names: Names
) -> None:
    names.answers["hooks.example"] = ["127.0.0.1"]
    async with tls_server(tmp_path) as (url, trusting, sni):
        async with client(ssl_context=trusting) as wire:
            answer = await wire.post(url, HEADERS, b"{}")
    assert (answer.status, answer.body) == (200, b"secret")
    assert sni == ["hooks.example"]


async def test_https_refuses_a_certificate_it_cannot_verify(tmp_path: Path, names: Names) -> None:
    names.answers["hooks.example"] = ["127.0.0.1"]
    names.answers["other.example"] = ["127.0.0.1"]
    async with tls_server(tmp_path) as (url, trusting, _):
        async with client() as wire:  # the system's CAs: not the test CA
            with pytest.raises(ssl.SSLCertVerificationError):
                await wire.post(url, HEADERS, b"{}")
        async with client(ssl_context=trusting) as wire:  # the right CA, the wrong name
            with pytest.raises(ssl.SSLCertVerificationError):
                await wire.post(url.replace("hooks.example", "other.example"), HEADERS, b"{}")
