"""/api/v1/environments/{name}/backups/: GET lists, POST takes one; judged like the console.

Against moto (decorator mode): the service takes real backups of a real table.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import yaml

from portal.models import AuditEvent, Environment
from portal.targets import target_for
from provisioning.aws import AwsClients
from provisioning.reconcile import converge
from provisioning.resources.base import Context
from provisioning.resources.kms_key import KmsKey
from provisioning.resources.table import Table

pytestmark = pytest.mark.django_db

READY = Environment.Status.READY


def _provision_table(env: Environment) -> None:
    ctx = Context(spec=env.spec(), aws=AwsClients(target_for(env.region)), sleep=lambda _s: None)
    converge(KmsKey(), ctx)
    converge(Table(), ctx)


@pytest.fixture
def world(users: Any, make_env: Any, moto_target: None) -> dict[str, Environment]:
    made = {
        "dev": make_env("bkapi1", status=READY),
        "prod": make_env("bkprod1", stage="prod", status=READY),
    }
    for env in made.values():
        _provision_table(env)
    return made


def _url(name: str) -> str:
    return f"/api/v1/environments/{name}/backups/"


@pytest.mark.heavy
def test_operators_back_up_non_prod_admins_prod_viewers_list(world: Any, token: Any, api: Any) -> None:
    """Issue 20 item 1: POST takes a backup (201) for an operator on non-prod and an admin on
    prod; an operator on prod and a viewer get 403; GET lists it for a viewer (200)."""
    operator, admin, viewer = api(token("operator")), api(token("admin")), api(token("viewer"))
    taken = operator.post(_url("bkapi1"))
    assert taken.status_code == 201, taken.content
    backup = taken.json()["backup"]
    assert backup["name"].startswith("envport-bkapi1-ondemand-") and backup["status"] == "AVAILABLE"
    assert AuditEvent.objects.filter(action="environment.backup_taken", environment_suffix="bkapi1").exists()

    refused = operator.post(_url("bkprod1"))
    assert refused.status_code == 403 and "needs an admin" in refused.json()["error"]
    assert viewer.post(_url("bkapi1")).status_code == 403
    assert admin.post(_url("bkprod1")).status_code == 201

    listed = viewer.get(_url("bkapi1"))
    assert listed.status_code == 200
    document = listed.json()
    assert [b["arn"] for b in document["on_demand"]] == [backup["arn"]]
    assert (
        document["pre_teardown"] == [] and document["point_in_time"]["table_name"] == "envport-bkapi1-items"
    )


def test_scope_read_only_and_hostile_input_are_refused_before_any_backup(
    world: Any, token: Any, api: Any
) -> None:
    """Issue 20 item 1: a read-only token may list but not back up; a token for other environments
    neither; a body, an unknown or hostile name are refused with a problem; nothing is taken."""
    read_only = api(token("admin", read_only=True))
    assert read_only.get(_url("bkapi1")).status_code == 200
    refused = read_only.post(_url("bkapi1"))
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    narrow = api(token("admin", environments="pr*"))
    # out of the token's reach: answered as if absent (issue 17 item 2)
    assert narrow.get(_url("bkapi1")).status_code == 404
    assert narrow.post(_url("bkapi1")).status_code == 404
    admin = api(token("admin"))
    with_body = admin.post(_url("bkapi1"), {"table": "someone-elses", "x" * 300: 1})
    assert with_body.status_code == 400 and "takes no parameters" in with_body.json()["error"]
    for name in ("nope", "x" * 300, "bkapi1%00", "..%2F..%2Fetc"):
        assert admin.post(_url(name)).status_code in (403, 404)
    assert boto3.client("dynamodb", region_name="us-east-1").list_backups()["BackupSummaries"] == []


def test_a_backup_dynamodb_cannot_take_is_a_502_with_the_reason(
    users: Any, make_env: Any, moto_target: None, token: Any, api: Any
) -> None:
    """Issue 20 item 1: ready on record but no table in AWS: 502 naming the missing table."""
    make_env("bkapi2", status=READY)
    failed = api(token("operator")).post(_url("bkapi2"))
    assert failed.status_code == 502
    assert "no table envport-bkapi2-items to back up" in failed.json()["error"]


def test_the_schema_documents_the_backups_endpoint(client: Any) -> None:
    """Issue 20 item 1: the OpenAPI document has GET and POST with their answers."""
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    path = schema["paths"]["/api/v1/environments/{name}/backups/"]
    assert {"200", "403", "404", "502"} <= set(path["get"]["responses"])
    assert {"201", "400", "403", "404", "502"} <= set(path["post"]["responses"])
    listing = path["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert listing.endswith("/BackupListOut")
