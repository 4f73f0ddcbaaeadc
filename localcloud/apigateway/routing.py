"""Where an execute-api request goes: the stage path, the API moto holds, the resource a path
matches, and whether a Lambda function's policy lets API Gateway invoke it.

Shared by the gateway, its Lambda authorizers, the stage observer and the metrics: it imports nothing
of them.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from localcloud.lambda_.aliases import split_qualifier

STAGE_PATH = re.compile(r"^/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)?$")


LAMBDA_URI = re.compile(
    r"^arn:aws[\w-]*:apigateway:(?P<region>[\w-]+):lambda:path/2015-03-31/functions/(?P<arn>.+)/invocations$"
)


class Route:
    """The resource a request path matched, and the values of its path parameters."""

    __slots__ = ("params", "resource")

    def __init__(self, resource: dict[str, Any], params: dict[str, str]) -> None:
        self.resource = resource
        self.params = params


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def match_route(resources: list[dict[str, Any]], path: str) -> Route | None:
    """The resource for a request path. Literal segments beat ``{param}`` segments, which beat a
    greedy ``{proxy+}``; compared segment by segment from the left."""
    segments = _parts(path)
    best: tuple[list[int], Route] | None = None
    for resource in resources:
        parts = _parts(resource["path"])
        score: list[int] = []
        params: dict[str, str] = {}
        ok = True
        for i, part in enumerate(parts):
            if part.startswith("{") and part.endswith("+}"):
                if i != len(parts) - 1 or len(segments) <= i:
                    ok = False
                    break
                params[part[1:-2]] = "/".join(segments[i:])
                score.append(0)
                break
            if i >= len(segments):
                ok = False
                break
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = segments[i]
                score.append(1)
            elif part == segments[i]:
                score.append(2)
            else:
                ok = False
                break
        else:
            ok = ok and len(parts) == len(segments)
        if ok and (best is None or score > best[0]):
            best = (score, Route(resource, params))
    return best[1] if best else None


def method_setting_key(resource_path: str, verb: str) -> str:
    """A stage's methodSettings key for one method: the resource path with ``/`` escaped as ``~1``
    (``/pets/{id}`` GET is ``~1pets~1{id}/GET``), as UpdateStage's ``/~1pets~1{id}/GET/...`` sets it."""
    return f"{resource_path.replace('~', '~0').replace('/', '~1')}/{verb}"


def find_api(api_id: str) -> tuple[Any, Any] | None:
    from moto.apigateway.models import apigateway_backends

    # list() of a dict's items is atomic under the GIL; moto may add accounts/regions meanwhile.
    for _account, regions in list(apigateway_backends.items()):
        for _region, backend in list(regions.items()):
            api = backend.apis.get(api_id)
            if api is not None:
                return backend, api
    return None


def substitute_stage_variables(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{stageVariables\.([A-Za-z0-9_.:-]+)\}", lambda m: variables.get(m.group(1), ""), text)


def permission_scope(arn: str) -> tuple[str, str | None]:
    """(function name, qualifier) that a permission's ``Resource`` or an invoked ARN names; ``$LATEST``
    is the unqualified function (AddPermission without a Qualifier is the policy that invoking
    ``NAME`` or ``NAME:$LATEST`` reads, https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html)."""
    name, qualifier = split_qualifier(arn)
    if qualifier is not None and qualifier.upper() == "$LATEST":
        qualifier = None
    return name, qualifier


def _covers(statement: dict[str, Any], invoked_arn: str | None) -> bool:
    """Is ``invoked_arn`` the resource the statement was added to?

    Lambda keeps a policy per function, version and alias, and a permission allows invoking through
    that one ARN only: one on the alias ``live`` does not allow the unqualified function nor the
    version the alias points at, and one on the function does not allow its aliases or versions
    (https://docs.aws.amazon.com/lambda/latest/dg/using-aliases.html, "Resource policies"). moto keeps
    every statement in one list, each with the ``Resource`` AddPermission gave it (``NAME:QUALIFIER``
    for a qualified call), so the statement's own resource says which policy it belongs to."""
    if invoked_arn is None:
        return True
    resources = statement.get("Resource")
    if resources is None:
        return permission_scope(invoked_arn)[1] is None  # no Resource: the function's own policy
    listed = resources if isinstance(resources, list) else [resources]
    wanted = permission_scope(invoked_arn)
    return any(permission_scope(str(resource)) == wanted for resource in listed)


def lambda_permits(fn: Any, source_arns: list[str], account_id: str, invoked_arn: str | None = None) -> bool:
    """Does the function's resource-based policy let API Gateway invoke ``invoked_arn`` (the function,
    a version or an alias: each has its own policy, ``_covers``) from one of these ARNs?"""
    policy = getattr(fn, "policy", None)
    statements = list(getattr(policy, "statements", None) or [])
    for statement in statements:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        if not _covers(statement, invoked_arn):
            continue
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else principal
        services = services if isinstance(services, list) else [services]
        if not any(s in ("apigateway.amazonaws.com", "*") for s in services):
            continue
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if not any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
            continue
        condition = statement.get("Condition") or {}
        patterns = []
        for operator in ("ArnLike", "ArnEquals", "StringLike", "StringEquals"):
            value = (condition.get(operator) or {}).get("AWS:SourceArn")
            if value:
                patterns.extend(value if isinstance(value, list) else [value])
        if patterns and not any(
            fnmatch.fnmatchcase(arn, pattern.replace("[", "[[]"))
            for arn in source_arns
            for pattern in patterns
        ):
            continue
        source_account = (condition.get("StringEquals") or {}).get("AWS:SourceAccount")
        if source_account and source_account != account_id:
            continue
        return True
    return False
