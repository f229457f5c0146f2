"""Reading the receiver's view of each simulated order, for the grade's state check.

Two ways: a URL template with ``{id}`` (the provider's order id) answering JSON with a
``status`` in rampwire's canonical names; or, when the receiver is a rampwire ingest source,
rampwire's own order API (``GET /v1/orders?provider=...``, paged), with a read key. An order the
receiver does not know reads as ``missing``.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from .plan import Plan

MISSING: Final = "missing"
PAGE: Final = 100  # orders per page of rampwire's list
MAX_PAGES: Final = 1000  # a bound on the walk through rampwire's orders


async def read_by_template(
    session: aiohttp.ClientSession, plan: Plan, template: str, headers: dict[str, str]
) -> dict[int, str]:
    found: dict[int, str] = {}
    for script in plan.orders:
        url = template.replace("{id}", quote(script.provider_order_id, safe=""))
        found[script.index] = await _status(session, url, headers)
    return found


async def _status(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> str:
    try:
        async with session.get(url, headers=headers) as reply:
            if reply.status != 200:
                return MISSING if reply.status == 404 else f"answered {reply.status}"
            body: Any = orjson.loads(await reply.read())
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
        return f"unreadable ({type(exc).__name__})"
    status = body.get("status") if isinstance(body, dict) else None
    return str(status) if status is not None else "no status"


async def read_from_rampwire(
    session: aiohttp.ClientSession, plan: Plan, target: str, api_key: str
) -> dict[int, str]:
    """Each order's status from the rampwire that owns the ingest URL ``target``."""
    provider = plan.dialect.provider
    if provider is None:
        raise ValueError("rampwire's order API knows provider orders only, not standard ones")
    parts = urlsplit(target)
    base = f"{parts.scheme}://{parts.netloc}"
    wanted = {s.provider_order_id: s.index for s in plan.orders}
    found: dict[int, str] = {}
    cursor: str | None = None
    headers = {"Authorization": f"Bearer {api_key}"}
    for _ in range(MAX_PAGES):
        params = {"provider": provider.value, "limit": str(PAGE)}
        if cursor:
            params["cursor"] = cursor
        async with session.get(f"{base}/v1/orders", params=params, headers=headers) as reply:
            if reply.status != 200:
                raise ValueError(f"rampwire's order API answered {reply.status}")
            page = orjson.loads(await reply.read())
        for order in page["data"]:
            index = wanted.get(order.get("provider_order_id"))
            if index is not None:
                found[index] = order["status"]
        cursor = page.get("next_cursor")
        if not cursor or len(found) == len(wanted):
            break
    return {s.index: found.get(s.index, MISSING) for s in plan.orders}
