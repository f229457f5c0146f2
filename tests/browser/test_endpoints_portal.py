"""Endpoint pages and the partner portal in a real browser (Debian's Chromium, Playwright)
against a real ``rampwire serve``: an operator makes an endpoint with the form (typed and sent
from the keyboard) to a local receiver, sends a test event and sees its delivery, rotates the
secret and the next delivery carries both v1 signatures; a portal link shows one partner's
objects only, cannot be used twice, reaches no operator page; the portal may be framed by the
configured origin only, operator pages by none. Every page visited is saved as a PNG (and in
``$SCREENSHOT_DIR``, prefixed ``endpoints-``: ``scripts/screenshots.sh``)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from tests.browser.conftest import Served, serve
from tests.browser.test_dashboard import Pages
from tests.support.partners import make_partner
from tests.support.processes import Processes, free_port
from tests.support.receivers import Receiver, receiver

FRAMER = "http://localhost:{port}"  # another site than 127.0.0.1, where rampwire listens


@pytest.fixture
async def framer_port() -> int:
    return free_port()


@pytest.fixture
async def framed(tmp_path: Path, procs: Processes, framer_port: int) -> AsyncIterator[Served]:
    """``rampwire serve`` whose portal the framer's origin may frame."""
    found = await serve(
        procs, tmp_path, RAMPWIRE_PORTAL_FRAME_ANCESTORS=FRAMER.format(port=framer_port)
    )
    yield found
    await procs.stop(found.proc)


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


async def _framer(port: int, portal_url: str, operator_url: str) -> web.AppRunner:
    """A page of another site that frames a portal page and an operator page."""
    html = (
        "<!doctype html><title>framer</title>"
        f'<iframe id="portal" src="{portal_url}" width="600" height="300"></iframe>'
        f'<iframe id="operator" src="{operator_url}" width="600" height="300"></iframe>'
    )

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def _until_attempted(page: Any) -> None:
    """Reload a delivery's page until its first attempt is recorded (the receiver may have
    answered before the worker's recorder wrote it); at most 50 reloads."""
    for _ in range(50):
        await page.reload()
        if await page.locator(".attempt").count():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("no attempt recorded after 50 reloads")


def _keep(folder: Path) -> None:
    target = os.environ.get("SCREENSHOT_DIR")
    if target:
        for png in sorted(folder.glob("*.png")):
            shutil.copy(png, Path(target) / f"endpoints-{png.name}")


@pytest.mark.timeout(240)
async def test_endpoints_and_the_portal_in_chromium(
    framed: Served, chromium: Any, tmp_path: Path, hook: Receiver, framer_port: int
) -> None:
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    pages = Pages(page, tmp_path / "screenshots", framed.url)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        async with framed.api() as api:
            await page.goto(framed.url + "/ui/login?next=/ui/endpoints")
            await page.get_by_label("API key").fill(framed.admin_key)
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/ui/endpoints")
            await pages.shot("endpoints-empty")

            await page.get_by_role("link", name="New endpoint").click()
            await page.get_by_label("URL", exact=True).fill("not a url at all")
            await page.get_by_label("Event types").fill("order.completed, order.nope")
            await page.get_by_label("Description").fill("receiver on this machine")
            await pages.shot("endpoint-new")
            # a URL the browser accepts, an event type the API refuses: its error by the field
            await page.get_by_label("URL", exact=True).fill(hook.url)
            await page.get_by_label("Event types").press("Enter")
            await page.locator("#err-event_types").wait_for()
            assert "matches no event type" in await page.locator("#err-event_types").inner_text()
            await pages.shot("endpoint-new-error")
            await page.emulate_media(color_scheme="dark")
            await pages.shot("endpoint-new-error-dark")
            await page.emulate_media(color_scheme="light")
            await page.get_by_label("Event types").fill("order.*")
            await page.get_by_label("Retry policy").fill('{"retry_delays": [], "jitter": 0}')
            await page.get_by_role("button", name="Create endpoint").focus()
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/ui/endpoints/ep_*")
            endpoint_id = page.url.split("/ui/endpoints/")[1].split("?")[0]
            await pages.shot("endpoint")

            await page.get_by_role("button", name="Send test event").click()
            await page.wait_for_url("**/ui/deliveries/dlv_*")
            (first,) = await hook.wait_for(1)
            assert len(first.headers["webhook-signature"].split()) == 1
            await _until_attempted(page)
            await pages.shot("test-event-delivery")

            await page.goto(f"{framed.url}/ui/endpoints/{endpoint_id}")
            assert await page.locator("code.secret").count() == 0  # not shown by default
            await page.get_by_role("button", name="Reveal secret").click()
            await page.locator("code.secret").first.wait_for()
            assert (await page.locator("code.secret").first.inner_text()).startswith("whsec_")
            await pages.shot("endpoint-secret")
            await page.get_by_role("button", name="Rotate secret").click()
            await page.get_by_role("status").wait_for()
            await page.get_by_role("button", name="Send test event").click()
            await page.wait_for_url("**/ui/deliveries/dlv_*")
            second = (await hook.wait_for(2))[1]
            v1 = [s for s in second.headers["webhook-signature"].split() if s.startswith("v1,")]
            assert len(v1) == 2  # the new secret's and the old one's, for 24 h
            await page.goto(f"{framed.url}/ui/deliveries?endpoint={endpoint_id}")
            assert await page.locator("#live-deliveries tr[data-id]").count() == 2
            await pages.shot("endpoint-deliveries")
            await page.goto(f"{framed.url}/ui/endpoints/{endpoint_id}/pending")
            await pages.shot("endpoint-pending")

            partner = await make_partner(api, "Acme Pay")
            ours = await api.post(
                "/v1/endpoints",
                json={"url": hook.url + "/acme", "partner_id": partner["id"]},
            )
            other = await make_partner(api, "Other Ramp")
            theirs = await api.post(
                "/v1/endpoints", json={"url": hook.url + "/other", "partner_id": other["id"]}
            )
            assert ours.status_code == theirs.status_code == 201
            link = (await api.post(f"/v1/partners/{partner['id']}/portal-links")).json()

        partner_context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        portal = await partner_context.new_page()
        portal_pages = Pages(portal, tmp_path / "screenshots", framed.url)
        portal_pages.shots = pages.shots
        landing = await portal.goto(link["url"])
        assert (
            landing is not None
            and "frame-ancestors 'none'" not in landing.headers["content-security-policy"]
        )
        await portal_pages.shot("portal-open")
        await portal.get_by_role("button", name="Open the portal").click()
        await portal.wait_for_url("**/ui/portal/endpoints")
        text = await portal.locator("main").inner_text()
        assert ours.json()["id"] in text
        assert theirs.json()["id"] not in text and endpoint_id not in text
        assert await portal.get_by_role("link", name="Orders").count() == 0
        await portal_pages.shot("portal-endpoints")
        await portal.emulate_media(color_scheme="dark")
        await portal_pages.shot("portal-endpoints-dark")
        await portal.emulate_media(color_scheme="light")
        await portal.get_by_role("link", name=ours.json()["id"]).click()
        await portal.get_by_role("button", name="Send test event").click()
        await portal.wait_for_url("**/ui/portal/deliveries/dlv_*")
        await hook.wait_for(3)
        await _until_attempted(portal)
        await portal_pages.shot("portal-delivery")
        await portal.goto(framed.url + "/ui/portal/event-types")
        await portal_pages.shot("portal-event-types")
        other_page = await portal.goto(f"{framed.url}/ui/portal/endpoints/{theirs.json()['id']}")
        assert other_page is not None and other_page.status == 404
        await portal.goto(framed.url + "/ui/overview")
        assert "/ui/login" in portal.url  # no operator page

        reuse_context = await chromium.new_context()
        reuse = await reuse_context.new_page()
        await reuse.goto(link["url"])
        await reuse.get_by_role("button", name="Open the portal").click()
        await reuse.get_by_role("alert").wait_for()
        assert "used already or has expired" in await reuse.get_by_role("alert").inner_text()
        await reuse.screenshot(path=str(pages.folder / "90-portal-link-used.png"), full_page=True)
        await reuse_context.close()

        # framing: the configured origin may frame the portal, nobody an operator page
        async with framed.api() as api:
            fresh = (await api.post(f"/v1/partners/{partner['id']}/portal-links")).json()
        runner = await _framer(framer_port, fresh["url"], framed.url + "/ui/login")
        try:
            blocked: list[str] = []
            framer = await context.new_page()
            framer.on("console", lambda message: blocked.append(message.text))
            await framer.goto(FRAMER.format(port=framer_port) + "/", wait_until="load")
            inner = framer.frame_locator("#portal")
            await inner.get_by_role("button", name="Open the portal").wait_for()
            assert await framer.frame_locator("#operator").locator("input#key").count() == 0
            assert any("frame-ancestors 'none'" in line for line in blocked), blocked
            await framer.screenshot(path=str(pages.folder / "91-portal-framed.png"))
        finally:
            await runner.cleanup()
        await partner_context.close()
        foreign = [u for u in requested if not u.startswith(framed.url)]
        assert foreign == []
    except BaseException:
        try:
            await pages.shot("failure")
        finally:
            print(f"screenshots of every page visited: {pages.folder}")
        raise
    finally:
        await context.close()
        _keep(pages.folder)
