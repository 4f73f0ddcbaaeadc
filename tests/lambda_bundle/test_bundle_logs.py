"""Structured JSON logs (R-FN-10): one object per line, request ids, no API key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bundle_helpers import API_KEY, API_REQUEST_ID, Call, lambda_context

from lambda_bundle import logs, store


def _output(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    captured = capsys.readouterr()
    assert API_KEY not in captured.out and API_KEY not in captured.err  # never log the key
    return [json.loads(line) for line in captured.out.splitlines() if line.strip()]


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The log lines, without the one embedded-metric-format document each request prints."""
    return [line for line in _output(capsys) if "_aws" not in line]


def test_each_request_logs_one_json_line_with_both_request_ids(
    call: Call, capsys: pytest.CaptureFixture[str]
) -> None:
    # R-FN-10
    capsys.readouterr()
    response = call("POST", "/items", {"name": "a"}, context=lambda_context("lambda-req-9"))
    lines = _lines(capsys)
    assert len(lines) == 1
    line = lines[0]
    assert line["message"] == "request handled" and line["level"] == "INFO"
    assert line["requestId"] == API_REQUEST_ID == response.json.get("requestId", API_REQUEST_ID)
    assert line["lambdaRequestId"] == "lambda-req-9"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/items", 201)
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    assert line["timestamp"].endswith("Z") and line["environment"] == "lbtest"


def test_error_bodies_quote_the_logged_request_id(call: Call, capsys: pytest.CaptureFixture[str]) -> None:
    # R-FN-10 a client quoting the id of a failed call can find its log line.
    capsys.readouterr()
    response = call("GET", "/items/missing", request_id="api-req-404")
    line = _lines(capsys)[-1]
    assert response.json["requestId"] == line["requestId"] == "api-req-404"
    assert line["level"] == "WARNING" and line["status"] == 404 and "not found" in line["error"]


def test_500_detail_goes_to_the_log_not_the_body(
    call: Call, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-FN-8 / R-FN-10
    def explode(item_id: str) -> None:
        raise RuntimeError("the internal detail")

    monkeypatch.setattr(store, "get_item", explode)
    capsys.readouterr()
    response = call("GET", "/items/abc")
    lines = _lines(capsys)
    assert "the internal detail" not in response.body
    failure = next(line for line in lines if line["message"] == "unhandled error")
    assert failure["level"] == "ERROR" and failure["requestId"] == API_REQUEST_ID
    assert "RuntimeError: the internal detail" in failure["exception"]
    assert lines[-1]["status"] == 500


def test_context_none_and_missing_api_request_id(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    from bundle_helpers import invoke, make_event

    event = make_event("GET", "/items")
    del event["requestContext"]
    capsys.readouterr()
    response = invoke(event, None)
    line = _lines(capsys)[-1]
    assert response.status == 200 and line["requestId"] and "lambdaRequestId" not in line
    assert invoke(make_event("GET", "/items/x"), lambda_context("l-1")).json["requestId"] == API_REQUEST_ID


def test_log_level_is_respected(
    call: Call, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-FN-10 LOG_LEVEL is read at call time.
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    capsys.readouterr()
    call("GET", "/items")
    assert _lines(capsys) == []
    call("GET", "/items/missing")
    assert [line["status"] for line in _lines(capsys)] == [404]

    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    call("GET", "/items")
    assert [line["message"] for line in _lines(capsys)] == ["route resolved", "request handled"]

    monkeypatch.setenv("LOG_LEVEL", "chatty")  # unknown values fall back to INFO
    call("GET", "/items")
    assert [line["level"] for line in _lines(capsys)] == ["INFO"]


def test_credentials_are_redacted_wherever_they_appear(capsys: pytest.CaptureFixture[str]) -> None:
    # R-FN-10 second line of defence: a field named like a credential never reaches the log.
    logger = logs.configure()
    logger.warning("oops", extra={"headers": {"X-Api-Key": API_KEY, "Authorization": "Bearer t"}})
    line = _lines(capsys)[-1]
    assert line["headers"] == {"X-Api-Key": "[redacted]", "Authorization": "[redacted]"}


def test_logger_does_not_duplicate_lines_through_the_root_logger(
    call: Call, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure()
    logs.configure()
    logger = logs.get_logger()
    json_handlers = [h for h in logger.handlers if isinstance(h.formatter, logs.JsonFormatter)]
    assert len(json_handlers) == 1 and logger.propagate is False
    capsys.readouterr()
    call("GET", "/items")
    assert len(_lines(capsys)) == 1
