"""CloudWatch's arithmetic over moto's stored data points: which data belong to a metric, the
statistics of a period (including percentiles), and simple metric math.

Used by the CloudWatch fidelity fixes (``get_metric_statistics``, ``get_metric_data``) and by the
alarm evaluator (``alarms.py``), so that a query and an alarm see the same numbers.

- A metric is its namespace, name and exact set of dimensions: "CloudWatch treats each unique
  combination of dimensions as a separate metric ... You can only retrieve statistics using
  combinations of dimensions that you specifically published"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#dimension-combinations).
- Percentiles ``pNN`` / ``pNN.N`` are computed from the raw values (nearest rank) of data put with
  ``Value`` or ``Values``; data put as ``StatisticValues`` has no values to rank, as on AWS, where
  percentiles of such data are not available. Other extended statistics (``tm90``, ``IQM``, ...) are
  not computed: their value is ``None``, never an error.
- Metric math: ids, numbers, ``+ - * /``, parentheses, and ``SUM``, ``AVG``, ``MIN``, ``MAX`` of an
  array ``[m1, m2, ...]`` (the functions ignore series without data in a period, as AWS's do). Anything
  else raises ``UnsupportedExpression``.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PERCENTILE = re.compile(r"^p(?P<p>100|\d{1,2}(\.\d{1,10})?)$")
STANDARD = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
MATH_FUNCTIONS = ("SUM", "AVG", "MIN", "MAX")


class UnsupportedExpression(ValueError):
    """A metric math expression this emulation does not evaluate."""


def naive_utc(value: dt.datetime) -> dt.datetime:
    """moto stores naive UTC datetimes; requests may carry aware ones."""
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def dimension_pairs(dimensions: Iterable[Any]) -> frozenset[tuple[str, str]]:
    """Dimensions as a set of (name, value): from moto Dimension objects or {"Name", "Value"} dicts."""
    pairs = set()
    for dimension in dimensions or ():
        if isinstance(dimension, Mapping):
            pairs.add((str(dimension.get("Name")), str(dimension.get("Value"))))
        else:
            pairs.add((str(dimension.name), str(dimension.value)))
    return frozenset(pairs)


def metric_data(
    backend: Any,
    namespace: str | None,
    name: str | None,
    dimensions: Iterable[Any],
    unit: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> list[Any]:
    """The data points of one metric (exact dimension set), optionally of one unit and in [start, end)."""
    wanted = dimension_pairs(dimensions)
    start = naive_utc(start) if start is not None else None
    end = naive_utc(end) if end is not None else None
    found = []
    for datum in list(backend.get_all_metrics()):
        if datum.namespace != namespace or datum.name != name:
            continue
        if unit and datum.unit != unit:
            continue
        stamp = naive_utc(datum.timestamp)
        if (start is not None and stamp < start) or (end is not None and stamp >= end):
            continue
        if dimension_pairs(datum.dimensions) == wanted:
            found.append(datum)
    return found


def percentile_of(stat: str) -> float | None:
    match = PERCENTILE.match(stat or "")
    return float(match.group("p")) if match else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of ``values`` (p in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def statistic(data: Sequence[Any], stat: str) -> float | None:
    """One statistic of the data points of a period; None when it has no value for them."""
    singles = [float(d.value) for d in data if hasattr(d, "value")]
    aggregated = [d for d in data if not hasattr(d, "value") and hasattr(d, "sample_count")]
    count = len(singles) + sum(float(a.sample_count) for a in aggregated)
    if not count:
        return None
    if stat == "SampleCount":
        return count
    if stat == "Sum":
        return sum(singles) + sum(float(a.sum) for a in aggregated)
    if stat == "Average":
        return (sum(singles) + sum(float(a.sum) for a in aggregated)) / count
    if stat == "Minimum":
        return min(singles + [float(a.min) for a in aggregated])
    if stat == "Maximum":
        return max(singles + [float(a.max) for a in aggregated])
    p = percentile_of(stat)
    if p is not None:
        return percentile(singles, p)
    return None


def bucket(data: Sequence[Any], windows: Sequence[tuple[dt.datetime, dt.datetime]]) -> list[list[Any]]:
    """The data points of each [start, end) window."""
    out: list[list[Any]] = [[] for _ in windows]
    for datum in data:
        stamp = naive_utc(datum.timestamp)
        for index, (start, end) in enumerate(windows):
            if start <= stamp < end:
                out[index].append(datum)
                break
    return out


# -- metric math ------------------------------------------------------------------------------------
Series = Mapping[dt.datetime, float]


def evaluate_expression(expression: str, series: Mapping[str, Series]) -> dict[dt.datetime, float]:
    """Evaluate a metric math expression over the series of the ids it names, period by period."""
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as exc:
        raise UnsupportedExpression(f"not an expression this local cloud evaluates: {expression!r}") from exc
    names = _check(tree, series)
    stamps = sorted({stamp for name in names for stamp in series[name]})
    result = {}
    for stamp in stamps:
        value = _value(tree, series, stamp)
        if value is not None and not isinstance(value, list) and math.isfinite(value):
            result[stamp] = value
    return result


def _check(node: ast.AST, series: Mapping[str, Series]) -> set[str]:
    """Refuse what is not supported before evaluating; returns the ids used."""
    if isinstance(node, ast.Name):
        if node.id not in series:
            raise UnsupportedExpression(f"unknown metric id {node.id!r}")
        return {node.id}
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return set()
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return _check(node.left, series) | _check(node.right, series)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _check(node.operand, series)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in MATH_FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.List)
    ):
        used: set[str] = set()
        for element in node.args[0].elts:
            used |= _check(element, series)
        return used
    raise UnsupportedExpression(
        f"unsupported metric math ({ast.unparse(node)}): ids, numbers, + - * / and "
        f"{', '.join(MATH_FUNCTIONS)} of [ids] are evaluated"
    )


def _value(node: ast.AST, series: Mapping[str, Series], stamp: dt.datetime) -> float | None:
    if isinstance(node, ast.Name):
        return series[node.id].get(stamp)
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]  # a number: _check refused anything else
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, series, stamp)
        return None if operand is None else -operand
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left, series, stamp), _value(node.right, series, stamp)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right if right else None
    assert (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and isinstance(node.args[0], ast.List)
    )
    values = [v for v in (_value(e, series, stamp) for e in node.args[0].elts) if v is not None]
    if not values:
        return None
    name = node.func.id
    if name == "SUM":
        return sum(values)
    if name == "AVG":
        return sum(values) / len(values)
    return min(values) if name == "MIN" else max(values)
