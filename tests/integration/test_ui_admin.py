"""The operator's settings pages over HTTP, on both back-ends: partners (create, edit, suspend,
resume, keys, own callback), API keys (a token shown once, revoke), the default authorization
callback and the decisions, sources with each provider's credential form and the refusal
counters, event types, and the partner filters of the lists. Every action needs the session's
CSRF token and an admin (or, for sources, write) key; bad input is a 400 page naming the field,
and nothing is written."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import orjson
import pytest
from tests.integration.test_ui import CSRF, browser
from tests.support.ingest_kit import KITS, make_source, send, webhook
from tests.support.receivers import Receiver, receiver

from rampwire.crypto import secret_box
from rampwire.dialects.base import DialectName, WireRequest
from rampwire.dialects.samples import sample_order
from rampwire.domain.apikeys import Scope
from rampwire.domain.events import EVENT_TYPES
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.domain.partners import PartnerStatus
from rampwire.repository import KeyRepository
from rampwire.repository.authorization import AuthorizationRepository
from rampwire.repository.partners import PartnerRepository
from rampwire.repository.sources import SourceRepository
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow

HOSTILE_NAME = "<script>alert(1)</script>"
PARTNER_PATH = re.compile(r"/ui/partners/(ptn_\w+)")


@pytest.fixture
async def hook() -> object:
    async with receiver() as found:
        yield found


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, (path, page.text)
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def refused(answer: httpx.Response, *words: str) -> None:
    """A form shown again with the reason: 400, the words in a problem notice."""
    assert answer.status_code == 400, answer.text
    assert 'class="error problem"' in answer.text
    for word in words:
        assert word in answer.text, (word, answer.text)


async def test_partners_are_created_edited_suspended_and_given_keys(
    api: httpx.AsyncClient, db: Database
) -> None:
    client = await browser(api, db, Scope.ADMIN)
    partners = PartnerRepository(db)
    csrf = await csrf_of(client, "/ui/partners")
    for fields, words in (
        ({"name": ""}, ("name:",)),
        ({"name": "x" * 201}, ("name:",)),
        ({"name": "Acme", "metadata": "[1]"}, ("metadata: must be a JSON object",)),
        ({"name": "Acme", "metadata": "{nope"}, ("metadata: is not valid JSON",)),
        ({"name": "Acme", "metadata": '{"k": "' + "v" * 9000 + '"}'}, ("metadata: at most",)),
    ):
        refused(await client.post("/ui/partners", data={"csrf": csrf, **fields}), *words)
    assert await partners.find(limit=10) == []

    made = await client.post(
        "/ui/partners", data={"csrf": csrf, "name": HOSTILE_NAME, "metadata": '{"tier": "gold"}'}
    )
    assert made.status_code == 303, made.text
    found = PARTNER_PATH.search(made.headers["location"])
    assert found is not None
    pid = found.group(1)
    page = await client.get(f"/ui/partners/{pid}")
    assert HOSTILE_NAME not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    listing = await client.get("/ui/partners")
    assert HOSTILE_NAME not in listing.text and pid in listing.text

    edited = await client.post(
        f"/ui/partners/{pid}", data={"csrf": csrf, "name": "Acme", "metadata": '{"tier": "x"}'}
    )
    assert edited.status_code == 303
    assert (await partners.get(pid)).name == "Acme"
    bad_edit = await client.post(f"/ui/partners/{pid}", data={"csrf": csrf, "name": ""})
    refused(bad_edit, "name:")
    assert (await partners.get(pid)).name == "Acme"

    suspended = await client.post(
        f"/ui/partners/{pid}/status", data={"csrf": csrf, "status": "suspended"}
    )
    assert suspended.status_code == 303
    assert (await partners.get(pid)).status is PartnerStatus.SUSPENDED
    assert (
        await client.post(f"/ui/partners/{pid}/status", data={"csrf": csrf, "status": "gone"})
    ).status_code == 400
    await client.post(f"/ui/partners/{pid}/status", data={"csrf": csrf, "status": "active"})
    assert (await partners.get(pid)).status is PartnerStatus.ACTIVE

    keys = KeyRepository(db)
    refused(
        await client.post(
            f"/ui/partners/{pid}/keys", data={"csrf": csrf, "name": "k", "scope": "admin"}
        ),
        "admin is the operator",
    )
    refused(await client.post(f"/ui/partners/{pid}/keys", data={"csrf": csrf, "name": ""}), "name:")
    assert await keys.all(partner_id=pid) == []
    shown = await client.post(
        f"/ui/partners/{pid}/keys", data={"csrf": csrf, "name": "ops", "scope": "read"}
    )
    assert shown.status_code == 200
    token = re.search(r'value="(rw_[^"]+)"', shown.text)
    assert token is not None
    authenticated = await keys.authenticate(token.group(1))
    assert authenticated is not None and authenticated[0].partner_id == pid
    assert authenticated[0].scope is Scope.READ
    assert token.group(1) not in (await client.get(f"/ui/partners/{pid}")).text  # shown once

    # no CSRF token, another origin, or a key below admin: refused, nothing changed
    assert (await client.post("/ui/partners", data={"name": "x"})).status_code == 403
    foreign = await client.post(
        "/ui/partners", data={"csrf": csrf, "name": "x"}, headers={"origin": "https://evil.test"}
    )
    assert foreign.status_code == 403
    writer = await browser(api, db, Scope.WRITE)
    write_csrf = await csrf_of(writer, "/ui/partners")
    assert "New partner" not in (await writer.get("/ui/partners")).text
    assert (
        await writer.post("/ui/partners", data={"csrf": write_csrf, "name": "x"})
    ).status_code == 403
    assert len(await partners.find(limit=10)) == 1
    assert (await client.get("/ui/partners/ptn_nope")).status_code == 400
    assert (await client.get("/ui/partners?status=gone")).status_code == 400


async def test_a_partner_callback_and_the_default_callback_are_set_and_removed(
    api: httpx.AsyncClient, db: Database, settings: Settings, hook: Receiver
) -> None:
    client = await browser(api, db, Scope.ADMIN)
    csrf = await csrf_of(client, "/ui/partners")
    made = await client.post("/ui/partners", data={"csrf": csrf, "name": "Acme"})
    pid = made.headers["location"].split("/")[-1].split("?")[0]
    configs = AuthorizationRepository(db, secret_box(settings))
    good = {
        "csrf": csrf,
        "url": hook.url,
        "method": "bearer",
        "token": "s3cret-token",
        "op_buy": "on",
        "op_sell": "on",
        "timeout_seconds": "2",
        "cache_ttl_seconds": "0",
        "failure_mode": "closed",
    }
    for bad, words in (
        ({"url": "ftp://x"}, ("url",)),
        ({"method": "magic"}, ("auth.method",)),
        ({"timeout_seconds": "soon"}, ("timeout_seconds",)),
        ({"username": "stray"}, ("auth.username: is not used by the bearer method",)),
    ):
        refused(
            await client.post(f"/ui/partners/{pid}/authorization", data={**good, **bad}), *words
        )
        refused(await client.post("/ui/authorization", data={**good, **bad}), *words)
    assert await configs.get(pid) is None and await configs.get(None) is None

    assert (await client.post(f"/ui/partners/{pid}/authorization", data=good)).status_code == 303
    own = await configs.get(pid)
    assert own is not None and own.url == hook.url
    page = (await client.get(f"/ui/partners/{pid}")).text
    assert hook.url in page and "s3cret-token" not in page and "token_set" in page
    assert (await client.post("/ui/authorization", data=good)).status_code == 303
    assert await configs.get(None) is not None
    assert "s3cret-token" not in (await client.get("/ui/authorization")).text

    removed = await client.post(f"/ui/partners/{pid}/authorization/delete", data={"csrf": csrf})
    assert removed.status_code == 303 and await configs.get(pid) is None
    assert (await client.post("/ui/authorization/delete", data={"csrf": csrf})).status_code == 303
    assert await configs.get(None) is None
    assert (await client.post("/ui/authorization/delete", data={"csrf": csrf})).status_code == 404

    # the decisions: filters by partner and order; a bad or unknown partner is refused
    assert (await client.get(f"/ui/authorization?partner={pid}&order=ord_x")).status_code == 200
    assert (await client.get("/ui/authorization?partner=nope")).status_code in (400, 404)


async def test_the_authorization_decisions_are_listed(
    api: httpx.AsyncClient, admin_api: httpx.AsyncClient, db: Database, hook: Receiver
) -> None:
    put = await admin_api.put(
        "/v1/authorization",
        json={"url": hook.url, "auth": {"method": "bearer", "token": "tok-12345"}},
    )
    assert put.status_code == 200, put.text
    # the receiver answers "answered 200", not JSON: refused, and logged as such
    created = await api.post(
        "/v1/orders", json={"side": "buy", "references": {"user_email": "u@example.com"}}
    )
    assert created.status_code == 403, created.text
    partner = await PartnerRepository(db).create(name="Acme", metadata={}, now=utcnow())
    client = await browser(api, db, Scope.READ)
    page = await client.get("/ui/authorization")
    assert page.status_code == 200
    assert "refused" in page.text and "unrecognised answer" in page.text
    assert "tok-12345" not in page.text
    other = await client.get(f"/ui/authorization?partner={partner.id}")
    assert "unrecognised answer" not in other.text and "No decisions match." in other.text
    assert (
        await client.get("/ui/authorization?partner=ptn_01KBQ3G9P8V7X1Y2Z3A4B5C6D7")
    ).status_code == 404


async def test_api_keys_are_created_shown_once_and_revoked(
    api: httpx.AsyncClient, db: Database
) -> None:
    client = await browser(api, db, Scope.ADMIN)
    keys = KeyRepository(db)
    before = len(await keys.all())
    csrf = await csrf_of(client, "/ui/keys")
    refused(
        await client.post("/ui/keys", data={"csrf": csrf, "name": "", "scope": "read"}), "name:"
    )
    refused(
        await client.post("/ui/keys", data={"csrf": csrf, "name": "k", "scope": "root"}), "scope:"
    )
    partner = await PartnerRepository(db).create(name="Acme", metadata={}, now=utcnow())
    refused(
        await client.post(
            "/ui/keys", data={"csrf": csrf, "name": "k", "scope": "admin", "partner": partner.id}
        ),
        "admin is the operator",
    )
    assert (
        await client.post("/ui/keys", data={"csrf": csrf, "name": "k", "partner": "ptn_x"})
    ).status_code == 400
    assert len(await keys.all()) == before

    shown = await client.post("/ui/keys", data={"csrf": csrf, "name": "deploy", "scope": "write"})
    assert shown.status_code == 200 and "only time it is shown" in shown.text
    token = re.search(r'value="(rw_[^"]+)"', shown.text)
    assert token is not None
    found = await keys.authenticate(token.group(1))
    assert found is not None and found[0].scope is Scope.WRITE and found[0].partner_id is None
    listing = await client.get("/ui/keys")
    assert "deploy" in listing.text and token.group(1) not in listing.text
    for_partner = await client.post(
        "/ui/keys", data={"csrf": csrf, "name": "theirs", "scope": "read", "partner": partner.id}
    )
    assert for_partner.status_code == 200
    assert "theirs" in (await client.get(f"/ui/keys?partner={partner.id}")).text
    assert "theirs" not in (await client.get("/ui/keys?kind=operator")).text
    assert (await client.get("/ui/keys?kind=alien")).status_code == 400

    revoked = await client.post(f"/ui/keys/{found[0].id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    assert await keys.authenticate(token.group(1)) is None
    assert (await client.post("/ui/keys/key_nope/revoke", data={"csrf": csrf})).status_code == 400
    reader = await browser(api, db, Scope.READ)
    read_csrf = await csrf_of(reader, "/ui/keys")
    assert "New key" not in (await reader.get("/ui/keys")).text
    assert (await reader.post("/ui/keys", data={"csrf": read_csrf, "name": "x"})).status_code == 403


@pytest.mark.parametrize("provider", list(Provider))
async def test_each_provider_has_its_credential_form(
    api: httpx.AsyncClient, db: Database, provider: Provider
) -> None:
    client = await browser(api, db, Scope.WRITE)
    page = await client.get(f"/ui/sources?provider={provider.value}")
    assert page.status_code == 200
    expected = {
        Provider.REVOLUT: ["Signing secrets"],
        Provider.SABER: ["Authentication", "HMAC secrets", "URL token", "Allowed networks"],
        Provider.FIREBLOCKS: ["JWKS", "Public keys (PEM)"],
        Provider.KOYWE: ["Secret"],
        Provider.TRANSAK: ["Access token", "Previous access token"],
    }[provider]
    for label in expected:
        assert f">{label}</label>" in page.text, label


async def test_sources_are_created_from_the_forms_and_count_their_refusals(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    client = await browser(api, db, Scope.WRITE)
    sources = SourceRepository(db, secret_box(settings))
    csrf = await csrf_of(client, "/ui/sources?provider=koywe")
    for fields, words in (
        ({"provider": "koywe", "name": "k", "c_secret": "short"}, ("credentials.secret",)),
        ({"provider": "koywe", "name": "", "c_secret": "long-enough-secret"}, ("name:",)),
        (
            {
                "provider": "fireblocks",
                "name": "f",
                "c_public_keys": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----",
            },
            ("credentials",),
        ),
        (
            {"provider": "fireblocks", "name": "f", "c_jwks": "[]"},
            ("c_jwks: must be a JSON object",),
        ),
        ({"provider": "saber", "name": "s", "c_mode": "token"}, ("credentials",)),
        (
            {
                "provider": "revolut",
                "name": "r",
                "tolerance_seconds": "99999",
                "c_secrets": "wsk_0123456789abcdef",
            },
            ("options.tolerance_seconds",),
        ),
        ({"provider": "nope", "name": "x"}, ("provider must be one of",)),
        ({"name": "x"}, ("provider: choose",)),
    ):
        answer = await client.post("/ui/sources", data={"csrf": csrf, **fields})
        refused(answer, *words)
        assert "long-enough-secret" not in answer.text  # a secret is never sent back
    assert await sources.all(limit=10) == []

    made = await client.post(
        "/ui/sources",
        data={
            "csrf": csrf,
            "provider": "koywe",
            "name": "koywe live",
            "c_secret": KITS[Provider.KOYWE].source_credentials["secret"],
            "default_side": "buy",
        },
    )
    assert made.status_code == 303, made.text
    saber = await client.post(
        "/ui/sources",
        data={
            "csrf": csrf,
            "provider": "saber",
            "name": "saber ip",
            "c_mode": "ip_allowlist",
            "c_allowed_networks": "10.0.0.0/8\n192.0.2.7",
        },
    )
    assert saber.status_code == 303, saber.text
    found = {s.name: s for s in await sources.all(limit=10)}
    assert found["koywe live"].credentials == KITS[Provider.KOYWE].source_credentials
    assert found["koywe live"].options == {"default_side": "buy"}
    assert found["saber ip"].credentials["allowed_networks"] == ["10.0.0.0/8", "192.0.2.7"]

    # a forged webhook is refused and counted on the page, by reason
    source_id = found["koywe live"].id
    order = sample_order(DialectName.KOYWE, OrderStatus.CREATED, Side.BUY, now=utcnow())
    forged = webhook(Provider.KOYWE, order, OrderStatus.CREATED, now=utcnow())
    signature = orjson.loads(forged.body)["signature"]
    body = forged.body.replace(signature.encode(), b"0" * len(signature))
    answer = await send(api, source_id, WireRequest(headers=forged.headers, body=body))
    assert answer.status_code == 401, answer.text
    page = (await client.get("/ui/sources")).text
    row = page[page.index(source_id) :]
    row = row[: row.index("</tr>")]
    assert re.search(r'class="num warn">1<', row), row
    assert "badge bad" in row

    disabled = await client.post(
        f"/ui/sources/{source_id}/enabled", data={"csrf": csrf, "enabled": "false"}
    )
    assert disabled.status_code == 303
    assert not (await sources.get(source_id)).enabled
    reader = await browser(api, db, Scope.READ)
    read_csrf = await csrf_of(reader, "/ui/sources")
    assert (
        await reader.post("/ui/sources", data={"csrf": read_csrf, "provider": "koywe"})
    ).status_code == 403


async def test_event_types_each_have_an_example(api: httpx.AsyncClient, db: Database) -> None:
    client = await browser(api, db, Scope.READ)
    page = await client.get("/ui/event-types")
    assert page.status_code == 200
    for event_type in EVENT_TYPES:
        assert (
            f"&#34;type&#34;: &#34;{event_type}&#34;" in page.text
            or f'"type": "{event_type}"' in page.text
        ), event_type


async def test_the_lists_filter_by_partner(
    api: httpx.AsyncClient, admin_api: httpx.AsyncClient, db: Database, hook: Receiver
) -> None:
    ours = (await admin_api.post("/v1/partners", json={"name": "Ours"})).json()["id"]
    theirs = (await admin_api.post("/v1/partners", json={"name": "Theirs"})).json()["id"]
    key = await admin_api.post(f"/v1/partners/{ours}/keys", json={"name": "k", "scope": "write"})
    partner_api = httpx.AsyncClient(
        transport=api._transport,
        base_url="http://rampwire.test",
        headers={"Authorization": f"Bearer {key.json()['token']}"},
    )
    endpoint = await partner_api.post("/v1/endpoints", json={"url": hook.url})
    assert endpoint.status_code == 201, endpoint.text
    created = await partner_api.post("/v1/orders", json={"side": "buy"})
    assert created.status_code == 201, created.text
    order_id = created.json().get("order", created.json())["id"]
    source = await make_source(admin_api, Provider.KOYWE, partner_id=ours)
    provider_order = sample_order(DialectName.KOYWE, OrderStatus.CREATED, Side.BUY, now=utcnow())
    sent = await send(
        api,
        source["id"],
        webhook(
            Provider.KOYWE, provider_order, OrderStatus.CREATED, now=utcnow() - timedelta(seconds=1)
        ),
    )
    assert sent.status_code == 200, sent.text
    await hook.wait_for(1)
    client = await browser(api, db, Scope.READ)
    for path, marker in (
        ("/ui/orders", order_id),
        ("/ui/deliveries", order_id),
        ("/ui/inbound", str(provider_order.provider_order_id)),
    ):
        mine = await client.get(f"{path}?partner={ours}")
        assert mine.status_code == 200 and marker in mine.text, path
        other = await client.get(f"{path}?partner={theirs}")
        assert other.status_code == 200 and marker not in other.text, path
        assert (await client.get(f"{path}?partner=<b>")).status_code == 400
    assert ">Ours</option>" in (await client.get("/ui/orders")).text


async def test_the_live_overview_needs_a_session(api: httpx.AsyncClient) -> None:
    anonymous = httpx.AsyncClient(transport=api._transport, base_url="http://rampwire.test")
    assert (await anonymous.get("/ui/live/overview")).status_code == 401


async def test_the_keys_page_pages_newest_first(api: httpx.AsyncClient, db: Database) -> None:
    keys = KeyRepository(db)
    made = [(await keys.create(f"k{n:02d}", Scope.READ))[0] for n in range(55)]
    client = await browser(api, db, Scope.ADMIN)  # the 56th key, the newest
    first = await client.get("/ui/keys")
    older = re.search(r'href="\?before=(key_\w+)"', first.text)
    assert older is not None
    assert made[-1].id in first.text and made[0].id not in first.text
    second = await client.get(f"/ui/keys?before={older.group(1)}")
    assert made[0].id in second.text and made[-1].id not in second.text
