"""The operator's settings pages in a real browser: a partner created from the keyboard (its
hostile name shown as text), a key for it (the token shown once), an operator key, a source
with its provider's credentials, the authorization and event types pages, and the overview
updating live when an order changes through the API. Every page is saved as a PNG (light, and
dark for some), like ``test_dashboard.py``'s, for ``make screenshots``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.browser.conftest import Served
from tests.browser.test_dashboard import Pages
from tests.support.receivers import receiver

HOSTILE_NAME = "<script>alert(1)</script> Acme"


@pytest.mark.timeout(180)
async def test_the_operator_settings_in_chromium(
    served: Served, chromium: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    dialogs: list[str] = []
    requested: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.on("request", lambda request: requested.append(request.url))
    pages = Pages(page, tmp_path / "screenshots", served.url)
    try:
        async with receiver() as hook, served.api() as api:
            await page.goto(served.url + "/ui/login")
            await page.get_by_label("API key").fill(served.admin_key)
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/ui/overview")

            # the overview, live: an order changed through the API shows without a reload
            endpoint = await api.post("/v1/endpoints", json={"url": hook.url})
            assert endpoint.status_code == 201, endpoint.text
            await page.locator(".live-state", has_text="live").wait_for()
            attempts = page.locator('.tile [data-figure="attempts"]')
            before = await attempts.inner_text()
            created = await api.post("/v1/orders", json={"side": "buy"})
            assert created.status_code == 201, created.text
            order = created.json().get("order", created.json())
            changed = await api.post(
                f"/v1/orders/{order['id']}/changes", json={"status": "processing"}
            )
            assert changed.status_code == 200, changed.text
            await hook.wait_for(2)
            await expect(attempts).not_to_have_text(before, timeout=30_000)
            assert int(await attempts.inner_text()) >= int(before) + 2
            await pages.shot("admin-overview-live")

            # a partner, from the keyboard; its name is text, never markup
            await pages.open("/ui/partners", "admin-partners-empty")
            await page.get_by_label("Name").fill(HOSTILE_NAME)
            await page.get_by_label("Metadata (a JSON object, optional)").fill('{"tier": "gold"}')
            await page.get_by_label("Name").press("Enter")
            await page.wait_for_url("**/ui/partners/ptn_*")
            assert await page.get_by_role("heading", name=HOSTILE_NAME).count() == 1
            await page.get_by_label("New key's name").fill("their backend")
            await page.get_by_label("Scope").select_option("read")
            await page.get_by_role("button", name="Create key").click()
            token = page.get_by_label("Token of")
            await token.wait_for()
            assert (await token.input_value()).startswith("rw_")
            await pages.shot("admin-partner-key-once")
            await page.emulate_media(color_scheme="dark")
            await pages.shot("admin-partner-dark")
            await page.emulate_media(color_scheme="light")
            await page.get_by_role("button", name="Suspend").click()
            await page.get_by_role("status").wait_for()
            assert await page.locator("h1 .p-suspended").count() == 1
            await pages.open("/ui/partners", "admin-partners")

            # an operator key; then a bad one is refused with the API's reason
            await pages.open("/ui/keys", "admin-keys-empty")
            await page.get_by_label("Name").fill("deploy")
            await page.get_by_label("Scope").select_option("write")
            await page.get_by_role("button", name="Create key").click()
            await page.get_by_label("Token of").wait_for()
            await pages.shot("admin-keys")

            # a Koywe source with its secret; a short secret is refused first
            await pages.open("/ui/sources", "admin-sources-empty")
            await page.get_by_role("link", name="koywe").click()
            await page.get_by_label("Name").fill("Koywe production")
            await page.get_by_label("Secret").fill("short")
            await page.get_by_role("button", name="Create koywe source").click()
            await page.get_by_role("alert").wait_for()
            assert "credentials.secret" in await page.get_by_role("alert").inner_text()
            await pages.shot("admin-source-refused")
            await page.get_by_label("Secret").fill("a-long-enough-koywe-secret")
            await page.get_by_role("button", name="Create koywe source").click()
            await page.get_by_role("status").wait_for()
            assert await page.get_by_role("link", name="Koywe production").count() == 1
            await pages.shot("admin-sources")
            await page.emulate_media(color_scheme="dark")
            await pages.shot("admin-sources-dark")
            await page.emulate_media(color_scheme="light")
            await pages.open("/ui/sources?provider=saber", "admin-source-saber-form")
            await pages.open("/ui/sources?provider=fireblocks", "admin-source-fireblocks-form")

            await pages.open("/ui/authorization", "admin-authorization")
            await pages.open("/ui/event-types", "admin-event-types")
            await page.get_by_text("Example of order.completed").click()
            await pages.shot("admin-event-types-open")

            assert dialogs == []  # no alert(1) ran
            assert [url for url in requested if not url.startswith(served.url)] == []
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
