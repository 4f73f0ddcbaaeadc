"""Verification backs off on the stage's own 429s instead of failing the environment.

Probe: once the stage profiles kept throttle_burst within reserved concurrency (dev: 10), the
journey's dozen requests against the fast local cloud emptied the token bucket and a check failed
with 429, which says the throttle works, not that the environment is broken. API Gateway answers
429 when the bucket is empty and refills it at the stage's rate
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from provisioning import verify


class _Throttled(BaseHTTPRequestHandler):
    """Answers 429 to the first `throttled` requests, then 200."""

    throttled = 0
    seen = 0
    url = ""

    def do_GET(self) -> None:
        type(self).seen += 1
        status = 429 if type(self).seen <= type(self).throttled else 200
        body = b'{"message":"Too Many Requests"}' if status == 429 else b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stage() -> Iterator[type[_Throttled]]:
    """A stage on loopback; its handler class counts the requests and holds the URL."""
    handler = type("Handler", (_Throttled,), {"seen": 0, "throttled": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/dev"
    yield handler
    server.shutdown()
    server.server_close()


def test_a_429_is_resent_after_a_growing_pause(stage: type[_Throttled]) -> None:
    stage.throttled = 2
    pauses: list[float] = []
    api = verify._Api(stage.url, "key", "https://x.invalid", 5.0, pauses.append)
    assert api.call("GET", "/items").status == 200
    assert pauses == [0.2, 0.4] and stage.seen == 3


@pytest.mark.heavy
def test_a_stage_that_keeps_throttling_is_reported_as_429(stage: type[_Throttled]) -> None:
    stage.throttled = 100
    pauses: list[float] = []
    api = verify._Api(stage.url, "key", "https://x.invalid", 5.0, pauses.append)
    assert api.call("GET", "/items").status == 429
    assert len(pauses) == verify.THROTTLE_RETRIES and stage.seen == verify.THROTTLE_RETRIES + 1
