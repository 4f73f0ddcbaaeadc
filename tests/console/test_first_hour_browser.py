"""A newcomer's first hour in a real browser (issue 23, "Done when"), at a laptop's and a desktop's
width: log in, the overview, the demo environment's page, a plan, a provision (exactly that plan),
a release of a small bundle, a rollback, and a drift check that finds the function's memory changed
out of band. Each step asserts what the console shows: the run's status and result in the words
the console uses ("succeeded", "promoted", "rolled back", "drift found"), the other modes'
resources as the one "not used by this environment" line, and no list wider than the window.

One environment, provisioned once at 1366 px; the pages are walked again at 1920 px by resizing
the same page. Screenshots go to build/screenshots/ (never docs/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db.backends.signals import connection_created

from portal.services import environments as environment_service
from portal.services.base import Actor
from provisioning.engine import UNUSED_RESOURCE
from tests.console import test_browser
from tests.console.test_browser import ARGS, CHROMIUM, SHOTS, _release_two

# the browser test's fixtures: the local cloud, the console's roles, runs in threads of this process
cloud = test_browser.cloud
roles = test_browser.roles
worker_threads = test_browser.worker_threads

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Every list and table of a page, and the page itself, within the window's width.
FITS = """() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll('table, .results, #content-main, #content')]
    .filter(el => el.getBoundingClientRect().right > width + 1 || el.scrollWidth > el.clientWidth + 1)
    .map(el => (el.id || el.className || el.tagName) + ' ' + Math.round(el.getBoundingClientRect().right));
  return {page: document.documentElement.scrollWidth, window: width, wide};
}"""


@pytest.fixture
def readers_do_not_lock() -> Any:
    """The test database is SQLite's shared-cache in-memory one: a page polling a run takes a
    table read lock that makes the worker thread's write of a step fail at once ("database table
    is locked"), which a file on disk (make up) never does. Readers of this test read uncommitted
    rows instead, so they take no table locks, as separate processes on a file would not."""

    def unlocked(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.vendor == "sqlite":
            connection.cursor().execute("PRAGMA read_uncommitted = true")

    connection_created.connect(unlocked)
    yield
    connection_created.disconnect(unlocked)


def _fits(page: Any, where: str) -> None:
    fits = page.evaluate(FITS)
    assert fits["page"] <= fits["window"] and not fits["wide"], (where, fits)


def test_a_newcomers_first_hour_at_1366_and_1920_px(
    readers_do_not_lock: None,
    live_server: Any,
    worker_threads: Any,
    roles: None,
    cloud: Any,
    monkeypatch: Any,
    tmp_path: Path,
) -> None:
    """Issue 23: the first hour, walked in a browser at 1366 and 1920 px, shows one vocabulary
    (status and result), one line for what the environment does not use, and lists that fit."""
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"this test drives Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = User.objects.create_user("newcomer", password="console-pw-3", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    env = environment_service.create_environment(Actor.cli(), suffix="demo", stage="dev")
    env_url = f"{live_server.url}/admin/portal/environment/{env.pk}/change/"
    release_zip = tmp_path / "release.zip"
    release_zip.write_bytes(_release_two())
    SHOTS.mkdir(parents=True, exist_ok=True)
    run_pages: list[str] = []

    def finished(page: Any, ends: str) -> None:
        """Wait on a run's page until it ends, and read how it ended."""
        expect(page.locator("#ep-live[data-finished=true]")).to_be_attached(timeout=180_000)
        banner = page.locator("#ep-banner").inner_text()
        assert f"This run has ended: {ends}." in banner, page.locator("#content").inner_text()[:3000]
        assert not re.search(r"\b1 steps\b", banner), banner  # plurals right
        run_pages.append(page.url)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(30_000)

        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "newcomer")
        page.fill("#id_password", "console-pw-3")
        page.click("input[type=submit]")
        expect(page.locator("#ep-overview")).to_be_visible()
        _fits(page, "overview")

        page.goto(env_url)
        expect(page.locator("#ep-glance")).to_be_visible()
        _fits(page, "environment")

        # a plan, then exactly that plan applied: one line for the modes the demo does not use
        page.click("button:has-text('Plan')")
        expect(page.locator("#ep-plan")).to_contain_text("would create")
        _fits(page, "plan")
        page.screenshot(path=str(SHOTS / "first-hour-plan.png"), full_page=True)
        page.locator("#ep-plan button", has_text="Apply exactly this plan").click()
        finished(page, "succeeded")
        expect(page.locator("#ep-steps tbody tr", has_text=UNUSED_RESOURCE)).to_have_count(1)
        expect(page.locator("#ep-steps")).to_contain_text("absent as expected")
        _fits(page, "provision")

        # a release of a small bundle
        page.goto(env_url)
        page.click("text=Release…")
        page.set_input_files("#ep-zip", str(release_zip))
        page.fill("#ep-handler", "lambda_bundle.handler.lambda_handler")
        page.fill("#ep-bake", "1s")
        page.click("input[type=submit][value^='Release to']")
        finished(page, "succeeded, promoted")
        _fits(page, "release")

        # a rollback: the alias back at the version before
        page.goto(env_url)
        page.click("button:has-text('Roll back')")
        finished(page, "succeeded, rolled back")
        _fits(page, "rollback")

        # someone changes the function's memory out of band; the drift check finds it
        lam = cloud.client("lambda")
        # by its own name: the session's local cloud also holds other tests' "demo" environments
        function = env.spec().names.function
        memory = lam.get_function_configuration(FunctionName=function)["MemorySize"]
        lam.update_function_configuration(FunctionName=function, MemorySize=memory + 128)
        page.goto(env_url)
        page.click("button:has-text('Drift check')")
        finished(page, "succeeded, drift found")
        expect(page.locator("body")).to_contain_text("MemorySize")
        _fits(page, "drift")
        page.screenshot(path=str(SHOTS / "first-hour-drift-1366.png"), full_page=True)

        # the same pages at a desktop's width, the same environment
        page.set_viewport_size({"width": 1920, "height": 1000})
        for url in [
            f"{live_server.url}/admin/",
            env_url,
            f"{live_server.url}/admin/portal/deployment/",
            *run_pages,
        ]:
            page.goto(url)
            page.wait_for_load_state()
            _fits(page, f"{url} at 1920")
        page.screenshot(path=str(SHOTS / "first-hour-drift-1920.png"), full_page=True)
        browser.close()
