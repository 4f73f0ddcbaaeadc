"""botocore hooks that add latency or inject failures below the retry layer.

They let the benchmark measure how well the engine parallelises (a fixed delay per call makes
the critical path visible) and let tests prove that throttling and 5xx answers are survived.
They sit on `before-send`, registered first, so they act before any emulator's own handler
and every retry of a failed attempt goes through them again, exactly like a real network.
"""

from __future__ import annotations

import json
import random
import threading
import time
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse

from .aws import Hook


class _Raw:
    """The minimal raw body botocore reads from a response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


# The services the engine calls; their event names use the hyphenated service id.
SERVICES = (
    "apigateway",
    "lambda",
    "dynamodb",
    "cloudwatch",
    "iam",
    "sns",
    "sqs",
    "logs",
    "kms",
    "application-autoscaling",
    "resourcegroupstaggingapi",
    "sts",
    "s3",  # the artifact bucket and its objects (R-REL-1)
    # the modes' resources: the vpc mode's network (and the absence of it outside that mode), the
    # cognito mode's user pool, the token mode's signing secret
    "ec2",
    "cognito-idp",
    "secretsmanager",
)


@lru_cache(maxsize=1)
def _protocols() -> dict[str, str]:
    session = botocore.session.get_session()
    models = (session.get_service_model(name) for name in SERVICES)
    return {m.service_id.hyphenize(): m.protocol for m in models}


def _protocol(service_id: str) -> str:
    return _protocols().get(service_id, "json")


def throttling_response(service: str, url: str) -> AWSResponse:
    """A 400 throttling error in the wire format of the service's protocol."""
    protocol = _protocol(service)
    if protocol in ("query", "ec2"):
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            b"<Message>Rate exceeded</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
        )
        headers = {"Content-Type": "text/xml"}
    elif protocol == "rest-xml":
        body = b"<Error><Code>SlowDown</Code><Message>Rate exceeded</Message></Error>"
        headers = {"Content-Type": "application/xml"}
    else:  # json, rest-json
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": "ThrottlingException"}
    return AWSResponse(url, 400, headers, _Raw(body))


def server_error_response(url: str, status: int = 503) -> AWSResponse:
    return AWSResponse(url, status, {"Content-Type": "text/plain"}, _Raw(b"Service Unavailable"))


class FaultInjector:
    """Fail a fraction of HTTP attempts with throttling or 5xx answers, reproducibly (fixed seed)."""

    def __init__(self, rate: float = 0.2, seed: int = 7) -> None:
        self.rate = rate
        self.seed = seed
        self._lock = threading.Lock()
        self._per_operation: dict[str, int] = {}
        self.injected = 0
        self.attempts = 0

    def __call__(self, request: Any = None, event_name: str = "", **_: Any) -> AWSResponse | None:
        # The n-th attempt of an operation always gets the same roll, whatever order the
        # engine's threads happen to run in: the same seed gives the same faults.
        with self._lock:
            self.attempts += 1
            n = self._per_operation[event_name] = self._per_operation.get(event_name, 0) + 1
        draw = random.Random(f"{self.seed}:{event_name}:{n}")
        roll = draw.random()
        if roll >= self.rate:
            return None
        throttle = draw.random() < 0.5
        with self._lock:
            self.injected += 1
        # botocore emits before-send to every handler and takes the first answer; point this
        # attempt nowhere so an in-process emulator registered after us does not act on it too.
        # The failed attempt never reaches the service, as a throttle refused at the door.
        url = request.url
        request.url = "https://envport-injected-fault.invalid/"
        service = event_name.split(".")[1] if "." in event_name else ""
        if throttle and _protocol(service) in ("query", "ec2", "json", "rest-json", "rest-xml"):
            # CBOR services (CloudWatch) get a 5xx instead: a CBOR error body is not worth forging.
            return throttling_response(service, url)
        return server_error_response(url, 500 if roll < self.rate / 2 else 503)

    def hook(self) -> Hook:
        return ("before-send.*.*", self, True)


class Latency:
    """Add a fixed delay to every HTTP attempt, as a far-away region would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, **_: Any) -> None:
        time.sleep(self.seconds)

    def hook(self) -> Hook:
        return ("before-send.*.*", self, True)
