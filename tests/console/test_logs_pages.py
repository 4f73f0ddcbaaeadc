"""The console's Logs and Errors pages (issue 19 items 2-3), a failed check's lines on its
deployment page, and a rolled-back release's link to the errors that caused it."""

from __future__ import annotations

import html
import time
from typing import Any

import boto3
import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from portal.models import CheckResult, Deployment
from portal.services import logs as service
from tests.portal.logs_helpers import API_KEY_VALUE, FAILED_ID, FAILED_LAMBDA_ID, TRACE, json_line, seed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh() -> None:
    cache.clear()
    service._keys.clear()


@pytest.mark.heavy
def test_a_viewer_reads_the_logs_page_with_its_live_tail(
    moto_target: None, login: Any, make_env: Any
) -> None:
    """Issue 19 item 2: structured columns, a request id filter, a live tail that refreshes itself
    (a meta refresh: readable without JavaScript), and no key value on the page."""
    env = make_env("dev1")
    seed(env)
    url = reverse("admin:portal_environment_logs", args=[env.pk])
    page = login("viewer").get(url, {"request_id": FAILED_ID, "tail": "1"})
    assert page.status_code == 200
    text = page.content.decode()
    assert '<meta http-equiv="refresh" content="5">' in text
    assert "unhandled error" in text and "ResourceNotFoundException" in text
    assert f"START RequestId: {FAILED_LAMBDA_ID}" in text
    assert "3 FilterLogEvents calls" in text
    everything = login("viewer").get(url).content.decode()
    assert API_KEY_VALUE not in everything and "[redacted]" in everything
    assert 'http-equiv="refresh"' not in everything
    polled = login("viewer").get(url, {"format": "json", "request_id": FAILED_ID}).json()
    assert {r["lambda_request_id"] for r in polled["rows"]} == {FAILED_LAMBDA_ID}


def test_bad_input_on_the_logs_page_says_what_is_allowed(login: Any, make_env: Any) -> None:
    env = make_env("dev1")
    url = reverse("admin:portal_environment_logs", args=[env.pk])
    text = html.unescape(login("viewer").get(url, {"since": "99d", "request_id": "<b>x"}).content.decode())
    assert "at most 30d" in text and "8 to 64 letters" in text
    assert "<b>x" not in login("viewer").get(url, {"request_id": "<b>x"}).content.decode()  # escaped


def test_the_pages_need_a_login(make_env: Any, login: Any) -> None:
    env = make_env("dev1")
    for name in ("admin:portal_environment_logs", "admin:portal_environment_errors"):
        answer = login(None).get(reverse(name, args=[env.pk]))
        assert answer.status_code == 302 and "/login/" in answer["Location"]


def test_the_errors_page_groups_them(moto_target: None, login: Any, make_env: Any) -> None:
    """Issue 19 item 3: exception, top frame of our code, versions, a sample linking to its lines."""
    env = make_env("dev1")
    seed(env)
    page = login("viewer").get(reverse("admin:portal_environment_errors", args=[env.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "ResourceNotFoundException" in text and "lambda_bundle/store.py in list_page" in text
    assert f"request_id={FAILED_ID}" in text


def test_a_failed_check_links_to_its_lines_and_shows_them(
    moto_target: None, login: Any, make_env: Any
) -> None:
    """Issue 19 item 2: a check's row links to its request's log lines; a failed one shows them."""
    env = make_env("dev1")
    seed(env)
    now = timezone.now()
    dep = Deployment.objects.create(
        environment=env, kind="verify", status="failed", started_at=now, finished_at=now
    )
    CheckResult.objects.create(
        deployment=dep, position=1, name="create item", passed=False, http_status=500, request_id=FAILED_ID
    )
    CheckResult.objects.create(
        deployment=dep,
        position=2,
        name="read item",
        passed=True,
        http_status=200,
        request_id="0" * 8 + "-good",
    )
    text = login("viewer").get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    logs_url = reverse("admin:portal_environment_logs", args=[env.pk])
    assert f"{logs_url}?since=30d&amp;request_id={FAILED_ID}" in text
    assert text.count('class="ep-check-lines"') == 1  # only the failed check's lines, inline
    assert f"{logs_url}?since=30d&amp;request_id={'0' * 8}-good" in text  # a passing check links to its lines
    assert (
        f"REPORT RequestId: {FAILED_LAMBDA_ID}" in text
        and "unhandled error [ResourceNotFoundException]" in text
    )
    live = login("viewer").get(reverse("admin:portal_deployment_live", args=[dep.pk])).json()
    assert f"{logs_url}?since=30d&amp;request_id={FAILED_ID}" in live["html"]["ep-results"]  # the same row


def test_a_rolled_back_release_links_to_the_errors_that_caused_it(
    moto_target: None, login: Any, make_env: Any
) -> None:
    """Issue 19 item 3: the release page links to the errors of its window; the most frequent group
    there is marked as the release's."""
    env = make_env("dev1")
    seed(env)
    now = timezone.now()
    first = time.time() - 60
    dep = Deployment.objects.create(
        environment=env,
        kind="release",
        status="failed",
        outcome="rolled_back",
        started_at=now,
        finished_at=now,
        outputs={"from_version": "1", "to_version": "2", "rollback_reason": "errors of version 2"},
        release_state={
            "started_at": first,
            "phase": "rolled_back",
            "traffic": [{"at": first, "percent": 10}],
        },
    )
    client = login("viewer")
    text = client.get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    errors_url = reverse("admin:portal_environment_errors", args=[env.pk])
    start = int(first) - service.CHECK_WINDOW_MARGIN_S
    assert f'id="ep-rollback-errors" href="{errors_url}?start={start}&amp;end=' in text
    href = html.unescape(text.split('id="ep-rollback-errors" href="', 1)[1].split('"', 1)[0])
    errors = client.get(href).content.decode()
    assert "in the release&#x27;s window" in errors or "in the release's window" in errors
    assert "(the release&#x27;s most frequent)" in errors or "(the release's most frequent)" in errors


def test_the_release_page_links_to_the_group_that_caused_the_rollback(
    moto_target: None, login: Any, make_env: Any
) -> None:
    """Issue 19 done-when: a rolled-back canary's release page links to the group that caused it.
    Version 1 raised more often in the window (a ValueError, three times), but the release put
    version 2 out and rolled it back: its ResourceNotFoundException is the group the link lands on
    (the anchor #rollback-cause), not the most frequent one."""
    env = make_env("dev1")
    seeded = seed(env)
    old = "2026/12/07/[1]0ldc0de"
    logs = boto3.client("logs", region_name=env.region)
    logs.create_log_stream(logGroupName=seeded["group"], logStreamName=old)
    trace = TRACE.replace("store.py", "items.py").replace("ResourceNotFoundException", "ValueError")
    logs.put_log_events(
        logGroupName=seeded["group"],
        logStreamName=old,
        logEvents=[
            {
                "timestamp": seeded["at"] + 100 + i,
                "message": json_line("ERROR", "bad", f"old-request-{i}", f"old-{i}", exception=trace),
            }
            for i in range(3)
        ],
    )
    now = timezone.now()
    first = time.time() - 60
    dep = Deployment.objects.create(
        environment=env,
        kind="release",
        status="failed",
        outcome="rolled_back",
        started_at=now,
        finished_at=now,
        outputs={"from_version": "1", "to_version": "2", "rollback_reason": "alarm: errors"},
        release_state={
            "started_at": first,
            "phase": "rolled_back",
            "traffic": [{"at": first, "percent": 10}],
        },
    )
    client = login("viewer")
    text = client.get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    href = html.unescape(text.split('id="ep-rollback-errors" href="', 1)[1].split('"', 1)[0])
    assert href.endswith("#rollback-cause")
    errors = client.get(href.split("#", 1)[0]).content.decode()
    rows = errors.split('<tr id="group-')[1:]
    assert "ValueError" in rows[0] and "ResourceNotFoundException" in rows[1]  # by count
    assert 'id="rollback-cause"' in rows[1] and 'id="rollback-cause"' not in rows[0]
    assert errors.count('id="rollback-cause"') == 1
