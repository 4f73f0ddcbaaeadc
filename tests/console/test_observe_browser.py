"""The traffic, logs and errors pages of an environment in a real browser (issue 19's done-when),
with screenshots for the README.

An environment is provisioned and verified in the local cloud; then a burst of good and failing
requests goes through its stage (201s, 404s, and 403s without the API key), and its table is
deleted under it so a second verify fails with 500s whose exception the function logs. A viewer
then opens the three pages: the traffic page's charts count the burst, the logs page shows the
function's structured lines, and the errors page groups the exception at the frame of our code
that raised it. Screenshots go to build/screenshots/ (`make screenshots` writes them to
docs/screenshots/ instead)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from portal.models import Deployment, Environment
from portal.services import environments as environment_service
from portal.services import runs as run_service
from portal.services import traffic as traffic_service
from portal.services.base import Actor
from tests.console import test_browser, test_first_hour_browser
from tests.console.test_browser import ARGS, CHROMIUM, SHOTS

cloud = test_browser.cloud
roles = test_browser.roles
readers_do_not_lock = test_first_hour_browser.readers_do_not_lock

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _status(url: str, key: str | None, body: dict[str, Any] | None = None) -> int:
    headers = {"content-type": "application/json", **({"x-api-key": key} if key else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _run(env: Environment, kind: str) -> None:
    run = run_service.request_deployment(Actor.cli(), env, kind)
    run_service.run_deployment(run.pk)  # as a worker runs it


def _traffic_of(env: Environment) -> dict[str, float]:
    cache.clear()
    view = traffic_service.traffic(Actor.cli(), env, "1h").view
    return {s.id: s.total for c in view.charts for s in c.series}


def _prepare(env: Environment, cloud: Any) -> None:
    """Provision and verify, a burst of good and failing requests, then a verify that fails."""
    _run(env, "provision")
    env.refresh_from_db()
    assert env.status == "ready", env.status
    outputs = env.outputs or {}
    key = cloud.client("apigateway").get_api_key(apiKey=outputs["api_key_id"], includeValue=True)["value"]
    items = str(outputs["api_endpoint"]).rstrip("/") + "/items"
    answers = [_status(items, key, {"name": f"burst {i}"}) for i in range(12)]
    answers += [_status(f"{items}/no-such-item-{i}", key) for i in range(4)]
    answers += [_status(items, None) for _ in range(2)]
    assert answers == [201] * 12 + [404] * 4 + [403] * 2
    cloud.client("dynamodb").delete_table(TableName=env.spec().names.table)
    _run(env, "verify")  # fails: the function answers 500 and logs ResourceNotFoundException
    deadline = time.monotonic() + 30
    while _traffic_of(env).get("api_5xx", 0) < 1 and time.monotonic() < deadline:
        time.sleep(1)  # the invocations' metrics land when their workers report
    cache.clear()


def test_traffic_logs_and_errors_pages_in_a_browser(
    readers_do_not_lock: None, live_server: Any, roles: None, cloud: Any, settings: Any, monkeypatch: Any
) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"this test drives Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.ENVPORT_TARGET = "local"
    settings.ENVPORT_AWS_ENDPOINT_URL = cloud.endpoint_url
    settings.ENVPORT_EXECUTE_API_URL = cloud.stage_url_template
    env = environment_service.create_environment(Actor.cli(), suffix="demo", stage="dev")
    _prepare(env, cloud)
    user = User.objects.create_user("vera", password="console-pw-4", is_staff=True)
    user.groups.add(Group.objects.get(name="viewer"))
    base = f"{live_server.url}/admin/portal/environment/{env.pk}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(30_000)
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "vera")
        page.fill("#id_password", "console-pw-4")
        page.click("input[type=submit]")

        page.goto(f"{base}/traffic/?since=1h")
        expect(page.locator("svg.ep-metric")).to_have_count(8)
        requests = page.locator('svg.ep-metric[data-chart="api_requests"]')
        expect(requests).to_have_attribute("aria-label", _label_with("Requests", "4XX errors"))
        page.screenshot(path=str(SHOTS / "traffic.png"), full_page=False)

        page.goto(f"{base}/logs/?since=15m")
        expect(page.locator("body")).to_contain_text("ResourceNotFoundException")
        page.screenshot(path=str(SHOTS / "logs.png"), full_page=False)

        page.goto(f"{base}/errors/?since=1h")
        groups = page.locator("#ep-errors tbody tr", has_text="ResourceNotFoundException")
        expect(groups.first).to_be_visible()  # a group per frame of our code that raised it
        for row in groups.all():
            expect(row).to_contain_text("lambda_bundle/store.py in ")
        page.screenshot(path=str(SHOTS / "errors.png"), full_page=False)

        _checks_lead_to_their_lines(page, live_server.url, env)
        browser.close()


def _checks_lead_to_their_lines(page: Any, base: str, env: Environment) -> None:
    """The failing verify's page shows a failed check's log lines inline, and its link opens that
    request's lines on the logs page (one click); the provision's passing checks link to theirs."""
    from playwright.sync_api import expect

    failed = Deployment.objects.get(environment=env, kind="verify")
    page.goto(f"{base}/admin/portal/deployment/{failed.pk}/change/")
    row = page.locator('#ep-checks tr[data-passed="false"]:has(a.ep-check-logs)').first
    expect(row).to_be_visible()
    expect(page.locator("#ep-checks tr.ep-check-lines").first).to_contain_text("ResourceNotFoundException")
    row.locator("a.ep-check-logs").click()
    expect(page.locator("body")).to_contain_text("unhandled error")
    assert "request_id=" in page.url
    passed = Deployment.objects.get(environment=env, kind="provision")
    page.goto(f"{base}/admin/portal/deployment/{passed.pk}/change/")
    good = page.locator('#ep-checks tr[data-passed="true"]:has(a.ep-check-logs)')
    expect(good.first).to_be_visible()
    expect(good.first.locator("a.ep-check-logs")).to_have_count(1)
    expect(page.locator("#ep-checks tr.ep-check-lines")).to_have_count(0)


def _label_with(*words: str) -> Any:
    import re

    return re.compile(".*".join(re.escape(w) for w in words))
