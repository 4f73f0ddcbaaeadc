"""The log and error views of the engine (issue 19 items 2-3), on moto's CloudWatch Logs with lines
in the formats the bundle (Powertools' Logger, made here by the real handler) and the Lambda
runtime write."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from provisioning import logs as L
from provisioning.aws import AwsClients
from provisioning.spec import EnvironmentSpec

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

LATEST = "2026/12/07/[$LATEST]0a1b2c3d"
V3 = "2026/12/07/[3]4e5f6a7b"
V4 = "2026/12/07/[4]8c9d0e1f"
API_ID = "9f1c7a52-0b3e-4c1e-9d6a-1a2b3c4d5e6f"
LAMBDA_ID = "3e0b6f8d-52f1-4a8e-8c1d-77aa00bb11cc"
API_KEY_VALUE = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"


def bundle_lines(api_id: str, lambda_id: str, *, table: str = "no-such-table") -> list[str]:
    """What the real handler prints for a GET /items whose table is missing: the exception line of
    `logger.exception` and the 500's `request handled` line."""
    from types import SimpleNamespace

    from lambda_bundle import store
    from lambda_bundle.handler import lambda_handler

    event = {
        "resource": "/items",
        "path": "/items",
        "httpMethod": "GET",
        "headers": {"x-api-key": API_KEY_VALUE},
        "requestContext": {"requestId": api_id, "path": "/dev/items", "stage": "dev"},
    }
    store.reset_client()
    out = io.StringIO()
    with redirect_stdout(out):
        answer = lambda_handler(event, SimpleNamespace(aws_request_id=lambda_id))
    store.reset_client()
    assert answer["statusCode"] == 500
    return [line for line in out.getvalue().splitlines() if line.strip()]


def runtime_lines(lambda_id: str, version: str) -> list[str]:
    return [
        f"START RequestId: {lambda_id} Version: {version}",
        f"END RequestId: {lambda_id}",
        f"REPORT RequestId: {lambda_id}\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 71 MB\tInit Duration: 250.10 ms",
    ]


@pytest.fixture
def bundle_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def group(aws: AwsClients, spec: EnvironmentSpec) -> Iterator[Any]:
    client = aws.client("logs")
    client.create_log_group(logGroupName=spec.names.function_log_group)
    for stream in (LATEST, V3, V4):
        client.create_log_stream(logGroupName=spec.names.function_log_group, logStreamName=stream)
    yield client


def put(client: Any, group: str, stream: str, lines: list[str], at_ms: int) -> None:
    client.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": at_ms + i, "message": line} for i, line in enumerate(lines)],
    )


def now_ms() -> int:
    return int(time.time() * 1000)


# --- input bounds ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("24h", 86400), ("7d", 604800), ("30d", 2592000)]
)
def test_since_parses(text: str, seconds: int) -> None:
    assert L.parse_since(text, "15m") == seconds


@pytest.mark.parametrize("text", ["31d", "0m", "15", "m", "-5m", "1w", "9999999d", "15m; drop", "1e3s", " "])
def test_since_out_of_bounds_names_what_is_allowed(text: str) -> None:
    """Hostile or malformed windows are refused before any AWS call, saying what is allowed."""
    with pytest.raises(L.LogQueryError) as caught:
        L.parse_since(text if text.strip() else "x", "15m")
    assert "at most 30d" in caught.value.problems[0]


def test_pattern_and_request_id_bounds() -> None:
    assert L.check_pattern('{ $.level = "ERROR" }') == '{ $.level = "ERROR" }'
    with pytest.raises(L.LogQueryError, match="at most 1024"):
        L.check_pattern("a" * 1025)
    with pytest.raises(L.LogQueryError, match="control characters"):
        L.check_pattern("ERROR\nX")
    assert L.check_request_id(API_ID) == API_ID
    for hostile in ('" OR "', "a" * 65, "abc", "x y z 1234", "../../etc/passwd"):
        with pytest.raises(L.LogQueryError, match="8 to 64"):
            L.check_request_id(hostile)
    assert L.check_status("5xx") == "5xx" and L.check_status("503") == "503"
    with pytest.raises(L.LogQueryError, match="a class"):
        L.check_status("6xx")


# --- parsing -----------------------------------------------------------------------------------
def test_the_bundles_json_lines_become_structured_rows(mocked_aws: None, bundle_env: None) -> None:
    """Issue 19 item 2: level, request id and message of the function's JSON lines, as the real
    handler writes them (Powertools' Logger), and the exception's type and traceback."""
    lines = bundle_lines(API_ID, LAMBDA_ID)
    rows = [L.parse_function_event({"timestamp": 1, "message": line, "logStreamName": V3}) for line in lines]
    exc, handled, emf = rows
    assert exc.kind == "json" and exc.level == "ERROR" and exc.message == "unhandled error"
    assert exc.request_id == API_ID and exc.lambda_request_id == LAMBDA_ID
    assert exc.exception_name and "Traceback" in exc.exception
    assert exc.version == "3"
    assert handled.message == "request handled" and handled.status == 500
    assert emf.kind == "metric"  # the embedded metric format line
    assert API_KEY_VALUE not in "".join(lines)  # the bundle never logs the key (R-FN-10)


def test_runtime_lines_are_raw_rows_with_their_request_id() -> None:
    """Issue 19 item 2: START/END/REPORT shown raw, their request id parsed, REPORT's figures read."""
    rows = [
        L.parse_function_event({"timestamp": 1, "message": m, "logStreamName": LATEST})
        for m in runtime_lines(LAMBDA_ID, "$LATEST")
    ]
    assert [r.kind for r in rows] == ["runtime"] * 3
    assert all(r.lambda_request_id == LAMBDA_ID and r.version == "$LATEST" for r in rows)
    assert rows[0].raw.startswith("START RequestId:")
    assert rows[2].fields == {
        "Duration": 12.34,
        "Billed Duration": 13.0,
        "Memory Size": 256.0,
        "Max Memory Used": 71.0,
        "Init Duration": 250.1,
    }
    unhandled = L.parse_function_event(
        {
            "timestamp": 2,
            "message": "[ERROR] KeyError: 'id'\nTraceback (most recent call last):\n"
            '  File "/var/task/lambda_bundle/items.py", line 9, in parse_item\n',
            "logStreamName": V4,
        }
    )
    assert (unhandled.kind, unhandled.level, unhandled.exception_name) == ("error", "ERROR", "KeyError")
    plain = L.parse_function_event(
        {
            "timestamp": 3,
            "message": f"[WARNING]\t2026-12-07T10:00:00.000Z\t{LAMBDA_ID}\tslow",
            "logStreamName": V4,
        }
    )
    assert (plain.level, plain.lambda_request_id, plain.message) == ("WARNING", LAMBDA_ID, "slow")


def test_versions_come_from_stream_names() -> None:
    assert L.version_of(LATEST) == "$LATEST"
    assert L.version_of(V3) == "3"
    assert L.version_of("apigateway-stream") == ""


# --- views on moto -----------------------------------------------------------------------------
# R-OBS-2
def test_function_logs_for_a_request_id_include_its_runtime_lines(
    group: Any, spec: EnvironmentSpec, bundle_env: None
) -> None:
    """Issue 19 item 2: a check's request id (API Gateway's) finds the function's lines for it and
    the START/END/REPORT lines of the invocation they name, and nothing of another request."""
    at = now_ms() - 60_000
    name = spec.names.function_log_group
    other_api, other_lambda = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
    put(
        group,
        name,
        V3,
        [
            runtime_lines(LAMBDA_ID, "3")[0],
            *bundle_lines(API_ID, LAMBDA_ID),
            *runtime_lines(LAMBDA_ID, "3")[1:],
        ],
        at,
    )
    put(
        group, name, V4, [*runtime_lines(other_lambda, "4"), *bundle_lines(other_api, other_lambda)], at + 100
    )
    view = L.function_logs(group, spec.names, L.Window.last(900), request_id=API_ID)
    kinds = [r.kind for r in view.rows]
    assert kinds.count("runtime") == 3 and kinds.count("json") == 2
    assert all(API_ID in r.ids or LAMBDA_ID in r.ids for r in view.rows)
    assert view.calls == 3  # the id, its one invocation's id, and its stream from START to END
    everything = L.function_logs(group, spec.names, L.Window.last(900))
    assert len(everything.rows) == 12  # each request: 3 runtime lines, 2 JSON lines, 1 EMF line
    assert [r.timestamp for r in everything.rows] == sorted(r.timestamp for r in everything.rows)


def test_a_request_includes_the_lines_of_its_invocation_that_carry_no_id(
    group: Any, spec: EnvironmentSpec
) -> None:
    """Issue 19 item 2: the runtime's `[ERROR]` for an exception the handler let out carries no
    request id; it is the request's because it sits on the invocation's stream between its START and
    its END. A line of another stream at the same time is not."""
    name = spec.names.function_log_group
    at = now_ms() - 10_000
    start, end, report = runtime_lines(LAMBDA_ID, "4")
    unhandled = "[ERROR] RuntimeError: broken on purpose"
    put(group, name, V4, [start, "  some library print", unhandled, end, report], at)
    put(group, name, V3, ["[ERROR] RuntimeError: another environment's"], at + 2)
    view = L.function_logs(group, spec.names, L.Window.last(60), request_id=LAMBDA_ID)
    assert [r.raw.split(":")[0] for r in view.rows] == [
        "START RequestId",
        "  some library print",
        "[ERROR] RuntimeError",
        "END RequestId",
        "REPORT RequestId",
    ]
    assert all(r.lambda_request_id == LAMBDA_ID and r.version == "4" for r in view.rows)
    assert view.calls == 2  # the id (a Lambda id itself), then its stream from START to END


# R-OBS-2
def test_filter_pattern_is_passed_through(group: Any, spec: EnvironmentSpec) -> None:
    name = spec.names.function_log_group
    put(
        group,
        name,
        LATEST,
        ['{"level": "INFO", "message": "alpha"}', '{"level": "INFO", "message": "beta"}'],
        now_ms() - 1000,
    )
    view = L.function_logs(group, spec.names, L.Window.last(60), pattern="beta")
    assert [r.message for r in view.rows] == ["beta"]
    assert view.pattern == "beta"


def test_a_view_stops_at_its_event_and_page_caps(group: Any, spec: EnvironmentSpec) -> None:
    """Bounded: at most max_events rows and max_pages calls, and the view says it was cut."""
    name = spec.names.function_log_group
    put(group, name, LATEST, [f'{{"level": "INFO", "message": "m{i}"}}' for i in range(60)], now_ms() - 5000)
    view = L.function_logs(group, spec.names, L.Window.last(60), bounds=L.Bounds(max_events=25))
    assert len(view.rows) == 25 and view.truncated and "first 25 events" in view.reason
    original = L.PAGE_LIMIT
    try:
        L.PAGE_LIMIT = 10
        paged = L.function_logs(group, spec.names, L.Window.last(60), bounds=L.Bounds(max_pages=2))
    finally:
        L.PAGE_LIMIT = original
    assert paged.calls == 2 and len(paged.rows) == 20 and paged.truncated and "2 pages" in paged.reason


def test_a_missing_log_group_is_an_empty_view_with_its_reason(aws: AwsClients, spec: EnvironmentSpec) -> None:
    view = L.function_logs(aws.client("logs"), spec.names, L.Window.last(60))
    assert view.rows == [] and "does not exist" in view.reason


def test_access_log_filtered_by_status(aws: AwsClients, spec: EnvironmentSpec) -> None:
    """Issue 19 item 2: the stage's access log (its JSON format) as rows, filtered by a status or a class."""
    from provisioning.resources.rest_api_parts import ACCESS_LOG_FIELDS

    client = aws.client("logs")
    group = spec.names.access_log_group
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="stage")

    def line(rid: str, status: str) -> str:
        values = {k: "-" for k in ACCESS_LOG_FIELDS}
        values.update(requestId=rid, status=status, httpMethod="GET", path="/dev/items")
        return json.dumps(values)

    ids = [f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd" for i in range(4)]
    put(
        client,
        group,
        "stage",
        [line(ids[0], "200"), line(ids[1], "502"), line(ids[2], "503"), line(ids[3], "403")],
        now_ms() - 1000,
    )
    five = L.access_logs(client, spec.names, L.Window.last(60), status="5xx")
    assert [r.request_id for r in five.rows] == ids[1:3] and all(r.level == "ERROR" for r in five.rows)
    assert [r.status for r in L.access_logs(client, spec.names, L.Window.last(60), status="403").rows] == [
        403
    ]
    one = L.access_logs(client, spec.names, L.Window.last(60), request_id=ids[0])
    assert [r.message for r in one.rows] == ["GET /dev/items 200"]


# --- grouped errors ----------------------------------------------------------------------------
# R-OBS-3
def test_errors_group_by_exception_and_top_frame_of_our_code(
    group: Any, spec: EnvironmentSpec, bundle_env: None
) -> None:
    """Issue 19 item 3: the same exception at the same frame of ours is one group, across versions,
    with its count, first and last seen, versions and a sample; another exception is another."""
    name = spec.names.function_log_group
    at = now_ms() - 120_000
    put(group, name, V3, bundle_lines("a1111111-0000-0000-0000-000000000001", "b1"), at)
    put(group, name, V4, bundle_lines("a1111111-0000-0000-0000-000000000002", "b2"), at + 1000)
    put(group, name, V4, bundle_lines("a1111111-0000-0000-0000-000000000003", "b3"), at + 2000)
    unhandled = (
        "[ERROR] KeyError: 'id'\nTraceback (most recent call last):\n"
        '  File "/var/task/lambda_bundle/items.py", line 9, in parse_item\n'
        '  File "/var/lang/lib/python3.11/site-packages/botocore/client.py", line 1, in _api_call\n'
    )
    put(group, name, LATEST, [unhandled, '{"level": "INFO", "message": "fine"}'], at + 3000)
    report = L.function_errors(group, spec.names, L.Window.last(900))
    assert [g.count for g in report.groups] == [3, 1]
    missing_table, key_error = report.groups
    assert missing_table.exception == "ResourceNotFoundException"
    assert missing_table.frame.startswith("lambda_bundle/store.py in ")  # ours, not botocore's
    assert missing_table.versions == ["3", "4"]
    assert missing_table.first_seen == at and missing_table.last_seen == at + 2000
    assert missing_table.sample is not None and missing_table.sample.request_id.endswith("3")
    assert len(missing_table.request_ids) == 3
    assert (key_error.exception, key_error.frame, key_error.versions) == (
        "KeyError",
        "lambda_bundle/items.py in parse_item",
        ["$LATEST"],
    )


def test_top_frame_skips_library_frames() -> None:
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/var/task/lambda_bundle/handler.py", line 50, in lambda_handler\n'
        '  File "/var/task/lambda_bundle/store.py", line 77, in get_item\n'
        '  File "/var/task/aws_lambda_powertools/x.py", line 3, in y\n'
        '  File "/var/runtime/botocore/client.py", line 5, in _make_api_call\n'
        "botocore.exceptions.ClientError: boom\n"
    )
    assert L.top_frame(trace) == ("lambda_bundle/store.py in get_item", 77)
    assert L.top_frame('  File "/x/site-packages/lambda_bundle/a.py", line 1, in f\n') == ("", None)


# --- redaction ---------------------------------------------------------------------------------
def test_keys_and_bearer_tokens_never_leave_a_view(group: Any, spec: EnvironmentSpec) -> None:
    """Key values and secrets never appear: the API key's value, a bearer token, a JWT."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
    lines = [
        json.dumps({"level": "INFO", "message": f"key {API_KEY_VALUE}", "header": f"Bearer {jwt}"}),
        f"[ERROR] ValueError: Authorization: Bearer abc.def.ghijklmnop and {API_KEY_VALUE}",
        f"plain {jwt}",
    ]
    put(group, spec.names.function_log_group, LATEST, lines, now_ms() - 1000)
    view = L.function_logs(group, spec.names, L.Window.last(60), redact=L.redactor([API_KEY_VALUE]))
    text = json.dumps(view.to_dict())
    assert API_KEY_VALUE not in text and jwt not in text and "abc.def.ghijklmnop" not in text
    assert text.count(L.REDACTED) >= 5
