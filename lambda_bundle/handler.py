"""Entry point of the function: routing on method and resource, and mapping errors to HTTP.

Lambda setting: ``lambda_bundle.handler.lambda_handler``. One function serves every route
(R-FN-1). Whatever happens, the caller gets a JSON answer with CORS headers (R-FN-8): client
errors carry their own message, anything unexpected becomes a 500 whose body holds only a
generic message and the request id, while the detail goes to the log (R-FN-10). Every request
also prints its metrics in embedded metric format (`metrics.py`).

The routing stays hand-written rather than Powertools' `APIGatewayRestResolver`: the resolver
answers a known path with a wrong method by 404 (this API owes 405 with `Allow`), sends CORS
headers only for an allowed Origin (here every answer carries them), matches ids only from its
own character class, and its import alone costs more than a quarter of the cold-start budget
(see docs/performance.md).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from . import config, logs, metrics, paging, store
from .errors import ApiError, MethodNotAllowed, NotFound, item_not_found
from .http import Reply, cors_headers, error_reply, render
from .items import parse_item, public_view
from .request import Request, from_event, json_object_body

ITEMS = "/items"
ITEM = "/items/{id}"
ALLOWED_METHODS = {
    ITEMS: ("GET", "POST", "OPTIONS"),
    ITEM: ("GET", "PUT", "DELETE", "OPTIONS"),
}
MAX_ID_BYTES = 2048  # DynamoDB's limit for a partition key; longer ids cannot exist.


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    started = time.perf_counter()
    logger = logs.configure()
    request = from_event(event)
    lambda_request_id = getattr(context, "aws_request_id", None)
    # The API Gateway id is the one a client sees (x-amzn-RequestId, access logs), so it is
    # the one an error body quotes; the Lambda id ties the line to START/END/REPORT.
    request_id = request.api_request_id or lambda_request_id or str(uuid.uuid4())
    cors = cors_headers(request.header("origin"), config.cors_allow_origins())
    with logs.bound(
        requestId=request_id,
        lambdaRequestId=lambda_request_id,
        environment=config.environment(),
        method=request.method,
        path=request.path,
    ):
        error: str | None = None
        try:
            reply = _dispatch(request)
        except ApiError as exc:
            error = exc.message
            reply = error_reply(exc.status, exc.message, request_id, exc.headers)
        except Exception as exc:
            logger.exception("unhandled error")
            error = f"unhandled {type(exc).__name__}"
            reply = error_reply(500, "internal server error", request_id)
        status = reply.status
        level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        fields = {"status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 2)}
        if error is not None:
            fields["error"] = error
        logger.log(level, "request handled", extra=fields)
        try:
            metrics.record_request(request.method, status)
        except Exception:  # a metric must never be why a request fails
            logger.exception("metrics not recorded")
    return render(reply, cors)


def _dispatch(request: Request) -> Reply:
    resource, item_id = _route(request)
    if resource is None:
        raise NotFound(f"no route for {request.method or '(no method)'} {request.path or '(no path)'}")
    allowed = ALLOWED_METHODS[resource]
    if request.method not in allowed:
        raise MethodNotAllowed(request.method, allowed)
    if request.method == "OPTIONS":
        return Reply(204)
    logs.get_logger().debug("route resolved", extra={"resource": resource})
    if resource == ITEMS:
        return _list_items(request) if request.method == "GET" else _create_item(request)
    item_id = _known_id(item_id)
    action: Callable[[Request, str], Reply] = {
        "GET": _get_item,
        "PUT": _replace_item,
        "DELETE": _delete_item,
    }[request.method]
    return action(request, item_id)


def _route(request: Request) -> tuple[str | None, str | None]:
    """Trust API Gateway's ``resource`` when it names one of ours, else match the raw path."""
    if request.resource == ITEMS:
        return ITEMS, None
    if request.resource == ITEM and request.path_parameters.get("id"):
        return ITEM, request.path_parameters["id"]
    path = request.path.rstrip("/")
    if path == ITEMS:
        return ITEMS, None
    prefix = ITEMS + "/"
    rest = path[len(prefix) :] if path.startswith(prefix) else ""
    if rest and "/" not in rest:
        return ITEM, unquote(rest)
    return None, None


def _known_id(item_id: str | None) -> str:
    if not item_id or len(item_id.encode("utf-8", errors="surrogatepass")) > MAX_ID_BYTES:
        raise NotFound("item not found")
    return item_id


def _list_items(request: Request) -> Reply:
    limit = paging.parse_limit(request.query.get("limit"))
    after = paging.decode_token(request.query.get("next"))
    items, position = store.list_page(limit, after)
    return Reply(
        200,
        {
            "items": [public_view(item) for item in items],
            "next": paging.encode_token(position) if position else None,
        },
    )


def _create_item(request: Request) -> Reply:
    item_input = parse_item(json_object_body(request), honour_version=False)
    item = store.create_item(item_input.fields)
    location = f"{request.public_path.rstrip('/') or ITEMS}/{item['id']}"
    return Reply(201, public_view(item), {"Location": location})


def _get_item(request: Request, item_id: str) -> Reply:
    item = store.get_item(item_id)
    if item is None:
        raise item_not_found(item_id)
    return Reply(200, public_view(item))


def _replace_item(request: Request, item_id: str) -> Reply:
    item_input = parse_item(json_object_body(request), honour_version=True)
    item = store.replace_item(item_id, item_input.fields, item_input.expected_version)
    return Reply(200, public_view(item))


def _delete_item(request: Request, item_id: str) -> Reply:
    store.delete_item(item_id)
    return Reply(204)
