"""The console's traffic page and the environment page's panel (issue 19 item 1).

moto in decorator mode for the view's two AWS calls; the page is read as HTML without any script:
SVG charts, a table of numbers per chart, alarm bands, run markers linking to their runs, the
AWS call count, and the range links.
"""

from __future__ import annotations

import datetime as dt
import re

import boto3
import pytest
from django.urls import reverse

from portal.models import Deployment, Environment

pytestmark = pytest.mark.django_db


def traffic_url(env: Environment, since: str | None = None) -> str:
    url = reverse("admin:portal_environment_traffic", args=[env.pk])
    return url + (f"?since={since}" if since else "")


def put_traffic(env: Environment) -> None:
    names = env.spec().names
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    api = [{"Name": "ApiName", "Value": names.rest_api}, {"Name": "Stage", "Value": names.api_stage}]
    cloudwatch = boto3.client("cloudwatch", region_name=env.region)
    cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {"MetricName": "Count", "Dimensions": api, "Timestamp": when, "Values": [1] * 7},
            {"MetricName": "5XXError", "Dimensions": api, "Timestamp": when, "Values": [1, 1, 0, 0, 0, 0, 0]},
        ],
    )
    alarm = f"{names.alarm_prefix}api-5xx"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/ApiGateway", MetricName="5XXError", Statistic="Sum", Period=300,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="two 5XX")


def test_a_viewer_reads_the_traffic_page_without_javascript(moto_target, make_env, login):
    """issue 19 item 1: charts as SVG with a table of numbers each, the alarm as a band, a release
    as a marker linking to its run page, and the AWS calls of the view on the page."""
    env = make_env("dev1", "dev", status="ready")
    put_traffic(env)
    release = Deployment.objects.create(
        environment=env, kind="release", status="succeeded", outcome="promoted"
    )
    page = login("viewer").get(traffic_url(env, "1h"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script" not in html.split('id="content-main"')[1]  # the content itself needs no script
    assert html.count('class="ep-metric"') == 8  # eight charts
    assert "AWS calls for this view: <strong>2</strong>" in html
    assert "cloudwatch.GetMetricData: 1" in html and "cloudwatch.DescribeAlarmHistory: 1" in html
    assert 'data-state="ALARM"' in html  # the 5XX alarm's band
    run_page = reverse("admin:portal_deployment_change", args=[release.pk])
    assert f'<a class="ep-marker" href="{run_page}" data-kind="release">' in html
    assert f'href="{run_page}">#{release.pk} Release (promoted)</a>' in html
    # the numbers as a table: the minute with 7 requests and 2 5XX
    table = re.search(
        r'<table class="ep-metric-table"><caption>API Gateway: requests and errors.*?</table>', html
    )
    assert table is not None and "<td>7</td><td>-</td><td>2</td>" in table.group(0)
    assert '<strong aria-current="page">1h</strong>' in html
    for since in ("6h", "24h", "7d", "30d"):
        assert f'<a href="{traffic_url(env, since)}">{since}</a>' in html
    again = login("viewer").get(traffic_url(env, "1h")).content.decode()
    assert "served from the portal&#x27;s cache" in again or "served from the portal's cache" in again


def test_a_range_not_allowed_is_a_400_page_listing_them(make_env, login):
    """Bounded input (no moto here: an AWS call would fail the test)."""
    env = make_env("dev1", "dev", status="ready")
    page = login("viewer").get(traffic_url(env, "<script>x</script>" * 50))
    assert page.status_code == 400
    html = page.content.decode()
    assert "one of 1h, 6h, 24h, 7d, 30d" in html
    assert "<script>x</script>" not in html


@pytest.mark.heavy
def test_the_environment_page_has_a_panel_that_calls_nothing(make_env, login, moto_target):
    """issue 19 item 1: the environment page links to the traffic page and shows the last hour
    from the cache only (no AWS call when the page is shown)."""
    env = make_env("dev1", "dev", status="ready")
    change = reverse("admin:portal_environment_change", args=[env.pk])
    before = login("viewer").get(change).content.decode()
    assert 'id="ep-traffic-panel"' in before and traffic_url(env, "1h") in before
    assert "Requests:" not in before
    put_traffic(env)
    login("viewer").get(traffic_url(env))  # fills the cache
    after = login("viewer").get(change).content.decode()
    assert "Requests: 7 (at most 7 a minute)" in after


def test_without_a_login_the_page_is_not_shown(make_env, login):
    env = make_env("dev1", "dev", status="ready")
    page = login(None).get(traffic_url(env))
    assert page.status_code == 302 and "/login/" in page["Location"]


def test_a_chart_breaks_its_line_at_gaps_and_escapes_what_it_shows():
    """A period without a datapoint breaks the line (CloudWatch answers nothing for it); labels and
    links are escaped; a band outside the range is not drawn."""
    from portal.svg import metric_chart, metric_table
    from provisioning.traffic import Band, Chart, Series

    series = Series("s", "<b>req</b>", "Count", "Sum", (0.0, 60.0, 120.0, 600.0), (1.0, 2.0, 3.0, 4.0))
    chart = Chart("c", "Requests & errors", "Count", (series,))
    bands = (Band("a", "ALARM", 60.0, 180.0), Band("b", "ALARM", 5000.0, 6000.0), Band("c", "OK", 0.0, 60.0))
    markers = [(90.0, "release", '#1 "x" <y>', '/run/1/?a=1&b="2"')]
    svg = str(metric_chart(chart, 0.0, 900.0, 60.0, bands, markers))
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1  # 0-120 s joined; 600 s alone
    assert svg.count('class="ep-band"') == 1
    assert "<b>" not in svg and "&lt;b&gt;req&lt;/b&gt;" in svg
    assert 'href="/run/1/?a=1&amp;b=&quot;2&quot;"' in svg
    table = str(metric_table(chart))
    assert table.count("<tr>") == 5 and "Requests &amp; errors" in table
