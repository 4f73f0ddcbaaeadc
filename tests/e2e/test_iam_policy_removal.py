"""The function runs with its role's permissions: a policy that lacks an action fails verification
locally as it would on AWS (issue 10, section 1).

The engine provisions an environment into the local cloud; the role's inline policy is then put
back without ``dynamodb:Query`` (what the list route uses). On AWS the function's Query is denied
with AccessDeniedException and the handler answers 500; the local cloud must do the same, and the
denial (action and resource) must be visible in the function's log. Restoring the policy makes
every check pass again.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud import LocalCloud
from portal.console.hints import hint_for
from provisioning.aws import AwsTarget
from provisioning.engine import Engine
from provisioning.spec import build_spec
from provisioning.verify import verify

pytestmark = pytest.mark.slow


def _without(document: dict[str, Any], action: str) -> dict[str, Any]:
    statements = []
    for statement in document["Statement"]:
        actions = [a for a in statement["Action"] if a != action]
        if actions:
            statements.append({**statement, "Action": actions})
    return {**document, "Statement": statements}


def test_removing_query_from_the_role_fails_the_list_check(
    local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-IAM-1
    spec = build_spec(suffix="iam-rm", stage="dev", alarm_emails=["ops@example.com"])
    result = Engine(spec, target).apply()
    assert result.ok, result.error
    report = verify(spec, target, settle_s=2.0)
    assert report.ok, [(c.name, c.found) for c in report.failed]

    iam = local_cloud.client("iam")
    role, policy = spec.names.function_role, spec.names.function_policy
    original = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    if isinstance(original, str):
        original = json.loads(original)
    iam.put_role_policy(
        RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(_without(original, "dynamodb:Query"))
    )
    local_cloud.clear_invocations()
    broken = verify(spec, target, settle_s=0.0)
    failed = {c.name: c for c in broken.failed}
    assert "list items" in failed, [(c.name, c.found) for c in broken.checks]
    found = str(failed["list items"].found)
    assert "HTTP 500" in found
    # The denied action and resource, from the function's log group (not from the HTTP body).
    index_arn = f"table/{spec.names.table}/index/"
    assert "the function's role was denied dynamodb:Query on arn:aws:dynamodb:" in found, found
    assert index_arn in found
    assert "role's policy" in hint_for(f"verification failed: list items: {found}")
    # Only the list route needs Query: create, read, update and delete still work.
    assert not {"create item", "read item", "update item", "delete item"} & set(failed)
    log = "\n".join(line for r in local_cloud.invocations() for line in r["log"])
    assert "AccessDeniedException" in log
    assert "is not authorized to perform: dynamodb:Query on resource: " in log
    assert f"table/{spec.names.table}/index/" in log
    assert f"assumed-role/{role}/" in log

    iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(original))
    restored = verify(spec, target, settle_s=0.0)
    assert restored.ok, [(c.name, c.found) for c in restored.failed]
    Engine(spec, target).destroy()
