"""The AWS_PROXY integration to Lambda (payload format 1.0): the event, the invocation, the answer.

The URI names the function, a version or an alias; an alias runs the version its routing
configuration picks for each request (``localcloud.lambda_.aliases``). The function's answer; a
function error (exception, crash, its own timeout) or a malformed answer: 502; Lambda throttling
(reserved concurrency): 500, as AWS gives ``{"message": "Internal server error"}`` when Lambda
answers 429 to API Gateway; no answer within the integration timeout (``timeoutInMillis``, default
29 s): 504. The event and answer follow the Lambda proxy integration's formats
(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud.apigateway.context import (
    APIGW_ID,
    TRACE_ID,
    GatewayError,
    RequestContext,
    new_apigw_id,
    new_trace_id,
    raw_headers,
)
from localcloud.apigateway.responses import response
from localcloud.apigateway.routing import LAMBDA_URI, lambda_permits, substitute_stage_variables
from localcloud.cloudwatch import metrics
from localcloud.lambda_.aliases import resolve
from localcloud.lambda_.kms import EnvironmentKeyUnusable
from localcloud.lambda_.limits import RequestTooLarge
from localcloud.lambda_.runtime import FunctionThrottled, InvocationResult, Runtime, reserved_concurrency

logger = logging.getLogger("localcloud.gateway")

DEFAULT_INTEGRATION_TIMEOUT_MS = 29000


PROXY_RESULT_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}


HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}


def _is_binary(content_type: str, binary_types: list[str]) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    if not media:
        return False
    return any(fnmatch.fnmatchcase(media, t.lower().replace("~1", "/")) for t in binary_types)


def _first_media_type(accept: str) -> str:
    """The first media type of an Accept header, which is the one API Gateway looks at."""
    return accept.split(",")[0].split(";")[0].strip()


def proxy_event(ctx: RequestContext) -> dict[str, Any]:
    """The Lambda proxy event of this request; ``ctx.api_key`` and ``ctx.grant`` as found so far."""
    request, stage, route = ctx.request, ctx.stage, ctx.route
    assert route is not None and ctx.snapshot is not None
    headers, multi_headers = _event_headers(request)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, values in request.args.lists():
        multi_query[name] = list(values)
        query[name] = values[-1]
    body, encoded = _event_body(request, ctx.body, ctx.snapshot.get("binary_media_types") or [])
    event: dict[str, Any] = {
        "resource": route.resource["path"],
        "path": ctx.path,
        "httpMethod": ctx.verb,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(route.params) or None,
        "stageVariables": dict(stage.variables or {}) or None,
        "requestContext": _request_context(ctx),
        "body": body,
        "isBase64Encoded": encoded,
    }
    if ctx.grant is not None:
        # What the method's authorization established (localcloud.apigateway.authorizers): the Lambda
        # or Cognito authorizer's output, the SigV4 caller's identity.
        context = event["requestContext"]
        if ctx.grant.authorizer is not None:
            context["authorizer"] = ctx.grant.authorizer
        context["identity"].update(ctx.grant.identity)
    return event


def _event_headers(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The event's ``headers`` (the last of a repeated field) and ``multiValueHeaders``, with the
    X-Forwarded-* and trace headers API Gateway adds when the client did not send them."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in raw_headers(request):
        headers[name] = value  # the last of a repeated field
        multi_headers.setdefault(name, []).append(value)
    sent = {name.lower() for name in headers}
    added = {
        "X-Forwarded-For": request.remote_addr or "127.0.0.1",
        "X-Forwarded-Port": str(request.environ.get("SERVER_PORT", "")),
        "X-Forwarded-Proto": request.scheme,
        "X-Amzn-Trace-Id": request.environ.get(TRACE_ID) or new_trace_id(),
    }
    for name, value in added.items():
        if name.lower() not in sent:
            headers[name] = value
            multi_headers[name] = [value]
    return headers, multi_headers


def _event_body(request: Request, raw: bytes, binary_types: list[str]) -> tuple[str | None, bool]:
    """The event's ``body`` and ``isBase64Encoded``: base64 when the Content-Type is a binary type."""
    if not raw:
        return None, False
    if _is_binary(request.headers.get("Content-Type", ""), binary_types):
        return base64.b64encode(raw).decode("ascii"), True
    return raw.decode("utf-8", "replace"), False


def _request_context(ctx: RequestContext) -> dict[str, Any]:
    """The event's ``requestContext``."""
    request, api, stage, route, api_key = ctx.request, ctx.api, ctx.stage, ctx.route, ctx.api_key
    assert route is not None
    now = dt.datetime.now(dt.UTC)
    host = request.host or "localhost"
    return {
        "resourceId": route.resource["id"],
        "resourcePath": route.resource["path"],
        "httpMethod": ctx.verb,
        "extendedRequestId": request.environ.get(APIGW_ID) or new_apigw_id(),
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "path": f"/{stage.name}{ctx.path}",
        "accountId": api.account_id,
        "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        "stage": stage.name,
        "domainPrefix": host.split(".")[0].split(":")[0],
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "requestId": ctx.request_id,
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": request.remote_addr or "127.0.0.1",
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": request.headers.get("User-Agent"),
            "user": None,
            "apiKey": api_key.value if api_key is not None else None,
            "apiKeyId": api_key.id if api_key is not None else None,
            "clientCert": None,
        },
        "domainName": host,
        "deploymentId": stage.deployment_id,
        "apiId": api.id,
    }


def _header_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError("header values must be scalars")


def map_proxy_result(
    payload: bytes, decode_base64: bool = True
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """Validate and map a payload format 1.0 answer; None when API Gateway would call it malformed.

    ``decode_base64``: whether a base64 body (``isBase64Encoded``) is decoded to its bytes; when not
    (the request's Accept matches none of the API's binaryMediaTypes) the client gets the base64 text.
    """
    try:
        result = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(result, dict) or not set(result) <= PROXY_RESULT_KEYS:
        return None
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return None
    merged: dict[str, tuple[str, list[str]]] = {}
    try:
        single = result.get("headers") or {}
        multi = result.get("multiValueHeaders") or {}
        if not isinstance(single, dict) or not isinstance(multi, dict):
            return None
        for name, value in single.items():
            text = _header_value(value)
            if text is not None:
                merged[name.lower()] = (name, [text])
        for name, values in multi.items():
            if not isinstance(values, list):
                return None
            texts = [t for t in (_header_value(v) for v in values) if t is not None]
            previous = merged.get(name.lower(), (name, []))[1]
            merged[name.lower()] = (name, texts + [v for v in previous if v not in texts])
    except ValueError:
        return None
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        return None
    encoded = result.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        return None
    if body is None:
        data = b""
    elif encoded and decode_base64:
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            return None
    else:
        data = body.encode("utf-8")
    headers = []
    for lower, (name, values) in merged.items():
        if lower in HOP_BY_HOP:
            for value in values:
                headers.append((f"X-Amzn-Remapped-{name}", value))
            continue
        for value in values:
            headers.append((name, value))
    return status, headers, data


@dataclass(frozen=True)
class _Target:
    """The function an integration URI names: the ARN as invoked, what it runs, and the function."""

    function_arn: str
    name: str
    fn: Any  # the version the ARN (or the alias's routing) picked
    alias: Any
    latest: Any  # the unqualified function: its policy and reserved concurrency


@dataclass
class _Outcome:
    result: InvocationResult | None = None
    throttled: bool = False
    too_large: RequestTooLarge | None = None
    done: threading.Event = field(default_factory=threading.Event)


class LambdaProxy:
    """The AWS_PROXY integration: find the function, check its policy, invoke it within the
    integration timeout, map its answer."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def __call__(self, ctx: RequestContext) -> Response:
        target = _target(ctx)
        if not ctx.integration.get("credentials"):
            _check_permission(ctx, target)
        event = proxy_event(ctx)
        timeout_ms = int(ctx.integration.get("timeoutInMillis") or DEFAULT_INTEGRATION_TIMEOUT_MS)
        outcome = self._invoke(ctx, target, event)
        if not outcome.done.wait(timeout_ms / 1000.0):
            logger.warning(
                "Execution failed due to a timeout error (%s ms) on %s", timeout_ms, target.function_arn
            )
            raise GatewayError("INTEGRATION_TIMEOUT")
        return _answer(ctx, target, outcome)

    def _invoke(self, ctx: RequestContext, target: _Target, event: dict[str, Any]) -> _Outcome:
        """Start the invocation in a thread of its own; the outcome is set when it ends."""
        outcome = _Outcome()
        reserved = reserved_concurrency(target.latest)

        def run() -> None:
            try:
                outcome.result = self.runtime.invoke(
                    target.fn,
                    event,
                    invoked_arn=target.function_arn,
                    source="apigateway",
                    reserved_concurrency=reserved,
                    alias=target.alias,
                )
            except FunctionThrottled:
                outcome.throttled = True
            except RequestTooLarge as exc:
                outcome.too_large = exc
            except EnvironmentKeyUnusable as exc:  # Lambda answered 502 (lambda_/kms.py): LAMBDA_ERROR
                logger.warning("Lambda invocation failed with status: 502 (%s): %s", exc.error_type, exc)
            except Exception:  # pragma: no cover - defensive
                logger.exception("invocation of %s failed", target.function_arn)
            finally:
                outcome.done.set()

        ctx.request.environ[metrics.INTEGRATION_STARTED] = time.perf_counter()  # IntegrationLatency
        threading.Thread(target=run, name=f"lc-invoke-{ctx.request_id[:8]}", daemon=True).start()
        return outcome


def _target(ctx: RequestContext) -> _Target:
    """The function the integration URI names (stage variables substituted), or a configuration error."""
    from moto.awslambda.utils import get_backend

    uri = substitute_stage_variables(ctx.integration.get("uri") or "", ctx.stage.variables or {})
    match = LAMBDA_URI.match(uri)
    if not match:
        logger.warning("Execution failed due to configuration error: invalid Lambda URI %r", uri)
        raise GatewayError("API_CONFIGURATION_ERROR")
    function_arn = match.group("arn")
    arn_parts = function_arn.split(":")
    if len(arn_parts) < 7:
        logger.warning("Execution failed due to configuration error: invalid function ARN %r", function_arn)
        raise GatewayError("API_CONFIGURATION_ERROR")
    fn_region, fn_account, fn_name = arn_parts[3], arn_parts[4], arn_parts[6]
    try:
        lambda_backend = get_backend(fn_account, fn_region)
        # An alias in the URI: the version its routing configuration picks for this request.
        resolved = resolve(lambda_backend, function_arn)
        latest = lambda_backend.get_function(fn_name)
    except Exception as exc:
        logger.warning("Execution failed due to configuration error: function %s: %s", function_arn, exc)
        raise GatewayError("API_CONFIGURATION_ERROR") from exc
    return _Target(function_arn, fn_name, resolved.fn, resolved.alias, latest)


def _check_permission(ctx: RequestContext, target: _Target) -> None:
    """Without integration credentials, the function's resource-based policy must let API Gateway
    invoke the ARN from this method's source ARN."""
    api, stage = ctx.api, ctx.stage
    source_arns = [
        f"arn:aws:execute-api:{api.region_name}:{api.account_id}:{api.id}/{stage.name}/{ctx.verb}{p}"
        for p in {ctx.resource_path, ctx.path}
    ]
    if not lambda_permits(target.latest, source_arns, api.account_id, target.function_arn):
        logger.warning(
            "Execution failed due to configuration error: Invalid permissions on Lambda function %s "
            "(no resource-based policy statement on %s lets apigateway.amazonaws.com invoke it "
            "from %s)",
            target.name,
            target.function_arn,
            source_arns[0],
        )
        raise GatewayError("API_CONFIGURATION_ERROR")


def _answer(ctx: RequestContext, target: _Target, outcome: _Outcome) -> Response:
    """The client's answer from the invocation's outcome."""
    if outcome.too_large is not None:
        # Lambda refused the event (over its 6 MB synchronous limit); API Gateway answers 413.
        logger.warning("Execution failed: %s", outcome.too_large)
        raise GatewayError("REQUEST_TOO_LARGE")
    if outcome.throttled:
        logger.warning(
            "Lambda invocation failed with status: 429 (TooManyRequestsException, reserved concurrency "
            "of %s exhausted); API Gateway answers 500",
            target.name,
        )
        raise GatewayError("LAMBDA_THROTTLED")
    result = outcome.result
    if result is None:
        raise GatewayError("LAMBDA_ERROR")
    if result.function_error:
        logger.warning(
            "Lambda execution failed with status 200 due to customer function error (%s): %s",
            result.status,
            result.payload[:500].decode("utf-8", "replace"),
        )
        raise GatewayError("LAMBDA_ERROR")
    accept = _first_media_type(ctx.request.headers.get("Accept", ""))
    assert ctx.snapshot is not None
    binary = _is_binary(accept, ctx.snapshot.get("binary_media_types") or [])
    mapped = map_proxy_result(result.payload, decode_base64=binary)
    if mapped is None:
        logger.warning(
            "Execution failed due to configuration error: Malformed Lambda proxy response: %s",
            result.payload[:500].decode("utf-8", "replace"),
        )
        raise GatewayError("LAMBDA_ERROR")
    status, headers, body = mapped
    return response(status, body, headers, ctx.request_id, default_type="application/json")
