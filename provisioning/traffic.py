"""What an environment's traffic looks like over a time range: one GetMetricData, one alarm history.

A traffic view is every chart of the environment (API Gateway requests, errors and latencies;
Lambda invocations, errors, throttles, duration, concurrency and each version's share during a
release; DynamoDB capacity, throttles and system errors) for one of a few fixed ranges, plus the
environment's alarm states over the same range as bands. It costs at most two AWS calls, whatever
the number of series (R-FLEET-1: CloudWatch's request quotas are per account):

- ONE `GetMetricData` with every series as a `MetricDataQuery` (NextToken pages are followed, but
  the period table keeps every range within one page: see `RANGES`);
- ONE paginated `DescribeAlarmHistory` of StateUpdate items in the range, filtered here to the
  environment's own alarm names (the API filters by one AlarmName only; a call per alarm would be
  eight).

Limits, from the GetMetricData reference
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html):
at most 500 queries per call and 100,800 datapoints per call across queries. The period of each
range is chosen so that (returned series) x (range / period) stays far below the datapoint limit:
30 days at 60 s would be 43,200 points per series, so 30 days uses hours (720 points a series).
Periods are also what CloudWatch keeps: 1-minute data for 15 days, 5-minute data for 63 days
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Metric),
so no range asks for a resolution that has already been rolled up.

DynamoDB's `ThrottledRequests` and `SystemErrors` exist only per (TableName, Operation) (see
`resources/alarms.py`): each is a metric-math `SUM` over the item operations, whose inputs are
queried with ReturnData false (they count towards the 500 queries, not towards the datapoints).

The versions of a release (the `ExecutedVersion` dimension) are given by the caller, from what it
knows of the environment's releases and alias; they are not listed with ListMetrics, which would be
a third call per view.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .aws import AwsClients, CallCounts
from .names import LIVE_ALIAS, Names
from .resources.alarms import ALARMS, DYNAMODB_OPERATIONS, alarm_name

MAX_QUERIES = 500  # per GetMetricData call
MAX_DATAPOINTS = 100_800  # per GetMetricData call, across its queries
MAX_VERSIONS = 10  # versions whose share is charted (the newest ones)
MAX_HISTORY_PAGES = 10  # DescribeAlarmHistory pages of 100 items: at most 1,000 state changes
HISTORY_PAGE = 100
VERSION_RE = re.compile(r"^[0-9]{1,10}$")


@dataclass(frozen=True)
class Range:
    """A range the views offer: its name, its length and the period of its datapoints."""

    name: str
    seconds: int
    period: int

    @property
    def points(self) -> int:
        return self.seconds // self.period


RANGES: dict[str, Range] = {
    r.name: r
    for r in (
        Range("1h", 3600, 60),  # 60 points a series
        Range("6h", 6 * 3600, 300),  # 72
        Range("24h", 24 * 3600, 900),  # 96
        Range("7d", 7 * 86400, 3600),  # 168
        Range("30d", 30 * 86400, 3600),  # 720
    )
}
DEFAULT_RANGE = "1h"


class RangeError(ValueError):
    """A range that is not one of `RANGES`; the message lists the allowed ones."""

    def __init__(self, given: str) -> None:
        self.given = given
        self.allowed = list(RANGES)
        super().__init__(f"since: {given[:20]!r} is not allowed; one of {', '.join(RANGES)}")


def parse_range(text: str | None) -> Range:
    """The range named `text` (None or empty: the default), or RangeError before any AWS call."""
    name = (text or DEFAULT_RANGE).strip()
    found = RANGES.get(name) if len(name) <= 8 else None
    if found is None:
        raise RangeError(name)
    return found


@dataclass(frozen=True)
class Series:
    """One line of a chart: epoch-second timestamps (oldest first) and their values."""

    id: str
    label: str
    unit: str
    stat: str
    timestamps: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "unit": self.unit,
            "stat": self.stat,
            "timestamps": [
                dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")
                for t in self.timestamps
            ],
            "values": list(self.values),
        }

    @property
    def total(self) -> float:
        return sum(self.values)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    unit: str
    series: tuple[Series, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "unit": self.unit,
            "series": [s.to_dict() for s in self.series],
        }


@dataclass(frozen=True)
class Band:
    """An alarm in one state from `start` to `end` (epoch seconds, clipped to the view)."""

    alarm: str
    state: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {"alarm": self.alarm, "state": self.state, "start": _iso(self.start), "end": _iso(self.end)}


@dataclass(frozen=True)
class TrafficView:
    """Every chart of an environment over one range, its alarm bands, and what it cost."""

    range: Range
    start: float
    end: float
    charts: tuple[Chart, ...]
    bands: tuple[Band, ...]
    calls: CallCounts
    complete: bool = True  # False: a query answered PartialData or an error, or history was cut
    messages: tuple[str, ...] = field(default_factory=tuple)

    def chart(self, key: str) -> Chart:
        return next(c for c in self.charts if c.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "range": self.range.name,
            "period_s": self.range.period,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "charts": [c.to_dict() for c in self.charts],
            "alarm_bands": [b.to_dict() for b in self.bands],
            "aws_calls": self.calls.to_dict(),
            "complete": self.complete,
            "messages": list(self.messages),
        }


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


# --- the queries ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """One series of a chart: a metric and statistic, or metric math over hidden inputs."""

    chart: str
    id: str
    label: str
    unit: str
    stat: str
    namespace: str = ""
    metric: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    expression: str = ""
    hidden: bool = False


CHARTS: tuple[tuple[str, str, str], ...] = (
    ("api_requests", "API Gateway: requests and errors", "Count"),
    ("api_latency", "API Gateway: latency", "Milliseconds"),
    ("lambda_invocations", "Lambda: invocations, errors and throttles", "Count"),
    ("lambda_duration", "Lambda: duration", "Milliseconds"),
    ("lambda_concurrency", "Lambda: concurrent executions", "Count"),
    ("lambda_versions", "Lambda: invocations by version (ExecutedVersion)", "Count"),
    ("dynamodb_capacity", "DynamoDB: consumed capacity", "Count"),
    ("dynamodb_errors", "DynamoDB: throttled requests and system errors", "Count"),
)


MS = "Milliseconds"
GW, LAM, DDB = "AWS/ApiGateway", "AWS/Lambda", "AWS/DynamoDB"
# chart, id, label, unit, statistic, namespace, metric, dimensions ("api", "fn", "table")
SERIES: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    ("api_requests", "api_count", "Requests", "Count", "Sum", GW, "Count", "api"),
    ("api_requests", "api_4xx", "4XX errors", "Count", "Sum", GW, "4XXError", "api"),
    ("api_requests", "api_5xx", "5XX errors", "Count", "Sum", GW, "5XXError", "api"),
    ("api_latency", "api_latency_p50", "Latency p50", MS, "p50", GW, "Latency", "api"),
    ("api_latency", "api_latency_p90", "Latency p90", MS, "p90", GW, "Latency", "api"),
    ("api_latency", "api_latency_p99", "Latency p99", MS, "p99", GW, "Latency", "api"),
    ("api_latency", "api_integration_p90", "Integration latency p90", MS, "p90", GW, "IntegrationLatency",
     "api"),
    ("lambda_invocations", "fn_invocations", "Invocations", "Count", "Sum", LAM, "Invocations", "fn"),
    ("lambda_invocations", "fn_errors", "Errors", "Count", "Sum", LAM, "Errors", "fn"),
    ("lambda_invocations", "fn_throttles", "Throttles", "Count", "Sum", LAM, "Throttles", "fn"),
    ("lambda_duration", "fn_duration_p90", "Duration p90", MS, "p90", LAM, "Duration", "fn"),
    ("lambda_concurrency", "fn_concurrency", "Concurrent executions (max)", "Count", "Maximum", LAM,
     "ConcurrentExecutions", "fn"),
    ("dynamodb_capacity", "ddb_read", "Read capacity units", "Count", "Sum", DDB, "ConsumedReadCapacityUnits",
     "table"),
    ("dynamodb_capacity", "ddb_write", "Write capacity units", "Count", "Sum", DDB,
     "ConsumedWriteCapacityUnits", "table"),
)  # fmt: skip
# per (TableName, Operation) only: summed over the item operations by metric math
PER_OPERATION = (
    ("ddb_throttled", "ThrottledRequests", "Throttled requests"),
    ("ddb_system", "SystemErrors", "System errors"),
)


def queries(names: Names, versions: Sequence[str] = ()) -> list[Query]:
    """Every query of a view, in chart order. `versions`: the function versions whose share is
    charted (digits only; the newest MAX_VERSIONS)."""
    fn = (("FunctionName", names.function),)
    table = (("TableName", names.table),)
    dims = {"api": (("ApiName", names.rest_api), ("Stage", names.api_stage)), "fn": fn, "table": table}
    out = [Query(*row[:7], dimensions=dims[row[7]]) for row in SERIES]
    live = (*fn, ("Resource", f"{names.function}:{LIVE_ALIAS}"))
    at = next(n for n, q in enumerate(out) if q.chart == "dynamodb_capacity")
    out[at:at] = [
        Query("lambda_versions", f"fn_version_{v}", f"version {v}", "Count", "Sum", LAM, "Invocations",
              (*live, ("ExecutedVersion", v)))
        for v in _versions(versions)
    ]  # fmt: skip
    for short, metric, label in PER_OPERATION:
        inputs = [
            Query("dynamodb_errors", f"{short}_{op.lower()}", f"{metric} {op}", "Count", "Sum", DDB, metric,
                  (*table, ("Operation", op)), hidden=True)
            for op in DYNAMODB_OPERATIONS
        ]  # fmt: skip
        out += inputs
        expression = f"SUM([{', '.join(q.id for q in inputs)}])"
        out.append(Query("dynamodb_errors", short, label, "Count", "Sum", expression=expression))
    return out


def _versions(versions: Sequence[str]) -> list[str]:
    """Distinct version numbers, newest MAX_VERSIONS, oldest first; anything else is left out."""
    found = sorted({v for v in versions if isinstance(v, str) and VERSION_RE.match(v)}, key=int)
    return found[-MAX_VERSIONS:]


def metric_data_queries(queries: Sequence[Query], period: int) -> list[dict[str, Any]]:
    """The GetMetricData `MetricDataQueries` of `queries`."""
    out: list[dict[str, Any]] = []
    for q in queries:
        item: dict[str, Any] = {"Id": q.id, "Label": q.label, "ReturnData": not q.hidden}
        if q.expression:
            item["Expression"] = q.expression
            item["Period"] = period
        else:
            item["MetricStat"] = {
                "Metric": {
                    "Namespace": q.namespace,
                    "MetricName": q.metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions],
                },
                "Period": period,
                "Stat": q.stat,
            }
        out.append(item)
    return out


def check_limits(queries: Sequence[Query], window: Range) -> None:
    """A view must fit one call: at most 500 queries and 100,800 datapoints (see the module)."""
    returned = sum(1 for q in queries if not q.hidden)
    if len(queries) > MAX_QUERIES or returned * window.points > MAX_DATAPOINTS:
        raise ValueError(
            f"{len(queries)} queries, {returned * window.points} datapoints: over GetMetricData's "
            f"{MAX_QUERIES} queries or {MAX_DATAPOINTS} datapoints per call"
        )


def bounds(window: Range, now: float) -> tuple[float, float]:
    """[start, end) aligned to the period (CloudWatch answers faster and the buckets are whole);
    the end is the end of the period that holds `now`, so the latest minute is shown."""
    end = (int(now) // window.period + 1) * window.period
    return float(end - window.seconds), float(end)


# --- the view ---------------------------------------------------------------------------------
def traffic_view(
    clients: AwsClients,
    names: Names,
    window: Range,
    *,
    versions: Sequence[str] = (),
    now: float | None = None,
) -> TrafficView:
    """Every chart and the alarm bands of the environment named by `names` over `window`: one
    GetMetricData (pages followed), one DescribeAlarmHistory (pages followed)."""
    start, end = bounds(window, time.time() if now is None else now)
    wanted = queries(names, versions)
    check_limits(wanted, window)
    before = clients.recorder.snapshot()
    results, complete, messages = _get_metric_data(clients, wanted, window, start, end)
    bands, history_complete = alarm_bands(clients, names, start, end)
    calls = clients.recorder.since(before)
    charts = []
    for key, title, unit in CHARTS:
        series = tuple(_series(q, results.get(q.id, {})) for q in wanted if q.chart == key and not q.hidden)
        charts.append(Chart(key, title, unit, series))
    if not history_complete:
        messages.append(
            f"alarm history: over {MAX_HISTORY_PAGES * HISTORY_PAGE} state changes; the newest are not shown"
        )
    return TrafficView(
        window, start, end, tuple(charts), tuple(bands), calls, complete and history_complete, tuple(messages)
    )


def _series(q: Query, points: dict[float, float]) -> Series:
    stamps = tuple(sorted(points))
    return Series(q.id, q.label, q.unit, q.stat, stamps, tuple(points[t] for t in stamps))


def _epoch(value: Any) -> float:
    """Epoch seconds of a timestamp as a client answers it: a datetime, or already epoch seconds
    (`aws.epoch_timestamp_session`)."""
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return float(value.timestamp())
    return float(value)


def _get_metric_data(
    clients: AwsClients, wanted: Sequence[Query], window: Range, start: float, end: float
) -> tuple[dict[str, dict[float, float]], bool, list[str]]:
    """{query id: {epoch: value}} from one GetMetricData, every NextToken page merged."""
    cloudwatch = clients.client("cloudwatch")
    request: dict[str, Any] = {
        "MetricDataQueries": metric_data_queries(wanted, window.period),
        "StartTime": dt.datetime.fromtimestamp(start, dt.UTC),
        "EndTime": dt.datetime.fromtimestamp(end, dt.UTC),
        "ScanBy": "TimestampAscending",
        "MaxDatapoints": MAX_DATAPOINTS,
    }
    found: dict[str, dict[float, float]] = {}
    complete, messages = True, []
    while True:
        page = cloudwatch.get_metric_data(**request)
        for result in page.get("MetricDataResults", []):
            points = found.setdefault(result["Id"], {})
            for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                points[_epoch(stamp)] = float(value)
            if result.get("StatusCode", "Complete") not in ("Complete", "PartialData"):
                complete = False
            for message in result.get("Messages", []) or []:
                messages.append(f"{result['Id']}: {message.get('Value', '')}"[:200])
        for message in page.get("Messages", []) or []:
            messages.append(str(message.get("Value", ""))[:200])
        token = page.get("NextToken")
        if not token:
            return found, complete, messages
        request["NextToken"] = token


def alarm_names(names: Names) -> list[str]:
    return [alarm_name(names, a.short) for a in ALARMS]


def alarm_bands(clients: AwsClients, names: Names, start: float, end: float) -> tuple[list[Band], bool]:
    """The environment's alarms' states over [start, end) from their StateUpdate history items.

    Each alarm is in its first change's old state from `start` to that change, then in each new
    state until the next; an alarm that did not change in the range has no band (its state then is
    on the environment page, from the health check). Returns (bands, whether the history was whole).
    """
    ours = set(alarm_names(names))
    changes: dict[str, list[tuple[float, str, str]]] = {}
    cloudwatch = clients.client("cloudwatch")
    request: dict[str, Any] = {
        "HistoryItemType": "StateUpdate",
        "StartDate": dt.datetime.fromtimestamp(start, dt.UTC),
        "EndDate": dt.datetime.fromtimestamp(end, dt.UTC),
        "ScanBy": "TimestampAscending",
        "MaxRecords": HISTORY_PAGE,
    }
    whole = True
    for page_number in range(MAX_HISTORY_PAGES + 1):
        if page_number == MAX_HISTORY_PAGES:
            whole = False
            break
        page = cloudwatch.describe_alarm_history(**request)
        for item in page.get("AlarmHistoryItems", []):
            if item.get("AlarmName") not in ours:
                continue
            old, new = _states(item.get("HistoryData", ""))
            if new:
                changes.setdefault(item["AlarmName"], []).append((_epoch(item["Timestamp"]), old, new))
        token = page.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    bands: list[Band] = []
    for name, items in sorted(changes.items()):
        items.sort()
        cursor, state = start, items[0][1]
        for at, _old, new in items:
            at = min(max(at, start), end)
            if state and at > cursor:
                bands.append(Band(name, state, cursor, at))
            cursor, state = at, new
        if end > cursor:
            bands.append(Band(name, state, cursor, end))
    return bands, whole


def _states(history_data: str) -> tuple[str, str]:
    """(old state, new state) of a StateUpdate item's HistoryData JSON; ("", "") if unreadable."""
    try:
        data = json.loads(history_data or "{}")
        return str(data["oldState"]["stateValue"]), str(data["newState"]["stateValue"])
    except (ValueError, KeyError, TypeError):
        return "", ""
