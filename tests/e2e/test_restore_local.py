"""Restores into a local-cloud environment, read back through the environment's own HTTP API
(issue 20 items 2-3 and its done-when, R-REC-1 and R-REC-2).

The local cloud keeps each table's item history, so a restore to a noted time returns the items as
they were then (tests/localcloud cover that against the AWS pages). Here the whole cut-over runs:
restore, bring to spec, verify, the journey against the new version, the alias moves, and the
original items come back over HTTP; `undo` brings the corrupted state back; a clone with a mask
holds the source's items with the e-mail replaced consistently; drift is clean after each; and a
restore whose worker dies in the middle of its cut-over finishes once, with one live table.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud import LocalCloud
from provisioning import http, retained
from provisioning.aws import AwsClients, AwsTarget
from provisioning.engine import Engine
from provisioning.names import LIVE_ALIAS
from provisioning.restore import (
    DONE,
    FAILED,
    PUBLISHED,
    SWITCHED,
    RestoreEvent,
    RestoreRefused,
    RestoreState,
    parse_request,
    restore,
    with_table,
)
from provisioning.restore_data import MASK_PREFIX
from provisioning.spec import EnvironmentSpec, build_spec

pytestmark = pytest.mark.slow


@dataclass
class Env:
    spec: EnvironmentSpec
    target: AwsTarget
    cloud: LocalCloud
    endpoint: str
    key: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> http.Response:
        headers = {"x-api-key": self.key, "content-type": "application/json"}
        payload = json.dumps(body) if body is not None else None
        return http.request(method, self.endpoint + path, headers=headers, body=payload)

    def create(self, **fields: Any) -> str:
        resp = self.call("POST", "/items", fields)
        assert resp.status == 201, (resp.status, resp.body)
        return str(resp.json()["id"])

    def read(self, item_id: str) -> dict[str, Any] | None:
        resp = self.call("GET", f"/items/{item_id}")
        assert resp.status in (200, 404), (resp.status, resp.body)
        return resp.json() if resp.status == 200 else None

    def drift_clean(self) -> list[str]:
        result = Engine(self.spec, self.target).drift()
        assert result.ok, result.error
        return [f"{d.resource}.{d.field}: wanted {d.wanted!r} found {d.found!r}" for d in result.findings]

    def serving_table(self) -> str:
        lam = self.cloud.client("lambda")
        alias = lam.get_alias(FunctionName=self.spec.names.function, Name=LIVE_ALIAS)
        config = lam.get_function_configuration(
            FunctionName=self.spec.names.function, Qualifier=alias["FunctionVersion"]
        )
        return str(config["Environment"]["Variables"]["TABLE_NAME"])


def _provision(cloud: LocalCloud, target: AwsTarget, suffix: str) -> Env:
    spec = build_spec(suffix=suffix, stage="dev", overrides={"pitr": True})
    result = Engine(spec, target).apply()
    assert result.ok, result.error
    key_id = result.outputs["api_key_id"]
    key = cloud.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    return Env(spec, target, cloud, result.outputs["api_endpoint"], key)


def _noted_time() -> dt.datetime:
    """A moment between the writes before and after it, at whole-second-safe distance."""
    time.sleep(1.2)
    moment = dt.datetime.now(dt.UTC)
    time.sleep(1.2)
    return moment


def _run(env: Env, operation: str, **kwargs: Any) -> Any:
    request = parse_request(env.spec, operation=operation, **kwargs)
    result = restore(env.spec, AwsClients(env.target), request, sleep=time.sleep)
    assert result.ok, (result.error, result.state.reason)
    env.spec = with_table(env.spec, result.state.new_table)
    return result


@pytest.fixture(scope="module")
def env(local_cloud: LocalCloud, target: AwsTarget) -> Env:
    return _provision(local_cloud, target, "rst-e2e")


def test_restore_to_a_noted_time_brings_the_originals_back_over_http(env: Env) -> None:
    # R-REC-1: write, note the time, delete and corrupt, restore, read the originals back
    ids = [env.create(name=f"item {n}", email=f"user{n}@example.com") for n in range(6)]
    originals = {i: env.read(i) for i in ids}
    noted = _noted_time()
    assert env.call("DELETE", f"/items/{ids[0]}").status == 204
    assert env.call("DELETE", f"/items/{ids[1]}").status == 204
    assert env.call("PUT", f"/items/{ids[2]}", {"name": "CORRUPTED", "email": "x@x.invalid"}).status == 200
    old_table = env.spec.names.table
    result = _run(env, "restore", to_time=noted.isoformat())
    new_table = result.state.new_table
    assert new_table.startswith(f"{old_table}-r") and env.serving_table() == new_table
    assert result.state.check["items"] >= 6 and result.state.check["sample_ok"]
    diff = result.state.diff
    assert diff["only_restored"] >= 2 and diff["changed"] >= 1
    assert {c.name.split(": ")[-1] for c in result.checks if c.passed} >= {"create item", "read item"}
    for item_id, original in originals.items():
        assert env.read(item_id) == original, item_id
    assert env.drift_clean() == []
    kept = retained.list_retained(AwsClients(env.target), env.spec.names)
    assert [t.name for t in kept] == [old_table]
    assert kept[0].deletion_protection and kept[0].replaced_by == new_table
    assert kept[0].retained_until is not None and kept[0].retained_until > dt.datetime.now(dt.UTC)

    # --undo brings the corrupted state back, and drift is clean again
    undone = _run(env, "undo")
    assert undone.state.new_table == old_table and env.serving_table() == old_table
    assert env.read(ids[0]) is None and env.read(ids[1]) is None
    corrupted = env.read(ids[2])
    assert corrupted is not None and corrupted["name"] == "CORRUPTED"
    assert env.drift_clean() == []
    assert [t.name for t in retained.list_retained(AwsClients(env.target), env.spec.names)] == [new_table]


def test_a_clone_with_a_mask_holds_the_sources_items_with_stable_pseudonyms(
    env: Env, local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-REC-2: clone staging-like data into a preview, masking e-mail consistently
    shared = [env.create(name=f"shared {n}", email="same@example.com") for n in range(2)]
    other = env.create(name="other", email="other@example.com")
    time.sleep(1.5)  # the local cloud's latest restorable time is a second behind
    preview = _provision(local_cloud, target, "rst-prev")
    source = env.spec
    result = _run(preview, "clone", source=source, masks=["email"])
    assert result.state.masked_items >= 3
    first, second, third = (preview.read(i) for i in (*shared, other))
    assert first is not None and second is not None and third is not None
    assert first["name"] == "shared 0" and third["name"] == "other"
    assert first["email"].startswith(MASK_PREFIX) and first["email"] == second["email"]
    assert third["email"] != first["email"] and "example.com" not in json.dumps([first, second, third])
    assert env.read(other)["email"] == "other@example.com"  # type: ignore[index]  # the source untouched
    assert preview.drift_clean() == []


def test_an_interrupted_restore_resumes_once_with_one_live_table(
    local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-REC-1: the worker dies right after the version is published (before the alias moves),
    # and again right after the alias moved; each time the restore resumes from its state.
    env = _provision(local_cloud, target, "rst-kill")
    with pytest.raises(RestoreRefused, match="nothing to undo"):  # no restore yet: nothing replaced
        restore(env.spec, AwsClients(env.target), parse_request(env.spec, operation="undo"))
    item = env.create(name="kept", email="k@example.com")
    noted = _noted_time()
    env.call("DELETE", f"/items/{item}")
    request = parse_request(env.spec, operation="restore", to_time=noted.isoformat())
    saved: list[dict[str, Any]] = []

    class WorkerKilled(BaseException):
        """What a kill -9 leaves: no exit path of the run runs."""

    def dies_at(phase: str) -> Any:
        def on_event(event: RestoreEvent) -> None:
            saved.append(event.state.to_dict())
            if event.state.phase == phase:
                raise WorkerKilled(phase)

        return on_event

    clients = AwsClients(env.target)
    with pytest.raises(WorkerKilled):
        restore(env.spec, clients, request, on_event=dies_at(PUBLISHED))
    state = RestoreState.from_dict(saved[-1])
    with pytest.raises(WorkerKilled):
        restore(env.spec, clients, request, state, on_event=dies_at(SWITCHED))
    state = RestoreState.from_dict(saved[-1])
    result = restore(env.spec, clients, request, state, on_event=dies_at("never"))
    assert result.ok and result.state.phase == DONE, result.error
    assert result.calls.by_operation.get("dynamodb.RestoreTableToPointInTime", 0) == 0
    assert result.calls.by_operation.get("lambda.PublishVersion", 0) == 0
    env.spec = with_table(env.spec, result.state.new_table)
    assert env.serving_table() == result.state.new_table
    tables = retained.own_tables(clients, env.spec.names)
    assert tables == sorted([env.spec.names.base_table, result.state.new_table])  # one restored table
    assert env.read(item) is not None and env.drift_clean() == []
    again = restore(env.spec, clients, request, result.state)
    assert again.state.phase == DONE and again.calls.mutating == 0
    assert FAILED not in [s["phase"] for s in saved]
