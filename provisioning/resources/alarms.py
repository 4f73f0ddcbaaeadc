"""The environment's CloudWatch alarms (R-OBS-2): eight metric alarms, all notifying the alarm topic.

Choices, and why:
- Threshold semantics: `GreaterThanOrEqualToThreshold` for every alarm. A stage profile value is
  "this many per 5 minutes is an incident": prod's `alarm_lambda_errors = 1` then means "any error",
  which `GreaterThanThreshold` could not express (overrides are at least 1).
- Counts (errors, throttles, 4XX/5XX, DynamoDB throttles and system errors) are judged on ONE
  5-minute period (1 of 1): a burst of errors is worth a mail at once.
- p90 latencies (Lambda duration, API latency) on 2 of 3 periods (EvaluationPeriods 3,
  DatapointsToAlarm 2): a p90 over a quiet 5 minutes can be one cold start; two slow periods out of
  three is a trend, and it still fires within 10 to 15 minutes.
- DynamoDB `ThrottledRequests` and `SystemErrors` exist only per (TableName, Operation): there is
  no TableName-only series, so an alarm on TableName alone would never have data, stay
  INSUFFICIENT_DATA, be treated as not breaching and never fire. Both alarms therefore use metric
  math, `SUM([m1..m8])` over the item operations (8 metrics, within the 10 a metric-math alarm
  may use); operations the function does not call simply contribute no data.
- Missing data is not breaching: a quiet environment is not an incident.

Reads: ONE paginated DescribeAlarms by name prefix, plus ONE tagging-API GetResources (tag filter
Environment + ManagedBy) for the tags of every alarm, instead of eight ListTagsForResource calls.
ListTagsForResource is used only for one of our alarms the tagging index did not return (its tags
were removed, or the index, which is eventually consistent, has not caught up with a new alarm).

The prefix `envport-<suffix>-` also matches the alarms of an environment named `<suffix>-x`, so an
alarm with our prefix but a name we do not define counts as ours (drift, deleted on update) only
if it carries our Environment and ManagedBy tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..aws import paged_items, tag_map, tolerating_absent, unless_absent
from ..names import Names
from ..spec import Settings
from .base import (
    MISSING,
    PRESENT,
    Context,
    FieldDiff,
    Observed,
    Resource,
    compare,
    is_ours,
    ownership_filters,
    repair_tags_through,
    user_tags,
)

PERIOD = 300
MISSING_DATA = "notBreaching"
OPERATOR = "GreaterThanOrEqualToThreshold"
ALARM = "alarm:"  # state keys: "alarm:lambda-errors" -> PRESENT, "alarm:lambda-errors.Threshold" -> 10
# DynamoDB item operations whose ThrottledRequests / SystemErrors are summed (at most 10 metrics).
DYNAMODB_OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
)
_NOT_FOUND = ("ResourceNotFound", "ResourceNotFoundException")
_DELETE_BATCH = 100  # DeleteAlarms takes at most 100 names


@dataclass(frozen=True)
class AlarmDef:
    """One alarm: the metric it watches, how it judges it, and what an operator should do."""

    short: str
    namespace: str
    metric: str
    dimensions: Callable[[Names], dict[str, str]]
    threshold: Callable[[Settings], int]
    statistic: str = "Sum"  # "p90" and the like become ExtendedStatistic
    evaluation_periods: int = 1
    datapoints: int = 1
    per_operation: bool = False  # DynamoDB metrics that exist only per (TableName, Operation)
    advice: str = ""  # a format string: names, threshold


def _lambda(n: Names) -> dict[str, str]:
    return {"FunctionName": n.function}


def _api(n: Names) -> dict[str, str]:
    return {"ApiName": n.rest_api, "Stage": n.api_stage}


def _table(n: Names) -> dict[str, str]:
    return {"TableName": n.table}


# A latency alarm: the p90 at or above the threshold in 2 of the last 3 periods (one slow period
# is noise).
_P90_IN_2_OF_3: dict[str, Any] = {"statistic": "p90", "evaluation_periods": 3, "datapoints": 2}

ALARMS: tuple[AlarmDef, ...] = (
    AlarmDef(
        "lambda-errors",
        "AWS/Lambda",
        "Errors",
        _lambda,
        lambda s: s.alarm_lambda_errors,
        advice="Function {n.function}: {t} or more failed invocations (unhandled exceptions, timeouts) "
        "in 5 minutes. Look for ERROR lines and their request id in log group {n.function_log_group}; "
        "if a deploy just happened, roll it back.",
    ),
    AlarmDef(
        "lambda-throttles",
        "AWS/Lambda",
        "Throttles",
        _lambda,
        lambda s: s.alarm_lambda_throttles,
        advice="Function {n.function}: {t} or more throttled invocations in 5 minutes; callers get "
        "errors. Traffic exceeds the reserved concurrency: compare ConcurrentExecutions on the dashboard, "
        "then raise reserved_concurrency for this environment or find the source of the traffic.",
    ),
    AlarmDef(
        "lambda-duration-p90",
        "AWS/Lambda",
        "Duration",
        _lambda,
        lambda s: s.alarm_lambda_p90_ms,
        **_P90_IN_2_OF_3,
        advice="Function {n.function}: p90 duration at or above {t} ms in 2 of the last 3 5-minute "
        "periods. Check DynamoDB latency and throttles on the dashboard and X-Ray traces for the slow "
        "segment; frequent cold starts point at memory size.",
    ),
    AlarmDef(
        "api-5xx",
        "AWS/ApiGateway",
        "5XXError",
        _api,
        lambda s: s.alarm_api_5xx,
        advice="API {n.rest_api} stage {n.api_stage}: {t} or more 5XX responses in 5 minutes. 502 is a "
        "function error or malformed response, 504 a timeout: check the function's alarms and logs "
        "({n.function_log_group}) and the access log {n.access_log_group}.",
    ),
    AlarmDef(
        "api-4xx",
        "AWS/ApiGateway",
        "4XXError",
        _api,
        lambda s: s.alarm_api_4xx,
        advice="API {n.rest_api} stage {n.api_stage}: {t} or more 4XX responses in 5 minutes. Usually "
        "clients: 403 missing or wrong API key, 429 usage-plan throttling, 400 bad input. The access log "
        "{n.access_log_group} shows status and caller; a jump right after a deploy means a broken client "
        "or route.",
    ),
    AlarmDef(
        "api-latency-p90",
        "AWS/ApiGateway",
        "Latency",
        _api,
        lambda s: s.alarm_api_p90_ms,
        **_P90_IN_2_OF_3,
        advice="API {n.rest_api} stage {n.api_stage}: p90 latency at or above {t} ms in 2 of the last 3 "
        "5-minute periods. If IntegrationLatency on the dashboard is as high, the function is slow (see "
        "its duration alarm); otherwise look at API Gateway throttling and the access log.",
    ),
    AlarmDef(
        "dynamodb-throttles",
        "AWS/DynamoDB",
        "ThrottledRequests",
        _table,
        lambda s: s.alarm_dynamodb_throttles,
        per_operation=True,
        advice="Table {n.table}: {t} or more throttled requests (summed over operations) in 5 minutes. "
        "On-demand tables throttle on hot partitions or a sudden doubling of traffic, provisioned ones "
        "when capacity or auto scaling lags. Check consumed capacity on the dashboard and Contributor "
        "Insights for hot keys.",
    ),
    AlarmDef(
        "dynamodb-system-errors",
        "AWS/DynamoDB",
        "SystemErrors",
        _table,
        lambda s: s.alarm_dynamodb_system_errors,
        per_operation=True,
        advice="Table {n.table}: {t} or more DynamoDB system errors (HTTP 500 from DynamoDB, summed over "
        "operations) in 5 minutes. The fault is on AWS's side and the SDK retries: check the AWS Health "
        "Dashboard for DynamoDB in this region and the function's error rate.",
    ),
)
_BY_SHORT = {a.short: a for a in ALARMS}


def alarm_name(names: Names, short: str) -> str:
    return f"{names.alarm_prefix}{short}"


def alarm_arn(ctx: Context, short: str) -> str:
    return ctx.arn("cloudwatch", f"alarm:{alarm_name(ctx.names, short)}")


def alarm_arns(ctx: Context) -> list[str]:
    """Every alarm ARN of the environment; they follow from names, so the dashboard need not wait."""
    return [alarm_arn(ctx, a.short) for a in ALARMS]


class Alarms(Resource):
    key = "alarms"
    kind = "cloudwatch-alarms"
    depends_on = ("topic",)

    def name(self, ctx: Context) -> str:
        """Every alarm's name starts with the prefix: `envport-dev1-* (N alarms)`."""
        return f"{ctx.names.alarm_prefix}* ({len(ALARMS)} alarms)"

    def observe(self, ctx: Context) -> Observed | None:
        prefix = ctx.names.alarm_prefix
        described = _describe(ctx.client("cloudwatch"), prefix)
        if not described:
            return None
        tags = _tags_by_arn(ctx, described)
        state: dict[str, Any] = {}
        for name, alarm in sorted(described.items()):
            short = name[len(prefix) :]
            arn = alarm["AlarmArn"]
            if short in _BY_SHORT:
                if arn not in tags:  # untagged, or not yet in the eventually consistent tag index
                    tags[arn] = _list_tags(ctx.client("cloudwatch"), arn)
                state.update(_alarm_state(short, alarm, tags[arn]))
            elif is_ours(ctx, tags.get(arn)):
                state[ALARM + short] = PRESENT  # an extra: one finding, no field noise
        if not state:
            return None  # only other environments' alarms share our prefix
        return Observed(state=state, attrs=self._attrs(ctx))

    def desired(self, ctx: Context) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for alarm in ALARMS:
            state.update(_alarm_state(alarm.short, _request(ctx, alarm), ctx.tag_dict))
        return state

    def diff(self, ctx: Context, desired: dict[str, Any], observed: Observed) -> list[FieldDiff]:
        """A missing or extra alarm is ONE finding (wanted PRESENT / found MISSING or the reverse),
        not one per field; alarms present on both sides are compared field by field."""
        wanted, found = _group(desired), _group(observed.state)
        diffs: list[FieldDiff] = []
        for short in sorted(set(wanted) | set(found)):
            if short not in found:
                diffs.append(FieldDiff(self.key, ALARM + short, PRESENT, MISSING))
            elif short not in wanted:
                diffs.append(FieldDiff(self.key, ALARM + short, MISSING, PRESENT))
            else:
                diffs.extend(compare(self.key, wanted[short], found[short]))
        return diffs

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        """PutMetricAlarm is an upsert, so a re-run after a crash halfway simply finishes the set."""
        cloudwatch = ctx.client("cloudwatch")
        for alarm in ALARMS:
            cloudwatch.put_metric_alarm(**_request(ctx, alarm), Tags=ctx.tag_list())
        return self._attrs(ctx)

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        """Put only the alarms that differ; tags of an existing alarm through TagResource/UntagResource,
        because PutMetricAlarm ignores Tags when the alarm already exists."""
        cloudwatch = ctx.client("cloudwatch")
        put: set[str] = set()
        retags: set[str] = set()
        extras: list[str] = []
        for finding in diffs:
            short, _, field = finding.field[len(ALARM) :].partition(".")
            if not field and finding.wanted == MISSING:
                extras.append(alarm_name(ctx.names, short))
            elif field == "tags":
                retags.add(short)
            elif short in _BY_SHORT:
                put.add(short)
        for short in sorted(put):
            cloudwatch.put_metric_alarm(**_request(ctx, _BY_SHORT[short]), Tags=ctx.tag_list())
        found = _group(observed.state)
        for short in sorted(retags):
            live_tags = found.get(short, {}).get(f"{ALARM}{short}.tags")
            _repair_tags(cloudwatch, alarm_arn(ctx, short), live_tags, ctx.tag_dict)
        _delete_alarms(cloudwatch, extras)
        return self._attrs(ctx)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """Our alarms and any extra alarm that carries our tags; never another environment's."""
        names = [alarm_name(ctx.names, short) for short in _group(observed.state)]
        _delete_alarms(ctx.client("cloudwatch"), names)

    def _attrs(self, ctx: Context) -> dict[str, Any]:
        return {
            "names": [alarm_name(ctx.names, a.short) for a in ALARMS],
            "arns": alarm_arns(ctx),
        }


# --- requests and their comparable form ---------------------------------------------------------


def _request(ctx: Context, alarm: AlarmDef) -> dict[str, Any]:
    """The PutMetricAlarm arguments (without Tags) of one alarm, from the spec and the settings."""
    names = ctx.names
    threshold = alarm.threshold(ctx.spec.settings)
    topic = ctx.topic_arn  # deterministic, so plan shows the real ARN before the topic exists
    request: dict[str, Any] = {
        "AlarmName": alarm_name(names, alarm.short),
        "AlarmDescription": _description(alarm, names, threshold),
        "ActionsEnabled": True,
        "AlarmActions": [topic],
        "OKActions": [topic],
        "InsufficientDataActions": [],
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints,
        "Threshold": threshold,
        "ComparisonOperator": OPERATOR,
        "TreatMissingData": MISSING_DATA,
    }
    if alarm.per_operation:
        request["Metrics"] = _sum_over_operations(alarm, names)
        return request
    request.update(
        Namespace=alarm.namespace,
        MetricName=alarm.metric,
        Dimensions=_dimension_list(alarm.dimensions(names)),
        Period=PERIOD,
    )
    if alarm.statistic.startswith("p"):
        request["ExtendedStatistic"] = alarm.statistic
    else:
        request["Statistic"] = alarm.statistic
    return request


def _description(alarm: AlarmDef, names: Names, threshold: int) -> str:
    text = alarm.advice.format(n=names, t=threshold)
    return f"{text} Managed by envport: changes made here are reverted by the next provision."[:1024]


def _sum_over_operations(alarm: AlarmDef, names: Names) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    for index, operation in enumerate(DYNAMODB_OPERATIONS, start=1):
        dimensions = {**alarm.dimensions(names), "Operation": operation}
        queries.append(
            {
                "Id": f"m{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": alarm.namespace,
                        "MetricName": alarm.metric,
                        "Dimensions": _dimension_list(dimensions),
                    },
                    "Period": PERIOD,
                    "Stat": alarm.statistic,
                },
                "ReturnData": False,  # the default is True, and exactly one query may return data
            }
        )
    ids = ",".join(q["Id"] for q in queries)
    total = {
        "Id": "total",
        "Expression": f"SUM([{ids}])",
        "Label": f"{alarm.metric} (all operations)",
        "ReturnData": True,
    }
    return [total, *queries]


def _dimension_list(dimensions: dict[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())]


def _dimension_dict(dimensions: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in dimensions or []}


_COMMON_FIELDS = (
    "AlarmDescription",
    "ActionsEnabled",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)
_ACTION_FIELDS = ("AlarmActions", "OKActions", "InsufficientDataActions")
_METRIC_FIELDS = ("Namespace", "MetricName", "Statistic", "ExtendedStatistic", "Period")


def _alarm_state(short: str, alarm: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """The flat comparable fields of one alarm, from a PutMetricAlarm request or a DescribeAlarms
    entry (same field names), so desired and observed cannot drift apart in shape."""
    base = ALARM + short
    state: dict[str, Any] = {base: PRESENT}
    for name in _COMMON_FIELDS + _METRIC_FIELDS:
        if alarm.get(name) is not None:
            state[f"{base}.{name}"] = alarm[name]
    for name in _ACTION_FIELDS:
        state[f"{base}.{name}"] = sorted(alarm.get(name) or [])
    if alarm.get("Metrics"):
        queries = sorted(alarm["Metrics"], key=lambda q: q["Id"])
        state[f"{base}.Metrics"] = [_query_summary(q) for q in queries]
    else:
        state[f"{base}.Dimensions"] = _dimension_dict(alarm.get("Dimensions"))
    state[f"{base}.tags"] = user_tags(tags)
    return state


def _query_summary(query: dict[str, Any]) -> dict[str, Any]:
    """One metric-math query in a readable, comparable form."""
    summary: dict[str, Any] = {"Id": query["Id"], "ReturnData": query.get("ReturnData", True)}
    if "Expression" in query:
        summary["Expression"] = query["Expression"]
    if query.get("Label"):
        summary["Label"] = query["Label"]
    stat = query.get("MetricStat")
    if stat:
        metric = stat["Metric"]
        summary.update(
            Namespace=metric["Namespace"],
            MetricName=metric["MetricName"],
            Dimensions=_dimension_dict(metric.get("Dimensions")),
            Period=stat["Period"],
            Stat=stat["Stat"],
        )
    return summary


def _group(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Split the flat state into alarm short name -> {field: value} ("" is the presence key)."""
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        if not key.startswith(ALARM):
            continue
        short, _, field = key[len(ALARM) :].partition(".")
        grouped.setdefault(short, {})
        if field:
            grouped[short][key] = value
    return grouped


# --- reads ---------------------------------------------------------------------------------------


def _describe(cloudwatch: Any, prefix: str) -> dict[str, dict[str, Any]]:
    alarms = paged_items(
        cloudwatch, "describe_alarms", "MetricAlarms", AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]
    )
    return {alarm["AlarmName"]: alarm for alarm in alarms}


def _tags_by_arn(ctx: Context, described: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Tags of every alarm tagged as this environment's, in one paginated tagging-API read."""
    tagging = ctx.client("resourcegroupstaggingapi")
    filters = ownership_filters(ctx)
    wanted_arns = {a["AlarmArn"] for a in described.values()}
    found: dict[str, dict[str, str]] = {}
    mappings = paged_items(
        tagging,
        "get_resources",
        "ResourceTagMappingList",
        ResourceTypeFilters=["cloudwatch:alarm"],
        TagFilters=filters,
    )
    for mapping in mappings:
        if mapping["ResourceARN"] in wanted_arns:
            found[mapping["ResourceARN"]] = tag_map(mapping.get("Tags", []))
    return found


def _list_tags(cloudwatch: Any, arn: str) -> dict[str, str]:
    tags = unless_absent(
        lambda: cloudwatch.list_tags_for_resource(ResourceARN=arn).get("Tags", []), *_NOT_FOUND
    )
    return tag_map(tags or [])  # none: deleted since DescribeAlarms, its fields still count


# --- writes --------------------------------------------------------------------------------------


def _repair_tags(cloudwatch: Any, arn: str, found: Mapping[str, str] | None, wanted: dict[str, str]) -> None:
    repair_tags_through(found, wanted, cloudwatch.tag_resource, cloudwatch.untag_resource, ResourceARN=arn)


def _delete_alarms(cloudwatch: Any, names: list[str]) -> None:
    for start in range(0, len(names), _DELETE_BATCH):
        with tolerating_absent(*_NOT_FOUND):
            cloudwatch.delete_alarms(AlarmNames=names[start : start + _DELETE_BATCH])


__all__ = ["ALARMS", "DYNAMODB_OPERATIONS", "AlarmDef", "Alarms", "alarm_arn", "alarm_arns", "alarm_name"]
