"""The endpoints API over real SQLite and PostgreSQL: CRUD, every bad input (refused with nothing
written), secret rotation, replay since a time, per-event listing and the pull API."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tests.support.apps import api_client
from tests.support.receivers import Received, receiver

from rampwire.domain.deliveries import Attempt, DeliveryStatus, ErrorClass, Result
from rampwire.repository.deliveries import DeliveryRepository
from rampwire.settings import Settings
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database
from rampwire.types import utcnow

T = TypeVar("T")
WAIT_S = 20.0  # every wait below gives up after this long
NO_RETRY = {"retry_delays": [], "jitter": 0.0}  # one attempt, then dead
LATER = {"retry_delays": [3600], "jitter": 0.0}  # one attempt now, the next in an hour
FINAL = ("succeeded", "dead", "cancelled")


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = WAIT_S) -> T:
    """Poll ``check`` until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.05)


async def counts(db: Database) -> tuple[int, int]:
    async with db.connection() as conn:
        endpoints = await conn.fetchval("SELECT COUNT(*) FROM endpoints")
        deliveries = await conn.fetchval("SELECT COUNT(*) FROM deliveries")
    return int(endpoints), int(deliveries)


async def make_endpoint(api: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    response = await api.post("/v1/endpoints", json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_order(api: httpx.AsyncClient, side: str = "buy") -> dict[str, Any]:
    response = await api.post("/v1/orders", json={"side": side})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def deliveries_of(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def final(api: httpx.AsyncClient, endpoint_id: str, count: int) -> list[dict[str, Any]]:
    """The endpoint's deliveries, once ``count`` of them are final, oldest first."""

    async def check() -> list[dict[str, Any]] | None:
        data = await deliveries_of(api, endpoint_id)
        done = [d for d in data if d["status"] in FINAL]
        return list(reversed(data)) if len(done) >= count else None

    return await eventually(check)


async def recorded(
    api: httpx.AsyncClient, endpoint_id: str, status: str, count: int = 1
) -> list[dict[str, Any]]:
    """The endpoint's deliveries once ``count`` of them have reached ``status``."""

    async def check() -> list[dict[str, Any]] | None:
        data = await deliveries_of(api, endpoint_id)
        return data if sum(d["status"] == status for d in data) >= count else None

    return await eventually(check)


def order_id_of(request: Received) -> str:
    return json.loads(request.body)["data"]["order"]["id"]  # type: ignore[no-any-return]


def assert_problem(response: httpx.Response, field: str) -> None:
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    fields = [e["field"] for e in problem.get("errors", [])]
    assert field in fields, problem
    assert "Traceback" not in response.text


@asynccontextmanager
async def client_for(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings, db) as client:
        yield client


@pytest.fixture
async def strict_api(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``api``, but webhooks may only go to public addresses (the production default)."""
    async with client_for(settings.replace(target_policy=TargetPolicy()), db) as client:
        yield client


@pytest.fixture
async def quiet_api(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``api``, with no worker: the test plays the worker through the repository."""
    async with client_for(settings.replace(run_worker=False), db) as client:
        yield client


# --- create, list, get, update, delete ------------------------------------------------------


async def test_create_get_and_list_with_a_cursor(api: httpx.AsyncClient) -> None:
    made = [
        await make_endpoint(api, f"http://127.0.0.1:9/hooks/{n}", description=f"n{n}")
        for n in range(3)
    ]
    for endpoint in made:
        assert endpoint["id"].startswith("ep_")
        assert endpoint["secret"].startswith("whsec_")
        assert len(base64.b64decode(endpoint["secret"].removeprefix("whsec_"))) >= 24
        assert endpoint["enabled"] is True and endpoint["event_types"] == ["*"]
        got = await api.get(f"/v1/endpoints/{endpoint['id']}")
        assert got.status_code == 200
        assert endpoint["warnings"] == []  # the answer to a create, not the endpoint's state
        assert got.json() == {k: v for k, v in endpoint.items() if k not in ("secret", "warnings")}
        assert "secret" not in got.json() and "secrets" not in got.json()
    assert len({e["secret"] for e in made}) == 3

    first = (await api.get("/v1/endpoints", params={"limit": 2})).json()
    assert len(first["data"]) == 2 and first["next_cursor"] is not None
    second = (
        await api.get("/v1/endpoints", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert len(second["data"]) == 1 and second["next_cursor"] is None
    listed = [e["id"] for e in first["data"] + second["data"]]
    assert listed == [e["id"] for e in reversed(made)]  # newest first, each once


async def test_patch_changes_only_what_it_names_and_disables_and_reenables(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, event_types=["order.created"])
        endpoint.pop("secret")
        endpoint.pop("warnings")

        patched = await api.patch(
            f"/v1/endpoints/{endpoint['id']}", json={"description": "the ledger"}
        )
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert body["description"] == "the ledger"
        unchanged = {k: v for k, v in endpoint.items() if k not in ("description", "updated_at")}
        assert {k: body[k] for k in unchanged} == unchanged

        more = await api.patch(
            f"/v1/endpoints/{endpoint['id']}",
            json={"headers": {"X-Tenant": "acme"}, "rate_limit": 5, "retry_policy": NO_RETRY},
        )
        assert more.status_code == 200, more.text
        assert more.json()["headers"] == {"X-Tenant": "********"}  # values are credentials
        assert more.json()["rate_limit"] == 5 and more.json()["retry_policy"] == NO_RETRY
        assert more.json()["description"] == "the ledger"

        off = await api.patch(
            f"/v1/endpoints/{endpoint['id']}",
            json={"enabled": False, "disabled_reason": "maintenance window"},
        )
        assert off.status_code == 200, off.text
        assert off.json()["enabled"] is False
        assert off.json()["disabled_reason"] == "maintenance window"
        assert off.json()["disabled_at"] is not None
        await make_order(api)  # published while disabled: not for this endpoint
        assert await deliveries_of(api, endpoint["id"]) == []

        on = await api.patch(f"/v1/endpoints/{endpoint['id']}", json={"enabled": True})
        assert on.status_code == 200, on.text
        assert on.json()["enabled"] is True
        assert on.json()["disabled_reason"] is None and on.json()["disabled_at"] is None
        order = await make_order(api)
        [got] = await hooks.wait_for(1)
        assert order_id_of(got) == order["id"]
        assert got.headers["X-Tenant"] == "acme"
        await final(api, endpoint["id"], 1)


async def test_delete_cancels_waiting_deliveries_and_then_404s(
    api: httpx.AsyncClient, db: Database
) -> None:
    endpoint = await make_endpoint(
        api, f"http://127.0.0.1:{closed_port()}/hooks", retry_policy=LATER
    )
    await make_order(api)
    [waiting] = await recorded(api, endpoint["id"], "retrying")
    assert waiting["next_attempt_at"] is not None

    deleted = await api.delete(f"/v1/endpoints/{endpoint['id']}")
    assert deleted.status_code == 204
    assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).status_code == 404
    assert (await api.delete(f"/v1/endpoints/{endpoint['id']}")).status_code == 404
    assert (await api.get(f"/v1/endpoints/{endpoint['id']}/deliveries")).status_code == 404
    assert (await api.get("/v1/endpoints")).json()["data"] == []

    cancelled = (await api.get(f"/v1/deliveries/{waiting['id']}")).json()
    assert cancelled["status"] == "cancelled" and cancelled["next_attempt_at"] is None
    assert len(cancelled["attempt_log"]) == 1  # the history is kept
    assert await counts(db) == (1, 1)


async def test_a_delivery_in_flight_when_its_endpoint_is_deleted_stays_cancelled(
    quiet_api: httpx.AsyncClient, db: Database
) -> None:
    endpoint = await make_endpoint(quiet_api, "http://127.0.0.1:9/hooks")
    await make_order(quiet_api)
    repo = DeliveryRepository(db)
    [held] = await repo.claim(limit=10, lease=timedelta(seconds=60), token="w.1", now=utcnow())
    assert (await quiet_api.delete(f"/v1/endpoints/{endpoint['id']}")).status_code == 204

    now = utcnow()  # the send that was in flight fails, and the worker records it
    attempt = Attempt(
        id="att_in_flight",
        delivery_id=held.id,
        attempt=1,
        started_at=now,
        duration_us=1000,
        request_url=endpoint["url"],
        request_headers={},
        request_body=None,
        response_status=503,
        response_headers={},
        response_body="",
        error_class=ErrorClass.HTTP_STATUS,
        error="HTTP 503",
    )
    failed = Result(
        claimed=held,
        attempt=attempt,
        status=DeliveryStatus.RETRYING,
        next_attempt_at=now + timedelta(seconds=5),
        succeeded=False,
    )
    await repo.record([failed], now=now, disable_after=timedelta(days=5))
    delivery = (await quiet_api.get(f"/v1/deliveries/{held.id}")).json()
    assert delivery["status"] == "cancelled" and delivery["next_attempt_at"] is None


async def test_unknown_and_malformed_endpoint_ids(api: httpx.AsyncClient) -> None:
    missing = "ep_" + "0" * 26
    for method in ("GET", "DELETE"):
        assert (await api.request(method, f"/v1/endpoints/{missing}")).status_code == 404
    assert (await api.patch(f"/v1/endpoints/{missing}", json={})).status_code == 404
    assert (await api.get("/v1/endpoints/ord_123")).status_code == 400


# --- bad input: a 4xx naming the field, and nothing written --------------------------------

HEADER_CASES: list[tuple[str, dict[str, str], str]] = [
    ("host", {"Host": "evil.example"}, "headers.Host"),
    ("content-type", {"Content-Type": "text/plain"}, "headers.Content-Type"),
    ("signature", {"webhook-signature": "v1,forged"}, "headers.webhook-signature"),
    ("transfer-encoding", {"Transfer-Encoding": "chunked"}, "headers.Transfer-Encoding"),
    ("crlf", {"X-Tenant": "acme\r\nX-Injected: 1"}, "headers.X-Tenant"),
    ("long-value", {"X-Tenant": "a" * 1025}, "headers.X-Tenant"),
    ("bad-name", {"X Tenant": "acme"}, "headers.X Tenant"),
    ("too-many", {f"X-H{n}": "v" for n in range(21)}, "headers"),
]
CREATE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("ftp", {"url": "ftp://127.0.0.1/hooks"}, "url"),
    ("no-host", {"url": "http:///hooks"}, "url"),
    ("relative", {"url": "/hooks"}, "url"),
    ("userinfo", {"url": "http://user:pass@127.0.0.1:9/hooks"}, "url"),
    ("fragment", {"url": "http://127.0.0.1:9/hooks#part"}, "url"),
    ("too-long", {"url": "http://127.0.0.1:9/" + "a" * 2048}, "url"),
    ("not-a-string", {"url": 9}, "url"),
    ("filter-trailing-dot", {"event_types": ["order."]}, "event_types.0"),
    ("filter-upper-case", {"event_types": ["ORDER.*"]}, "event_types.0"),
    ("filter-leading-wildcard", {"event_types": ["*.created"]}, "event_types.0"),
    ("filter-unknown-type", {"event_types": ["order.nonexistent"]}, "event_types.0"),
    ("filter-second", {"event_types": ["order.created", "order."]}, "event_types.1"),
    ("filter-empty", {"event_types": []}, "event_types"),
    *((f"header-{name}", {"headers": headers}, field) for name, headers, field in HEADER_CASES),
    ("secret-no-prefix", {"secret": base64.b64encode(bytes(32)).decode()}, "secret"),
    ("secret-not-base64", {"secret": "whsec_not*base64!"}, "secret"),
    ("secret-too-short", {"secret": "whsec_" + base64.b64encode(bytes(16)).decode()}, "secret"),
    ("policy-shape", {"retry_policy": {"retry_delays": "soon"}}, "retry_policy"),
    ("policy-negative", {"retry_policy": {"retry_delays": [-5]}}, "retry_policy"),
    ("policy-unknown-key", {"retry_policy": {"retry_delays": [1], "x": 1}}, "retry_policy"),
    (
        "policy-huge-jitter",
        {"retry_policy": {"retry_delays": [], "jitter": 10**400}},
        "retry_policy",
    ),
    ("rate-limit-zero", {"rate_limit": 0}, "rate_limit"),
    ("max-in-flight-zero", {"max_in_flight": 0}, "max_in_flight"),
    ("ordering", {"ordering": "random"}, "ordering"),
    ("unknown-field", {"colour": "red"}, "colour"),
    ("dialect-unknown", {"dialect": "carrier-pigeon"}, "dialect"),
    ("dialect-not-a-string", {"dialect": 7}, "dialect"),
    ("fireblocks-with-secret", {"dialect": "fireblocks", "secret": "x" * 32}, "secret"),
    ("revolut-short-secret", {"dialect": "revolut", "secret": "wsk_short"}, "secret"),
    ("koywe-secret-with-space", {"dialect": "koywe", "secret": "a b" * 8}, "secret"),
    ("transak-non-ascii-secret", {"dialect": "transak", "secret": "é" * 20}, "secret"),
    ("standard-secret-for-saber", {"dialect": "saber", "secret": "x"}, "secret"),
    (
        "provider-filter-carries-nothing",
        {"dialect": "revolut", "event_types": ["endpoint.disabled"]},
        "event_types.0",
    ),
    (
        "provider-filter-anomaly",
        {"dialect": "transak", "event_types": ["order.completed", "order.anomaly"]},
        "event_types.1",
    ),
]


# One test per back-end walks the whole table: a fresh app and database per case would cost
# about 0.6 s each, for some 40 cases on two back-ends.
async def test_bad_input_on_create_is_a_problem_naming_the_field_and_writes_nothing(
    api: httpx.AsyncClient, db: Database, subtests: pytest.Subtests
) -> None:
    before = await counts(db)
    for name, change, field in CREATE_CASES:
        with subtests.test(name):
            body = {"url": "http://127.0.0.1:9/hooks", **change}
            assert_problem(await api.post("/v1/endpoints", json=body), field)
            assert await counts(db) == before


PATCH_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("ftp", {"url": "ftp://127.0.0.1/hooks"}, "url"),
    ("url-null", {"url": None}, "url"),
    ("fragment", {"url": "http://127.0.0.1:9/hooks#part"}, "url"),
    ("filter", {"event_types": ["order."]}, "event_types.0"),
    ("filter-empty", {"event_types": []}, "event_types"),
    ("filter-null", {"event_types": None}, "event_types"),
    ("header", {"headers": {"Host": "evil.example"}}, "headers.Host"),
    ("header-crlf", {"headers": {"X-A": "a\nb"}}, "headers.X-A"),
    ("rate-limit-zero", {"rate_limit": 0}, "rate_limit"),
    ("enabled-null", {"enabled": None}, "enabled"),
    ("policy", {"retry_policy": {"retry_delays": [1] * 31}}, "retry_policy"),
    ("secret-is-rotated-not-patched", {"secret": "whsec_" + "A" * 32}, "secret"),
    ("dialect", {"dialect": "revolut"}, "dialect"),
    ("unknown-field", {"colour": "red"}, "colour"),
]


async def test_bad_input_on_patch_is_a_problem_naming_the_field_and_changes_nothing(
    api: httpx.AsyncClient, db: Database, subtests: pytest.Subtests
) -> None:
    endpoint = await make_endpoint(api, "http://127.0.0.1:9/hooks", event_types=["order.*"])
    endpoint.pop("secret")
    endpoint.pop("warnings")
    before = await counts(db)
    for name, change, field in PATCH_CASES:
        with subtests.test(name):
            assert_problem(await api.patch(f"/v1/endpoints/{endpoint['id']}", json=change), field)
            assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).json() == endpoint
            assert await counts(db) == before


async def test_private_targets_are_refused_when_the_policy_forbids_them(
    strict_api: httpx.AsyncClient, db: Database, subtests: pytest.Subtests
) -> None:
    public = await make_endpoint(strict_api, "http://93.184.215.14/hooks", event_types=["*"])
    public.pop("secret")
    public.pop("warnings")
    before = await counts(db)
    for url in (
        "http://10.1.2.3/hooks",
        "http://127.0.0.1:8080/hooks",
        "http://localhost:8080/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
        "http://[::ffff:192.168.0.1]/hooks",
    ):
        with subtests.test(url):
            assert_problem(await strict_api.post("/v1/endpoints", json={"url": url}), "url")
            patched = await strict_api.patch(f"/v1/endpoints/{public['id']}", json={"url": url})
            assert_problem(patched, "url")
            assert (await strict_api.get(f"/v1/endpoints/{public['id']}")).json() == public
            assert await counts(db) == before


async def test_a_host_that_does_not_resolve_yet_is_saved_with_a_warning(
    strict_api: httpx.AsyncClient,
) -> None:
    """Its DNS may come later; every send checks the target again (docs/ssrf.md)."""
    url = "https://hooks.not-yet.invalid/rampwire"  # .invalid never resolves (RFC 2606)
    created = await strict_api.post("/v1/endpoints", json={"url": url})
    assert created.status_code == 201, created.text
    [warning] = created.json()["warnings"]
    assert warning.startswith("url: the host does not resolve") and "checks it again" in warning
    got = await strict_api.get(f"/v1/endpoints/{created.json()['id']}")
    assert got.status_code == 200 and got.json()["url"] == url

    public = await make_endpoint(strict_api, "http://93.184.215.14/hooks")
    assert public["warnings"] == []
    moved = await strict_api.patch(f"/v1/endpoints/{public['id']}", json={"url": url})
    assert moved.status_code == 200, moved.text
    assert moved.json()["url"] == url and len(moved.json()["warnings"]) == 1
    unchanged = await strict_api.patch(f"/v1/endpoints/{public['id']}", json={"description": "d"})
    assert unchanged.json()["warnings"] == []


# --- secrets --------------------------------------------------------------------------------


async def test_rotation_signs_with_both_secrets_each_verifying_on_its_own(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, event_types=["order.created"])
        secret_url = f"/v1/endpoints/{endpoint['id']}/secret"
        [only] = (await api.get(secret_url)).json()["secrets"]
        assert only["secret"] == endpoint["secret"] and only["expires_at"] is None

        rotated = await api.post(f"{secret_url}/rotate")
        assert rotated.status_code == 200, rotated.text
        listed = (await api.get(secret_url)).json()["secrets"]
        assert listed == rotated.json()["secrets"] and len(listed) == 2
        old = next(s for s in listed if s["secret"] == endpoint["secret"])
        new = next(s for s in listed if s["secret"] != endpoint["secret"])
        assert old["expires_at"] is not None and new["expires_at"] is None
        assert new["secret"].startswith("whsec_")

        await make_order(api)
        [got] = await hooks.wait_for(1)
        parts = got.headers["webhook-signature"].split(" ")
        assert len(parts) == 2 and all(p.startswith("v1,") for p in parts)
        verifies = {
            (secret["secret"], part): _verifies(secret["secret"], got, part)
            for secret in listed
            for part in parts
        }
        # each signature verifies under exactly one secret, and each secret under one signature
        for secret in listed:
            assert sum(verifies[(secret["secret"], p)] for p in parts) == 1
        for part in parts:
            assert sum(verifies[(s["secret"], part)] for s in listed) == 1
        await final(api, endpoint["id"], 1)


def _verifies(secret: str, request: Received, signature: str) -> bool:
    try:
        Webhook(secret).verify(request.body, {**request.headers, "webhook-signature": signature})
    except WebhookVerificationError:
        return False
    return True


async def test_rotation_to_a_given_secret_and_a_bad_one_refused(api: httpx.AsyncClient) -> None:
    endpoint = await make_endpoint(api, "http://127.0.0.1:9/hooks")
    secret_url = f"/v1/endpoints/{endpoint['id']}/secret"
    chosen = "whsec_" + base64.b64encode(b"k" * 32).decode()
    rotated = await api.post(f"{secret_url}/rotate", json={"secret": chosen})
    assert rotated.status_code == 200, rotated.text
    assert chosen in [s["secret"] for s in rotated.json()["secrets"]]

    before = (await api.get(secret_url)).json()
    for bad in ("k" * 40, "whsec_###", "whsec_" + base64.b64encode(b"k" * 8).decode()):
        assert_problem(await api.post(f"{secret_url}/rotate", json={"secret": bad}), "secret")
        assert (await api.get(secret_url)).json() == before


async def test_secrets_are_listed_newest_first(api: httpx.AsyncClient) -> None:
    endpoint = await make_endpoint(api, "http://127.0.0.1:9/hooks")
    await api.post(f"/v1/endpoints/{endpoint['id']}/secret/rotate")
    listed = (await api.get(f"/v1/endpoints/{endpoint['id']}/secret")).json()["secrets"]
    assert [s["secret"] == endpoint["secret"] for s in listed] == [False, True]


# --- replay, per-event listing, pull --------------------------------------------------------


async def test_replay_since_a_time_and_the_deliveries_of_one_event(api: httpx.AsyncClient) -> None:
    async with receiver() as later_hooks, receiver() as dead_hooks:
        later_hooks.answer = dead_hooks.answer = lambda _: 500
        retrying = await make_endpoint(
            api, later_hooks.url, event_types=["order.created"], retry_policy=LATER
        )
        dying = await make_endpoint(
            api, dead_hooks.url, event_types=["order.created"], retry_policy=NO_RETRY
        )
        before = await make_order(api)
        await recorded(api, retrying["id"], "retrying")
        await recorded(api, dying["id"], "dead")
        since = datetime.now(UTC)
        after = await make_order(api)
        await recorded(api, retrying["id"], "retrying", count=2)
        await recorded(api, dying["id"], "dead", count=2)

        later_hooks.answer = dead_hooks.answer = lambda _: 200
        for endpoint in (retrying, dying):
            replayed = await api.post(
                f"/v1/endpoints/{endpoint['id']}/replay", json={"since": since.isoformat()}
            )
            assert replayed.status_code == 200, replayed.text
            assert replayed.json()["replayed"] == 1  # only what was made since `since`
        await recorded(api, retrying["id"], "succeeded")
        await recorded(api, dying["id"], "succeeded")

    assert [order_id_of(r) for r in later_hooks.requests] == [
        before["id"],
        after["id"],
        after["id"],
    ]
    assert [order_id_of(r) for r in dead_hooks.requests] == [before["id"], after["id"], after["id"]]
    late = {d["order_id"]: d for d in await deliveries_of(api, retrying["id"])}
    assert late[before["id"]]["status"] == "retrying" and late[before["id"]]["attempts"] == 1
    assert late[after["id"]]["status"] == "succeeded" and late[after["id"]]["attempts"] == 2

    event_id = late[after["id"]]["event_id"]
    listed = (await api.get(f"/v1/events/{event_id}/deliveries")).json()["data"]
    assert sorted((d["endpoint_id"], d["status"]) for d in listed) == sorted(
        [
            (retrying["id"], "succeeded"),
            (dying["id"], "dead"),
            (dying["id"], "succeeded"),  # the replay: a new delivery of the same event
        ]
    )
    assert {d["event_id"] for d in listed} == {event_id}
    other = late[before["id"]]["event_id"]
    assert len((await api.get(f"/v1/events/{other}/deliveries")).json()["data"]) == 2
    assert (await api.get(f"/v1/events/evt_{'0' * 26}/deliveries")).json()["data"] == []


async def test_replay_needs_a_time_with_a_zone(api: httpx.AsyncClient) -> None:
    endpoint = await make_endpoint(api, "http://127.0.0.1:9/hooks")
    naive = await api.post(
        f"/v1/endpoints/{endpoint['id']}/replay", json={"since": "2025-01-15T12:00:00"}
    )
    assert_problem(naive, "since")
    missing = await api.post(f"/v1/endpoints/ep_{'0' * 26}/replay", json={"since": "2025-01-15Z"})
    assert missing.status_code in (404, 422)


async def pull(api: httpx.AsyncClient, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
    """Every page of the pull API, following ``next_cursor``."""
    items: list[dict[str, Any]] = []
    cursor = None
    async with asyncio.timeout(WAIT_S):
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            response = await api.get(f"/v1/endpoints/{endpoint_id}/pending-events", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["data"]) <= limit
            items.extend(page["data"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items


def refuse_sells(request: Received) -> int:
    return 500 if json.loads(request.body)["data"]["order"]["side"] == "sell" else 200


async def test_the_pull_api_pages_through_exactly_the_undelivered_events(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        hooks.answer = refuse_sells
        endpoint = await make_endpoint(
            api, hooks.url, event_types=["order.created"], retry_policy=NO_RETRY
        )
        sides = ["buy", "sell", "sell", "buy", "sell", "buy", "sell"]
        orders = [await make_order(api, side) for side in sides]
        await final(api, endpoint["id"], len(orders))
    sent = {order_id_of(r): json.loads(r.body) for r in hooks.requests}
    undelivered = [sent[o["id"]] for o in orders if o["side"] == "sell"]

    for limit in (1, 2, 3, 4, 500):
        pulled = await pull(api, endpoint["id"], limit)
        assert [p["event"] for p in pulled] == undelivered, limit
    by_event = {d["event_id"]: d["id"] for d in await deliveries_of(api, endpoint["id"])}
    assert [p["delivery_id"] for p in pulled] == [by_event[e["id"]] for e in undelivered]


async def test_an_event_received_through_a_replay_is_no_longer_pending(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        hooks.answer = lambda _: 500
        endpoint = await make_endpoint(
            api, hooks.url, event_types=["order.created"], retry_policy=NO_RETRY
        )
        await make_order(api)
        [dead] = await final(api, endpoint["id"], 1)
        assert [p["event"]["id"] for p in await pull(api, endpoint["id"], 10)] == [dead["event_id"]]
        hooks.answer = lambda _: 200
        replayed = await api.post(f"/v1/deliveries/{dead['id']}/replay")
        assert replayed.status_code == 201, replayed.text
        await recorded(api, endpoint["id"], "succeeded")
    assert await pull(api, endpoint["id"], 10) == []
