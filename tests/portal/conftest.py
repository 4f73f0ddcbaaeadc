"""Fixtures for the portal's tests.

- `cli`: runs a management command, returns (code, stdout, stderr) as the shell would see them.
- `engine`: replaces the engine, verification and health check with scripted fakes. Used ONLY by
  tests of the CLI's shape and of the run bookkeeping (where AWS would otherwise be needed); the
  real engine through the portal is tested against moto in test_moto.py.
- `moto_target`: the real engine in moto's decorator mode (the target has no endpoint, so moto
  intercepts every call).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal import runner
from provisioning.aws import DEFAULT_EXECUTE_API_TEMPLATE, CallCounts
from provisioning.checks import Check
from provisioning.engine import DestroyRefused, RunResult, Step, StepEvent
from provisioning.health import HealthReport
from provisioning.resources.base import FieldDiff
from provisioning.verify import VerifyReport

SECRET_KEY_VALUE = "Zx9SECRETapiKEYvalue0123456789abcdefGHIJ"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli() -> Any:
    def run(*args: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = 0
        try:
            call_command(*args, stdout=out, stderr=err)
        except SystemExit as exc:
            code = int(exc.code or 0)
        except CommandError as exc:  # argparse usage errors; the shell sees exit 2 for those
            code = 2
            err.write(str(exc))
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


# --- the scripted engine ----------------------------------------------------------------------
@dataclass
class Script:
    """What the fake engine, verification and health check answer."""

    resources: list[str] = field(default_factory=lambda: ["kms_key", "table", "function", "rest_api"])
    fail_resource: str | None = None  # this step fails (apply/plan/drift/destroy)
    diffs: dict[str, list[tuple[str, Any, Any]]] = field(
        default_factory=dict
    )  # resource -> (field, wanted, found)
    outputs: dict[str, Any] = field(
        default_factory=lambda: {
            "api_endpoint": "http://127.0.0.1:4566/restapis/abc123/dev/_user_request_",
            "api_id": "abc123",
            "api_key_id": "key123",
            "api_key_value": SECRET_KEY_VALUE,  # an engine must never return it; the portal drops it anyway
            "table_name": "envport-x-items",
        }
    )
    verify_fail: list[str] = field(default_factory=list)  # names of checks that fail
    health: str = "healthy"
    alarms: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)  # (operation, suffix, option) seen

    def engine_class(self) -> type:
        script = self

        class FakeEngine:
            def __init__(
                self, spec: Any, target: Any = None, *, clients: Any = None, on_event: Any = None, **_: Any
            ) -> None:
                self.spec, self.target, self.on_event = spec, target, on_event

            def _run(self, operation: str) -> RunResult:
                steps = []
                for i, key in enumerate(script.resources):
                    started = i * 0.1
                    self.on_event(StepEvent("started", key, key, started))
                    failed = key == script.fail_resource
                    diffs = [FieldDiff(key, f, w, v) for f, w, v in script.diffs.get(key, [])]
                    action = {"apply": "create", "destroy": "delete"}.get(
                        operation, "update" if diffs else "no-op"
                    )
                    step = Step(
                        key,
                        key,
                        action,
                        "failed" if failed else "succeeded",
                        started,
                        0.05,
                        calls=3,
                        diffs=diffs,
                        error=f"{key} broke: AccessDenied" if failed else None,
                    )
                    steps.append(step)
                    self.on_event(
                        StepEvent(
                            "finished",
                            key,
                            key,
                            started,
                            step.action,
                            step.status,
                            step.seconds,
                            step.calls,
                            step.error,
                            tuple(diffs),
                        )
                    )
                error = f"{script.fail_resource}: broke" if script.fail_resource else None
                outputs = dict(script.outputs) if operation in ("apply", "plan", "drift") else {}
                counts = CallCounts(
                    total=3 * len(steps),
                    mutating=len(steps) if operation in ("apply", "destroy") else 0,
                    by_operation={"dynamodb.DescribeTable": 3 * len(steps)},
                )
                return RunResult(
                    operation, self.spec.suffix, error is None, steps, outputs, counts, 0.4, error
                )

            def plan(self) -> RunResult:
                script.calls.append(("plan", self.spec.suffix, None))
                return self._run("plan")

            def apply(self) -> RunResult:
                script.calls.append(("apply", self.spec.suffix, None))
                return self._run("apply")

            def drift(self) -> RunResult:
                script.calls.append(("drift", self.spec.suffix, None))
                return self._run("drift")

            def destroy(self, backup: bool = True) -> RunResult:
                script.calls.append(("destroy", self.spec.suffix, backup))
                if self.spec.protected:
                    raise DestroyRefused(f"environment {self.spec.suffix} has deletion protection")
                return self._run("destroy")

        return FakeEngine

    def verify(self, spec: Any, target: Any, clients: Any) -> VerifyReport:
        self.calls.append(("verify", spec.suffix, None))
        report = VerifyReport(
            spec.suffix, self.outputs["api_endpoint"], calls=CallCounts(5, 0, {"apigateway.GetApiKey": 5})
        )
        for name, status in (("create item", 201), ("read item", 200), ("no api key", 403)):
            passed = name not in self.verify_fail
            report.checks.append(
                Check(
                    name,
                    "R-VER-1",
                    passed,
                    status if passed else 500,
                    12.5,
                    str(status),
                    str(status) if passed else "500",
                )
            )
        return report

    def check_health(self, spec: Any, target: Any, clients: Any) -> HealthReport:
        self.calls.append(("health", spec.suffix, None))
        down = self.health == "down"
        return HealthReport(
            spec.suffix,
            self.health,
            list(self.alarms),
            None if down else 200,
            None if down else 8.0,
            f"{self.health} (scripted)",
        )


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Script:
    script = Script()
    monkeypatch.setattr(runner, "Engine", script.engine_class())
    monkeypatch.setattr(runner, "run_verify", script.verify)
    monkeypatch.setattr(runner, "run_health", script.check_health)
    return script


@pytest.fixture
def moto_target(settings: Any) -> Iterator[None]:
    """Real engine, moto decorator mode: an `aws` target with no endpoint, so moto intercepts."""
    from moto import mock_aws

    from localcloud import fidelity

    settings.ENVPORT_TARGET = "aws"
    settings.ENVPORT_AWS_ENDPOINT_URL = None
    settings.ENVPORT_EXECUTE_API_URL = DEFAULT_EXECUTE_API_TEMPLATE
    fidelity.apply()
    with mock_aws():
        yield


@pytest.fixture
def eager_celery() -> Iterator[None]:
    from portal.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def make_env() -> Any:
    from portal.services import environments
    from portal.services.base import Actor

    def make(suffix: str = "dev1", stage: str = "dev", status: str | None = None, **fields: Any) -> Any:
        env = environments.create_environment(Actor.cli(), suffix=suffix, stage=stage, **fields)
        if status is not None:
            type(env).objects.filter(pk=env.pk).update(status=status)
            env.refresh_from_db()
        return env

    return make


# --- the local cloud, in process (slow tests that cross HTTP) ---------------------------------------
@pytest.fixture(scope="module")
def cloud() -> Iterator[Any]:
    """One local cloud for a test module: its state is shared by the module's tests."""
    from localcloud import LocalCloud

    with LocalCloud(port=0) as running:
        yield running


@pytest.fixture
def local_target(settings: Any, cloud: Any) -> Any:
    """The portal pointed at the module's local cloud (its runs go there, as a worker's would)."""
    settings.ENVPORT_TARGET = "local"
    settings.ENVPORT_AWS_ENDPOINT_URL = cloud.endpoint_url
    settings.ENVPORT_EXECUTE_API_URL = cloud.stage_url_template
    return cloud


def migrate_to(target: list[tuple[str, str | None]]) -> Any:
    """Migrate the test database to `target` (an app's None: before its first migration); the
    project state's apps there, for the rows a migration test writes and reads."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state([node for node in target if node[1] is not None]).apps


@pytest.fixture
def back_to_the_latest_migrations() -> Iterator[None]:
    """A migration test moves the test database back and forth; afterwards it is at the latest
    migrations again, which the tests after it (in the same process) write through."""
    yield
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
