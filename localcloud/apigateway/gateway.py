"""The execute-api side of API Gateway (REST APIs) for the APIs that moto holds.

A request runs through a chain of handlers over one per-request context (``handlers.py``,
``context.py``), in LocalStack's manner; the Lambda proxy integration is ``proxy.py``.

URL: ``/restapis/{api_id}/{stage}/_user_request_/{path}``. What a stage serves is the snapshot its
deployment took (``snapshots.py``); API keys, usage plans and stage settings (throttling,
stage variables) are read live, as on AWS. Answers follow API Gateway:

- no such API, stage, resource or method: 403 ``{"message":"Missing Authentication Token"}``
- ``apiKeyRequired`` and no enabled key of a usage plan of this API stage: 403 ``{"message":"Forbidden"}``
- usage-plan throttle / quota, stage or method throttling: 429 ``Too Many Requests`` / ``Limit Exceeded``
- MOCK: status and headers of the integration response, checked against the method responses
- AWS_PROXY to Lambda (payload format 1.0): the URI names the function, a version or an alias; an alias
  runs the version its routing configuration (additional version weights) picks for each request
  (``localcloud.lambda_.aliases``). The function's answer; a function error (exception, crash,
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

import logging
import time
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud.apigateway import handlers, metrics
from localcloud.apigateway.authorizers import Authorization
from localcloud.apigateway.context import (
    APIGW_ID,
    TRACE_ID,
    GatewayError,
    RequestContext,
    new_apigw_id,
    trace_header,
)
from localcloud.apigateway.responses import error_response
from localcloud.apigateway.throttling import Throttles
from localcloud.lambda_.runtime import Runtime

logger = logging.getLogger("localcloud.gateway")


class Gateway:
    """The execute-api WSGI app: the handler chain, and the state it keeps between requests (the
    throttles' buckets and the authorizers' caches)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.throttles = Throttles()
        self.authorization = Authorization(runtime)
        self.chain: list[handlers.Handler] = [
            handlers.check_header_size,
            handlers.find_stage,
            handlers.read_request_body,
            handlers.find_method,
            handlers.Authorize(self.authorization),
            handlers.UsagePlan(self.throttles),
            handlers.StageThrottle(self.throttles),
            handlers.Integrate(runtime),
        ]

    def reset(self) -> None:
        self.throttles.reset()
        self.authorization.reset()

    # -- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started, started_at = time.perf_counter(), time.time()
        environ[APIGW_ID] = new_apigw_id()
        environ[TRACE_ID] = trace_header(request.headers.get("X-Amzn-Trace-Id"))
        try:
            response = self.handle(request)
        except Exception:
            logger.exception("gateway failure on %s %s", request.method, request.path)
            response = error_response(RequestContext(request, str(uuid.uuid4())), "API_CONFIGURATION_ERROR")
        response.headers["x-amz-apigw-id"] = environ[APIGW_ID]
        if "X-Amzn-Trace-Id" not in response.headers:
            response.headers["X-Amzn-Trace-Id"] = environ[TRACE_ID]
        metrics.api_request(environ, response.status_code, started, started_at)  # AWS/ApiGateway metrics
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        """Run the chain until a handler answers or refuses."""
        ctx = RequestContext(request, str(uuid.uuid4()))
        try:
            for handler in self.chain:
                answer = handler(ctx)
                if answer is not None:
                    return answer
        except GatewayError as refusal:
            return error_response(ctx, refusal.kind, refusal.body)
        raise RuntimeError("the integration handler answers every request")  # pragma: no cover
