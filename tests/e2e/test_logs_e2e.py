"""A failing request's check links to its log lines, against the local cloud (issue 19 items 2-3).

The environment is provisioned by the real engine; its table is then deleted, so the function
answers the journey's first request with a 500 and logs the exception. The failed check carries
the request id API Gateway answered with (`x-amzn-RequestId`), and that id alone finds the
function's lines for the request and the runtime's START/END/REPORT lines of its invocation; the
errors view groups the exception at the frame of our code that raised it, with its version.
"""

from __future__ import annotations

import time

import pytest

from localcloud import LocalCloud
from provisioning import logs as L
from provisioning.aws import AwsTarget
from provisioning.engine import Engine
from provisioning.spec import build_spec
from provisioning.verify import verify

pytestmark = pytest.mark.slow


def test_a_failed_checks_request_id_finds_its_log_lines(local_cloud: LocalCloud, target: AwsTarget) -> None:
    """Issue 19: a failing request's check links to its log lines, and the error is grouped."""
    spec = build_spec(suffix="logs-e2e", stage="dev", alarm_emails=["ops@example.com"])
    result = Engine(spec, target).apply()
    assert result.ok, result.error
    local_cloud.client("dynamodb").delete_table(TableName=spec.names.table)

    report = verify(spec, target, settle_s=1.0)
    create = report.check("create item")
    assert not create.passed and create.status == 500
    assert create.request_id, "the check records the request id its answer carried"

    logs = local_cloud.client("logs")
    deadline = time.monotonic() + 15
    while True:
        view = L.function_logs(logs, spec.names, L.Window.last(900), request_id=create.request_id)
        kinds = [r.kind for r in view.rows]
        if kinds.count("runtime") >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    own = [r for r in view.rows if r.kind == "json"]
    assert own and all(r.request_id == create.request_id for r in own)
    failure = next(r for r in own if r.exception_name)
    assert failure.exception_name == "ResourceNotFoundException" and failure.level == "ERROR"
    runtime = [r for r in view.rows if r.kind == "runtime"]
    assert [r.raw.split(" ", 1)[0] for r in runtime] == ["START", "END", "REPORT"]
    assert {r.lambda_request_id for r in runtime} == {failure.lambda_request_id}
    assert failure.version and failure.version != "$LATEST"  # served through the live alias's version

    errors = L.function_errors(logs, spec.names, L.Window.last(900))
    group = next(g for g in errors.groups if create.request_id in g.request_ids)
    assert group.exception == "ResourceNotFoundException"
    assert group.frame.startswith("lambda_bundle/store.py in ")
    assert failure.version in group.versions
