"""Issue 20's done-when through the portal, against the local cloud: write items, note the time,
delete and corrupt some, restore to the noted time (CLI), read the originals back through the
environment's own HTTP API after the cut-over; undo (API) brings the corrupted state back; a
restore from the console; drift clean after each; a restore whose worker dies mid-cut-over is
resumed once by the next worker, with one live table; teardown removes the retained tables too."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from portal import runner
from portal.models import Deployment, Environment
from portal.services import backups
from portal.services import environments as environment_service
from portal.services import runs as run_service
from portal.services.base import Actor
from portal.targets import target_for
from provisioning import http, retained
from provisioning import restore as engine
from provisioning.aws import AwsClients

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


class Api:
    """The environment's own HTTP API, with its key."""

    def __init__(self, env: Environment) -> None:
        self.endpoint = env.outputs["api_endpoint"]
        self.key = environment_service.reveal_api_key(Actor.cli(), env)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> http.Response:
        headers = {"x-api-key": self.key, "content-type": "application/json"}
        return http.request(
            method, self.endpoint + path, headers=headers, body=json.dumps(body) if body else None
        )

    def create(self, **fields: Any) -> str:
        resp = self.call("POST", "/items", fields)
        assert resp.status == 201, resp.body
        return str(resp.json()["id"])

    def read(self, item_id: str) -> dict[str, Any] | None:
        resp = self.call("GET", f"/items/{item_id}")
        return resp.json() if resp.status == 200 else None


def _run(dep: Deployment) -> Deployment:
    done = run_service.run_deployment(dep.pk)
    assert done.status == "succeeded", done.error
    return done


def _drift_clean(suffix: str) -> None:
    env = Environment.objects.get(suffix=suffix)
    dep = _run(run_service.request_deployment(Actor.cli(), env, "drift"))
    assert dep.result == "clean", list(dep.findings.values_list("resource", "field"))


def _noted() -> str:
    time.sleep(1.2)
    moment = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(1.2)
    return moment


def _clients(env: Environment) -> AwsClients:
    return AwsClients(target_for(env.region, env.role_arn, env.external_id))


def test_restore_undo_and_console_restore_through_the_portal(
    local_target: Any, cli: Any, make_env: Any, monkeypatch: Any
) -> None:
    # R-REC-1
    env = make_env("rst1", "dev", overrides={"pitr": True})
    _run(run_service.request_deployment(Actor.cli(), env, "provision", {"verify": False}))
    env.refresh_from_db()
    api = Api(env)
    ids = [api.create(name=f"item {n}", email=f"u{n}@example.com") for n in range(4)]
    originals = {i: api.read(i) for i in ids}
    noted = _noted()
    api.call("DELETE", f"/items/{ids[0]}")
    api.call("PUT", f"/items/{ids[1]}", {"name": "CORRUPTED"})

    result = cli("restore", "rst1", "--to-time", noted, "--yes", "--inline", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["status"] == "succeeded" and doc["result"] == "cut_over"
    env.refresh_from_db()
    restored = env.table_name
    assert restored.startswith("envport-rst1-items-r") and env.outputs["table_name"] == restored
    assert doc["outputs"]["serving_table"] == restored and doc["outputs"]["diff"]["only_restored"] == 1
    for item_id, original in originals.items():
        assert api.read(item_id) == original
    _drift_clean("rst1")
    listed = cli("backups", "rst1")
    assert "tables a restore replaced: 1" in listed.out and "envport-rst1-items  replaced by" in listed.out

    # the API lists the replaced table beside the backups, and undoes the restore
    admin = User.objects.create_user("adm", is_staff=True)
    admin.groups.add(Group.objects.get(name="admin"))
    client = Client()
    client.force_login(admin)
    listing = client.get("/api/v1/environments/rst1/restore/").json()
    assert listing["table_name"] == restored
    assert [t["name"] for t in listing["retained_tables"]] == ["envport-rst1-items"]
    sent: list[Deployment] = []
    monkeypatch.setattr("portal.api.views.dispatch", sent.append)
    answer = client.post(
        "/api/v1/environments/rst1/restore/", {"undo": True}, content_type="application/json"
    )
    assert answer.status_code == 202, answer.content
    assert _run(sent.pop()).result == "undone"
    env.refresh_from_db()
    assert env.table_name == "" and api.read(ids[0]) is None and api.read(ids[1])["name"] == "CORRUPTED"  # type: ignore[index]
    _drift_clean("rst1")

    # the console: from the newest backup, confirmed by typing the name
    backups.take_backup(Actor.cli(), env)
    monkeypatch.setattr("portal.console.restore.dispatcher.enqueue", sent.append)
    url = reverse("admin:portal_environment_restore", args=[env.pk])
    refused = client.post(url, {"mode": "backup", "backup": "latest", "confirm": "nope"})
    assert refused.status_code == 302 and not sent
    page = client.post(url, {"mode": "backup", "backup": "latest", "confirm": "rst1"})
    assert page.status_code == 302 and len(sent) == 1
    assert _run(sent.pop()).result == "cut_over"
    assert api.read(ids[1])["name"] == "CORRUPTED"  # type: ignore[index]  # the backup's state
    _drift_clean("rst1")
    html = client.get(reverse("admin:portal_environment_backups", args=[env.pk])).content.decode()
    assert "Tables a restore replaced" in html and "envport-rst1-items" in html


class WorkerKilled(BaseException):
    """What kill -9 leaves: the run's exit paths do not run."""


def test_a_restore_whose_worker_died_mid_cutover_finishes_once(
    local_target: Any, make_env: Any, monkeypatch: Any, settings: Any
) -> None:
    # R-REC-1: killed after the alias moved, before alarms and dashboard followed
    env = make_env("rst2", "dev", overrides={"pitr": True})
    _run(run_service.request_deployment(Actor.cli(), env, "provision", {"verify": False}))
    env.refresh_from_db()
    api = Api(env)
    item = api.create(name="kept")
    noted = _noted()
    api.call("DELETE", f"/items/{item}")
    from portal.services import restore as restore_service

    dep = restore_service.request_restore(Actor.cli(), env, to_time=noted)
    original = runner._RestoreEvents.__call__

    def dies_after_switch(self: Any, event: engine.RestoreEvent) -> None:
        original(self, event)
        if event.state.phase == engine.SWITCHED:
            raise WorkerKilled

    monkeypatch.setattr(runner._RestoreEvents, "__call__", dies_after_switch)
    with pytest.raises(WorkerKilled):
        run_service.run_deployment(dep.pk)
    dep.refresh_from_db()
    assert dep.status == "running" and dep.release_state["phase"] == engine.SWITCHED
    env.refresh_from_db()
    assert env.table_name == dep.release_state["new_table"]  # recorded as soon as the alias moved
    monkeypatch.setattr(runner._RestoreEvents, "__call__", original)
    assert run_service.run_deployment(dep.pk).status == "running"  # a live heartbeat: not taken twice
    Deployment.objects.filter(pk=dep.pk).update(heartbeat_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    done = run_service.run_deployment(dep.pk)
    assert done.status == "succeeded" and done.attempts == 2 and done.result == "cut_over", done.error
    assert done.calls_by_operation.get("dynamodb.RestoreTableToPointInTime", 0) == 0
    assert done.calls_by_operation.get("lambda.UpdateAlias", 0) == 0
    env.refresh_from_db()
    names = env.spec().names
    assert retained.own_tables(_clients(env), names) == sorted([names.base_table, env.table_name])
    assert api.read(item) is not None
    _drift_clean("rst2")

    # teardown: the current table and the retained one go, each backed up first when it holds items
    _clients(env).client("dynamodb").put_item(TableName=names.base_table, Item={"id": {"S": "left"}})
    Environment.objects.filter(pk=env.pk).update(status="ready")
    env.refresh_from_db()
    torn = _run(run_service.request_deployment(Actor.cli(), env, "teardown", {"backup": True}))
    assert len(torn.outputs["notes"]["retained_backups"]) == 1
    env.refresh_from_db()
    assert env.table_name == "" and retained.own_tables(_clients(env), names) == []
