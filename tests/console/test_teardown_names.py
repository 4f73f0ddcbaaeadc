"""The teardown page names every resource it would delete, in a real browser (issue 18).

Before the engine had an inventory the console kept its own map of resource keys to names, and
12 of the 25 rows of this page showed a blank name. The page now reads the names from the engine
(`provisioning.inventory`); this test reads them back from what Chromium renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from provisioning.inventory import inventory
from tests.console.test_browser import ARGS, CHROMIUM, roles  # noqa: F401  (a fixture, used below)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("roles")]


@pytest.mark.parametrize("overrides", [{}, {"auth": "token", "network": "vpc"}], ids=["default", "token-vpc"])
def test_teardown_page_names_every_resource(
    live_server: Any, make_env: Any, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any]
) -> None:
    """Issue 18: every row of the teardown page has the resource's AWS name, the engine's."""
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"this test drives Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    user = User.objects.create_user("olivia", password="console-pw-1", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    env = make_env("shop1", overrides=overrides)
    wanted = {item.key: item.name for item in inventory(env.spec()) if not item.shared}
    url = live_server.url + reverse("admin:portal_environment_teardown", args=[env.pk])

    with sync_playwright() as playwright:  # no ORM call in here (Playwright's greenlet)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "olivia")
        page.fill("#id_password", "console-pw-1")
        page.click("input[type=submit]")
        expect(page.locator("#ep-overview")).to_be_visible()
        page.goto(url)
        expect(page.locator("#content-main")).to_contain_text(f"deletes these {len(wanted)} resources")
        rows = page.locator("#content-main table tbody tr")
        shown = {
            rows.nth(i).locator("td").nth(0).inner_text().strip(): rows.nth(i)
            .locator("td")
            .nth(2)
            .inner_text()
            .strip()
            for i in range(rows.count())
        }
        browser.close()

    assert len(wanted) == 25
    assert [key for key, name in shown.items() if not name] == []
    assert shown == wanted
