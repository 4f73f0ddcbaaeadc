"""A Lambda function that API Gateway calls itself (an authorizer), named by an API Gateway URI.

``arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations``, stage
variables substituted (``${stageVariables.name}``), names a function, a version or an alias; an
alias runs the version its routing configuration picks (``localcloud.lambda_.aliases``). API Gateway may
invoke it when the function's resource-based policy lets ``apigateway.amazonaws.com`` do so from
the caller's source ARN, or, with credentials (a role ARN), when that role's identity policies allow
``lambda:InvokeFunction`` on it
(https://docs.aws.amazon.com/apigateway/latest/developerguide/configure-api-gateway-lambda-authorization.html).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from localcloud.apigateway.routing import LAMBDA_URI, lambda_permits, substitute_stage_variables
from localcloud.iam import policy as iam_policy
from localcloud.lambda_.aliases import resolve
from localcloud.lambda_.limits import RequestTooLarge
from localcloud.lambda_.runtime import FunctionThrottled, InvocationResult, Runtime, reserved_concurrency

logger = logging.getLogger("localcloud.gateway")


@dataclass(frozen=True)
class Target:
    invoked_arn: str
    name: str
    fn: Any  # the moto function (version) that runs
    latest: Any  # the unqualified function: its policy and reserved concurrency
    alias: str | None


def resolve_uri(uri: str, stage: Any) -> Target | str:
    """The function a URI names, or why there is none."""
    from moto.awslambda.utils import get_backend

    uri = substitute_stage_variables(uri, stage.variables or {})
    match = LAMBDA_URI.match(uri)
    if not match:
        return f"invalid Lambda URI {uri!r}"
    arn = match.group("arn")
    parts = arn.split(":")
    if len(parts) < 7:
        return f"invalid function ARN {arn!r}"
    try:
        backend = get_backend(parts[4], parts[3])
        chosen = resolve(backend, arn)
        latest = backend.get_function(parts[6])
    except Exception as exc:
        return f"function {arn}: {exc}"
    return Target(arn, parts[6], chosen.fn, latest, chosen.alias)


def may_invoke(target: Target, source_arn: str, account_id: str, credentials: Any) -> bool:
    """May API Gateway invoke the function: from ``source_arn`` (the resource policy of exactly the
    function, version or alias the URI names), or as the role named by ``credentials``?"""
    if credentials:
        return _role_allows(str(credentials), target.invoked_arn)
    return lambda_permits(target.latest, [source_arn], account_id, target.invoked_arn)


def _role_allows(role_arn: str, function_arn: str) -> bool:
    from moto.utilities.utils import get_partition

    from localcloud.iam.enforcement import Session, role_policies

    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return False
    region = function_arn.split(":")[3]
    session = Session(parts[4], get_partition(region), role_arn, "apigateway")
    policies = role_policies(session)
    return iam_policy.evaluate(policies, "lambda:InvokeFunction", function_arn).allowed


def invoke(runtime: Runtime, target: Target, event: Any, *, source: str) -> InvocationResult | None:
    """Run the function with ``event``; None when Lambda refused the call (throttled, too large)."""
    try:
        return runtime.invoke(
            target.fn,
            event,
            invoked_arn=target.invoked_arn,
            source=source,
            reserved_concurrency=reserved_concurrency(target.latest),
            alias=target.alias,
        )
    except (FunctionThrottled, RequestTooLarge) as exc:
        logger.warning(
            "Lambda refused the invocation of %s: %s", target.invoked_arn, exc or type(exc).__name__
        )
        return None
