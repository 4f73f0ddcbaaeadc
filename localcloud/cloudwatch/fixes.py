"""Fidelity fixes for CloudWatch (alarms, statistics) and CloudWatch Logs (embedded metric format).

Registered in ``fidelity.FIXES`` when ``fidelity/install.py`` imports this module, and installed by
``fidelity.apply()`` like every other fix. Each fix names what moto 5.2.5 does and what AWS does; the
tests in ``tests/localcloud/test_fidelity.py`` and ``tests/localcloud/test_metrics.py`` cite the AWS pages.

Alarm *evaluation* is not a fix of a moto call but a process of its own: ``alarms.py``. The fix
"cloudwatch-set-alarm-state-actions" below only makes SetAlarmState run the actions of the new state
through it, as AWS does.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from moto.cloudwatch import models as cw_models
from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue, ValidationError
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.logs import models as logs_models

from localcloud.cloudwatch import metrics, statistics
from localcloud.cloudwatch.alarm_history import record_history
from localcloud.registry import around, fixer, patch, replace

_fix = fixer(__name__)

HIGH_RESOLUTION_PERIODS = (10, 20, 30)
INITIAL_REASON = "Unchecked: Initial alarm creation"


# --------------------------------------------------------------------------------------------
# Alarm state on PutMetricAlarm, and the alarm history
# --------------------------------------------------------------------------------------------


@_fix(
    "cloudwatch-alarm-initial-state",
    "PutMetricAlarm creates an alarm in state OK ('Unchecked: Initial alarm creation'); putting an "
    "existing alarm again replaces it by a new one in state OK and forgets its history.",
    "A new alarm starts in INSUFFICIENT_DATA; updating an existing alarm leaves its state unchanged and "
    "overwrites its configuration only; both are recorded in the alarm history as ConfigurationUpdate.",
)
def _fix_alarm_initial_state() -> None:
    """moto's Alarm starts OK and a second PutMetricAlarm builds a fresh Alarm object."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(orig)

        @functools.wraps(orig)
        def put_metric_alarm(self: Any, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs)
            name = bound.arguments["name"]
            existing = self.alarms.get(name)
            # moto refuses every ExtendedStatistic but a percentile; the API layer (fix
            # "cloudwatch-alarm-period") has already checked it is one CloudWatch defines.
            extended = bound.arguments.get("extended_statistic")
            if extended and not str(extended).startswith("p"):
                bound.arguments["extended_statistic"] = "p50"
            alarm = orig(*bound.args, **bound.kwargs)
            alarm.extended_statistic = extended or alarm.extended_statistic
            if existing is not None and existing is not alarm:
                for attr in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp"):
                    setattr(alarm, attr, getattr(existing, attr))
                alarm.history = list(existing.history)
                record_history(alarm, "ConfigurationUpdate", f'Alarm "{name}" updated', {"type": "Update"})
            else:
                alarm.state_value = "INSUFFICIENT_DATA"
                alarm.state_reason = INITIAL_REASON
                alarm.state_reason_data = None
                alarm.history = []
                record_history(alarm, "ConfigurationUpdate", f'Alarm "{name}" created', {"type": "Create"})
            return alarm

        return put_metric_alarm

    @replace(cw_models.Alarm, "update_state")
    def update_state(self: Any, reason: str, reason_data: str | None, state_value: str) -> None:
        old_state, old_reason = self.state_value, self.state_reason
        self.state_reason = reason
        self.state_reason_data = reason_data
        self.state_value = state_value
        self.state_updated_timestamp = utcnow()
        if old_state == state_value:
            return
        new_state: dict[str, Any] = {"stateValue": state_value, "stateReason": reason}
        try:
            if reason_data:
                new_state["stateReasonData"] = json.loads(reason_data)
        except ValueError:
            pass
        record_history(
            self,
            "StateUpdate",
            f"Alarm updated from {old_state} to {state_value}",
            {
                "version": "1.0",
                "oldState": {"stateValue": old_state, "stateReason": old_reason},
                "newState": new_state,
            },
        )

    patch(cw_models.CloudWatchBackend, "put_metric_alarm", make)


@_fix(
    "cloudwatch-describe-alarm-history",
    "DescribeAlarmHistory raises NotImplementedError (HTTP 500 in server mode).",
    "It returns the alarm's history items (ConfigurationUpdate, StateUpdate, Action), newest first unless "
    "ScanBy=TimestampAscending, filtered by AlarmName, HistoryItemType, StartDate and EndDate.",
)
def _fix_describe_alarm_history() -> None:
    """moto has no describe_alarm_history: answer it from the AWS-shaped items the fixes record."""

    @replace(CloudWatchResponse, "describe_alarm_history")
    def describe_alarm_history(self: Any) -> Any:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        limit = int(self._get_param("MaxRecords") or 100)
        items = []
        for alarm in list(self.cloudwatch_backend.alarms.values()):
            if name and alarm.name != name:
                continue
            for item in list(alarm.history):
                if not isinstance(item, dict) or (kind and item["HistoryItemType"] != kind):
                    continue
                stamp = item["Timestamp"]
                if (start and stamp < statistics.naive_utc(start)) or (
                    end and stamp > statistics.naive_utc(end)
                ):
                    continue
                items.append(item)
        items.sort(key=lambda i: i["Timestamp"], reverse=self._get_param("ScanBy") != "TimestampAscending")
        return ActionResult({"AlarmHistoryItems": items[:limit]})


# --------------------------------------------------------------------------------------------
# Alarm periods
# --------------------------------------------------------------------------------------------


def check_alarm_periods(period: Any, evaluation_periods: Any, metrics_queries: list[dict[str, Any]]) -> None:
    """AWS's rules for an alarm's period(s) and its evaluation range (PutMetricAlarm reference)."""
    periods = [] if period in (None, "") else [period]
    periods += [q["MetricStat"].get("Period") for q in metrics_queries or [] if q.get("MetricStat")]
    checked = []
    for value in periods:
        try:
            seconds = int(value)
        except (TypeError, ValueError):
            seconds = -1
        if seconds not in HIGH_RESOLUTION_PERIODS and (seconds < 60 or seconds % 60):
            raise ValidationError(
                f"The value {value} for parameter Period is not supported: valid periods are 10, 20, 30 "
                "and any multiple of 60 seconds."
            )
        checked.append(seconds)
    if not checked or evaluation_periods in (None, ""):
        return
    longest = max(checked)
    total = longest * int(evaluation_periods)
    limit = 86400 if longest < 3600 else 604800
    if total > limit:
        raise ValidationError(
            f"Period ({longest}) multiplied by EvaluationPeriods ({evaluation_periods}) must not exceed "
            f"{limit} seconds."
        )


@_fix(
    "cloudwatch-alarm-period",
    "PutMetricAlarm accepts any Period, such as 45, and any evaluation range; it refuses every "
    "ExtendedStatistic but a percentile (tm90, IQM, TM(10%:90%) answer 'not supported').",
    "Period (and the Period of each MetricStat of a metric math alarm) must be 10, 20, 30 or a multiple "
    "of 60; Period x EvaluationPeriods may not exceed one day (seven days for periods of an hour or "
    "more); anything else answers ValidationError. Every extended statistic of the statistics "
    "definitions is accepted; an ExtendedStatistic (or a MetricStat's Stat) that is not a statistic "
    "CloudWatch defines answers InvalidParameterValue.",
)
def _fix_alarm_period() -> None:
    """moto validates no period: check them at the API surface, as AWS does, before storing."""

    @around(CloudWatchResponse, "put_metric_alarm")
    def put_metric_alarm(orig: Callable[..., Any], self: Any) -> Any:
        if not self._get_param("AlarmRule"):  # composite alarms have no period
            check_alarm_periods(
                self._get_param("Period"),
                self._get_param("EvaluationPeriods"),
                self._get_param("Metrics", []),
            )
            if self._get_param("ExtendedStatistic"):
                _check_stat(self._get_param("ExtendedStatistic"), "ExtendedStatistic", standard=False)
            for index, query in enumerate(self._get_param("Metrics", []) or [], 1):
                if query.get("MetricStat"):
                    where = f"Metrics.member.{index}.MetricStat.Stat"
                    _check_stat(query["MetricStat"].get("Stat"), where, standard=True)
        return orig(self)


# --------------------------------------------------------------------------------------------
# Statistics: exact dimensions, percentiles, metric math
# --------------------------------------------------------------------------------------------


@_fix(
    "cloudwatch-metric-statistics",
    "GetMetricStatistics matches every metric whose dimensions include the requested ones (asking by "
    "FunctionName also sums the FunctionName+Resource series), starts its periods at the first data "
    "point, and drops ExtendedStatistics (p90) from the answer.",
    "A metric is its exact dimension set; periods start at StartTime rounded down (to the minute, or the "
    "period's division of a minute for periods under 60 s); ExtendedStatistics returns each datapoint's "
    "percentiles, trimmed means and the other extended statistics (from values put with Value/Values); "
    "one that is not a statistic answers InvalidParameterValue.",
)
def _fix_metric_statistics() -> None:
    """moto's backend matches dimensions as a subset and its response drops ExtendedStatistics."""

    @replace(cw_models.CloudWatchBackend, "get_metric_statistics")
    def backend_get_metric_statistics(
        self: Any,
        namespace: str,
        metric_name: str,
        start_time: dt.datetime,
        end_time: dt.datetime,
        period: int,
        stats: list[str],
        dimensions: list[dict[str, str]],
        unit: str | None = None,
    ) -> list[Any]:
        start, end = statistics.naive_utc(start_time), statistics.naive_utc(end_time)
        if start >= end:
            raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        start = statistics.query_start(start, int(period))
        data = statistics.metric_data(self, namespace, metric_name, dimensions, unit, start, end)
        step = dt.timedelta(seconds=int(period))
        windows = []
        cursor = start
        while cursor < end:
            windows.append((cursor, cursor + step))
            cursor += step
        points = []
        for (window_start, _end), in_window in zip(windows, statistics.bucket(data, windows), strict=True):
            if in_window:
                point = cw_models.Statistics(stats, window_start)
                point.metric_data = in_window
                point.unit = in_window[-1].unit
                points.append(point)
        return points

    @replace(CloudWatchResponse, "get_metric_statistics")
    def get_metric_statistics(self: Any) -> Any:
        statistic_names = self._get_param("Statistics", [])
        extended = self._get_param("ExtendedStatistics") or []
        if not statistic_names and not extended:
            raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
        for index, stat in enumerate(extended, 1):
            _check_stat(stat, f"ExtendedStatistics.member.{index}", standard=False)
        name = self._get_param("MetricName")
        points = self.cloudwatch_backend.get_metric_statistics(
            self._get_param("Namespace"),
            name,
            self._get_param("StartTime"),
            self._get_param("EndTime"),
            self._get_int_param("Period"),
            statistic_names,
            unit=self._get_param("Unit"),
            dimensions=self._get_param("Dimensions", []),
        )
        for point in points:
            values = {e: statistics.statistic(point.metric_data, e) for e in extended}
            point.extended_statistics = {k: v for k, v in values.items() if v is not None} or None
        return ActionResult({"Label": name, "Datapoints": points})


@_fix(
    "cloudwatch-metric-data",
    "GetMetricData fails with TypeError (HTTP 500) for a percentile Stat such as p90; with Dimensions it "
    "ignores the Namespace and compares dimension lists with a broken ordering; metric math "
    "expressions are not evaluated (empty values).",
    "Percentile stats return values; a MetricStat matches its namespace, name and exact dimensions; "
    "metric math over ids (+ - * /, SUM/AVG/MIN/MAX of [ids]) is evaluated period by period.",
)
def _fix_metric_data() -> None:
    """moto's GetMetricData MetricStat and math queries are replaced (Insights queries stay moto's)."""

    @around(cw_models.CloudWatchBackend, "get_metric_data")
    def get_metric_data(
        orig: Callable[..., Any],
        self: Any,
        queries: list[dict[str, Any]],
        start_time: dt.datetime,
        end_time: dt.datetime,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        insights = [q for q in queries if str(q.get("Expression", "")).startswith("SELECT")]
        for index, query in enumerate(queries, 1):
            if "MetricStat" in query:
                where = f"MetricDataQueries.member.{index}.MetricStat.Stat"
                _check_stat(query["MetricStat"].get("Stat"), where, standard=True)
        if insights:
            returned = orig(self, insights, start_time, end_time, scan_by)  # also validates the times
        else:  # moto's would first look at every datum ever put, for nothing
            _check_times(start_time, end_time)
            returned = []
        start = statistics.naive_utc(start_time).replace(microsecond=0)
        end = statistics.naive_utc(end_time).replace(microsecond=0)
        series: dict[str, dict[dt.datetime, float]] = {}
        for query in queries:
            if "MetricStat" in query:
                series[query["Id"]] = _metric_stat_series(self, query["MetricStat"], start, end)
        for query in queries:
            if "Expression" in query and query not in insights:
                try:
                    series[query["Id"]] = statistics.evaluate_expression(query["Expression"], series)
                except statistics.UnsupportedExpression:
                    series[query["Id"]] = {}
        for query in queries:
            if query in insights or query.get("ReturnData", True) in (False, "false"):
                continue
            values = sorted(series[query["Id"]].items(), reverse=scan_by == "TimestampDescending")
            stat = query.get("MetricStat") or {}
            label = query.get("Label") or (
                f"{stat['Metric']['MetricName']} {stat['Stat']}" if stat else query["Id"]
            )
            returned.append(
                {
                    "id": query["Id"],
                    "label": label,
                    "values": [v for _t, v in values],
                    "timestamps": [t for t, _v in values],
                    "status_code": "Complete",
                }
            )
        return returned  # type: ignore[no-any-return]


def _check_times(start_time: dt.datetime, end_time: dt.datetime) -> None:
    """GetMetricData's own check of its times (moto's words): EndTime after StartTime."""
    start, end = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
    if start > end:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    if start == end:
        raise ValidationError("The parameter StartTime must not equal parameter EndTime.")


def _check_stat(stat: Any, where: str, standard: bool) -> None:
    """A statistic CloudWatch defines, or InvalidParameterValue naming the parameter and what is allowed
    (the message is ours: AWS's exact wording for this case is not documented)."""
    try:
        meaning = statistics.parse_statistic(str(stat or ""))
    except statistics.UnknownStatistic as exc:
        raise InvalidParameterValue(
            f"The value {str(stat)[:64]!r} for parameter {where} is not valid: {exc}"
        ) from exc
    if not standard and isinstance(meaning, str):
        raise InvalidParameterValue(
            f"The value {stat!r} for parameter {where} is a statistic for Statistics, not ExtendedStatistics"
        )


def _metric_stat_series(
    backend: Any, metric_stat: dict[str, Any], start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, float]:
    metric = metric_stat["Metric"]
    start = statistics.query_start(start, int(metric_stat["Period"]))
    step = dt.timedelta(seconds=int(metric_stat["Period"]))
    windows = []
    cursor = start
    while cursor < end:
        windows.append((cursor, cursor + step))
        cursor += step
    values = statistics.metric_statistics(
        backend, metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions", []),
        metric_stat.get("Unit"), windows, metric_stat["Stat"],
    )  # fmt: skip
    return {start: value for (start, _end), value in zip(windows, values, strict=True) if value is not None}


_EPOCH = dt.datetime(1970, 1, 1)
_SECOND = dt.timedelta(seconds=1)


def unix_timestamp(value: dt.datetime) -> int | float:
    """What moto's serializer writes for a datetime in a JSON answer (a naive one is UTC; whole
    seconds, or seconds and milliseconds), without parsing it as a date first."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    micro = value.microsecond
    if not micro:
        return (value - _EPOCH) // _SECOND
    return (value - _EPOCH) // _SECOND + (micro // 1000) / 1000.0


@_fix(
    "json-answer-number-lists",
    "Every timestamp and number of a JSON answer's lists goes through the generic serializer one by "
    "one (a date parse and a time tuple per timestamp): a GetMetricData answer of 12,960 datapoints "
    "(a 30-day view of 18 series by the hour) takes about half a second to write.",
    "GetMetricData answers up to 100,800 datapoints per call; CloudWatch returns a 30-day hourly "
    "view in well under a second. The answer is the same, written by list instead of by item.",
)
def _fix_json_number_lists() -> None:
    """A list of doubles, or of datetimes written as epoch seconds, is written in one pass; any
    other list (or one holding something else) goes through moto's own code."""
    from moto.core.serialize import BaseJSONSerializer

    @around(BaseJSONSerializer, "_serialize_type_list")
    def serialize_list(
        orig: Callable[..., Any], self: Any, serialized: Any, value: Any, shape: Any, key: str
    ) -> None:
        fast = _number_list(self, value, shape.member)
        if fast is None:
            orig(self, serialized, value, shape, key)
        else:
            self._default_serialize(serialized, fast, shape, key)


def _number_list(serializer: Any, value: Any, member: Any) -> list[Any] | None:
    """`value` as moto writes a list of `member`s, or None where the fast path does not apply."""
    kind = getattr(member, "type_name", "")
    if kind not in ("double", "float", "timestamp") or not isinstance(value, list):
        return None
    if serializer.get_serialized_name(member, member.name) != member.name:
        return None  # moto would append the items unwritten: leave that to it
    if kind != "timestamp":
        return [float(v) for v in value] if all(isinstance(v, (int, float)) for v in value) else None
    form = member.serialization.get("timestampFormat", serializer._timestamp_serializer.default_format)
    if str(form).lower() != "unixtimestamp" or not all(isinstance(v, dt.datetime) for v in value):
        return None
    return [unix_timestamp(v) for v in value]


# --------------------------------------------------------------------------------------------
# SetAlarmState runs the actions of the new state
# --------------------------------------------------------------------------------------------


@_fix(
    "cloudwatch-set-alarm-state-actions",
    "SetAlarmState changes the state but runs no action: a subscriber of the alarm's SNS topic receives "
    "nothing.",
    "When the new state differs from the old one, the actions of the new state (AlarmActions, OKActions, "
    "InsufficientDataActions) run: the alarm notification is published to each SNS topic.",
)
def _fix_set_alarm_state_actions() -> None:
    """moto's set_alarm_state only changes the state: run the actions through alarms.run_actions."""

    @around(cw_models.CloudWatchBackend, "set_alarm_state")
    def set_alarm_state(
        orig: Callable[..., Any], self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        alarm = self.alarms.get(alarm_name)
        old_state = alarm.state_value if alarm is not None else None
        orig(self, alarm_name, reason, reason_data, state_value)
        if alarm is not None and old_state != state_value:
            from localcloud.cloudwatch import alarms

            alarms.run_actions(self, alarm, old_state or "INSUFFICIENT_DATA")


# --------------------------------------------------------------------------------------------
# CloudWatch Logs: embedded metric format
# --------------------------------------------------------------------------------------------


@_fix(
    "logs-embedded-metric-format",
    "A log event in embedded metric format (a JSON object with _aws.CloudWatchMetrics) is stored as a "
    "log line only; no metric is created.",
    "CloudWatch Logs extracts the metrics of every valid EMF event put into a log group (each metric of "
    "each directive, under each dimension set, at _aws.Timestamp); an invalid one stays a log line.",
)
def _fix_embedded_metric_format() -> None:
    """moto's LogStream.put_log_events stores events only: extract EMF metrics (metrics.py) after it."""

    @around(logs_models.LogStream, "put_log_events")
    def put_log_events(orig: Callable[..., Any], self: Any, log_events: list[dict[str, Any]]) -> str:
        token: str = orig(self, log_events)
        messages = [str(event.get("message", "")) for event in log_events]
        metrics.extract_emf(self.account_id, self.region, messages)
        return token
