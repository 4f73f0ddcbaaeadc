"""The console with a fleet (issue 12, section 6): the overview shows the AWS quotas in use and the
calls waiting on them, puts what needs attention first and pages the rest, and every console page
costs the same number of queries with 10 and with 1000 environments (timings: bench/console.py)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal import fleet_limits
from portal.console.overview import PAGE_SIZE
from portal.models import Deployment, DriftFinding, Environment, Step
from provisioning.ratelimit import OPERATOR, SWEEP, LocalBuckets, QuotaTable, RateLimiter
from tests.console.test_queries import _environments

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"


class Clock:
    """The buckets' clock, moved by the test: waits and refills are exact, not timed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def blocked(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`blocked(who)`: the process's limiter with CreateRestApi's token taken and one operator
    call (named `who`) and one sweep call blocked waiting for the next, 3.2 s into their wait
    (their sleep holds until the test ends)."""
    clock, release = Clock(), threading.Event()
    limiter = RateLimiter(
        QuotaTable(), LocalBuckets(clock), margin=0, jitter_s=0, sleep=lambda s: release.wait(10)
    )
    monkeypatch.setattr(fleet_limits, "limiter", lambda: limiter)
    callers: list[threading.Thread] = []

    def block(who: str = "") -> RateLimiter:
        limiter.acquire(ACCOUNT, "us-east-1", "apigateway", "CreateRestApi", OPERATOR)
        for priority, name in ((OPERATOR, who), (SWEEP, "")):
            args = (ACCOUNT, "us-east-1", "apigateway", "CreateRestApi", priority, name)
            callers.append(threading.Thread(target=limiter.acquire, args=args))
            callers[-1].start()
        deadline = time.monotonic() + 10
        while sum(s.waiting_total for s in limiter.snapshot()) < 2:
            assert time.monotonic() < deadline, "the two calls never started waiting"
            time.sleep(0.01)
        clock.now += 3.2
        return limiter

    yield block
    clock.now += 3600  # every bucket full again: the sweep's next ask is granted
    release.set()
    for caller in callers:
        caller.join(10)


# R-FLEET-1
def test_overview_shows_quota_use_and_waiting_calls(login, blocked):
    limiter = blocked()
    states = {s.quota.name: s for s in limiter.snapshot()}
    rest_api = states["apigateway.CreateRestApi"]
    assert rest_api.waiting == {OPERATOR: 1, SWEEP: 1} and rest_api.oldest_wait_s == pytest.approx(3.2)
    assert rest_api.tokens == pytest.approx(-1 + 3.2 / 3)  # the operator's debt, refilled 3.2 s
    before = limiter.snapshot()
    assert limiter.snapshot() == before  # reading takes no token

    page = login("viewer").get(reverse("admin:index")).content.decode()
    panel = page[page.index('id="ep-quotas"') :]
    assert (
        f"Account {ACCOUNT}, us-east-1: waiting now 1 operator and 1 sweep call, the oldest for 3.2 s"
        in panel
    )
    row = panel[panel.index("API Gateway&#x27;s quota (CreateRestApi)") :]
    row = row[: row.index("</tr>")]
    assert "0.1 / 1" in row and "1 per 3 s" in row and "<td>1</td><td>1</td><td>3.2 s</td>" in row
    assert "API Gateway&#x27;s quota (all calls)" in panel and "10 per s" in panel


# R-FLEET-1
def test_a_running_step_says_it_waits_for_a_quota(login, blocked):
    env = Environment.objects.create(suffix="waits1", stage="dev", status="provisioning")
    dep = Deployment.objects.create(
        environment=env, kind="provision", status="running", started_at=timezone.now()
    )
    blocked(fleet_limits.waiter_of(dep) + "/rest_api")
    client = login("viewer")
    live = client.get(reverse("admin:portal_deployment_live", args=[dep.pk])).json()
    assert live["waiting"] == [
        {"resource": "rest_api", "quota": "API Gateway's quota (CreateRestApi)", "seconds": 3.2}
    ]
    assert "rest_api: waiting for API Gateway's quota (CreateRestApi) since 3.2 s." in live["message"]
    page = client.get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    assert "rest_api: waiting for API Gateway&#x27;s quota (CreateRestApi) since 3.2 s." in page
    elsewhere = Environment.objects.create(suffix="waits2", stage="dev", status="ready")
    other = Deployment.objects.create(environment=elsewhere, kind="drift", status="running")
    assert client.get(reverse("admin:portal_deployment_live", args=[other.pk])).json()["waiting"] == []


def test_overview_without_quotas_says_so(login, monkeypatch):
    monkeypatch.setattr(fleet_limits, "limiter", lambda: None)
    page = login("viewer").get(reverse("admin:index")).content.decode()
    assert "or quotas are off" in page and 'class="ep-quotas"' not in page


def _envs(prefix: str, n: int, **fields: Any) -> list[Environment]:
    return Environment.objects.bulk_create(
        Environment(suffix=f"{prefix}{i:03d}", stage="dev", status="ready", health="healthy", **fields)
        for i in range(n)
    )


# R-FLEET-1
def test_overview_puts_attention_first_and_pages_the_rest(login):
    now = timezone.now()
    _envs("calm", PAGE_SIZE + 5, owner="team-a", drift_state="clean")
    Environment.objects.create(suffix="broken", stage="dev", status="failed")
    Environment.objects.create(suffix="moved", stage="dev", status="ready", drift_state="drifted")
    Environment.objects.create(suffix="ill", stage="dev", status="ready", health="down")
    Environment.objects.create(
        suffix="soon", stage="dev", status="ready", expires_at=now + dt.timedelta(hours=5)
    )
    busy = Environment.objects.create(suffix="busy", stage="dev", status="ready", health="healthy")
    busy.last_deployment = Deployment.objects.create(environment=busy, kind="drift", status="running")
    busy.save(update_fields=["last_deployment"])
    client = login("viewer")
    url = reverse("admin:index")

    def tables(query: str = "") -> tuple[str, str, str]:
        page = client.get(url + query).content.decode()
        attention = page[page.index('id="ep-attention"') :] if 'id="ep-attention"' in page else ""
        trends = page[page.index('id="ep-trends"') :] if 'id="ep-trends"' in page else ""
        return attention[: attention.find("</table>")], trends[: trends.find("</table>")], page

    attention, trends, page = tables()
    for suffix, why in [
        ("broken", "failed"),
        ("moved", "drifted"),
        ("ill", "down"),
        ("soon", "expires in 5 h"),
        ("busy", "drift running"),
    ]:
        assert f">{suffix}</a>" in attention and why in attention, suffix
        assert f">{suffix}</a>" not in trends
    assert trends.count("<tr>") == PAGE_SIZE + 1  # the header and a page of calm environments
    assert ">calm000</a>" in trends and f">calm{PAGE_SIZE:03d}</a>" not in trends
    assert f"page 1 of 2 ({PAGE_SIZE + 5} environments)" in page and "?page=2#ep-all" in page

    _, second, page = tables("?page=2")
    assert second.count("<tr>") == 6 and f">calm{PAGE_SIZE + 4:03d}</a>" in second
    assert tables("?page=99")[1] == second  # past the end: the last page
    assert tables("?page=x")[1] == trends  # not a number: the first

    attention, trends, page = tables("?q=calm00")
    assert "Nothing needs attention." in page and trends.count("<tr>") == 11  # calm000..calm009
    assert 'value="calm00"' in page and "page 1 of" not in page
    attention, trends, page = tables("?q=calm")
    assert "?q=calm&amp;page=2#ep-all" in page  # the search is kept from page to page
    assert ">broken</a>" in tables("?q=bro")[0]


def _count(client: Any, url: str) -> tuple[int, int]:
    client.get(url)  # warm-up: per-process caches
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), len(response.content)


def _runs_with_steps(envs: list[Environment]) -> None:
    deps = Deployment.objects.filter(environment__in=envs)
    Step.objects.bulk_create(
        Step(
            deployment=d,
            position=p,
            resource=f"r{p}",
            kind="k",
            action="create",
            status="succeeded",
            started_offset_s=p * 0.5,
            seconds=0.5,
        )
        for d in deps
        for p in range(4)
    )
    DriftFinding.objects.bulk_create(
        DriftFinding(
            deployment=d, environment_id=d.environment_id, resource="fn", field="memory", wanted=1, found=2
        )
        for d in deps
    )


PAGES = {
    "overview": lambda first: reverse("admin:index"),
    "overview page 3": lambda first: reverse("admin:index") + "?page=3",
    "overview searched": lambda first: reverse("admin:index") + "?q=q00",
    "environment list": lambda first: reverse("admin:portal_environment_changelist"),
    "environment list page 2": lambda first: reverse("admin:portal_environment_changelist") + "?p=2",
    "environment page": lambda first: reverse("admin:portal_environment_change", args=[first.pk]),
    "release page": lambda first: reverse("admin:portal_environment_release", args=[first.pk]),
    "deployment list": lambda first: reverse("admin:portal_deployment_changelist"),
    "audit trail": lambda first: reverse("admin:portal_auditevent_changelist"),
    "audit trail by environment": lambda first: (
        reverse("admin:portal_auditevent_changelist") + f"?environment_suffix={first.suffix}"
    ),
    "step list": lambda first: reverse("admin:portal_step_changelist"),
    "check list": lambda first: reverse("admin:portal_checkresult_changelist"),
    "finding list": lambda first: reverse("admin:portal_driftfinding_changelist"),
}


# R-FLEET-1
@pytest.mark.heavy
def test_every_console_page_is_constant_from_10_to_1000_environments(login):
    """One fleet for every page (1000 environments are made once): queries equal, and the pages
    that list environments stay light (the overview no longer grows with the fleet)."""
    client = login("admin")
    first = _environments(0, 10)
    _runs_with_steps(first)
    small = {name: _count(client, url(first[0])) for name, url in PAGES.items()}
    _runs_with_steps(_environments(10, 990))
    assert Environment.objects.count() == 1000
    big = {name: _count(client, url(first[0])) for name, url in PAGES.items()}
    for name in PAGES:
        print(f"\n{name}: {small[name][0]} queries / {small[name][1]} bytes with 10, {big[name]} with 1000")
    assert {n: q for n, (q, _) in big.items()} == {n: q for n, (q, _) in small.items()}
    assert big["overview"][1] < 200_000  # attention (at most 50) and a page: not 1000 trend rows
    assert big["audit trail"][1] < 2 * small["audit trail"][1]  # 15 recent environments, not 1000
    assert big["release page"][1] < 2 * small["release page"][1]  # 30 suggested sources, not 1000
