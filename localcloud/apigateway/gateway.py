"""The execute-api side of API Gateway (REST APIs) for the APIs that moto holds.

URL: ``/restapis/{api_id}/{stage}/_user_request_/{path}``. What a stage serves is the snapshot its
deployment took (``localcloud.snapshots``); API keys, usage plans and stage settings (throttling,
stage variables) are read live, as on AWS. Answers follow API Gateway:

- no such API, stage, resource or method: 403 ``{"message":"Missing Authentication Token"}``
- ``apiKeyRequired`` and no enabled key of a usage plan of this API stage: 403 ``{"message":"Forbidden"}``
- usage-plan throttle / quota, stage or method throttling: 429 ``Too Many Requests`` / ``Limit Exceeded``
- MOCK: status and headers of the integration response, checked against the method responses
- AWS_PROXY to Lambda (payload format 1.0): the URI names the function, a version or an alias; an alias
  runs the version its routing configuration (additional version weights) picks for each request
  (``localcloud.aliases``). The function's answer; a function error (exception, crash,
  its own timeout) or a malformed answer: 502; Lambda throttling (reserved concurrency): 500, as
  AWS gives ``{"message": "Internal server error"}`` when Lambda answers 429 to API Gateway; no
  answer within the integration timeout (``timeoutInMillis``, default 29 s): 504.
- the gateway responses of the deployment (DEFAULT_4XX, DEFAULT_5XX, or a specific type) decorate
  the gateway's own errors with their headers, status and template.
- a request body over the REST API payload quota (10 MB,
  https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): 413, REQUEST_TOO_LARGE,
  without invoking anything. A declared ``Content-Length`` over the limit is refused before a byte of
  the body is read; a chunked body is read up to the limit plus one byte and no further.
- a body that ends before its ``Content-Length`` (the client went away) or whose chunked encoding is
  broken: 400 and one log line (this is HTTP, not an AWS response type).

The proxy event and answer follow the Lambda proxy integration's formats
(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html):
header names keep the client's casing; ``headers`` and ``queryStringParameters`` hold the last value of
a repeated field, the ``multiValue`` maps every value in order. Binary payloads follow
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html: a
request whose Content-Type matches the API's ``binaryMediaTypes`` reaches the function base64-encoded
(``isBase64Encoded``); a base64 answer is decoded only when the request's first Accept media type
matches them, otherwise the client gets the base64 text. Stage throttling, ``*/*`` included, is a
bucket per method (api-gateway-request-throttling.html). Every answer carries ``x-amz-apigw-id`` (the
event's ``extendedRequestId``) and ``X-Amzn-Trace-Id`` (the trace the function saw).
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import json
import logging
import random
import re
import secrets
import string
import threading
import time
import uuid
from typing import Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from . import gateway_headers, metrics
from .aliases import resolve, split_qualifier
from .authorizers import Authorization, Denial, Grant
from .handler import DISCONNECT_LOGGED, RAW_HEADERS
from .lambda_kms import EnvironmentKeyUnusable
from .lambda_limits import RequestTooLarge
from .runtime import FunctionThrottled, InvocationResult, Runtime, reserved_concurrency
from .snapshots import deployment_snapshot
from .throttling import Throttles

logger = logging.getLogger("localcloud.gateway")

STAGE_PATH = re.compile(r"^/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)?$")
LAMBDA_URI = re.compile(
    r"^arn:aws[\w-]*:apigateway:(?P<region>[\w-]+):lambda:path/2015-03-31/functions/(?P<arn>.+)/invocations$"
)
DEFAULT_INTEGRATION_TIMEOUT_MS = 29000
PROXY_RESULT_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}
# REST API "Payload size: 10 MB" (API Gateway quotas, limits.html), counted in binary megabytes as
# Lambda's 6 MB payload quota is.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
BODY_READ_CHUNK = 64 * 1024
# Per-request ids, set in the environ when the request arrives and used by the event and the answer.
APIGW_ID = "localcloud.apigw_id"
TRACE_ID = "localcloud.trace_id"

# Gateway response type -> (status, body, x-amzn-ErrorType). The bodies are AWS's, byte for byte.
GATEWAY_ERRORS: dict[str, tuple[int, str, str | None]] = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        '{"message":"Missing Authentication Token"}',
        "MissingAuthenticationTokenException",
    ),
    "INVALID_API_KEY": (403, '{"message":"Forbidden"}', "ForbiddenException"),
    # Authorization (localcloud.authorizers). ACCESS_DENIED's and INVALID_SIGNATURE's bodies depend
    # on the request; these are the defaults.
    "UNAUTHORIZED": (401, '{"message":"Unauthorized"}', "UnauthorizedException"),
    "ACCESS_DENIED": (
        403,
        '{"Message":"User is not authorized to access this resource"}',
        "AccessDeniedException",
    ),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, '{"message": null}', "AuthorizerConfigurationException"),
    "INVALID_SIGNATURE": (
        403,
        '{"message":"The request signature we calculated does not match the signature you provided. '
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for "
        'details."}',
        "InvalidSignatureException",
    ),
    "EXPIRED_TOKEN": (
        403,
        '{"message":"The security token included in the request is expired"}',
        "ExpiredTokenException",
    ),
    # Not response types of their own (AWS does not list them): DEFAULT_4XX decorates them.
    "UNRECOGNIZED_CLIENT": (
        403,
        '{"message":"The security token included in the request is invalid."}',
        "UnrecognizedClientException",
    ),
    "INCOMPLETE_SIGNATURE": (403, '{"message":"Incomplete signature"}', "IncompleteSignatureException"),
    "THROTTLED": (429, '{"message":"Too Many Requests"}', "TooManyRequestsException"),
    "QUOTA_EXCEEDED": (429, '{"message":"Limit Exceeded"}', "LimitExceededException"),
    "INTEGRATION_TIMEOUT": (504, '{"message": "Endpoint request timed out"}', None),
    "API_CONFIGURATION_ERROR": (500, '{"message": "Internal server error"}', "InternalServerErrorException"),
    # AWS documents the type and its status, not the body; this is the body it is seen to answer.
    "REQUEST_TOO_LARGE": (413, '{"message":"Request Too Long"}', None),
    # Not response types of their own on AWS: Lambda errors and throttles use DEFAULT_5XX.
    "LAMBDA_ERROR": (502, '{"message": "Internal server error"}', None),
    "LAMBDA_THROTTLED": (500, '{"message": "Internal server error"}', "InternalServerErrorException"),
    # Not an AWS response at all: the HTTP request itself was cut short or badly framed.
    "INCOMPLETE_BODY": (
        400,
        '{"message": "Bad request: the body ended before its Content-Length, or its chunked encoding '
        'is malformed"}',
        None,
    ),
}
# The kinds whose gateway response the API can customize; the others fall back to DEFAULT_4XX/5XX.
# REQUEST_TOO_LARGE is a type, but "customization of the 413 REQUEST_TOO_LARGE default gateway
# response isn't supported" (supported-gateway-response-types.html): only DEFAULT_4XX decorates it.
OWN_RESPONSE_TYPES = frozenset(GATEWAY_ERRORS) - {
    "UNRECOGNIZED_CLIENT",
    "INCOMPLETE_SIGNATURE",
    "LAMBDA_ERROR",
    "LAMBDA_THROTTLED",
    "REQUEST_TOO_LARGE",
    "INCOMPLETE_BODY",
}


class PayloadTooLarge(Exception):
    """The request body is over the payload limit (declared, or found while reading)."""


class IncompleteBody(Exception):
    """The request body could not be read whole: the client went away, or its framing is broken."""


class _Route:
    __slots__ = ("params", "resource")

    def __init__(self, resource: dict[str, Any], params: dict[str, str]) -> None:
        self.resource = resource
        self.params = params


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def match_route(resources: list[dict[str, Any]], path: str) -> _Route | None:
    """The resource for a request path. Literal segments beat ``{param}`` segments, which beat a
    greedy ``{proxy+}``; compared segment by segment from the left."""
    segments = _parts(path)
    best: tuple[list[int], _Route] | None = None
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
            best = (score, _Route(resource, params))
    return best[1] if best else None


def _method_setting_key(resource_path: str, verb: str) -> str:
    """A stage's methodSettings key for one method: the resource path with ``/`` escaped as ``~1``
    (``/pets/{id}`` GET is ``~1pets~1{id}/GET``), as UpdateStage's ``/~1pets~1{id}/GET/...`` sets it."""
    return f"{resource_path.replace('~', '~0').replace('/', '~1')}/{verb}"


def _literal(value: Any) -> str | None:
    if isinstance(value, str) and len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        return value[1:-1]
    return None


class Gateway:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.throttles = Throttles()
        self.authorization = Authorization(runtime)

    def reset(self) -> None:
        self.throttles.reset()
        self.authorization.reset()

    # -- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started, started_at = time.perf_counter(), time.time()
        environ[APIGW_ID] = _apigw_id()
        environ[TRACE_ID] = _trace_header(request.headers.get("X-Amzn-Trace-Id"))
        try:
            response = self.handle(request)
        except Exception:
            logger.exception("gateway failure on %s %s", request.method, request.path)
            response = self._error(None, request, "API_CONFIGURATION_ERROR", str(uuid.uuid4()))
        response.headers["x-amz-apigw-id"] = environ[APIGW_ID]
        if "X-Amzn-Trace-Id" not in response.headers:
            response.headers["X-Amzn-Trace-Id"] = environ[TRACE_ID]
        metrics.api_request(environ, response.status_code, started, started_at)  # AWS/ApiGateway metrics
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        oversized = gateway_headers.too_large(_raw_headers(request))
        if oversized is not None:  # API Gateway refuses before anything else (gateway_headers.py)
            logger.info("%s %s: %d bytes of headers; answered 431", request.method, request.path, oversized)
            headers = [("Content-Type", "application/json")]
            return _response(gateway_headers.STATUS, gateway_headers.BODY, headers, request_id)
        match = STAGE_PATH.match(request.path)
        if not match:
            return self._error(None, request, "MISSING_AUTHENTICATION_TOKEN", request_id)
        api_id, stage_name = match.group("api"), match.group("stage")
        path = match.group("path") or "/"
        found = _find_api(api_id)
        if found is None:
            return self._error(None, request, "MISSING_AUTHENTICATION_TOKEN", request_id)
        backend, api = found
        stage = api.stages.get(stage_name)
        snapshot = deployment_snapshot(api, stage.deployment_id) if stage is not None else None
        if stage is None or snapshot is None:
            return self._error(None, request, "MISSING_AUTHENTICATION_TOKEN", request_id)
        try:
            body = read_body(request)
        except PayloadTooLarge as exc:
            logger.info("%s %s: %s; answered 413", request.method, request.path, exc)
            return self._error(snapshot, request, "REQUEST_TOO_LARGE", request_id)
        except IncompleteBody as exc:
            logger.info("%s %s: %s; answered 400", request.method, request.path, exc)
            request.environ[DISCONNECT_LOGGED] = True
            return self._error(snapshot, request, "INCOMPLETE_BODY", request_id)

        route = match_route(snapshot["resources"], path)
        verb = request.method.upper()
        method = None
        if route is not None:
            methods = route.resource["methods"]
            method = methods.get(verb) or methods.get("ANY")
        if route is None or method is None:
            return self._error(snapshot, request, "MISSING_AUTHENTICATION_TOKEN", request_id)
        resource_path = route.resource["path"]

        # The method's authorization first: with the AUTHORIZER key source, the API key is the
        # Lambda authorizer's output (api-gateway-api-key-source.html).
        grant = self.authorization.authorize(
            request,
            api,
            stage,
            snapshot,
            method,
            path,
            body,
            lambda: _proxy_event(request, api, stage, snapshot, route, path, request_id, None, body),
        )
        if isinstance(grant, Denial):
            return self._error(snapshot, request, grant.kind, request_id, route=route, body=grant.body)

        # API key and usage plan: live, not deployment-scoped.
        api_key = None
        if method.get("apiKeyRequired"):
            value = request.headers.get("x-api-key", "")
            if snapshot.get("api_key_source") == "AUTHORIZER":
                value = grant.usage_identifier_key or ""
            found_key = _usage_plan_key(backend, api_id, stage_name, value)
            if found_key is None:
                return self._error(snapshot, request, "INVALID_API_KEY", request_id, route=route)
            api_key, plan, plan_stage = found_key
            limited = self._usage_plan_limits(plan, plan_stage, api_key, resource_path, method["httpMethod"])
            if limited:
                return self._error(snapshot, request, limited, request_id, route=route)

        if not self._stage_allows(api_id, stage, resource_path, method["httpMethod"]):
            return self._error(snapshot, request, "THROTTLED", request_id, route=route)

        integration = method.get("methodIntegration")
        if not integration:
            logger.warning("%s %s: method has no integration", verb, resource_path)
            return self._error(snapshot, request, "API_CONFIGURATION_ERROR", request_id, route=route)
        kind = (integration.get("type") or "").upper()
        if kind == "MOCK":
            return self._mock(snapshot, request, route, method, integration, request_id)
        if kind == "AWS_PROXY":
            return self._lambda_proxy(
                api, stage, snapshot, request, route, integration, request_id, api_key, path, body, grant
            )
        logger.warning("integration type %s is not served by localcloud (%s %s)", kind, verb, resource_path)
        return self._error(snapshot, request, "API_CONFIGURATION_ERROR", request_id, route=route)

    # -- throttling -----------------------------------------------------------------------------
    def _usage_plan_limits(
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

    def _stage_allows(self, api_id: str, stage: Any, resource_path: str, verb: str) -> bool:
        settings = stage.method_settings or {}
        key = _method_setting_key(resource_path, verb)
        # An older key form without the leading ``~1`` is read too.
        specific = settings.get(key) or settings.get(key.removeprefix("~1")) or {}
        general = settings.get("*/*") or {}
        rate = specific.get("throttlingRateLimit", general.get("throttlingRateLimit"))
        burst = specific.get("throttlingBurstLimit", general.get("throttlingBurstLimit"))
        if rate is None and burst is None:
            return True
        rate = float(rate if rate is not None else 10000.0)
        burst = float(burst if burst is not None else 5000.0)
        # "Per-API, per-stage throttling limits are applied at the API method level for a stage"
        # (api-gateway-request-throttling.html): */* gives each method a bucket of its own.
        return self.throttles.allow(("stage", api_id, stage.name, key), rate, burst)

    # -- MOCK -----------------------------------------------------------------------------------
    def _mock(
        self,
        snapshot: dict[str, Any],
        request: Request,
        route: _Route,
        method: dict[str, Any],
        integration: dict[str, Any],
        request_id: str,
    ) -> Response:
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
                route.resource["path"],
            )
            return self._error(snapshot, request, "API_CONFIGURATION_ERROR", request_id, route=route)
        out_status = str(chosen.get("statusCode"))
        method_response = (method.get("methodResponses") or {}).get(out_status)
        if method_response is None:
            logger.warning(
                "Execution failed due to configuration error: Output mapping refers to an invalid method "
                "response: %s (%s %s)",
                out_status,
                method["httpMethod"],
                route.resource["path"],
            )
            return self._error(snapshot, request, "API_CONFIGURATION_ERROR", request_id, route=route)
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
                    method["httpMethod"],
                    route.resource["path"],
                )
                continue
            value = _resolve(source, request, route)
            if value is not None:
                headers = _set_header(headers, target[len("method.response.header.") :], value)
        body = (chosen.get("responseTemplates") or {}).get("application/json") or ""
        return _response(int(out_status), body.encode("utf-8"), headers, request_id)

    # -- AWS_PROXY ------------------------------------------------------------------------------
    def _lambda_proxy(
        self,
        api: Any,
        stage: Any,
        snapshot: dict[str, Any],
        request: Request,
        route: _Route,
        integration: dict[str, Any],
        request_id: str,
        api_key: Any,
        path: str,
        body: bytes,
        grant: Grant | None = None,
    ) -> Response:
        from moto.awslambda.utils import get_backend

        uri = _substitute_stage_variables(integration.get("uri") or "", stage.variables or {})
        match = LAMBDA_URI.match(uri)
        if not match:
            logger.warning("Execution failed due to configuration error: invalid Lambda URI %r", uri)
            return self._error(snapshot, request, "API_CONFIGURATION_ERROR", request_id, route=route)
        function_arn = match.group("arn")
        arn_parts = function_arn.split(":")
        if len(arn_parts) < 7:
            logger.warning(
                "Execution failed due to configuration error: invalid function ARN %r", function_arn
            )
            return self._error(snapshot, request, "API_CONFIGURATION_ERROR", request_id, route=route)
        fn_region, fn_account, fn_name = arn_parts[3], arn_parts[4], arn_parts[6]
        try:
            lambda_backend = get_backend(fn_account, fn_region)
            # An alias in the URI: the version its routing configuration picks for this request.
            target = resolve(lambda_backend, function_arn)
            fn = target.fn
            latest = lambda_backend.get_function(fn_name)
        except Exception as exc:
            logger.warning("Execution failed due to configuration error: function %s: %s", function_arn, exc)
            return self._error(snapshot, request, "API_CONFIGURATION_ERROR", request_id, route=route)

        verb = request.method.upper()
        if not integration.get("credentials"):
            source_arns = [
                f"arn:aws:execute-api:{api.region_name}:{api.account_id}:{api.id}/{stage.name}/{verb}{p}"
                for p in {route.resource["path"], path}
            ]
            if not _lambda_permits(latest, source_arns, api.account_id, function_arn):
                logger.warning(
                    "Execution failed due to configuration error: Invalid permissions on Lambda function %s "
                    "(no resource-based policy statement on %s lets apigateway.amazonaws.com invoke it "
                    "from %s)",
                    fn_name,
                    function_arn,
                    source_arns[0],
                )
                return self._error(snapshot, request, "API_CONFIGURATION_ERROR", request_id, route=route)

        event = _proxy_event(request, api, stage, snapshot, route, path, request_id, api_key, body, grant)
        reserved = reserved_concurrency(latest)
        timeout_ms = int(integration.get("timeoutInMillis") or DEFAULT_INTEGRATION_TIMEOUT_MS)

        outcome: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                outcome["result"] = self.runtime.invoke(
                    fn,
                    event,
                    invoked_arn=function_arn,
                    source="apigateway",
                    reserved_concurrency=reserved,
                    alias=target.alias,
                )
            except FunctionThrottled:
                outcome["throttled"] = True
            except RequestTooLarge as exc:
                outcome["too_large"] = exc
            except EnvironmentKeyUnusable as exc:  # Lambda answered 502 (lambda_kms.py): LAMBDA_ERROR
                logger.warning("Lambda invocation failed with status: 502 (%s): %s", exc.error_type, exc)
            except Exception as exc:  # pragma: no cover - defensive
                logger.exception("invocation of %s failed", function_arn)
                outcome["exception"] = exc
            finally:
                done.set()

        request.environ[metrics.INTEGRATION_STARTED] = time.perf_counter()  # IntegrationLatency
        threading.Thread(target=run, name=f"lc-invoke-{request_id[:8]}", daemon=True).start()
        if not done.wait(timeout_ms / 1000.0):
            logger.warning("Execution failed due to a timeout error (%s ms) on %s", timeout_ms, function_arn)
            return self._error(snapshot, request, "INTEGRATION_TIMEOUT", request_id, route=route)
        if outcome.get("too_large") is not None:
            # Lambda refused the event (over its 6 MB synchronous limit); API Gateway answers 413.
            logger.warning("Execution failed: %s", outcome["too_large"])
            return self._error(snapshot, request, "REQUEST_TOO_LARGE", request_id, route=route)
        if outcome.get("throttled"):
            logger.warning(
                "Lambda invocation failed with status: 429 (TooManyRequestsException, reserved concurrency "
                "of %s exhausted); API Gateway answers 500",
                fn_name,
            )
            return self._error(snapshot, request, "LAMBDA_THROTTLED", request_id, route=route)
        result: InvocationResult | None = outcome.get("result")
        if result is None:
            return self._error(snapshot, request, "LAMBDA_ERROR", request_id, route=route)
        if result.function_error:
            logger.warning(
                "Lambda execution failed with status 200 due to customer function error (%s): %s",
                result.status,
                result.payload[:500].decode("utf-8", "replace"),
            )
            return self._error(snapshot, request, "LAMBDA_ERROR", request_id, route=route)
        accept = _first_media_type(request.headers.get("Accept", ""))
        mapped = _map_proxy_result(
            result.payload, decode_base64=_is_binary(accept, snapshot.get("binary_media_types") or [])
        )
        if mapped is None:
            logger.warning(
                "Execution failed due to configuration error: Malformed Lambda proxy response: %s",
                result.payload[:500].decode("utf-8", "replace"),
            )
            return self._error(snapshot, request, "LAMBDA_ERROR", request_id, route=route)
        status, headers, body = mapped
        return _response(status, body, headers, request_id, default_type="application/json")

    # -- errors ---------------------------------------------------------------------------------
    def _error(
        self,
        snapshot: dict[str, Any] | None,
        request: Request,
        kind: str,
        request_id: str,
        route: _Route | None = None,
        body: str | None = None,
    ) -> Response:
        status, default_body, error_type = GATEWAY_ERRORS[kind]
        body = body or default_body
        configured = None
        response_type = kind
        if snapshot is not None:
            responses = snapshot.get("gateway_responses") or {}
            configured = responses.get(kind) if kind in OWN_RESPONSE_TYPES else None
            if configured is not None and configured.get("statusCode"):
                status = int(configured["statusCode"])
            if configured is None:
                response_type = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
                configured = responses.get(response_type)
        headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        if configured is not None:
            for target, source in (configured.get("responseParameters") or {}).items():
                if not target.startswith("gatewayresponse.header."):
                    continue
                value = _resolve(source, request, route)
                if value is not None:
                    headers = _set_header(headers, target[len("gatewayresponse.header.") :], value)
            template = (configured.get("responseTemplates") or {}).get("application/json")
            if template:
                parsed = json.loads(body)
                # "message", or "Message" in ACCESS_DENIED's bodies; null in AUTHORIZER_CONFIGURATION_ERROR's.
                message = parsed.get("message", parsed.get("Message"))
                body = (
                    template.replace("$context.error.messageString", json.dumps(message))
                    .replace("$context.error.message", message or "")
                    .replace("$context.error.responseType", response_type)
                    .replace("$context.requestId", request_id)
                )
        return _response(status, body.encode("utf-8"), headers, request_id)


# -- helpers ------------------------------------------------------------------------------------
def read_body(request: Request, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The request body, read in full only when it is within ``limit``.

    A declared ``Content-Length`` over the limit is refused before anything is read. A body of unknown
    length (chunked) is read up to ``limit + 1`` bytes, enough to know it is too large, and no more:
    what the client still sends is never held in memory.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"Content-Length {declared} is over the payload limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            chunk = request.stream.read(min(BODY_READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (ClientDisconnected, OSError, ValueError) as exc:
        expected = f" of {declared}" if declared is not None else ""
        raise IncompleteBody(
            f"request body incomplete after {size}{expected} bytes ({_reason(exc)})"
        ) from exc
    if size > limit:
        raise PayloadTooLarge(f"chunked body is over the payload limit of {limit} bytes")
    return b"".join(chunks)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientDisconnected):
        return "the client disconnected"
    return str(exc) or type(exc).__name__


def _find_api(api_id: str) -> tuple[Any, Any] | None:
    from moto.apigateway.models import apigateway_backends

    # list() of a dict's items is atomic under the GIL; moto may add accounts/regions meanwhile.
    for _account, regions in list(apigateway_backends.items()):
        for _region, backend in list(regions.items()):
            api = backend.apis.get(api_id)
            if api is not None:
                return backend, api
    return None


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


def _set_header(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    """``headers`` with every ``name`` header (any casing) replaced by one holding ``value``."""
    return [h for h in headers if h[0].lower() != name.lower()] + [(name, value)]


def _substitute_stage_variables(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{stageVariables\.([A-Za-z0-9_.:-]+)\}", lambda m: variables.get(m.group(1), ""), text)


def _resolve(source: Any, request: Request, route: _Route | None) -> str | None:
    """The value of a response-parameter mapping: a quoted literal, or a request value."""
    literal = _literal(source)
    if literal is not None:
        return literal
    if not isinstance(source, str):
        return None
    if source.startswith("method.request.header."):
        return request.headers.get(source[len("method.request.header.") :])
    if source.startswith("method.request.querystring."):
        return request.args.get(source[len("method.request.querystring.") :])
    if source.startswith("method.request.path.") and route is not None:
        return route.params.get(source[len("method.request.path.") :])
    return None


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


def _lambda_permits(fn: Any, source_arns: list[str], account_id: str, invoked_arn: str | None = None) -> bool:
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


def _is_binary(content_type: str, binary_types: list[str]) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    if not media:
        return False
    return any(fnmatch.fnmatchcase(media, t.lower().replace("~1", "/")) for t in binary_types)


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


TRACE_ROOT = re.compile(r"(?:^|;)\s*Root=1-[0-9a-f]{8}-[0-9a-f]{24}(?:;|$)")


def _trace_header(sent: str | None) -> str:
    """The request's trace: the client's own when it sent one with a valid Root, as X-Ray propagates
    it; a new Root otherwise."""
    if sent and TRACE_ROOT.search(sent):
        return sent
    return _trace_id()


def _first_media_type(accept: str) -> str:
    """The first media type of an Accept header, which is the one API Gateway looks at."""
    return accept.split(",")[0].split(";")[0].strip()


def _raw_headers(request: Request) -> list[tuple[str, str]]:
    """The header fields as the client sent them (``handler.RAW_HEADERS``), or, when the request did
    not come through the local cloud's handler, werkzeug's view of them."""
    raw = request.environ.get(RAW_HEADERS)
    if raw is not None:
        return list(raw)
    return list(request.headers.items())


def _apigw_id() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=15)) + "="


def _proxy_event(
    request: Request,
    api: Any,
    stage: Any,
    snapshot: dict[str, Any],
    route: _Route,
    path: str,
    request_id: str,
    api_key: Any,
    raw: bytes,
    grant: Grant | None = None,
) -> dict[str, Any]:
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in _raw_headers(request):
        headers[name] = value  # the last of a repeated field
        multi_headers.setdefault(name, []).append(value)
    sent = {name.lower() for name in headers}
    source_ip = request.remote_addr or "127.0.0.1"
    host = request.host or "localhost"
    added = {
        "X-Forwarded-For": source_ip,
        "X-Forwarded-Port": str(request.environ.get("SERVER_PORT", "")),
        "X-Forwarded-Proto": request.scheme,
        "X-Amzn-Trace-Id": request.environ.get(TRACE_ID) or _trace_id(),
    }
    for name, value in added.items():
        if name.lower() not in sent:
            headers[name] = value
            multi_headers[name] = [value]

    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, values in request.args.lists():
        multi_query[name] = list(values)
        query[name] = values[-1]

    is_binary = _is_binary(request.headers.get("Content-Type", ""), snapshot.get("binary_media_types") or [])
    if not raw:
        body, encoded = None, False
    elif is_binary:
        body, encoded = base64.b64encode(raw).decode("ascii"), True
    else:
        body, encoded = raw.decode("utf-8", "replace"), False

    now = dt.datetime.now(dt.UTC)
    resource_path = route.resource["path"]
    event: dict[str, Any] = {
        "resource": resource_path,
        "path": path,
        "httpMethod": request.method.upper(),
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(route.params) or None,
        "stageVariables": dict(stage.variables or {}) or None,
        "requestContext": {
            "resourceId": route.resource["id"],
            "resourcePath": resource_path,
            "httpMethod": request.method.upper(),
            "extendedRequestId": request.environ.get(APIGW_ID) or _apigw_id(),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage.name}{path}",
            "accountId": api.account_id,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": stage.name,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
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
        },
        "body": body,
        "isBase64Encoded": encoded,
    }
    if grant is not None:
        # What the method's authorization established (localcloud.authorizers): the Lambda or Cognito
        # authorizer's output, the SigV4 caller's identity.
        context = event["requestContext"]
        if grant.authorizer is not None:
            context["authorizer"] = grant.authorizer
        context["identity"].update(grant.identity)
    return event


def _header_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError("header values must be scalars")


def _map_proxy_result(
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


def _response(
    status: int,
    body: bytes,
    headers: list[tuple[str, str]],
    request_id: str,
    default_type: str | None = None,
) -> Response:
    response = Response(body, status=status)
    response.headers.clear()
    has_type = False
    for name, value in headers:
        response.headers.add(name, value)
        has_type = has_type or name.lower() == "content-type"
    if not has_type and default_type:
        response.headers["Content-Type"] = default_type
    response.headers["x-amzn-RequestId"] = request_id
    response.headers["Content-Length"] = str(len(body))
    return response
