"""Issue 21 item 5 in the console: the overview's cost column and total, read from stored figures
in a constant number of queries, and the environment page's cost section with its lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import boto3
import pytest
from django.urls import reverse
from django.utils import timezone

from portal.costs import service
from portal.costs.models import CostEstimate
from portal.models import Environment
from tests.console.test_queries import _count, _environments

pytestmark = pytest.mark.django_db


def _estimated(make_env: Any, suffix: str, requests: int = 0) -> CostEstimate:
    """A real estimate of a ready environment, computed against moto (its metrics put there)."""
    env = make_env(suffix, status=Environment.Status.READY)
    Environment.objects.filter(pk=env.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    env.refresh_from_db()
    if requests:
        n = env.spec().names
        boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
            Namespace="AWS/ApiGateway",
            MetricData=[
                {
                    "MetricName": "Count",
                    "Dimensions": [
                        {"Name": "ApiName", "Value": n.rest_api},
                        {"Name": "Stage", "Value": n.api_stage},
                    ],
                    "Timestamp": timezone.now() - dt.timedelta(days=1),
                    "Value": requests,
                }
            ],
        )
    record = service.compute(env)
    assert record.ok, record.error
    return record


def _copies(envs: list[Environment], like: CostEstimate, monthly: Decimal) -> None:
    """Stored figures for `envs`, two each (the newest is the one shown), shaped like a real one."""
    now = timezone.now()
    CostEstimate.objects.bulk_create(
        CostEstimate(
            environment=env,
            computed_at=now - dt.timedelta(hours=age),
            monthly=monthly + age,
            fixed_monthly=like.fixed_monthly,
            storage_monthly=like.storage_monthly,
            usage_monthly=like.usage_monthly,
            figures=like.figures,
        )
        for env in envs
        for age in (0, 1)
    )


@pytest.mark.heavy
def test_the_overview_shows_a_cost_column_and_a_total_in_constant_queries(
    moto_target: None, make_env: Any, login: Any
) -> None:
    """Issue 21 item 5: "a cost column and total on the overview (from stored figures, no AWS call
    per row)": the newest figure of each shown row and the total of every environment's newest
    figure; the page's queries do not grow from 10 to 200 environments with figures. Item 3: the
    idle finding shows on the overview's row and on the environment page."""
    like = _estimated(make_env, "cost1")
    client = login("viewer")
    first = _environments(0, 10)
    _copies(first, like, Decimal("2.5"))
    small = _count(client, reverse("admin:index"))
    more = _environments(10, 190)
    _copies(more, like, Decimal("2.5"))
    big = _count(client, reverse("admin:index"))
    assert big == small

    page = client.get(reverse("admin:index")).content.decode()
    assert like.monthly is not None
    total = like.monthly + Decimal("2.5") * 200
    assert f"${total:.2f} a month" in page
    assert "(201 with a figure" in page
    assert "<th>cost a month</th>" in page
    assert '<td class="ep-cost">$2.50' in page  # the newest figure, not the older $3.50
    assert '<td class="ep-cost">$3.50' not in page
    searched = client.get(reverse("admin:index"), {"q": "cost1"}).content.decode()
    assert f"${like.monthly:.2f} a month for the environments matching" in searched
    # cost1 served nothing in its 10 days and its cost is nearly all fixed: the idle finding shows
    assert f"idle: saves ${like.monthly:.2f}" in searched
    env_page = client.get(reverse("admin:portal_environment_change", args=[like.environment_id]))
    assert "<strong>Idle:</strong> no request in 7 days" in env_page.content.decode()


@pytest.mark.heavy
def test_the_environment_page_shows_its_cost_lines_with_their_sources(
    moto_target: None, make_env: Any, login: Any
) -> None:
    """Issue 21 item 5: "a cost section on the environment page with its lines": each line as
    quantity x price = amount, linked to the AWS pricing page its price came from."""
    record = _estimated(make_env, "cost2", requests=7000)
    page = login("viewer").get(reverse("admin:portal_environment_change", args=[record.environment_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="ep-cost"' in html
    assert f"${record.monthly:.2f} a month" in html
    fixed = record.figures["fixed"][0]
    assert fixed["item"] in html and f'href="{fixed["source"]}"' in html
    usage = next(w for w in record.figures["windows"] if w["days"] == 7)["lines"]
    api_line = next(line for line in usage if line["price_id"].startswith("apigateway"))
    assert api_line["formula"] in html and api_line["quantity"] > 0


def test_an_environment_without_a_figure_says_so(make_env: Any, login: Any) -> None:
    """Issue 21 item 5: no figure is shown as none (not $0), naming how one is computed."""
    env = make_env("cost3", status=Environment.Status.READY)
    html = login("viewer").get(reverse("admin:portal_environment_change", args=[env.pk])).content.decode()
    assert "No figure yet" in html and "manage.py cost cost3 --refresh" in html


def test_the_cost_centre_page_rolls_up_stored_figures_beside_budgets(
    moto_target: None, make_env: Any, login: Any
) -> None:
    """Issue 21 item 5: "a cost-centre page": every environment's newest figure summed by cost
    centre (or owner, or stage) beside the cost centre's budget, from stored figures only; a
    person without a role is refused."""
    from django.contrib.auth.models import User

    from portal.costs.models import Budget

    like = _estimated(make_env, "cc1")
    Environment.objects.filter(pk=like.environment_id).update(cost_centre="cc-blue")
    more = [make_env(f"cc{i}", status=Environment.Status.READY) for i in (2, 3)]
    Environment.objects.filter(pk=more[0].pk).update(cost_centre="cc-blue")
    Environment.objects.filter(pk=more[1].pk).update(cost_centre="cc-red")
    _copies(more, like, Decimal("10"))
    Budget.objects.create(cost_centre="cc-blue", monthly=Decimal("100"))

    client = login("viewer")
    url = reverse("admin:costs_budget_rollup")
    html = client.get(url).content.decode()
    assert like.monthly is not None
    blue = like.monthly + Decimal("10")
    row = html[html.index("<td>cc-blue</td>") :].split("</tr>")[0]
    assert "cc1, cc2" in row and f"${blue:.2f}" in row
    assert f"$100.00 ({round(blue)} %)" in row
    red = html[html.index("<td>cc-red</td>") :].split("</tr>")[0]
    assert "$10.00" in red and "none" in red
    assert f"${blue + Decimal('10'):.2f}" in html  # the total
    by_stage = client.get(url, {"by": "stage"}).content.decode()
    head = by_stage[by_stage.index('id="ep-cost-rollup"') :].split("<tbody>")[0]
    assert "<td>dev</td>" in by_stage and "<th>budget</th>" not in head
    assert client.get(url, {"by": "<script>"}).status_code == 200  # an unknown grouping: the default
    assert 'href="/admin/costs/budget/rollup/"' in client.get(reverse("admin:index")).content.decode()

    nobody = User.objects.create_user("nobody", password="pw-nobody-123", is_staff=True)
    client.force_login(nobody)
    refused = client.get(url)
    assert refused.status_code == 403 and "needs any role" in refused.content.decode()
