"""Rows whose parent's row is gone, on both back-ends. Since migration 0016 deliveries.endpoint_id,
deliveries.event_id, attempts.delivery_id, timeline.order_id and events.order_id have no foreign
key: rampwire deletes none of those parents (endpoints softly), so only a ``DELETE`` by hand
leaves such rows. A delivery whose endpoint or event is gone is cancelled unsent and the worker
goes on; an event whose order is gone is still sent and shown; the API and the dashboard show
each (never a 500)."""

from __future__ import annotations

import re

import httpx
from tests.integration.test_endpoints_api import (
    LATER,
    closed_port,
    eventually,
    final,
    make_endpoint,
    make_order,
    recorded,
)
from tests.support.dashboard_kit import browser
from tests.support.partners import make_partner, partner_token
from tests.support.receivers import receiver

from rampwire.domain.apikeys import Scope
from rampwire.storage import Database


async def _waiting_then_orphaned(api: httpx.AsyncClient, db: Database) -> dict[str, str]:
    """A delivery that failed once and waits for its retry, then its endpoint's row deleted by
    hand: (delivery id, endpoint id, event id, order id)."""
    endpoint = await make_endpoint(
        api, f"http://127.0.0.1:{closed_port()}/hooks", retry_policy=LATER
    )
    order = await make_order(api)
    [waiting] = await recorded(api, endpoint["id"], "retrying")
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM endpoints WHERE id = $1", endpoint["id"])
    return {
        "delivery": waiting["id"],
        "endpoint": endpoint["id"],
        "event": waiting["event_id"],
        "order": order["id"],
    }


async def test_the_worker_cancels_it_unsent_and_goes_on(
    api: httpx.AsyncClient, db: Database
) -> None:
    ids = await _waiting_then_orphaned(api, db)
    retried = await api.post(f"/v1/deliveries/{ids['delivery']}/retry")
    assert retried.status_code == 200, retried.text  # due now: the worker claims it

    async def cancelled() -> dict[str, object] | None:
        found = (await api.get(f"/v1/deliveries/{ids['delivery']}")).json()
        return found if found["status"] == "cancelled" else None  # type: ignore[no-any-return]

    delivery = await eventually(cancelled)
    assert delivery["endpoint_id"] == ids["endpoint"] and delivery["next_attempt_at"] is None
    assert len(delivery["attempt_log"]) == 1  # type: ignore[arg-type]  # nothing sent again

    async with receiver() as hooks:  # the worker still delivers to the other endpoints
        await make_endpoint(api, hooks.url)
        await make_order(api)
        assert len(await hooks.wait_for(1)) == 1


async def test_the_api_and_the_dashboard_show_it(
    api: httpx.AsyncClient, admin_api: httpx.AsyncClient, db: Database
) -> None:
    ids = await _waiting_then_orphaned(api, db)

    one = await api.get(f"/v1/deliveries/{ids['delivery']}")
    assert one.status_code == 200 and one.json()["endpoint_id"] == ids["endpoint"]
    of_event = await api.get(f"/v1/events/{ids['event']}/deliveries")
    assert of_event.status_code == 200
    assert [d["id"] for d in of_event.json()["data"]] == [ids["delivery"]]
    # as for a deleted endpoint: nothing to send it to again
    replay = await api.post(f"/v1/deliveries/{ids['delivery']}/replay")
    assert replay.status_code == 404
    assert replay.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(f"/v1/endpoints/{ids['endpoint']}/deliveries")).status_code == 404

    # a delivery is its endpoint's: with no endpoint, no partner's
    partner = await make_partner(admin_api)
    token = await partner_token(admin_api, partner["id"], "read")
    theirs = await api.get(
        f"/v1/deliveries/{ids['delivery']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert theirs.status_code == 404

    client = await browser(api, db, Scope.ADMIN)
    for path in (
        "/ui/deliveries",
        f"/ui/deliveries?endpoint={ids['endpoint']}",
        f"/ui/deliveries/{ids['delivery']}",
        f"/ui/orders/{ids['order']}",
    ):
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert re.search(ids["delivery"], page.text), path


async def test_an_event_whose_order_row_is_gone_is_shown_and_sent_again(
    api: httpx.AsyncClient, admin_api: httpx.AsyncClient, db: Database
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url)
        order = await make_order(api)
        [delivery] = await final(api, endpoint["id"], 1)
        async with db.transaction() as conn:  # its timeline and events stay
            await conn.execute("DELETE FROM orders WHERE id = $1", order["id"])
        assert (await api.get(f"/v1/orders/{order['id']}")).status_code == 404

        replay = await api.post(f"/v1/deliveries/{delivery['id']}/replay")
        assert replay.status_code == 201, replay.text
        first, again = await hooks.wait_for(2)
        assert again.body == first.body  # the event's stored payload

    of_event = await api.get(f"/v1/events/{delivery['event_id']}/deliveries")
    assert of_event.status_code == 200 and len(of_event.json()["data"]) == 2
    # an event is its order's: with no order, the operator's
    partner = await make_partner(admin_api)
    token = await partner_token(admin_api, partner["id"], "read")
    theirs = await api.get(
        f"/v1/events/{delivery['event_id']}/deliveries",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert theirs.status_code == 404

    client = await browser(api, db, Scope.ADMIN)
    page = await client.get(f"/ui/deliveries/{delivery['id']}")
    assert page.status_code == 200 and delivery["event_id"] in page.text
    assert (await client.get(f"/ui/orders/{order['id']}")).status_code == 404


async def _event_gone(api: httpx.AsyncClient, db: Database) -> dict[str, str]:
    """A delivery that failed once and waits for its retry, then its event's row deleted by hand
    and the delivery made due: (delivery id, endpoint id, event id)."""
    endpoint = await make_endpoint(
        api, f"http://127.0.0.1:{closed_port()}/hooks", retry_policy=LATER
    )
    await make_order(api)
    [waiting] = await recorded(api, endpoint["id"], "retrying")
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM events WHERE id = $1", waiting["event_id"])
    retried = await api.post(f"/v1/deliveries/{waiting['id']}/retry")
    assert retried.status_code == 200, retried.text  # due now: the worker claims it
    return {"delivery": waiting["id"], "endpoint": endpoint["id"], "event": waiting["event_id"]}


async def _cancelled(api: httpx.AsyncClient, delivery_id: str) -> dict[str, object]:
    async def check() -> dict[str, object] | None:
        found = (await api.get(f"/v1/deliveries/{delivery_id}")).json()
        return found if found["status"] == "cancelled" else None  # type: ignore[no-any-return]

    return await eventually(check)


async def test_a_delivery_whose_event_is_gone_is_cancelled_unsent_and_the_worker_goes_on(
    api: httpx.AsyncClient, db: Database
) -> None:
    ids = await _event_gone(api, db)

    delivery = await _cancelled(api, ids["delivery"])
    assert delivery["last_error"] == "its event is gone" and delivery["next_attempt_at"] is None
    assert len(delivery["attempt_log"]) == 1  # type: ignore[arg-type]  # nothing sent again

    async with receiver() as hooks:  # the worker still delivers to the other endpoints
        await make_endpoint(api, hooks.url)
        await make_order(api)
        assert len(await hooks.wait_for(1)) == 1


async def test_a_delivery_whose_event_is_gone_is_shown_and_not_replayed(
    api: httpx.AsyncClient, db: Database
) -> None:
    ids = await _event_gone(api, db)
    await _cancelled(api, ids["delivery"])

    one = (await api.get(f"/v1/deliveries/{ids['delivery']}")).json()
    assert one["event_id"] == ids["event"]
    assert [a["request"]["body"] for a in one["attempt_log"]] == [None]  # the payload is gone
    of_event = await api.get(f"/v1/events/{ids['event']}/deliveries")
    assert of_event.status_code == 200
    assert [d["id"] for d in of_event.json()["data"]] == [ids["delivery"]]
    pending = await api.get(f"/v1/endpoints/{ids['endpoint']}/pending-events")
    assert pending.status_code == 200 and pending.json()["data"] == []
    # nothing to send again: refused one by one, skipped by a replay since a time
    replay = await api.post(f"/v1/deliveries/{ids['delivery']}/replay")
    assert replay.status_code == 409 and "its event is gone" in replay.text
    assert replay.headers["content-type"].startswith("application/problem+json")
    since = await api.post(
        f"/v1/endpoints/{ids['endpoint']}/replay", json={"since": "2000-01-01T00:00:00Z"}
    )
    assert since.status_code == 200 and since.json()["replayed"] == 0, since.text
    assert len((await api.get(f"/v1/events/{ids['event']}/deliveries")).json()["data"]) == 1

    client = await browser(api, db, Scope.ADMIN)
    for path in (
        "/ui/deliveries",
        f"/ui/deliveries/{ids['delivery']}",
        f"/ui/endpoints/{ids['endpoint']}",
        f"/ui/endpoints/{ids['endpoint']}/pending",
    ):
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text)
    assert ids["delivery"] in (await client.get(f"/ui/deliveries/{ids['delivery']}")).text
