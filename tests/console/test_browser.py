"""The console in a real browser: Debian's Chromium, headless, driven by Playwright's sync API.

An operator logs in, creates an environment, plans it, applies exactly that plan, and watches the
deployment page (polling, no reload) until it says "succeeded" with every CRUD check green. The
run is real: the portal's runner and the engine against the in-process local cloud, started in a
thread of this process (where a Celery worker would run it), with the live server serving the
pages. Screenshots go to build/screenshots/ (ignored by git), so the suite leaves the tree as it
found it; `make screenshots` runs this test with ENVPORT_SCREENSHOTS=docs/screenshots to refresh the
README's images on purpose.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader

from portal.console import views
from portal.models import Deployment, Environment
from portal.progress import expected_steps
from portal.services import audit as audit_service
from portal.services import environments as environment_service
from portal.services import runs as run_service
from portal.services.base import Actor

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(django_settings.BASE_DIR) / os.environ.get("ENVPORT_SCREENSHOTS", "build/screenshots")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# What a first plan of a default (api_key, public) environment creates.
RESOURCES = 16

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def roles() -> None:
    """A transactional test starts from a flushed database, so the groups that migration 0003
    made are gone (and restoring them by serialized rollback clashes with content types that
    earlier transactional tests re-created). Replay that migration's own function instead."""
    migration = importlib.import_module("portal.migrations.0003_console_roles")
    state = MigrationLoader(connection).project_state(("portal", "0003_console_roles"))
    migration.make_roles(state.apps, None)
    releases = importlib.import_module("portal.migrations.0004_releases")  # and who may release
    state = MigrationLoader(connection).project_state(("portal", "0004_releases"))
    releases.grant_release(state.apps, None)


@pytest.fixture(scope="module")
def cloud() -> Iterator[Any]:
    from localcloud import LocalCloud

    with LocalCloud(port=0) as running:
        # moto's state is one per process: an earlier test of this xdist worker may have left the
        # account-level resources (the artifact bucket, API Gateway's logging role) that the first
        # plan below counts among those it creates
        running.reset()
        yield running


@pytest.fixture
def worker_threads(
    monkeypatch: pytest.MonkeyPatch, settings: Any, cloud: Any
) -> Iterator[list[threading.Thread]]:
    """Runs go to a thread of this process, once the request commits: what a Celery worker does."""
    settings.ENVPORT_TARGET = "local"
    settings.ENVPORT_AWS_ENDPOINT_URL = cloud.endpoint_url
    settings.ENVPORT_EXECUTE_API_URL = cloud.stage_url_template
    threads: list[threading.Thread] = []

    def run(pk: int) -> None:
        try:
            run_service.run_deployment(pk)
        finally:
            connection.close()

    def dispatch(dep: Deployment) -> None:
        def start() -> None:
            thread = threading.Thread(target=run, args=(dep.pk,), name=f"run-{dep.pk}", daemon=True)
            threads.append(thread)
            thread.start()

        transaction.on_commit(start)

    monkeypatch.setattr(views, "dispatch", dispatch)
    yield threads
    for thread in threads:
        thread.join(timeout=120)


def _release_two() -> bytes:
    """The default artifact (lambda_bundle/ with its vendored packages) and one line more in its
    handler: a second artifact that passes the journey."""
    from provisioning.artifacts import default_artifact
    from provisioning.bundle import deterministic_zip

    with zipfile.ZipFile(io.BytesIO(default_artifact().data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["lambda_bundle/handler.py"] += b"\n# release two\n"
    return deterministic_zip(files)


def test_operator_plans_provisions_and_watches_it_succeed(
    live_server, worker_threads, roles, monkeypatch, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"this test drives Debian's Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        )
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    user = User.objects.create_user("olivia", password="console-pw-1", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    release_zip = tmp_path / "release.zip"
    release_zip.write_bytes(_release_two())

    # No ORM call inside this block: Playwright runs it in another greenlet, where Django's
    # context-local connections are other ones (opened, and never closed, by a query here).
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(30_000)

        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "olivia")
        page.fill("#id_password", "console-pw-1")
        page.click("input[type=submit]")
        expect(page.locator("#ep-overview")).to_be_visible()

        # create an environment
        page.goto(f"{live_server.url}/admin/portal/environment/add/")
        page.fill("#id_suffix", "demo-shop")
        page.select_option("#id_stage", "dev")
        page.fill("#id_owner", "team-shop")
        page.fill("#id_cost_centre", "cc-42")
        page.fill("#id_overrides", '{"memory_mb": 512}')
        page.click("input[name=_continue]")
        expect(page.locator("#ep-glance")).to_be_visible()

        # plan: read-only, every resource to create
        page.click("button:has-text('Plan')")
        expect(page.locator("#ep-plan")).to_be_visible()
        expect(page.locator("#ep-plan")).to_contain_text(f"would create {RESOURCES}")
        page.screenshot(path=str(SHOTS / "plan.png"), full_page=True)

        # apply exactly this plan, and watch the run on the deployment page
        page.locator("#ep-plan button", has_text="Apply exactly this plan").click()
        expect(page.locator("#ep-live")).to_be_visible()
        page.evaluate("window.__notReloaded = true")
        assert page.get_attribute("#ep-live", "data-finished") == "false"  # it was still going
        expect(page.locator("#ep-live[data-finished=true]")).to_be_attached(timeout=180_000)
        assert page.evaluate("window.__notReloaded") is True  # updated in place, no reload
        expect(page.locator("#ep-banner")).to_contain_text("This run has ended: succeeded.")
        checks = page.locator("#ep-checks tbody tr")
        assert checks.count() >= 20
        assert page.locator('#ep-checks tr[data-passed="false"]').count() == 0
        assert page.locator('#ep-checks tr[data-passed="true"]').count() == checks.count()
        # A step per resource of the graph: the 16 it created and the other modes' (auth, network),
        # observed absent.
        # a step per resource the spec wants, one for the other modes' resources (found absent)
        steps = expected_steps("provision", Deployment.objects.latest("id").spec_snapshot)
        expect(page.locator("#ep-steps tbody tr")).to_have_count(steps)
        expect(page.locator("#ep-timeline svg rect")).to_have_count(steps)
        page.screenshot(path=str(SHOTS / "deployment.png"), full_page=True)

        # verify again from the environment page: a second point on the overview's sparkline
        page.click("text=Environment demo-shop")
        page.click("button:has-text('Verify')")
        expect(page.locator("#ep-live[data-finished=true]")).to_be_attached(timeout=120_000)
        expect(page.locator("#ep-banner")).to_contain_text("This run has ended: succeeded.")
        page.click("text=Environment demo-shop")
        expect(page.locator("#ep-glance")).to_contain_text("checks passed")
        expect(page.locator(".ep-outputs")).to_contain_text("api_endpoint")
        page.screenshot(path=str(SHOTS / "environment.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/portal/environment/")
        expect(page.locator("#result_list")).to_contain_text("demo-shop")
        expect(page.locator("#result_list")).to_contain_text("succeeded")
        page.screenshot(path=str(SHOTS / "environments.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/")
        expect(page.locator("#ep-trends .ep-spark")).to_have_count(2)
        page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

        # R-REL-3: release new code by canary from the environment page and watch the traffic move
        page.goto(f"{live_server.url}/admin/portal/environment/")
        page.click("text=demo-shop")
        page.click("text=Release…")
        page.set_input_files("#ep-zip", str(release_zip))
        page.fill("#ep-handler", "lambda_bundle.handler.lambda_handler")
        page.select_option("#ep-strategy", "canary")
        page.fill("#ep-percent", "50")
        page.fill("#ep-bake", "3s")
        page.click("input[type=submit][value^='Release to']")
        expect(page.locator("#ep-release-detail")).to_be_visible()
        expect(page.locator("#ep-live[data-finished=true]")).to_be_attached(timeout=120_000)
        expect(page.locator("#ep-release-detail")).to_contain_text("promoted")
        moved = re.compile(r"50% at .*100% at")  # the canary's share, then all of it
        expect(page.locator("#ep-traffic svg")).to_have_attribute("aria-label", moved)
        page.screenshot(path=str(SHOTS / "release.png"), full_page=True)
        browser.close()

    env = Environment.objects.get(suffix="demo-shop")
    assert env.created_by == user
    provision = Deployment.objects.get(kind="provision")
    assert provision.status == "succeeded", provision.error
    assert provision.options["plan_fingerprint"]
    env.refresh_from_db()
    assert env.status == "ready" and env.outputs["api_endpoint"].startswith("http")


def test_lists_fit_the_window_at_1366_and_1920_px(live_server, roles, monkeypatch):
    """Issue 23: at 1440 px the audit, deliveries and deployments lists were clipped on the right.
    Each list, filled with long values, fits the window at a laptop's and a desktop's width."""
    from playwright.sync_api import sync_playwright

    from portal.notifications.models import Delivery, NotificationChannel

    if not Path(CHROMIUM).exists():
        pytest.fail(f"this test drives Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    User.objects.create_superuser("ada", password="console-pw-2")
    env = environment_service.create_environment(Actor.cli(), suffix="pr4966-checkout-flow", stage="dev")
    long_error = "AccessDeniedException: " + "user arn:aws:iam::123456789012:role/some-long-role-name " * 6
    for _ in range(3):
        dep = Deployment.objects.create(environment=env, kind="provision", status="failed", error=long_error)
    audit_service.audit(
        Actor.cli(),
        "deployment.requested.provision",
        env,
        dep,
        detail={"options": {"verify": False, "plan": 12, "note": "x" * 200}, "reason": long_error},
    )
    channel = NotificationChannel.objects.create(
        name="ops", kind="webhook", target="https://hooks.example.com/" + "p" * 80, secret="s" * 20
    )
    for _ in range(3):
        Delivery.objects.create(
            channel=channel, event="run.failed", environment_suffix=env.suffix, error=long_error
        )
    SHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for width in (1366, 1920):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{live_server.url}/admin/login/")
            page.fill("#id_username", "ada")
            page.fill("#id_password", "console-pw-2")
            page.click("input[type=submit]")
            for name in ("auditevent", "delivery", "deployment"):
                page.goto(f"{live_server.url}/admin/portal/{name}/")
                page.wait_for_selector("#result_list")
                fits = page.evaluate(
                    "() => { const box = document.querySelector('#changelist .results');"
                    " return {page: document.documentElement.scrollWidth, window: window.innerWidth,"
                    " list: box.scrollWidth, room: box.clientWidth}; }"
                )
                page.screenshot(path=str(SHOTS / f"list-{name}-{width}.png"))
                assert fits["page"] <= fits["window"] and fits["list"] <= fits["room"], (name, width, fits)
            page.close()
        browser.close()
