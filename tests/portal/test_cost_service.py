"""Issue 21 item 2 in the portal: stored cost estimates, the schedule that computes them, the
`cost` and `prices` commands, and who may read or refresh a figure."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import boto3
import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from portal import tasks
from portal.costs import service
from portal.costs.models import CostEstimate
from portal.models import Environment
from portal.services.base import Actor, Forbidden
from provisioning import pricing

pytestmark = pytest.mark.django_db

PRICES = pricing.load("us-east-1")


def _user(role: str) -> User:
    user = User.objects.create_user(role, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def _ready(make_env: Any, suffix: str, days_old: int = 10, **fields: Any) -> Environment:
    env: Environment = make_env(suffix, status=Environment.Status.READY, **fields)
    Environment.objects.filter(pk=env.pk).update(created_at=timezone.now() - dt.timedelta(days=days_old))
    env.refresh_from_db()
    return env


def _traffic(env: Environment, requests: int, at: dt.datetime) -> None:
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    n = env.spec().names
    for namespace, metric, dims, value in (
        ("AWS/ApiGateway", "Count", {"ApiName": n.rest_api, "Stage": n.api_stage}, requests),
        ("AWS/Lambda", "Invocations", {"FunctionName": n.function}, requests),
        ("AWS/Lambda", "Duration", {"FunctionName": n.function}, requests * 100),
    ):
        cw.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    "Timestamp": at,
                    "Value": value,
                }
            ],
        )


def test_the_schedule_is_a_sweep_and_stores_every_provisioned_environments_figure(
    moto_target: None, make_env: Any
) -> None:
    """Issue 21 item 2: the hourly schedule (a beat row, on the sweeps queue) computes and stores a
    figure per provisioned environment, with three AWS reads each; an environment not provisioned
    gets none."""
    row = PeriodicTask.objects.get(task="portal.tasks.scheduled_cost_all")
    assert row.enabled and row.interval is not None and row.interval.every == 1
    from django.conf import settings

    assert settings.CELERY_TASK_ROUTES["portal.tasks.scheduled_*"]["queue"] == "sweeps"

    busy = _ready(make_env, "busy1", owner="team-a", cost_centre="cc-1")
    idle = _ready(make_env, "idle1", owner="team-b", cost_centre="cc-1")
    make_env("new1")  # not provisioned: no estimate
    _traffic(busy, 7000, timezone.now() - dt.timedelta(days=2))

    assert tasks.scheduled_cost_all() == 2

    busy_est = service.latest(busy)
    idle_est = service.latest(idle)
    assert busy_est is not None and idle_est is not None
    assert busy_est.calls == 3 and busy_est.error == ""
    # Fixed: $6.20 for each (key, 22 alarm metrics, dashboard). Usage over 7 days (168 h) of
    # 7,000 requests of 100 ms at 256 MB arm64, extrapolated to 730 h:
    f7 = Decimal(730) / 168
    usage = (
        7000 * f7 * Decimal("3.50") / 1_000_000  # API Gateway REST requests
        + 7000 * f7 * Decimal("0.20") / 1_000_000  # Lambda requests
        + Decimal(7000 * 100) / 1000 * Decimal("0.25") * f7 * Decimal("0.0000133334")  # GB-seconds
        # X-Ray: all 7,000 fell in one hour: the reservoir's 3,600 (1 a second) + 5% of the other 3,400
        + (3600 + Decimal("0.05") * 3400) * f7 * Decimal("5.00") / 1_000_000
    )
    assert busy_est.fixed_monthly == Decimal("6.2000")
    assert busy_est.usage_monthly == usage.quantize(Decimal("0.0001"))
    assert idle_est.usage_monthly == 0 and idle_est.monthly == Decimal("6.2000")
    # What an idle finding reads: requests per window as measured, and the fixed share.
    assert busy_est.requests(1) == 0 and busy_est.requests(7) == 7000 and idle_est.requests(30) == 0
    assert idle_est.fixed_share == 1.0 and busy_est.fixed_share is not None and busy_est.fixed_share < 1
    # The overview reads every environment's newest figure in one query.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        newest = service.latest_many([busy, idle])
    assert len(queries) == 1 and newest == {busy.pk: busy_est, idle.pk: idle_est}
    assert not CostEstimate.objects.filter(environment__suffix="new1").exists()
    with pytest.raises(service.NotBillable, match="no resources"):
        service.compute(Environment.objects.get(suffix="new1"))


def test_a_preview_stores_its_cost_so_far_and_at_expiry(moto_target: None, make_env: Any) -> None:
    env = _ready(make_env, "pr-7", days_old=1)
    Environment.objects.filter(pk=env.pk).update(expires_at=timezone.now() + dt.timedelta(days=2))
    env.refresh_from_db()
    record = service.compute(env)
    assert record.ok and record.so_far is not None and record.at_expiry is not None
    # No traffic: so far is a day of fixed cost; by expiry three days of it.
    assert abs(record.so_far - Decimal("6.20") * 24 / 730) < Decimal("0.01")
    assert abs(record.at_expiry - Decimal("6.20") * 72 / 730) < Decimal("0.01")


def test_a_failed_estimate_is_stored_and_does_not_hide_the_last_figure(
    moto_target: None, make_env: Any, settings: Any
) -> None:
    env = _ready(make_env, "fail1")
    good = service.compute(env)
    Environment.objects.filter(pk=env.pk).update(region="eu-west-3")  # no price table for it
    env.refresh_from_db()
    bad = service.compute(env)
    assert not bad.ok and "no price table for eu-west-3" in bad.error
    assert service.latest(env) == good
    assert service.last_attempt(env) == bad
    settings.ENVPORT_COST_KEEP = 2
    service.compute(env)
    assert CostEstimate.objects.filter(environment=env).count() == 2


def test_viewers_read_figures_operators_refresh_them(moto_target: None, make_env: Any) -> None:
    env = _ready(make_env, "perm1")
    viewer = Actor("ui", _user("viewer"))
    operator = Actor("ui", _user("operator"))
    stranger = Actor("ui", User.objects.create_user("nobody", is_staff=True))
    assert service.compute(env, operator).ok
    assert service.latest(env, viewer) is not None
    with pytest.raises(Forbidden, match="estimating the cost of"):
        service.compute(env, viewer)
    with pytest.raises(Forbidden, match="reading"):
        service.latest(env, stranger)
    with pytest.raises(Forbidden):
        service.rollup([env], "owner", stranger)


# --- the commands ----------------------------------------------------------------------------------


def test_cost_command_prints_lines_and_rolls_up_stored_figures(
    moto_target: None, make_env: Any, cli: Any
) -> None:
    """Issue 21 item 5 (the CLI part): `manage.py cost NAME`, `--all --by owner --json`."""
    a = _ready(make_env, "cost-a", owner="team-a", cost_centre="cc-1")
    b = _ready(make_env, "cost-b", owner="team-a", cost_centre="cc-2")
    c = _ready(make_env, "cost-c", owner="team-b", cost_centre="cc-2")
    _traffic(a, 5000, timezone.now() - dt.timedelta(hours=5))

    missing = cli("cost", "cost-a")
    assert missing.code == 1 and "no figure yet for cost-a" in missing.err

    refreshed = cli("cost", "cost-a", "--refresh")
    assert refreshed.code == 0, refreshed.err
    out = refreshed.out
    assert "cost-a (dev, owner team-a, cost centre cc-1): $" in out
    assert "fixed    KMS key alias/envport-cost-a: 1 key-months x $1.00/key-months = $1.0000" in out
    assert "usage    API envport-cost-a stage dev requests:" in out
    assert "free tiers (per account, not subtracted)" in out
    assert "not counted: KMS requests" in out

    for env in (b, c):
        service.compute(env)
    rolled = cli("cost", "--all", "--by", "owner", "--json")
    assert rolled.code == 0, rolled.err
    doc = rolled.json()
    by_key = {g["key"]: g for g in doc["groups"]}
    stored: dict[str, Decimal] = {}
    for env in (a, b, c):
        record = service.latest(env)
        assert record is not None and record.monthly is not None
        stored[env.suffix] = record.monthly
    assert by_key["team-a"]["environments"] == ["cost-a", "cost-b"]
    assert by_key["team-a"]["monthly"] == pytest.approx(float(stored["cost-a"] + stored["cost-b"]))
    assert by_key["team-b"]["monthly"] == pytest.approx(float(stored["cost-c"]))
    assert doc["monthly_total"] == pytest.approx(float(sum(stored.values())))
    assert doc["environments"][0]["estimate"]["fixed"][0]["source"].startswith("https://")

    text = cli("cost", "--all", "--by", "stage")
    assert "by stage:" in text.out and "total" in text.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cost",), "give an environment's name or --all"),
        (("cost", "x1", "--all"), "give an environment's name or --all"),
        (("cost", "nope1"), "nope1"),
        (("cost", "x" * 5000), "unknown environment"),
        (("cost", "../../etc/passwd\n"), "unknown environment"),
        (("cost", "--all", "--by", "planet"), "invalid choice"),
        (("prices", "show", "--region", "../../etc"), "not a region name"),
        (("prices", "show", "--region", "a" * 5000), "not a region name"),
    ],
)
def test_cost_and_prices_refuse_bad_input(cli: Any, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.code == 2
    assert message in result.err


def test_prices_refresh_keeps_the_bundled_table_where_the_api_does_not_answer(
    moto_target: None, cli: Any, settings: Any, tmp_path: Any
) -> None:
    """Issue 21 item 1: moto has no Price List API, as an account without the permission: the
    bundled table stays, the command says so and exits 1, and nothing is written."""
    settings.ENVPORT_PRICES_DIR = tmp_path
    result = cli("prices", "refresh")
    assert result.code == 1
    assert "the bundled table stays in use" in result.out
    assert "the Price List API did not answer" in result.err
    assert list(tmp_path.iterdir()) == []
    shown = cli("prices", "show", "--json")
    assert shown.code == 0 and len(shown.json()["prices"]) == len(PRICES.rows)


def test_one_environment_failing_does_not_stop_the_sweep(moto_target: None, make_env: Any) -> None:
    """The schedule goes on past an environment whose estimate fails, and stores why it failed."""
    broken = _ready(make_env, "broken1")
    Environment.objects.filter(pk=broken.pk).update(region="eu-west-3")  # no price table there
    fine = _ready(make_env, "fine1")
    assert tasks.scheduled_cost_all() == 2
    failed = service.last_attempt(broken)
    assert failed is not None and not failed.ok and "prices refresh --region eu-west-3" in failed.error
    assert service.latest(broken) is None
    assert service.latest(fine) is not None
