"""The gateway's own answers: AWS's gateway response types, decorated by the deployment's gateway
responses, and the one way every answer is built.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud.apigateway.context import RequestContext
from localcloud.apigateway.routing import Route

# Gateway response type -> (status, body, x-amzn-ErrorType). The bodies are AWS's, byte for byte.
GATEWAY_ERRORS: dict[str, tuple[int, str, str | None]] = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        '{"message":"Missing Authentication Token"}',
        "MissingAuthenticationTokenException",
    ),
    "INVALID_API_KEY": (403, '{"message":"Forbidden"}', "ForbiddenException"),
    # Authorization (localcloud.apigateway.authorizers). ACCESS_DENIED's and INVALID_SIGNATURE's bodies depend
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


def _literal(value: Any) -> str | None:
    if isinstance(value, str) and len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        return value[1:-1]
    return None


def set_header(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    """``headers`` with every ``name`` header (any casing) replaced by one holding ``value``."""
    return [h for h in headers if h[0].lower() != name.lower()] + [(name, value)]


def resolve_parameter(source: Any, request: Request, route: Route | None) -> str | None:
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


def response(
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


def error_response(ctx: RequestContext, kind: str, body: str | None = None) -> Response:
    """The gateway response ``kind`` for this request, as the deployment's gateway responses decorate it."""
    status, default_body, error_type = GATEWAY_ERRORS[kind]
    body = body or default_body
    configured, response_type = None, kind
    if ctx.snapshot is not None:
        responses = ctx.snapshot.get("gateway_responses") or {}
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
        headers, body = _decorate(ctx, configured, headers, body, response_type)
    return response(status, body.encode("utf-8"), headers, ctx.request_id)


def _decorate(
    ctx: RequestContext,
    configured: dict[str, Any],
    headers: list[tuple[str, str]],
    body: str,
    response_type: str,
) -> tuple[list[tuple[str, str]], str]:
    """A configured gateway response's headers and template applied to the default answer."""
    for target, source in (configured.get("responseParameters") or {}).items():
        if not target.startswith("gatewayresponse.header."):
            continue
        value = resolve_parameter(source, ctx.request, ctx.route)
        if value is not None:
            headers = set_header(headers, target[len("gatewayresponse.header.") :], value)
    template = (configured.get("responseTemplates") or {}).get("application/json")
    if template:
        parsed = json.loads(body)
        # "message", or "Message" in ACCESS_DENIED's bodies; null in AUTHORIZER_CONFIGURATION_ERROR's.
        message = parsed.get("message", parsed.get("Message"))
        body = (
            template.replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message or "")
            .replace("$context.error.responseType", response_type)
            .replace("$context.requestId", ctx.request_id)
        )
    return headers, body
