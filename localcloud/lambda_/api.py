"""Lambda's Invoke API (``POST /2015-03-31/functions/{name}/invocations``) served by our runtime.

moto would need Docker to run the function; here the call runs the function's zip in a worker, with
the same concurrency rules as the gateway. A function, version or alias that does not exist is answered
404 ``ResourceNotFoundException`` "Function not found: ARN" (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html,
Errors); moto's own Invoke would run an unknown version's call through Docker and answer 200.

A qualifier naming an alias runs the version its routing configuration picks for this call
(``localcloud.lambda_.aliases``); the answer's ``X-Amz-Executed-Version`` header (boto3: ``ExecutedVersion``)
names the version that ran, as AWS's does.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from localcloud.lambda_.aliases import Target, resolve
from localcloud.lambda_.kms import EnvironmentKeyUnusable
from localcloud.lambda_.limits import (
    ASYNC_REQUEST_PAYLOAD_LIMIT,
    REQUEST_PAYLOAD_LIMIT,
    RequestTooLarge,
    check_request_size,
)
from localcloud.lambda_.runtime import THROTTLED_PAYLOAD, FunctionThrottled, Runtime, reserved_concurrency

logger = logging.getLogger("localcloud.lambda")

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/")


class LambdaInvokeAPI:
    def __init__(self, runtime: Runtime, default_region: str) -> None:
        self.runtime = runtime
        self.default_region = default_region

    def handle(self, environ: dict[str, Any]) -> Response | None:
        """Answer an Invoke call, or None to let moto answer it."""
        from moto.awslambda.exceptions import LambdaClientError
        from moto.awslambda.utils import get_backend, make_function_arn

        request = Request(environ)
        match = INVOKE_PATH.match(request.path)
        if not match:
            return None
        name = unquote(match.group("name"))
        qualifier = request.args.get("Qualifier")
        account, region = self._account_and_region(request)
        try:
            backend = get_backend(account, region)
            target = resolve(backend, name, qualifier)  # an alias: its weighted version for this call
            fn = target.fn
            latest = backend.get_function(fn.function_name)
        except LambdaClientError as exc:
            # An unknown function, version or alias: Lambda's 404 ResourceNotFoundException
            # ("Function not found: ARN:99"). moto's own Invoke ignores an unknown qualifier and
            # answers 200 with a FunctionError, so it must not get the call.
            return _error(exc.code, exc.error_type, exc.message)
        except Exception:
            return None

        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return Response(b"", status=204)
        raw = request.get_data()
        try:
            check_request_size(
                len(raw), ASYNC_REQUEST_PAYLOAD_LIMIT if invocation_type == "Event" else REQUEST_PAYLOAD_LIMIT
            )
        except RequestTooLarge as exc:
            return _error(413, "RequestEntityTooLargeException", str(exc))
        try:
            event = json.loads(raw) if raw else {}
        except ValueError:
            return _error(
                400,
                "InvalidRequestContentException",
                "Could not parse request body into json: Unexpected character",
            )
        arn = make_function_arn(region, account, fn.function_name)
        if target.qualifier:
            arn = f"{arn}:{target.qualifier}"
        if invocation_type == "Event":
            return self._invoke_async(target, event, arn)
        return self._invoke_sync(request, target, latest, event, arn)

    def _invoke_async(self, target: Target, event: Any, arn: str) -> Response:
        """Asynchronous: accepted at once; AWS queues events rather than throttling the caller."""

        def run() -> None:
            try:
                self.runtime.invoke(
                    target.fn, event, invoked_arn=arn, source="invoke-event", alias=target.alias
                )
            except FunctionThrottled:
                logger.warning("asynchronous invocation of %s throttled and dropped", arn)
            except (RequestTooLarge, EnvironmentKeyUnusable) as exc:
                logger.warning("asynchronous invocation of %s dropped: %s", arn, exc)

        threading.Thread(target=run, daemon=True).start()
        return Response(b"", status=202)

    def _invoke_sync(self, request: Request, target: Target, latest: Any, event: Any, arn: str) -> Response:
        """RequestResponse: run the function and answer with its result, as Lambda's Invoke does."""
        fn, reserved = target.fn, reserved_concurrency(latest)
        try:
            result = self.runtime.invoke(
                fn, event, invoked_arn=arn, source="invoke", reserved_concurrency=reserved, alias=target.alias
            )
        except RequestTooLarge as exc:  # re-serialized larger than the body (escapes): Lambda's answer
            return _error(413, "RequestEntityTooLargeException", str(exc))
        except EnvironmentKeyUnusable as exc:  # the environment variables' key (lambda_kms.py)
            return _error(exc.status, exc.error_type, str(exc))
        except FunctionThrottled:
            response = _error(429, "TooManyRequestsException", "Rate Exceeded.")
            response.set_data(THROTTLED_PAYLOAD)
            return response
        response = Response(result.payload, status=200, content_type="application/json")
        response.headers["X-Amz-Executed-Version"] = result.executed_version
        response.headers["x-amzn-RequestId"] = result.record.request_id
        if result.function_error:
            response.headers["X-Amz-Function-Error"] = "Unhandled"
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            tail = "\n".join(result.log_lines).encode("utf-8")[-4096:]
            response.headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode("ascii")
        return response

    def _account_and_region(self, request: Request) -> tuple[str, str]:
        from moto.iam.models import get_account_id_from

        auth = request.headers.get("Authorization", "")
        found = _CREDENTIAL.search(auth)
        region = found.group("region") if found else self.default_region
        if "MOTO_ACCOUNT_ID" in os.environ:
            return os.environ["MOTO_ACCOUNT_ID"], region
        if request.headers.get("x-moto-account-id"):
            return request.headers["x-moto-account-id"], region
        return get_account_id_from(found.group("key") if found else "AKIAEXAMPLE"), region


def _error(status: int, error_type: str, message: str) -> Response:
    response = Response(
        json.dumps({"Type": "User", "message": message}).encode(),
        status=status,
        content_type="application/json",
    )
    response.headers["x-amzn-ErrorType"] = error_type
    return response
