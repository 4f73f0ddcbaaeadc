"""API Gateway's authorization of a method request (REST APIs): what ``authorizationType`` asks for.

The gateway calls :meth:`Authorization.authorize` once it has found the method, before the API key
and the integration: with the ``AUTHORIZER`` API key source the key *is* the authorizer's output
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html), so
authorization comes first. The answer is a :class:`Grant` (what reaches the proxy event's
``requestContext``) or a :class:`Denial` (a gateway response type and, when AWS's body depends on
the request, that body).

- ``NONE``: granted.
- ``CUSTOM`` with a ``TOKEN`` authorizer (Lambda authorizer,
  https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html):
  the token is the header named by ``identitySource`` (``method.request.header.NAME``); missing or
  empty, or not matching ``identityValidationExpression``: 401 ``UNAUTHORIZED`` without invoking the
  function. Otherwise the function runs through the runtime (its own workers) with the TOKEN event
  ``{"type": "TOKEN", "authorizationToken", "methodArn"}``
  (api-gateway-lambda-authorizer-input.html). API Gateway needs permission to invoke it: a
  resource-policy statement for ``apigateway.amazonaws.com`` whose source ARN matches
  ``arn:aws:execute-api:REGION:ACCOUNT:API/authorizers/ID``, or ``authorizerCredentials`` (a role
  whose policies allow ``lambda:InvokeFunction`` on the function). Its answers:

  * the function fails with the message ``Unauthorized``: 401 ``UNAUTHORIZED``;
  * any other failure, a missing permission, an answer without ``principalId`` and a
    ``policyDocument``, or a context value that is an object or an array: 500
    ``AUTHORIZER_CONFIGURATION_ERROR`` (``{"message": null}``, ``x-amzn-ErrorType:
    AuthorizerConfigurationException``, as API Gateway is seen to answer);
  * the policy (api-gateway-lambda-authorizer-output.html) is evaluated by ``iam_policy`` for
    ``execute-api:Invoke`` on the method ARN ``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH``
    (the request's path, wildcards allowed): an explicit Deny wins; no matching Allow is an implicit
    deny; either is 403 ``ACCESS_DENIED`` with the bodies of api-gateway-403-error-lambda-authorizer
    (knowledge center; the explicit deny's as API Gateway now words it);
  * allowed: ``requestContext.authorizer`` is ``principalId``, ``integrationLatency`` and the
    context, each context value a string (``true``/``false`` for booleans);
    ``usageIdentifierKey`` is the API key when the API's key source is ``AUTHORIZER``.

  The result is cached per authorizer, stage and token for ``authorizerResultTtlInSeconds``
  (0: not cached), and a cached policy is evaluated against the *new* request's method ARN: a policy
  that names one resource denies the others until the entry expires, as AWS documents
  (knowledge-center/api-gateway-lambda-authorization-errors).
- ``COGNITO_USER_POOLS``: ``localcloud.apigateway.cognito_auth``.
- ``AWS_IAM``: ``localcloud.apigateway.sigv4_auth``.

``CUSTOM`` with a ``REQUEST`` authorizer: the same, except that every identity source
(``method.request.header.N``, ``method.request.querystring.N``, ``stageVariables.N``,
``context.sourceIp``) must be present and non-empty (else 401 without invoking), the cache key is
their values (no identity source: no cache), and the event is the request's proxy event with
``type`` REQUEST and ``methodArn`` (without the body).

Not modelled: other ``context.*`` identity sources, the authorizer's own timeout beyond the
function's, and cross-account authorizer functions.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from localcloud.apigateway.auth_results import (
    EXPLICIT_DENY_BODY,
    GRANTED,
    HEADER_SOURCE,
    IMPLICIT_DENY_BODY,
    QUERY_SOURCE,
    Denial,
    Grant,
    ResultCache,
    header_name,
    token_matches,
)
from localcloud.iam import policy as iam_policy

logger = logging.getLogger("localcloud.gateway")


@dataclass(frozen=True)
class _Outcome:
    """What an authorizer function returned, as cached."""

    principal_id: str
    policy: dict[str, Any]
    context: dict[str, str]
    usage_identifier_key: str | None


def method_arn(api: Any, stage_name: str, verb: str, path: str) -> str:
    """``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH`` for the request's own path."""
    prefix = f"arn:aws:execute-api:{api.region_name}:{api.account_id}:{api.id}"
    return f"{prefix}/{stage_name}/{verb}/{path.lstrip('/')}"


def identity_value(source: str, request: Request, stage: Any) -> str:
    """The value of one REQUEST identity source: ``method.request.header.N``,
    ``method.request.querystring.N``, ``stageVariables.N`` or ``context.sourceIp``; empty when absent
    (or a source this model does not read)."""
    if source.startswith(HEADER_SOURCE):
        return request.headers.get(source[len(HEADER_SOURCE) :], "")
    if source.startswith(QUERY_SOURCE):
        return request.args.get(source[len(QUERY_SOURCE) :], "")
    if source.startswith("stageVariables."):
        return str((stage.variables or {}).get(source[len("stageVariables.") :], ""))
    if source == "context.sourceIp":
        return request.remote_addr or ""
    logger.warning("identity source %r is not modelled by localcloud; taken as absent", source)
    return ""


def decide(policy: dict[str, Any], arn: str) -> Denial | None:
    """None when ``policy`` allows ``execute-api:Invoke`` on ``arn``; the 403 otherwise."""
    result = iam_policy.evaluate([policy], "execute-api:Invoke", arn)
    if result.allowed:
        return None
    if result.decision == "explicit_deny":
        return Denial("ACCESS_DENIED", EXPLICIT_DENY_BODY)
    return Denial("ACCESS_DENIED", IMPLICIT_DENY_BODY)


class Authorization:
    """The gateway's authorization step, with the Lambda authorizers' result cache."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.token_results = ResultCache()  # Lambda authorizers' outcomes (TOKEN and REQUEST)
        self.cognito_results = ResultCache()

    def reset(self) -> None:
        self.token_results.clear()
        self.cognito_results.clear()

    def authorize(
        self,
        request: Request,
        api: Any,
        stage: Any,
        snapshot: dict[str, Any],
        method: dict[str, Any],
        path: str,
        body: bytes,
        request_event: Callable[[], dict[str, Any]] | None = None,
    ) -> Grant | Denial:
        """``request_event``: the request as a proxy event, for a REQUEST authorizer's event."""
        kind = str(method.get("authorizationType") or "NONE").upper()
        if kind == "NONE":
            return GRANTED
        verb = request.method.upper()
        arn = method_arn(api, stage.name, verb, path)
        if kind == "AWS_IAM":
            from localcloud.apigateway import sigv4_auth

            return sigv4_auth.authorize(request, api, arn, body)
        authorizer = (snapshot.get("authorizers") or {}).get(str(method.get("authorizerId") or ""))
        if authorizer is None:
            logger.warning(
                "Execution failed due to configuration error: method %s %s has authorization type %s and "
                "no authorizer of this deployment (authorizerId %r)",
                verb,
                path,
                kind,
                method.get("authorizerId"),
            )
            return Denial("AUTHORIZER_CONFIGURATION_ERROR")
        if kind == "COGNITO_USER_POOLS" and str(authorizer.get("type")) == "COGNITO_USER_POOLS":
            from localcloud.apigateway import cognito_auth

            return cognito_auth.authorize(
                request, authorizer, method, self.cognito_results, (api.id, stage.name)
            )
        if kind == "CUSTOM" and str(authorizer.get("type")) == "TOKEN":
            return self._token(request, api, stage, authorizer, arn)
        if kind == "CUSTOM" and str(authorizer.get("type")) == "REQUEST" and request_event is not None:
            return self._request(request, api, stage, authorizer, arn, request_event)
        logger.warning(
            "authorization type %s with a %s authorizer is not modelled by localcloud (%s %s)",
            kind,
            authorizer.get("type"),
            verb,
            path,
        )
        return Denial("AUTHORIZER_CONFIGURATION_ERROR")

    # -- TOKEN authorizers ------------------------------------------------------------------------
    def _token(
        self, request: Request, api: Any, stage: Any, authorizer: dict[str, Any], arn: str
    ) -> Grant | Denial:
        name = header_name(authorizer.get("identitySource"))
        token = request.headers.get(name, "") if name else ""
        if not token:
            return Denial("UNAUTHORIZED")
        if not token_matches(token, authorizer.get("identityValidationExpression")):
            return Denial("UNAUTHORIZED")
        event = {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}
        return self._lambda(api, stage, authorizer, arn, (token,), lambda: event)

    # -- REQUEST authorizers ----------------------------------------------------------------------
    def _request(
        self,
        request: Request,
        api: Any,
        stage: Any,
        authorizer: dict[str, Any],
        arn: str,
        request_event: Callable[[], dict[str, Any]],
    ) -> Grant | Denial:
        """Every identity source present and non-empty, or 401 without invoking; the event is the
        request's proxy event with ``type`` REQUEST and ``methodArn``
        (api-gateway-lambda-authorizer-input.html)."""
        values: list[str] = []
        for source in [
            s.strip() for s in str(authorizer.get("identitySource") or "").split(",") if s.strip()
        ]:
            value = identity_value(source, request, stage)
            if not value:
                return Denial("UNAUTHORIZED")
            values.append(value)

        def event() -> dict[str, Any]:
            built = request_event()
            built.pop("body", None)
            built.pop("isBase64Encoded", None)
            return {"type": "REQUEST", "methodArn": arn, **built}

        return self._lambda(api, stage, authorizer, arn, tuple(values), event)

    # -- both -------------------------------------------------------------------------------------
    def _lambda(
        self,
        api: Any,
        stage: Any,
        authorizer: dict[str, Any],
        arn: str,
        identity: tuple[str, ...],
        event: Callable[[], dict[str, Any]],
    ) -> Grant | Denial:
        """The Lambda authorizer's outcome, cached by identity for its TTL, against ``arn``."""
        ttl = int(authorizer.get("authorizerResultTtlInSeconds") or 0)
        key = (api.id, stage.name, str(authorizer.get("id")), *identity)
        latency = 0
        outcome: _Outcome | None = self.token_results.get(key) if ttl > 0 and identity else None
        if outcome is None:
            started = time.perf_counter()
            found = self._invoke(api, stage, authorizer, event())
            latency = int((time.perf_counter() - started) * 1000)
            if isinstance(found, Denial):
                return found
            outcome = found
            if ttl > 0 and identity:
                self.token_results.put(key, outcome, ttl)
        denied = decide(outcome.policy, arn)
        if denied is not None:
            return denied
        context: dict[str, Any] = dict(outcome.context)
        context["principalId"] = outcome.principal_id
        context["integrationLatency"] = latency
        return Grant(authorizer=context, usage_identifier_key=outcome.usage_identifier_key)

    def _invoke(
        self, api: Any, stage: Any, authorizer: dict[str, Any], event: dict[str, Any]
    ) -> _Outcome | Denial:
        from localcloud.apigateway import lambda_target

        target = lambda_target.resolve_uri(str(authorizer.get("authorizerUri") or ""), stage)
        if isinstance(target, str):
            logger.warning(
                "Execution failed due to configuration error: authorizer %s: %s", authorizer.get("id"), target
            )
            return Denial("AUTHORIZER_CONFIGURATION_ERROR")
        prefix = f"arn:aws:execute-api:{api.region_name}:{api.account_id}:{api.id}"
        source_arn = f"{prefix}/authorizers/{authorizer.get('id')}"
        if not lambda_target.may_invoke(
            target, source_arn, api.account_id, authorizer.get("authorizerCredentials")
        ):
            logger.warning(
                "Execution failed due to configuration error: Invalid permissions on Lambda function %s "
                "(authorizer %s: no resource-based policy statement lets apigateway.amazonaws.com invoke it "
                "from %s, and no authorizerCredentials role allows lambda:InvokeFunction)",
                target.name,
                authorizer.get("id"),
                source_arn,
            )
            return Denial("AUTHORIZER_CONFIGURATION_ERROR")
        result = lambda_target.invoke(self.runtime, target, event, source="apigateway-authorizer")
        if result is None:
            return Denial("AUTHORIZER_CONFIGURATION_ERROR")
        if result.function_error:
            message = _error_message(result.payload)
            if message == "Unauthorized":
                return Denial("UNAUTHORIZED")
            logger.warning(
                "Execution failed due to configuration error: authorizer function %s failed: %s",
                target.name,
                result.payload[:500].decode("utf-8", "replace"),
            )
            return Denial("AUTHORIZER_CONFIGURATION_ERROR")
        outcome = parse_output(result.payload)
        if isinstance(outcome, str):
            logger.warning(
                "Execution failed due to configuration error: Invalid authorizer response (%s): %s",
                outcome,
                result.payload[:500].decode("utf-8", "replace"),
            )
            return Denial("AUTHORIZER_CONFIGURATION_ERROR")
        return outcome


def _error_message(payload: bytes) -> str | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value.get("errorMessage") if isinstance(value, dict) else None


def _context_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_output(payload: bytes) -> _Outcome | str:
    """The authorizer's answer (api-gateway-lambda-authorizer-output.html), or why it is not one."""
    try:
        value = json.loads(payload)
    except ValueError:
        return "not JSON"
    if not isinstance(value, dict):
        return "not a JSON object"
    principal = value.get("principalId")
    if principal is None or isinstance(principal, (dict, list)):
        return "no principalId"
    policy = value.get("policyDocument")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return "policyDocument is not JSON"
    if not isinstance(policy, dict) or not policy.get("Statement"):
        return "no policyDocument with a Statement"
    context: dict[str, str] = {}
    for key, item in (value.get("context") or {}).items():
        if isinstance(item, (dict, list)):
            return f"context value of {key!r} is a JSON object or array"
        if item is not None:
            context[str(key)] = _context_value(item)
    usage_key = value.get("usageIdentifierKey")
    return _Outcome(str(principal), policy, context, str(usage_key) if usage_key is not None else None)
