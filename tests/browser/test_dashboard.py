"""The dashboard in a real browser: log in (and a bad key refused), every page with sample
data, a new delivery appearing live in the log, a delivery replayed with its button, provider
markup shown as text, nothing loaded from another origin, log out. Every page visited is saved
as a PNG in the test's folder (and in ``$SCREENSHOT_DIR`` when set: ``scripts/screenshots.sh``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.browser.conftest import Served
from tests.support.dashboard_kit import HOSTILE, fill
from tests.support.receivers import receiver


class Pages:
    """A browser page that saves a screenshot of each page it shows."""

    def __init__(self, page: Any, folder: Path, base: str) -> None:
        self.page = page
        self.folder = folder
        self.base = base
        self.shots = 0
        folder.mkdir(parents=True, exist_ok=True)

    async def shot(self, name: str) -> None:
        self.shots += 1
        await self.page.screenshot(
            path=str(self.folder / f"{self.shots:02d}-{name}.png"), full_page=True
        )

    async def open(self, path: str, name: str) -> None:
        answer = await self.page.goto(self.base + path)
        assert answer is not None and answer.status == 200, (path, answer and answer.status)
        await self.shot(name)


@pytest.mark.timeout(180)
async def test_an_operator_session_in_chromium(
    served: Served, chromium: Any, tmp_path: Path
) -> None:
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    requested: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", on_dialog)
    pages = Pages(page, tmp_path / "screenshots", served.url)
    try:
        async with receiver() as hook, served.api() as api:
            await page.goto(served.url + "/ui/overview")
            assert "/ui/login" in page.url
            await pages.shot("login")
            await page.get_by_label("API key").fill("rw_not_a_real_key")
            await page.get_by_role("button", name="Log in").click()
            await page.get_by_role("alert").wait_for()
            assert "unknown or revoked" in await page.get_by_role("alert").inner_text()
            await pages.shot("login-refused")

            await page.get_by_label("API key").fill(served.admin_key)
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url("**/ui/overview")
            ids = await fill(api, hook.url)
            await hook.wait_for(3)

            await pages.open("/ui/overview", "overview")
            assert "Delivery attempts" in await page.content()
            await page.emulate_media(color_scheme="dark")
            await pages.shot("overview-dark")
            await page.emulate_media(color_scheme="light")
            await pages.open("/ui/orders", "orders")
            await page.get_by_label("Order id or provider order id").fill(ids["shuffled_order_id"])
            await page.get_by_role("button", name="Search").click()
            await page.wait_for_url(f"**/ui/orders/{ids['shuffled_order_id']}")
            rows = await page.locator("table tr.k-row-applied, table tr[class^='k-row']").count()
            assert await page.locator("svg.lanes g").count() == rows >= 3
            assert await page.locator("svg.lanes g.late").count() >= 1
            await pages.shot("order-shuffled")
            await pages.open(f"/ui/orders/{ids['order_id']}", "order")
            await pages.open(f"/ui/orders/{ids['hostile_order_id']}", "order-hostile")
            await page.emulate_media(color_scheme="dark")
            await pages.shot("order-hostile-dark")
            await page.emulate_media(color_scheme="light")
            assert await page.get_by_text(HOSTILE, exact=True).count() >= 1
            await pages.open("/ui/inbound", "inbound")
            assert await page.get_by_text(HOSTILE).count() >= 1
            await pages.open("/ui/deliveries", "deliveries")
            await page.locator(".live-state", has_text="live").wait_for()
            shown = await page.locator("#live-deliveries tr[data-id]").count()
            created = await api.post("/v1/orders", json={"side": "sell"})
            assert created.status_code == 201, created.text
            # no reload: the stream brings it (the CSP forbids wait_for_function's eval)
            await page.locator("#live-deliveries tr[data-id]").nth(shown).wait_for()
            await page.locator("#live-deliveries .d-succeeded").first.wait_for()
            await pages.shot("deliveries-live")
            # every column in sight at the page's width, server's rows and the stream's alike
            viewport = page.viewport_size
            assert viewport is not None
            for cell in await page.locator("#live-deliveries tr td:last-child").all():
                box = await cell.bounding_box()
                assert box is not None and box["x"] + box["width"] <= viewport["width"], box

            await page.locator("a[href^='/ui/deliveries/dlv_']").first.click()
            await page.wait_for_selector("text=Attempts")
            await pages.shot("delivery")
            before = len(hook.requests)
            await page.get_by_role("button", name="Replay").click()
            await page.get_by_role("status").wait_for()
            assert "replay of" in await page.get_by_role("status").inner_text()
            await hook.wait_for(before + 1)
            await page.reload()
            await pages.shot("delivery-replayed")

            assert dialogs == ["Send this event again to its endpoint?"]  # no alert(1) ran
            foreign = [url for url in requested if not url.startswith(served.url)]
            assert foreign == []

            await page.get_by_role("button", name="Log out").click()
            await page.wait_for_url("**/ui/login")
            await page.goto(served.url + "/ui/orders")
            assert "/ui/login" in page.url
    except BaseException:
        try:
            await pages.shot("failure")
        finally:
            print(f"screenshots of every page visited: {pages.folder}")
        raise
    finally:
        await context.close()
        target = os.environ.get("SCREENSHOT_DIR")
        if target:
            shutil.copytree(pages.folder, target, dirs_exist_ok=True)
