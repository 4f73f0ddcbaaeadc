"""Application metrics in CloudWatch's embedded metric format (EMF), through Powertools.

One EMF document per request, printed to stdout with the log lines: CloudWatch Logs extracts
its metrics (the local cloud does the same, `localcloud/cloudwatch/metrics.py`), so counting needs no
PutMetricData call and no permission. Namespace ``envport``, one dimension ``Environment``
(the environment suffix), metrics:

``Requests``      1 per request (every status)
``ClientErrors``  1 when the answer is a 4xx
``ServerErrors``  1 when the answer is a 5xx
``ItemsCreated`` / ``ItemsUpdated`` / ``ItemsDeleted``  1 when a write succeeded

Powertools' `Metrics` keeps its metric set at class level; the handler flushes it at the end of
every request, so nothing leaks from one request into the next.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import Metrics, MetricUnit

from . import config

NAMESPACE = "envport"
DIMENSION = "Environment"
# Which write a successful (2xx) answer to a method stands for.
WRITES = {"POST": "ItemsCreated", "PUT": "ItemsUpdated", "DELETE": "ItemsDeleted"}

_metrics: Metrics | None = None


def _instance() -> Metrics:
    global _metrics
    if _metrics is None:
        _metrics = Metrics(namespace=NAMESPACE)
    return _metrics


def record_request(method: str, status: int) -> None:
    """Add this request's metrics and print them as one EMF line (stdout, i.e. the log)."""
    metrics = _instance()
    metrics.add_dimension(name=DIMENSION, value=config.environment() or "unknown")
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if 400 <= status < 500:
        metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)
    elif status >= 500:
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
    elif method in WRITES:  # a 2xx answer to a write: the item was written
        metrics.add_metric(name=WRITES[method], unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    metrics.clear_metrics()  # flush clears too, unless POWERTOOLS_METRICS_DISABLED made it print nothing
