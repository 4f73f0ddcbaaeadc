"""The environment's CloudWatch dashboard (R-OBS-3): its Lambda, API Gateway and DynamoDB metrics
and the state of its alarms, on one screen; its console URL is an output (R-ENV-4).

The body is built deterministically (same spec -> byte-identical JSON, keys sorted), and compared
as parsed JSON, never as text: CloudWatch may hand back the body re-serialised. A difference is
reported per widget as "<title> sha256:<12 hex>" under `body.widgets[i]`, plus the non-widget
settings under `body.settings`, so drift reads as "widget 3 'API: latency' changed" rather than
two 5 KB blobs side by side.

Dashboards take no tags (CloudWatch tags alarms, Contributor Insights rules and metric streams),
so R-ENV-3 does not apply. DynamoDB's ThrottledRequests, SystemErrors and SuccessfulRequestLatency
exist only per operation, so those widgets draw one line per item operation of the function.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import quote

from ..aws import tolerating_absent, unless_absent
from ..names import Names
from .alarms import PERIOD, alarm_arns
from .base import Context, FieldDiff, Observed, Resource

log = logging.getLogger(__name__)

_NOT_FOUND = ("ResourceNotFound", "ResourceNotFoundException", "DashboardNotFoundError")
WIDGETS = "body.widgets"
SETTINGS = "body.settings"
# The item operations the function performs; one line each on the per-operation DynamoDB widgets.
ITEM_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query")
WIDTH, HEIGHT = 12, 6  # two widgets per row of CloudWatch's 24-column grid
_CONSOLE_HOSTS = {
    "aws": "{region}.console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


class Dashboard(Resource):
    key = "dashboard"
    kind = "cloudwatch-dashboard"
    depends_on = ("alarms",)  # its alarm widget lists them; draw it once they exist

    def name(self, ctx: Context) -> str:
        return ctx.names.dashboard

    def observe(self, ctx: Context) -> Observed | None:
        found = unless_absent(
            lambda: ctx.client("cloudwatch").get_dashboard(DashboardName=ctx.names.dashboard), *_NOT_FOUND
        )
        if found is None:
            return None
        try:
            body = json.loads(found.get("DashboardBody") or "{}")
        except ValueError:
            body = {"unparseable": found.get("DashboardBody", "")}
        attrs = {"name": found.get("DashboardName", ctx.names.dashboard), "arn": found["DashboardArn"]}
        return Observed(state=summarise(body), attrs=attrs)

    def desired(self, ctx: Context) -> dict[str, Any]:
        return summarise(dashboard_body(ctx))

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        """PutDashboard is an upsert by name: a crash before it returned is repaired by re-running."""
        return self._put(ctx)

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        return self._put(ctx)

    def delete(self, ctx: Context, observed: Observed) -> None:
        with tolerating_absent(*_NOT_FOUND):
            ctx.client("cloudwatch").delete_dashboards(DashboardNames=[observed.attrs["name"]])

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        """A link to the dashboard where one can be opened: AWS's console shows AWS's dashboards,
        not those of an endpoint of its own (the local cloud, LocalStack), so none there."""
        if ctx.aws.target.endpoint_url:
            return {}
        return {"dashboard_url": dashboard_url(ctx.aws.partition, ctx.region, ctx.names.dashboard)}

    def _put(self, ctx: Context) -> dict[str, Any]:
        name = ctx.names.dashboard
        answer = ctx.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=body_json(ctx))
        for message in answer.get("DashboardValidationMessages", []):
            # The dashboard is saved anyway; a widget CloudWatch cannot draw is worth a warning.
            log.warning("dashboard %s: %s (%s)", name, message.get("Message"), message.get("DataPath"))
        return {"name": name, "arn": dashboard_arn(ctx)}


def dashboard_arn(ctx: Context) -> str:
    """Dashboards are global within the account: their ARN has no region."""
    return f"arn:{ctx.aws.partition}:cloudwatch::{ctx.account_id}:dashboard/{ctx.names.dashboard}"


def dashboard_url(partition: str, region: str, name: str) -> str:
    host = _CONSOLE_HOSTS.get(partition, _CONSOLE_HOSTS["aws"]).format(region=region)
    return f"https://{host}/cloudwatch/home?region={region}#dashboards:name={quote(name, safe='')}"


# --- the body ------------------------------------------------------------------------------------


def body_json(ctx: Context) -> str:
    """The canonical text of the body: sorted keys, no whitespace, so equal specs give equal bytes."""
    return canonical(dashboard_body(ctx))


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def dashboard_body(ctx: Context) -> dict[str, Any]:
    names, region = ctx.names, ctx.region
    widgets = [_header(ctx), *_metric_widgets(names, region), _alarm_widget(ctx)]
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": _place(widgets)}


def _header(ctx: Context) -> dict[str, Any]:
    n = ctx.names
    markdown = (
        f"# {n.base} ({ctx.spec.stage})\n"
        f"Function `{n.function}` · API `{n.rest_api}` stage `{n.api_stage}` · table `{n.table}` · "
        f"alarms notify SNS topic `{n.topic}`. Managed by envport: edits here are reverted."
    )
    return {"type": "text", "width": 24, "height": 2, "properties": {"markdown": markdown}}


# A line of a graph: (namespace, metric, dimension pairs, stat, label).
_Line = tuple[str, str, tuple[str, ...], str, str]


def _metric_widgets(n: Names, region: str) -> list[dict[str, Any]]:
    fn = ("FunctionName", n.function)
    lambda_ = ("AWS/Lambda", fn)
    api = ("AWS/ApiGateway", ("ApiName", n.rest_api, "Stage", n.api_stage))
    table = ("AWS/DynamoDB", ("TableName", n.table))
    per_op = [("TableName", n.table, "Operation", op) for op in ITEM_OPERATIONS]

    def lines(source: tuple[str, tuple[str, ...]], stat: str, *labelled: tuple[str, str]) -> list[_Line]:
        namespace, dims = source
        return [(namespace, metric, dims, stat, label) for metric, label in labelled]

    def per_operation(metric: str, stat: str) -> list[_Line]:
        return [("AWS/DynamoDB", metric, dims, stat, dims[3]) for dims in per_op]

    lambda_counts = [(metric, metric) for metric in ("Invocations", "Errors", "Throttles")]
    api_counts = [("Count", "Requests"), ("4XXError", "4XX"), ("5XXError", "5XX")]
    latencies = [(metric, f"{metric} p90") for metric in ("Latency", "IntegrationLatency")]
    consumed = [("ConsumedReadCapacityUnits", "Read units"), ("ConsumedWriteCapacityUnits", "Write units")]
    graphs: list[tuple[str, list[_Line]]] = [
        ("Lambda: invocations, errors, throttles", lines(lambda_, "Sum", *lambda_counts)),
        (
            "Lambda: duration (ms)",
            [("AWS/Lambda", "Duration", fn, stat, stat) for stat in ("p50", "p90", "p99")],
        ),
        (
            "Lambda: concurrent executions",
            lines(lambda_, "Maximum", ("ConcurrentExecutions", "ConcurrentExecutions (max)")),
        ),
        ("API Gateway: requests and errors", lines(api, "Sum", *api_counts)),
        ("API Gateway: latency p90 (ms)", lines(api, "p90", *latencies)),
        ("DynamoDB: consumed capacity", lines(table, "Sum", *consumed)),
        ("DynamoDB: throttled requests", per_operation("ThrottledRequests", "Sum")),
        ("DynamoDB: successful request latency (ms)", per_operation("SuccessfulRequestLatency", "Average")),
        ("DynamoDB: system errors", per_operation("SystemErrors", "Sum")),
    ]
    # Per-operation counts stack: their sum is the table's total.
    stacked = {"DynamoDB: throttled requests", "DynamoDB: system errors"}
    return [_graph(region, title, graph_lines, stacked=title in stacked) for title, graph_lines in graphs]


def _graph(region: str, title: str, lines: list[_Line], stacked: bool = False) -> dict[str, Any]:
    """A time-series widget; each line is (namespace, metric, dimension pairs, stat, label)."""
    metrics = [
        [namespace, metric, *dims, {"stat": stat, "label": label}]
        for namespace, metric, dims, stat, label in lines
    ]
    properties = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": stacked,
        "period": PERIOD,
        "metrics": metrics,
    }
    return {"type": "metric", "width": WIDTH, "height": HEIGHT, "properties": properties}


def _alarm_widget(ctx: Context) -> dict[str, Any]:
    return {
        "type": "alarm",
        "width": 24,
        "height": 4,
        "properties": {"title": f"Alarms of {ctx.names.base}", "alarms": sorted(alarm_arns(ctx))},
    }


def _place(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lay the widgets out left to right, top to bottom, on the 24-column grid."""
    x = y = row_height = 0
    placed = []
    for widget in widgets:
        if x + widget["width"] > 24:
            x, y, row_height = 0, y + row_height, 0
        placed.append({**widget, "x": x, "y": y})
        x += widget["width"]
        row_height = max(row_height, widget["height"])
    return placed


# --- comparison ----------------------------------------------------------------------------------


def summarise(body: dict[str, Any]) -> dict[str, Any]:
    """The comparable form of a body: one short, readable value per widget plus the settings."""
    state: dict[str, Any] = {SETTINGS: {k: v for k, v in body.items() if k != "widgets"}}
    widgets = body.get("widgets")
    for index, widget in enumerate(widgets if isinstance(widgets, list) else []):
        state[f"{WIDGETS}[{index}]"] = widget_summary(widget)
    return state


def widget_summary(widget: Any) -> str:
    """`<type>: <title> sha256:<12 hex of its canonical JSON>`: the title tells which widget, the
    hash whether anything in it differs."""
    digest = hashlib.sha256(canonical(widget).encode()).hexdigest()[:12]
    properties = widget.get("properties", {}) if isinstance(widget, dict) else {}
    title = properties.get("title") or properties.get("markdown", "").split("\n", 1)[0]
    kind = widget.get("type", "?") if isinstance(widget, dict) else "?"
    return f"{kind}: {title} sha256:{digest}"


__all__ = ["Dashboard", "body_json", "dashboard_body", "dashboard_url", "summarise", "widget_summary"]
