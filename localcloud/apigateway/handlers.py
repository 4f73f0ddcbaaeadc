"""The execute-api handler chain: each step of serving a request, in the order API Gateway takes them.

A handler reads the :class:`~localcloud.apigateway.context.RequestContext` the ones before it filled
in, adds what it finds, and either lets the chain go on (returns None), answers (returns a
Response), or refuses (raises ``GatewayError`` with the gateway response type). The order is AWS's:
the header size first, then the stage and its deployment, the body within the payload quota, the
resource and method, the method's authorization (with the AUTHORIZER key source, the API key is the
Lambda authorizer's output: api-gateway-api-key-source.html), the API key and usage plan, the stage's
throttling, and last the integration.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Response

from localcloud.apigateway import headers as gateway_headers
from localcloud.apigateway.authorizers import Authorization, Denial
from localcloud.apigateway.context import GatewayError, RequestContext, raw_headers
from localcloud.apigateway.proxy import LambdaProxy, proxy_event
from localcloud.apigateway.request_body import IncompleteBody, PayloadTooLarge, read_body
from localcloud.apigateway.responses import resolve_parameter, response, set_header
from localcloud.apigateway.routing import STAGE_PATH, find_api, match_route, method_setting_key
from localcloud.apigateway.snapshots import deployment_snapshot
from localcloud.apigateway.throttling import Throttles
from localcloud.handler import DISCONNECT_LOGGED
from localcloud.lambda_.runtime import Runtime

logger = logging.getLogger("localcloud.gateway")

Handler = Callable[[RequestContext], Response | None]


def check_header_size(ctx: RequestContext) -> Response | None:
    """API Gateway refuses headers over its size quota before anything else (headers.py)."""
    request = ctx.request
    oversized = gateway_headers.too_large(raw_headers(request))
    if oversized is None:
        return None
    logger.info("%s %s: %d bytes of headers; answered 431", request.method, request.path, oversized)
    headers = [("Content-Type", "application/json")]
    return response(gateway_headers.STATUS, gateway_headers.BODY, headers, ctx.request_id)


def find_stage(ctx: RequestContext) -> None:
    """The API, the stage and the deployment snapshot the stage serves."""
    match = STAGE_PATH.match(ctx.request.path)
    if not match:
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
    ctx.api_id, ctx.stage_name = match.group("api"), match.group("stage")
    ctx.path = match.group("path") or "/"
    found = find_api(ctx.api_id)
    if found is None:
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
    ctx.backend, ctx.api = found
    stage = ctx.api.stages.get(ctx.stage_name)
    snapshot = deployment_snapshot(ctx.api, stage.deployment_id) if stage is not None else None
    if stage is None or snapshot is None:
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
    ctx.stage, ctx.snapshot = stage, snapshot


def read_request_body(ctx: RequestContext) -> None:
    """The body, within the REST API payload quota (request_body.py)."""
    request = ctx.request
    try:
        ctx.body = read_body(request)
    except PayloadTooLarge as exc:
        logger.info("%s %s: %s; answered 413", request.method, request.path, exc)
        raise GatewayError("REQUEST_TOO_LARGE") from exc
    except IncompleteBody as exc:
        logger.info("%s %s: %s; answered 400", request.method, request.path, exc)
        request.environ[DISCONNECT_LOGGED] = True
        raise GatewayError("INCOMPLETE_BODY") from exc


def find_method(ctx: RequestContext) -> None:
    """The resource the path matches and its method (the verb's, else ANY)."""
    assert ctx.snapshot is not None
    route = match_route(ctx.snapshot["resources"], ctx.path)
    method = None
    if route is not None:
        methods = route.resource["methods"]
        method = methods.get(ctx.verb) or methods.get("ANY")
    if route is None or method is None:
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
    ctx.route, ctx.method = route, method


class Authorize:
    """The method's authorization: Lambda (TOKEN/REQUEST), Cognito or AWS_IAM (authorizers.py)."""

    def __init__(self, authorization: Authorization) -> None:
        self.authorization = authorization

    def __call__(self, ctx: RequestContext) -> None:
        assert ctx.snapshot is not None
        # A REQUEST authorizer sees the event the function would see, before any API key is known.
        unauthorized = dataclasses.replace(ctx, api_key=None, grant=None)
        grant = self.authorization.authorize(
            ctx.request,
            ctx.api,
            ctx.stage,
            ctx.snapshot,
            ctx.method,
            ctx.path,
            ctx.body,
            lambda: proxy_event(unauthorized),
        )
        if isinstance(grant, Denial):
            raise GatewayError(grant.kind, body=grant.body)
        ctx.grant = grant


class UsagePlan:
    """The API key and its usage plan's throttle and quota: live, not deployment-scoped."""

    def __init__(self, throttles: Throttles) -> None:
        self.throttles = throttles

    def __call__(self, ctx: RequestContext) -> None:
        if not ctx.method.get("apiKeyRequired"):
            return
        assert ctx.snapshot is not None and ctx.grant is not None
        value = ctx.request.headers.get("x-api-key", "")
        if ctx.snapshot.get("api_key_source") == "AUTHORIZER":
            value = ctx.grant.usage_identifier_key or ""
        found_key = _usage_plan_key(ctx.backend, ctx.api_id, ctx.stage_name, value)
        if found_key is None:
            raise GatewayError("INVALID_API_KEY")
        ctx.api_key, plan, plan_stage = found_key
        limited = self._limits(plan, plan_stage, ctx.api_key, ctx.resource_path, ctx.method["httpMethod"])
        if limited:
            raise GatewayError(limited)

    def _limits(
        self, plan: Any, plan_stage: dict[str, Any], key: Any, resource_path: str, verb: str
    ) -> str | None:
        method_throttle = (plan_stage.get("throttle") or {}).get(f"{resource_path}/{verb}")
        if method_throttle and _has_limits(method_throttle):
            rate, burst = _limits(method_throttle)
            bucket = ("plan-method", plan.id, key.id, resource_path, verb)
            if not self.throttles.allow(bucket, rate, burst):
                return "THROTTLED"
        throttle = plan.throttle or {}
        if _has_limits(throttle):
            rate, burst = _limits(throttle)
            if not self.throttles.allow(("plan", plan.id, key.id), rate, burst):
                return "THROTTLED"
        quota = plan.quota or {}
        if quota.get("limit") not in (None, ""):
            ok = self.throttles.within_quota(
                ("quota", plan.id, key.id),
                int(quota["limit"]),
                str(quota.get("period") or "DAY"),
                int(quota.get("offset") or 0),
            )
            if not ok:
                return "QUOTA_EXCEEDED"
        return None


class StageThrottle:
    """The stage's (or the method's) throttling settings."""

    def __init__(self, throttles: Throttles) -> None:
        self.throttles = throttles

    def __call__(self, ctx: RequestContext) -> None:
        stage = ctx.stage
        settings = stage.method_settings or {}
        key = method_setting_key(ctx.resource_path, ctx.method["httpMethod"])
        # An older key form without the leading ``~1`` is read too.
        specific = settings.get(key) or settings.get(key.removeprefix("~1")) or {}
        general = settings.get("*/*") or {}
        rate = specific.get("throttlingRateLimit", general.get("throttlingRateLimit"))
        burst = specific.get("throttlingBurstLimit", general.get("throttlingBurstLimit"))
        if rate is None and burst is None:
            return
        rate = float(rate if rate is not None else 10000.0)
        burst = float(burst if burst is not None else 5000.0)
        # "Per-API, per-stage throttling limits are applied at the API method level for a stage"
        # (api-gateway-request-throttling.html): */* gives each method a bucket of its own.
        if not self.throttles.allow(("stage", ctx.api_id, stage.name, key), rate, burst):
            raise GatewayError("THROTTLED")


class Integrate:
    """The method's integration: MOCK or AWS_PROXY to Lambda; any other type is not served."""

    def __init__(self, runtime: Runtime) -> None:
        self.lambda_proxy = LambdaProxy(runtime)

    def __call__(self, ctx: RequestContext) -> Response:
        integration = ctx.method.get("methodIntegration")
        if not integration:
            logger.warning("%s %s: method has no integration", ctx.verb, ctx.resource_path)
            raise GatewayError("API_CONFIGURATION_ERROR")
        ctx.integration = integration
        kind = (integration.get("type") or "").upper()
        if kind == "MOCK":
            return mock(ctx)
        if kind == "AWS_PROXY":
            return self.lambda_proxy(ctx)
        logger.warning(
            "integration type %s is not served by localcloud (%s %s)", kind, ctx.verb, ctx.resource_path
        )
        raise GatewayError("API_CONFIGURATION_ERROR")


def mock(ctx: RequestContext) -> Response:
    """The MOCK integration: the status its request template names, the integration response that
    status selects, checked against the method responses."""
    integration, method = ctx.integration, ctx.method
    templates = integration.get("requestTemplates") or {}
    template = templates.get("application/json") or next(iter(templates.values()), None) or ""
    status = 200
    found = re.search(r'"?statusCode"?\s*:\s*"?(\d{3})', template)
    if found:
        status = int(found.group(1))
    responses = integration.get("integrationResponses") or {}
    chosen = None
    for candidate in responses.values():
        pattern = candidate.get("selectionPattern")
        if pattern and re.fullmatch(pattern, str(status)):
            chosen = candidate
            break
    if chosen is None:
        chosen = next((c for c in responses.values() if not c.get("selectionPattern")), None)
    if chosen is None:
        logger.warning(
            "Execution failed due to configuration error: No match for output mapping and no default "
            "output mapping configured (%s %s)",
            method["httpMethod"],
            ctx.resource_path,
        )
        raise GatewayError("API_CONFIGURATION_ERROR")
    out_status = str(chosen.get("statusCode"))
    method_response = (method.get("methodResponses") or {}).get(out_status)
    if method_response is None:
        logger.warning(
            "Execution failed due to configuration error: Output mapping refers to an invalid method "
            "response: %s (%s %s)",
            out_status,
            method["httpMethod"],
            ctx.resource_path,
        )
        raise GatewayError("API_CONFIGURATION_ERROR")
    headers = _mock_headers(ctx, chosen, method_response, out_status)
    body = (chosen.get("responseTemplates") or {}).get("application/json") or ""
    return response(int(out_status), body.encode("utf-8"), headers, ctx.request_id)


def _mock_headers(
    ctx: RequestContext, chosen: dict[str, Any], method_response: dict[str, Any], out_status: str
) -> list[tuple[str, str]]:
    """The integration response's header mappings that its method response declares."""
    declared = method_response.get("responseParameters") or {}
    headers = [("Content-Type", "application/json")]
    for target, source in (chosen.get("responseParameters") or {}).items():
        if not target.startswith("method.response.header."):
            continue
        if target not in declared:
            logger.warning(
                "%s is not declared in method response %s of %s %s: AWS refuses such a mapping; "
                "header left out",
                target,
                out_status,
                ctx.method["httpMethod"],
                ctx.resource_path,
            )
            continue
        value = resolve_parameter(source, ctx.request, ctx.route)
        if value is not None:
            headers = set_header(headers, target[len("method.response.header.") :], value)
    return headers


def _usage_plan_key(backend: Any, api_id: str, stage_name: str, value: str) -> tuple[Any, Any, dict] | None:
    if not value:
        return None
    key = next((k for k in list(backend.keys.values()) if k.value == value), None)
    if key is None or not _truthy(key.enabled):
        return None
    for plan_id, plan_keys in list(backend.usage_plan_keys.items()):
        if key.id not in plan_keys:
            continue
        plan = backend.usage_plans.get(plan_id)
        if plan is None:
            continue
        for plan_stage in list(plan.api_stages or []):
            if plan_stage.get("apiId") == api_id and plan_stage.get("stage") == stage_name:
                return key, plan, plan_stage
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _has_limits(throttle: dict[str, Any]) -> bool:
    return throttle.get("rateLimit") is not None or throttle.get("burstLimit") is not None


def _limits(throttle: dict[str, Any]) -> tuple[float, float]:
    rate = throttle.get("rateLimit")
    burst = throttle.get("burstLimit")
    rate = float(rate) if rate is not None else 10000.0
    burst = float(burst) if burst is not None else max(rate, 1.0)
    return rate, burst
