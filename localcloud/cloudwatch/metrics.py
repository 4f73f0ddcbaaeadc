"""The metrics AWS services put into CloudWatch by themselves, put into moto's CloudWatch here.

On AWS, Lambda and API Gateway publish metrics about every invocation and every request without
being asked; moto publishes none. The runtime and the gateway call the two hooks below when they
finish, and the data lands in moto's CloudWatch backend of the function's (or API's) account and
region, in process, so ``get_metric_statistics``, ``get_metric_data`` and the alarm evaluator
(``alarms.py``) see it exactly as they would see AWS's.

``AWS/Lambda`` (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html and
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-view.html): Invocations, Errors,
Duration (Milliseconds) and ConcurrentExecutions for an invocation that ran (successful or a
function error: exception, timeout, crash); Throttles, and nothing else, for a throttled one
("Invocations ... does not include throttled attempts"). Each is published under the dimension
combinations AWS publishes:

- none                                     (across all functions of the region)
- ``FunctionName``                         (all versions and aliases of the function)
- ``FunctionName, Resource``               (Resource = ``fn``, ``fn:alias`` or ``fn:version``, as invoked)
- ``FunctionName, Resource, ExecutedVersion``  (only when invoked through an alias or a version:
  the version that ran, which is how a weighted alias's versions are compared)

``AWS/ApiGateway`` (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html):
Count, 4XXError, 5XXError (0 or 1 per request), Latency and, when a Lambda integration was
called, IntegrationLatency (Milliseconds), by ``ApiName`` and by ``ApiName, Stage``. A request for an
API or stage that does not exist belongs to no API and is not counted.

Embedded metric format (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
``emf_metric_data`` turns one log message into PutMetricData input; the logs fidelity fix calls it for
every event put into a log group, as CloudWatch Logs does. A message that is not valid EMF is just
a log line (AWS keeps it and extracts nothing).

Metrics are best effort: a failure to record one is logged and never fails an invocation or a
request. Timestamps are naive UTC datetimes, as moto stores them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

logger = logging.getLogger("localcloud.metrics")

LAMBDA_NAMESPACE = "AWS/Lambda"
APIGATEWAY_NAMESPACE = "AWS/ApiGateway"
INTEGRATION_STARTED = "localcloud.integration_started"  # WSGI environ key: perf_counter() at the call

# EMF limits (the specification's "Validation" section).
EMF_MAX_DIMENSIONS = 30
EMF_MAX_METRICS = 100
EMF_MAX_VALUES = 100
_SIZES = ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes")
_BITS = ("Bits", "Kilobits", "Megabits", "Gigabits", "Terabits")
_EMF_UNITS = frozenset(
    ("Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None", *_SIZES, *_BITS)
) | {f"{unit}/Second" for unit in _SIZES + _BITS}
_FAILED = ("error", "timeout", "crash")


def utc(epoch_s: float) -> dt.datetime:
    """A naive UTC datetime (moto's convention) for epoch seconds."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).replace(tzinfo=None)


def put_metric_data(account_id: str, region: str, namespace: str, data: list[dict[str, Any]]) -> None:
    """PutMetricData into moto's CloudWatch backend of that account and region, in process."""
    from moto.cloudwatch.models import cloudwatch_backends

    if data:
        cloudwatch_backends[account_id][region].put_metric_data(namespace, data)


def _dims(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in pairs]


# -- AWS/Lambda -----------------------------------------------------------------------------------
def lambda_dimension_sets(function_arn: str, executed_version: str) -> list[list[dict[str, str]]]:
    """The dimension combinations of one invocation of ``function_arn`` (as invoked)."""
    parts = function_arn.split(":")
    name = parts[6] if function_arn.startswith("arn:") and len(parts) > 6 else parts[0]
    qualifier = parts[7] if function_arn.startswith("arn:") and len(parts) > 7 else None
    if not function_arn.startswith("arn:") and len(parts) > 1:
        qualifier = parts[1]
    resource = f"{name}:{qualifier}" if qualifier else name
    sets = [
        [],
        _dims([("FunctionName", name)]),
        _dims([("FunctionName", name), ("Resource", resource)]),
    ]
    if qualifier:
        sets.append(
            _dims([("FunctionName", name), ("Resource", resource), ("ExecutedVersion", executed_version)])
        )
    return sets


def lambda_metric_data(record: Mapping[str, Any], concurrent: int) -> list[dict[str, Any]]:
    """PutMetricData input for one invocation record of the runtime (see ``localcloud/__init__.py``)."""
    status = record.get("status")
    timestamp = utc(float(record.get("started_at") or time.time()))
    if status == "throttled":
        values: list[tuple[str, float, str]] = [("Throttles", 1.0, "Count")]
    else:
        values = [
            ("Invocations", 1.0, "Count"),
            ("Errors", 1.0 if status in _FAILED else 0.0, "Count"),
            ("Duration", float(record.get("duration_ms") or 0.0), "Milliseconds"),
            ("ConcurrentExecutions", float(max(concurrent, 1)), "Count"),
        ]
    arn = str(record.get("function_arn") or record.get("function_name") or "")
    return _datums(lambda_dimension_sets(arn, str(record.get("version") or "$LATEST")), values, timestamp)


def lambda_invocation(record: Mapping[str, Any], account_id: str, region: str, concurrent: int = 1) -> None:
    """Hook for the runtime: an invocation finished (or was throttled). Never raises."""
    try:
        put_metric_data(account_id, region, LAMBDA_NAMESPACE, lambda_metric_data(record, concurrent))
    except Exception:
        logger.warning("could not put the Lambda metrics of %s", record.get("request_id"), exc_info=True)


# -- AWS/ApiGateway -------------------------------------------------------------------------------
def api_metric_data(
    api_name: str, stage: str, status: int, latency_ms: float, integration_ms: float | None, started_at: float
) -> list[dict[str, Any]]:
    """PutMetricData input for one request to a stage of a REST API."""
    timestamp = utc(started_at)
    values: list[tuple[str, float, str]] = [
        ("Count", 1.0, "Count"),
        ("4XXError", 1.0 if 400 <= status < 500 else 0.0, "Count"),
        ("5XXError", 1.0 if status >= 500 else 0.0, "Count"),
        ("Latency", latency_ms, "Milliseconds"),
    ]
    if integration_ms is not None:
        values.append(("IntegrationLatency", integration_ms, "Milliseconds"))
    dimension_sets = [_dims([("ApiName", api_name)]), _dims([("ApiName", api_name), ("Stage", stage)])]
    return _datums(dimension_sets, values, timestamp)


def _datums(
    dimension_sets: Iterable[list[dict[str, str]]], values: list[tuple[str, float, str]], timestamp: Any
) -> list[dict[str, Any]]:
    """Each metric value once per dimension set, as CloudWatch stores a metric under each."""
    return [
        {"MetricName": metric, "Value": value, "Unit": unit, "Timestamp": timestamp, "Dimensions": dimensions}
        for dimensions in dimension_sets
        for metric, value, unit in values
    ]


# -- embedded metric format ------------------------------------------------------------------------
class NotEmf(ValueError):
    """A log message that is not (valid) embedded metric format; the reason says why."""


def emf_metric_data(message: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """The (namespace, PutMetricData input) an EMF log message carries; [] for an ordinary line.

    Raises NotEmf for a message that looks like EMF (a JSON object with ``_aws``) but breaks the
    specification, so the caller can log why nothing was extracted.
    """
    text = message.strip()
    if not (text.startswith("{") and '"_aws"' in text):
        return []
    try:
        root = json.loads(text)
    except ValueError:
        return []
    if not isinstance(root, dict) or not isinstance(root.get("_aws"), dict):
        return []
    meta = root["_aws"]
    timestamp = meta.get("Timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise NotEmf("_aws.Timestamp must be a number of milliseconds since the epoch")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise NotEmf("_aws.CloudWatchMetrics must be an array")
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for directive in directives:
        out.append(_emf_directive(root, directive, utc(timestamp / 1000.0)))
    return out


def _emf_directive(root: dict[str, Any], directive: Any, timestamp: dt.datetime) -> tuple[str, list[dict]]:
    if not isinstance(directive, dict):
        raise NotEmf("a CloudWatchMetrics directive must be an object")
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not namespace or namespace.startswith("AWS/"):
        raise NotEmf("Namespace must be a non-empty string outside the AWS/ namespaces")
    dimension_sets = directive.get("Dimensions")
    metrics = directive.get("Metrics")
    if not isinstance(dimension_sets, list) or not isinstance(metrics, list):
        raise NotEmf("Dimensions and Metrics must be arrays")
    if len(metrics) > EMF_MAX_METRICS:
        raise NotEmf(f"at most {EMF_MAX_METRICS} metrics per directive")
    resolved_sets: list[list[dict[str, str]]] = []
    for names in dimension_sets:
        if not isinstance(names, list) or len(names) > EMF_MAX_DIMENSIONS:
            raise NotEmf(f"a dimension set is an array of at most {EMF_MAX_DIMENSIONS} names")
        pairs = []
        for name in names:
            value = root.get(name) if isinstance(name, str) else None
            if not isinstance(value, str):
                raise NotEmf(f"dimension {name!r} must name a string member of the root object")
            pairs.append((name, value))
        resolved_sets.append(_dims(pairs))
    data: list[dict[str, Any]] = []
    for metric in metrics:
        name = metric.get("Name") if isinstance(metric, dict) else None
        if not isinstance(name, str) or not name:
            raise NotEmf("a metric definition needs a Name")
        unit = metric.get("Unit", "None")
        if unit not in _EMF_UNITS:
            raise NotEmf(f"metric {name}: unknown Unit {unit!r}")
        values = _emf_values(name, root.get(name))
        for dimensions in resolved_sets:
            data.append(
                {
                    "MetricName": name,
                    "Values": values,
                    "Unit": unit,
                    "Timestamp": timestamp,
                    "Dimensions": dimensions,
                }
            )
    return namespace, data


def _emf_values(name: str, raw: Any) -> list[float]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or len(items) > EMF_MAX_VALUES:
        raise NotEmf(f"metric {name}: 1 to {EMF_MAX_VALUES} values")
    values = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise NotEmf(f"metric {name}: the root member must be a number or an array of numbers")
        values.append(float(item))
    return values


def extract_emf(account_id: str, region: str, messages: list[str]) -> int:
    """Put the metrics of every EMF message into CloudWatch; returns how many data were put."""
    count = 0
    for message in messages:
        try:
            found = emf_metric_data(message)
        except NotEmf as exc:
            logger.info("log event is not valid embedded metric format (%s); no metric extracted", exc)
            continue
        for namespace, data in found:
            try:
                put_metric_data(account_id, region, namespace, data)
                count += len(data)
            except Exception:
                logger.warning("could not put the EMF metrics of a log event", exc_info=True)
    return count
