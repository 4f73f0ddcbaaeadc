"""CloudWatch alarm evaluation for the local cloud: moto stores alarms but never evaluates them.

A background thread (one per process, as moto's state is; started and stopped with the local cloud)
evaluates every metric alarm of every account and region of moto's CloudWatch, as CloudWatch does
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-evaluation):

- every minute (every 10 s for a high-resolution alarm, Period 10, 20 or 30), the periods of the
  alarm's *evaluation range* are each reduced to one datapoint with the alarm's Statistic or
  ExtendedStatistic (``pNN``, ``tmNN``, ``TM(a%:b%)``, ``IQM``, ...: ``statistics.py``), from the
  metric's exact dimension set. Periods are aligned to the clock (``floor(t / period) * period``:
  minutes start at :00, 5-minute periods at :00, :05, ...), not to the alarm's creation, and only
  periods that have ended are evaluated, so values on either side of a boundary are two datapoints.
  A metric math alarm (Metrics with an Expression) evaluates the expression over its MetricStats
  (+ - * /, SUM/AVG/MIN/MAX of [ids]); an expression beyond that leaves the alarm as it is.
- the evaluation range is EvaluationPeriods + 2 periods (AWS: "CloudWatch attempts to retrieve a
  higher number of data points than specified by Evaluation Periods"; its example retrieves 5 for 3,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-evaluating-missing-data).
  ``decide`` follows that section: with at least EvaluationPeriods real datapoints in the range, the
  most recent EvaluationPeriods of them are evaluated and TreatMissingData is not used; with fewer,
  every real one is evaluated and the missing ones are filled in by TreatMissingData
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html):
  ``breaching`` / ``notBreaching`` count them as bad / good; ``missing`` and ``ignore`` do not consider
  them: ALARM when DatapointsToAlarm real ones breach, OK when a real one does not breach, and
  otherwise, for ``missing``, ALARM when the oldest evaluated datapoint is a breaching one (the
  page's ``X - - - -`` row) and INSUFFICIENT_DATA otherwise (all missing included), for ``ignore`` the
  current state. Alarms on ``AWS/DynamoDB`` metrics always ignore missing data, as AWS documents.
  EvaluateLowSampleCountPercentile ``ignore`` keeps the state when a percentile has too few samples
  (fewer than 10 / (1 - p/100)).
- ALARM when at least DatapointsToAlarm (M of N; N when unset) evaluated datapoints breach, OK
  otherwise.
- A state change sets StateReason and StateReasonData in AWS's wording and shape, is recorded in the
  alarm history (``describe_alarm_history``), and runs the actions of the new state: the alarm
  notification JSON AWS sends is published to every SNS topic of AlarmActions / OKActions /
  InsufficientDataActions through moto's SNS backend (so an SQS subscriber receives it) and recorded
  (``notifications()``, ``GET /_localcloud/notifications``). SetAlarmState runs them too (fidelity fix
  "cloudwatch-set-alarm-state-actions"), and is followed by a full evaluation interval before the
  evaluator looks at the alarm again.

Time scale: ``LOCALCLOUD_ALARM_TIME_SCALE`` (or ``python -m localcloud --alarm-time-scale``, or
``LocalCloud(alarm_time_scale=...)``), default 1 = AWS's timing. A scale of 0.05 makes a 300 s
period last 15 s of wall clock and evaluates every 3 s, so a test of Lambda's own 60 s metrics takes
seconds. Scaled periods are aligned the same way, to multiples of their scaled length (15 s at
0.05 for 300 s), and the evaluation range scales with them. It changes only how this emulator waits:
the alarms keep the periods they were created with (StateReasonData's ``period`` too), and nothing
the engine provisions changes. Composite alarms are not evaluated.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from localcloud.cloudwatch import statistics
from localcloud.time_scale import from_env as scale_from_env
from localcloud.time_scale import parse as parse_scale

logger = logging.getLogger("localcloud.alarms")

TIME_SCALE_ENV = "LOCALCLOUD_ALARM_TIME_SCALE"
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
MAX_NOTIFICATIONS = 1000
MISSING_TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")
RANGE_EXTRA = 2  # the evaluation range: EvaluationPeriods + 2 periods
OPERATORS = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "sa-east-1": "South America (Sao Paulo)",
}


_SCALE_EXAMPLE = "0.05 = a 300 s period lasts 15 s"


def parse_time_scale(value: Any, source: str = TIME_SCALE_ENV) -> float:
    """A time scale: a number greater than 0 and at most 1 (1 = AWS's timing)."""
    return parse_scale(value, source, _SCALE_EXAMPLE)


def time_scale_from_env() -> float:
    return scale_from_env(TIME_SCALE_ENV, _SCALE_EXAMPLE)


# -- notifications ---------------------------------------------------------------------------------
_notifications: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_NOTIFICATIONS)
_notifications_lock = threading.Lock()


def notifications(alarm_name: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The alarm notifications sent (or attempted), oldest first."""
    with _notifications_lock:
        found = [dict(n) for n in _notifications if alarm_name in (None, n["alarm_name"])]
    return found[-limit:] if limit else found


def clear_notifications() -> None:
    with _notifications_lock:
        _notifications.clear()


def _stamp(value: dt.datetime) -> str:
    """AWS's timestamp form in alarm notifications: 2024-01-31T12:00:00.000+0000."""
    return (
        statistics.naive_utc(value).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    )


def _dimensions(dimensions: Any) -> list[dict[str, str]]:
    return [{"value": str(d.value), "name": str(d.name)} for d in dimensions or []]


def _trigger(alarm: Any) -> dict[str, Any]:
    trigger: dict[str, Any] = {
        "Period": int(alarm.period) if alarm.period else None,
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold) if alarm.threshold is not None else None,
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    if alarm.datapoints_to_alarm:
        trigger["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
    if alarm.metric_data_queries:
        trigger["Metrics"] = [_query_json(q) for q in alarm.metric_data_queries]
        return trigger
    trigger.update(
        {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": "ExtendedStatistic" if alarm.extended_statistic else "Statistic",
            "Unit": alarm.unit,
            "Dimensions": _dimensions(alarm.dimensions),
        }
    )
    if alarm.extended_statistic:
        trigger["ExtendedStatistic"] = alarm.extended_statistic
    else:
        trigger["Statistic"] = str(alarm.statistic or "").upper()
    return trigger


def _query_json(query: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": query.id, "ReturnData": _returns_data(query)}
    if query.label:
        out["Label"] = query.label
    if query.expression:
        out["Expression"] = query.expression
    if query.metric_stat is not None:
        stat = query.metric_stat
        out["MetricStat"] = {
            "Metric": {
                "Dimensions": _dimensions(stat.metric.dimensions),
                "MetricName": stat.metric.metric_name,
                "Namespace": stat.metric.namespace,
            },
            "Period": int(stat.period),
            "Stat": stat.stat,
        }
    return out


def notification_message(backend: Any, alarm: Any, old_state: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS topics on a state change."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": backend.account_id,
        "AlarmConfigurationUpdatedTimestamp": _stamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _stamp(alarm.state_updated_timestamp),
        "Region": REGION_NAMES.get(backend.region_name, backend.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": _trigger(alarm),
    }


def run_actions(backend: Any, alarm: Any, old_state: str) -> list[dict[str, Any]]:
    """Run the actions of the alarm's (new) state: publish the notification to each SNS topic."""
    from moto.sns.models import sns_backends

    from localcloud.cloudwatch.alarm_history import record_history

    if not _truthy(alarm.actions_enabled):
        return []
    actions = {
        "ALARM": alarm.alarm_actions,
        "OK": alarm.ok_actions,
        "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
    }.get(alarm.state_value) or []
    message = notification_message(backend, alarm, old_state)
    region_name = REGION_NAMES.get(backend.region_name, backend.region_name)
    subject = f'{alarm.state_value}: "{alarm.name}" in {region_name}'[:100]
    sent = []
    for arn in actions:
        record: dict[str, Any] = {
            "alarm_name": alarm.name,
            "alarm_arn": alarm.alarm_arn,
            "action": arn,
            "old_state": old_state,
            "new_state": alarm.state_value,
            "subject": subject,
            "message": message,
            "delivered": False,
            "message_id": None,
            "error": None,
            "at": time.time(),
        }
        parts = str(arn).split(":")
        if len(parts) >= 6 and parts[2] == "sns":
            try:
                sns = sns_backends[parts[4]][parts[3]]
                record["message_id"] = sns.publish(json.dumps(message), arn=arn, subject=subject)
                record["delivered"] = True
                record_history(
                    alarm, "Action", f"Successfully executed action {arn}", {"actionState": "Succeeded"}
                )
            except Exception as exc:  # a deleted topic, for instance: AWS records the failure
                record["error"] = f"{type(exc).__name__}: {exc}"
                record_history(
                    alarm,
                    "Action",
                    f"Failed to execute action {arn}. Received error: {exc}",
                    {"actionState": "Failed", "error": str(exc)},
                )
        else:
            record["error"] = "only SNS topic actions are run by the local cloud"
        logger.info("alarm %s %s -> %s: action %s %s", alarm.name, old_state, alarm.state_value, arn,
                    "delivered" if record["delivered"] else f"not delivered ({record['error']})")  # fmt: skip
        with _notifications_lock:
            _notifications.append(record)
        sent.append(record)
    return sent


def _truthy(value: Any) -> bool:
    return str(value).lower() != "false" if isinstance(value, str) else bool(value)


def _returns_data(query: Any) -> bool:
    return query.return_data in (None, True) or str(query.return_data).lower() == "true"


# -- evaluation -------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    state: str
    reason: str
    reason_data: dict[str, Any]


def evaluation_interval(alarm: Any) -> float:
    """Seconds between two evaluations of an alarm on AWS: 10 for high-resolution ones, else 60."""
    return 10.0 if 0 < _period(alarm) < 60 else 60.0


def _period(alarm: Any) -> int:
    if alarm.metric_data_queries:
        periods = [int(q.metric_stat.period) for q in alarm.metric_data_queries if q.metric_stat is not None]
        if periods:
            return max(periods)
    return int(alarm.period or 60)


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


def evaluation_range(evaluation_periods: int) -> int:
    """Datapoints retrieved per evaluation: EvaluationPeriods + 2 (AWS's example: 5 for 3)."""
    return evaluation_periods + RANGE_EXTRA


def _windows(now: float, period_s: float, count: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """The last ``count`` clock-aligned periods that have ended by ``now``, oldest first."""
    end = statistics.period_start(now, period_s)
    return [(_utc(end - (i + 1) * period_s), _utc(end - i * period_s)) for i in reversed(range(count))]


def _series(
    backend: Any, namespace: str, name: str, dimensions: Any, unit: str | None, stat: str,
    windows: list[tuple[dt.datetime, dt.datetime]],
) -> tuple[list[float | None], list[float]]:  # fmt: skip
    """One value per window (None: no data) and each window's sample count."""
    data = statistics.metric_data(backend, namespace, name, dimensions, unit, windows[0][0], windows[-1][1])
    values, counts = [], []
    for in_window in statistics.bucket(data, windows):
        values.append(statistics.statistic(in_window, stat) if in_window else None)
        counts.append(statistics.statistic(in_window, "SampleCount") or 0.0 if in_window else 0.0)
    return values, counts


def _values(backend: Any, alarm: Any, windows: list[tuple[dt.datetime, dt.datetime]]) -> tuple[list, list]:
    if not alarm.metric_data_queries:
        stat = alarm.extended_statistic or alarm.statistic
        return _series(
            backend, alarm.namespace, alarm.metric_name, alarm.dimensions, alarm.unit, stat, windows
        )
    series: dict[str, dict[dt.datetime, float]] = {}
    counts: list[float] = [0.0] * len(windows)
    for query in alarm.metric_data_queries:
        stat = query.metric_stat
        if stat is None:
            continue
        values, sample_counts = _series(
            backend, stat.metric.namespace, stat.metric.metric_name, stat.metric.dimensions, stat.unit,
            stat.stat, windows,
        )  # fmt: skip
        series[query.id] = {w[0]: v for w, v in zip(windows, values, strict=True) if v is not None}
        counts = [a + b for a, b in zip(counts, sample_counts, strict=True)]
    returned = [q for q in alarm.metric_data_queries if _returns_data(q)]
    if len(returned) != 1:
        raise statistics.UnsupportedExpression("a metric math alarm needs exactly one query with ReturnData")
    query = returned[0]
    result = (
        statistics.evaluate_expression(query.expression, series)
        if query.expression
        else series.get(query.id, {})
    )
    return [result.get(w[0]) for w in windows], counts


def _ignores_missing(alarm: Any) -> bool:
    """Alarms on AWS/DynamoDB metrics always ignore missing data (PutMetricAlarm reference)."""
    if alarm.metric_data_queries:
        namespaces = {q.metric_stat.metric.namespace for q in alarm.metric_data_queries if q.metric_stat}
        return namespaces == {"AWS/DynamoDB"}
    return bool(alarm.namespace == "AWS/DynamoDB")


@dataclass(frozen=True)
class Decision:
    """What the evaluation range decides (``decide``)."""

    state: str | None  # None: keep the current state (ignore)
    evaluated: tuple[int, ...]  # indices of the real datapoints evaluated, oldest first
    filled: int  # missing datapoints filled in by TreatMissingData
    breaching: int  # breaching datapoints among those evaluated, fills included


def decide(flags: list[bool | None], count: int, needed: int, treatment: str) -> Decision:
    """The state for the evaluation range ``flags`` (oldest first; True breaching, False not, None
    missing), EvaluationPeriods ``count`` and DatapointsToAlarm ``needed``, as "How alarm state is
    evaluated when data is missing" describes it
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-evaluating-missing-data)."""
    real = [i for i, flag in enumerate(flags) if flag is not None]
    if len(real) >= count:  # enough real datapoints: the most recent ones, TreatMissingData unused
        used = tuple(real[-count:])
        bad = sum(1 for i in used if flags[i])
        return Decision("ALARM" if bad >= needed else "OK", used, 0, bad)
    fill = count - len(real)
    bad_real = sum(1 for i in real if flags[i])
    if treatment in ("breaching", "notBreaching"):
        bad = bad_real + (fill if treatment == "breaching" else 0)
        return Decision("ALARM" if bad >= needed else "OK", tuple(real), fill, bad)
    # missing / ignore: "The alarm does not consider missing data points".
    if bad_real >= needed:
        return Decision("ALARM", tuple(real), fill, bad_real)
    if bad_real < len(real):  # a real datapoint that does not breach
        return Decision("OK", tuple(real), fill, bad_real)
    if treatment == "missing" and real:
        # The evaluated datapoints are the real ones and the most recent missing periods; the
        # page's row "X - - - -": ALARM "because the oldest evaluated data point is breaching and
        # there aren't any non-breaching data points"; "- - - - X" stays INSUFFICIENT_DATA.
        fills = [i for i, flag in enumerate(flags) if flag is None][-fill:]
        if real[0] < fills[0]:
            return Decision("ALARM", tuple(real), fill, bad_real)
    return Decision("INSUFFICIENT_DATA" if treatment == "missing" else None, tuple(real), fill, bad_real)


def number(value: float) -> str:
    """A number as CloudWatch writes it in state reasons (Java's Double.toString): 100.0, 0.5, 1.0E7."""
    value = float(value)
    if value == 0:
        return "0.0"
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "e" not in text else f"{value:f}".rstrip("0").rstrip(".") + ".0"
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    shown = "".join(map(str, digits))
    power = len(shown) - 1 + int(exponent)
    return f"{'-' if sign else ''}{shown[0]}.{shown[1:] or '0'}E{power}"


def _points(shown: list[tuple[dt.datetime, float]]) -> str:
    """``[v (dd/mm/yy HH:MM:SS), ...]``, most recent first, as AWS lists them."""
    return ", ".join(f"{number(v)} ({t:%d/%m/%y %H:%M:%S})" for t, v in reversed(shown))


def _plural(n: int, word: str = "datapoint") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def reason_text(
    state: str, decision: Decision, listed: list[tuple[dt.datetime, float]], count: int, needed: int,
    label: str, threshold: float, treatment: str, short: bool,
) -> str:  # fmt: skip
    """StateReason in AWS's wording: only the datapoints the sentence is about are listed."""
    treated = "Breaching" if treatment == "breaching" else "NonBreaching"
    if not decision.evaluated:
        if state == "INSUFFICIENT_DATA" or treatment not in ("breaching", "notBreaching"):
            verb = "were" if count > 1 else "was"
            return f"Insufficient Data: {_plural(count)} {verb} unknown."
        return (
            f"Threshold Crossed: no datapoints were received for {_plural(count, 'period')} and "
            f"{_plural(count, 'missing datapoint')} {'were' if count > 1 else 'was'} treated as [{treated}]."
        )
    if state == "INSUFFICIENT_DATA":
        verb = "were" if decision.filled > 1 else "was"
        return f"Insufficient Data: {_plural(decision.filled)} {verb} unknown."
    negation = "" if state == "ALARM" else "not "
    verb = "was" if len(listed) == 1 else "were"
    threshold_text = f"{label} the threshold ({number(threshold)})"
    if short and len(listed) == 1 and not decision.filled:
        text = f"Threshold Crossed: 1 datapoint [{_points(listed)}] was {negation}{threshold_text}."
    elif not listed:  # OK only because missing datapoints were filled in as not breaching
        text = (
            f"Threshold Crossed: {decision.breaching} out of the last {count} datapoints were "
            f"{threshold_text}, fewer than the {needed} needed for ALARM."
        )
    else:
        minimum = needed if state == "ALARM" else count - needed + 1
        transition = "OK -> ALARM" if state == "ALARM" else "ALARM -> OK"
        text = (
            f"Threshold Crossed: {len(listed)} out of the last {count} datapoints [{_points(listed)}] "
            f"{verb} {negation}{threshold_text} (minimum {_plural(minimum)} for {transition} transition)."
        )
    if decision.filled and treatment in ("breaching", "notBreaching"):
        text = text[:-1] + (f" ({_plural(decision.filled, 'missing datapoint')} treated as [{treated}]).")
    return text


def evaluate(backend: Any, alarm: Any, now: float, time_scale: float = 1.0) -> Evaluation | None:
    """The state the alarm should be in at ``now`` (epoch seconds); None to leave it as it is."""
    if getattr(alarm, "rule", None) or alarm.comparison_operator not in OPERATORS:
        return None  # composite and anomaly-detection alarms are not evaluated here
    count = int(alarm.evaluation_periods or 1)
    needed = int(alarm.datapoints_to_alarm or count)
    period = _period(alarm)
    windows = _windows(now, period * time_scale, evaluation_range(count))
    try:
        values, samples = _values(backend, alarm, windows)
    except statistics.UnsupportedExpression as exc:
        logger.debug("alarm %s not evaluated: %s", alarm.name, exc)
        return None
    treatment = "ignore" if _ignores_missing(alarm) else (alarm.treat_missing_data or "missing")
    label, breaches = OPERATORS[alarm.comparison_operator]
    threshold = float(alarm.threshold)
    flags = [None if v is None else bool(breaches(v, threshold)) for v in values]
    decision = decide(flags, count, needed, treatment)
    stat = alarm.extended_statistic or alarm.statistic
    p = statistics.percentile_of(str(stat or ""))
    ignore_low = p is not None and p < 100 and alarm.evaluate_low_sample_count_percentile == "ignore"
    if ignore_low and any(samples[i] < _min_samples(p) for i in decision.evaluated):
        return None
    if decision.state is None:
        return None
    stamps = [w[0] for w in windows]
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": _stamp(_utc(now)),
        "startDate": _stamp(windows[0][0]),
    }
    if alarm.metric_data_queries:
        data["unit"] = None
    else:
        data["statistic" if not alarm.extended_statistic else "extendedStatistic"] = stat
    data.update(
        {
            "period": period,
            "recentDatapoints": [v for v in values if v is not None],
            "threshold": threshold,
            "evaluatedDatapoints": [
                {"timestamp": _stamp(stamps[i]), "sampleCount": samples[i], "value": values[i]}
                for i in reversed(decision.evaluated)
            ],
        }
    )
    wanted = decision.state == "ALARM"
    listed = [(stamps[i], float(values[i])) for i in decision.evaluated if flags[i] is wanted]
    short = count == 1 and not alarm.datapoints_to_alarm
    reason = reason_text(decision.state, decision, listed, count, needed, label, threshold, treatment, short)
    return Evaluation(decision.state, reason, data)


def _min_samples(p: float | None) -> float:
    """Samples a percentile needs to be significant: 10 / (1 - p/100) (p90: 100)."""
    return 10 / (1 - (p or 0) / 100)


def apply(backend: Any, alarm: Any, evaluation: Evaluation | None) -> bool:
    """Move the alarm to the evaluated state (history, actions); True when its state changed."""
    if evaluation is None or evaluation.state == alarm.state_value:
        return False
    old_state = alarm.state_value
    alarm.update_state(evaluation.reason, json.dumps(evaluation.reason_data), evaluation.state)
    logger.info("alarm %s: %s -> %s (%s)", alarm.name, old_state, evaluation.state, evaluation.reason)
    run_actions(backend, alarm, old_state)
    return True


def _backends() -> list[Any]:
    from moto.cloudwatch.models import cloudwatch_backends

    found: list[Any] = []
    for _account, regions in list(cloudwatch_backends.items()):
        found.extend(backend for _region, backend in list(regions.items()))
    return found


class AlarmEvaluator:
    """The background thread: evaluates each metric alarm once per (scaled) evaluation interval."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self._time_scale = parse_time_scale(time_scale, "alarm time scale")
        self._lock = threading.Lock()  # one evaluation at a time (thread, or evaluate_now)
        self._due: dict[tuple[str, int], float] = {}
        self._seen: dict[tuple[str, int], Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def time_scale(self) -> float:
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self._time_scale = parse_time_scale(value, "alarm time scale")
        with self._lock:
            self._due.clear()  # re-plan with the new interval

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="localcloud-alarms", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _run(self) -> None:
        while not self._stop.wait(max(0.02, min(1.0, 2.0 * self._time_scale))):
            try:
                self.tick(time.time())
            except Exception:  # never let the thread die: the next tick tries again
                logger.exception("alarm evaluation failed")

    def tick(self, now: float) -> int:
        """Evaluate the alarms whose evaluation is due; returns how many changed state."""
        return self._evaluate(now, force=False)

    def evaluate_now(self, now: float | None = None) -> int:
        """Evaluate every alarm at once (``now`` defaults to the clock); returns how many changed state."""
        return self._evaluate(time.time() if now is None else now, force=True)

    def _evaluate(self, now: float, force: bool) -> int:
        changed = 0
        with self._lock:
            alive = set()
            for backend in _backends():
                for alarm in list(backend.alarms.values()):
                    key = (alarm.alarm_arn, id(alarm))
                    alive.add(key)
                    interval = evaluation_interval(alarm) * self._time_scale
                    if self._seen.get(key) != alarm.state_updated_timestamp:
                        # New, or its state set by someone else (SetAlarmState): a full interval first.
                        self._seen[key] = alarm.state_updated_timestamp
                        self._due[key] = now + interval
                    if not force and now < self._due.setdefault(key, now + interval):
                        continue
                    self._due[key] = now + interval
                    try:
                        changed += apply(backend, alarm, evaluate(backend, alarm, now, self._time_scale))
                    except Exception:
                        logger.exception("could not evaluate alarm %s", alarm.name)
                    self._seen[key] = alarm.state_updated_timestamp
            for key in set(self._due) - alive:
                self._due.pop(key, None)
                self._seen.pop(key, None)
        return changed


# -- one evaluator per process (moto's state is per process) ---------------------------------------
_evaluator: AlarmEvaluator | None = None
_users = 0
_evaluator_lock = threading.Lock()


def acquire(time_scale: float) -> AlarmEvaluator:
    """Start the process's evaluator (first caller), or share it; pair with ``release()``."""
    global _evaluator, _users
    with _evaluator_lock:
        if _evaluator is None:
            _evaluator = AlarmEvaluator(time_scale)
            _evaluator.start()
        elif _evaluator.time_scale != time_scale:
            logger.warning(
                "alarm time scale %s requested, but this process's evaluator already runs at %s; keeping it",
                time_scale,
                _evaluator.time_scale,
            )
        _users += 1
        return _evaluator


def release() -> None:
    global _evaluator, _users
    with _evaluator_lock:
        _users = max(0, _users - 1)
        if _users == 0 and _evaluator is not None:
            _evaluator.stop()
            _evaluator = None
