"""Each request prints its metrics once, in embedded metric format (R-FN-10).

The document must be what CloudWatch Logs extracts ("Specification: Embedded metric format",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
a root `_aws` member with `Timestamp` and `CloudWatchMetrics`, whose metric and dimension names are
members of the root. The local cloud's extractor follows that specification, so it judges here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from bundle_helpers import Call

from lambda_bundle import metrics, store
from localcloud.cloudwatch.metrics import emf_metric_data


def _emf(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip() and '"_aws"' in line]


def _metrics(document: dict[str, Any]) -> dict[str, float]:
    """Metric name -> value, as CloudWatch would extract them (and checked to be extractable)."""
    [(namespace, data)] = emf_metric_data(json.dumps(document))
    assert namespace == "envport"
    assert all(d["Dimensions"] == [{"Name": "Environment", "Value": "lbtest"}] for d in data)
    return {d["MetricName"]: sum(d["Values"]) if "Values" in d else d["Value"] for d in data}


def test_a_create_counts_one_request_and_one_created_item(
    call: Call, capsys: pytest.CaptureFixture[str]
) -> None:
    # R-FN-10
    capsys.readouterr()
    item = call("POST", "/items", {"name": "a"}).json
    [created] = _emf(capsys)
    assert _metrics(created) == {"Requests": 1, "ItemsCreated": 1}

    call("PUT", f"/items/{item['id']}", {"name": "b", "version": item["version"]})
    call("DELETE", f"/items/{item['id']}")
    call("GET", "/items")
    updated, deleted, listed = (_metrics(document) for document in _emf(capsys))
    assert updated == {"Requests": 1, "ItemsUpdated": 1}
    assert deleted == {"Requests": 1, "ItemsDeleted": 1}
    assert listed == {"Requests": 1}  # nothing leaks from one request into the next


def test_errors_are_counted_and_failed_writes_are_not(
    call: Call, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-FN-10
    capsys.readouterr()
    call("POST", "/items", raw_body="{not json")
    call("PATCH", "/items")
    [bad_json, not_allowed] = (_metrics(document) for document in _emf(capsys))
    assert bad_json == not_allowed == {"Requests": 1, "ClientErrors": 1}

    def explode(fields: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "create_item", explode)
    call("POST", "/items", {"name": "a"})
    [failed] = _emf(capsys)
    assert _metrics(failed) == {"Requests": 1, "ServerErrors": 1}


def test_a_metrics_failure_never_fails_the_request(
    call: Call, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-FN-8 the answer does not depend on the metrics; the failure is logged.
    def broken(method: str, status: int) -> None:
        raise ValueError("metrics backend broken")

    monkeypatch.setattr(metrics, "record_request", broken)
    capsys.readouterr()
    assert call("GET", "/items").status == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    failure = next(line for line in lines if line["message"] == "metrics not recorded")
    assert failure["level"] == "ERROR" and "metrics backend broken" in failure["exception"]
