"""Lambda's sandbox limits that the local cloud enforces: synchronous payload sizes and memory.

Payloads (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Invocation payload
(request and response): 6 MB each for synchronous"): Lambda counts binary megabytes, and its two
limits differ by 100 bytes. A request over 6,291,456 bytes is refused before the function runs (Invoke:
413 ``RequestEntityTooLargeException`` "Request must be smaller than 6291456 bytes for the
InvokeFunction operation"; API Gateway's proxy integration gets the same refusal and answers the
client 413). An asynchronous invocation (``InvocationType=Event``) takes at most 1 MB ("1 MB for
asynchronous", 1,048,576 bytes, binary as the others): Invoke answers 413
``RequestEntityTooLargeException`` with the synchronous message's form and the limit of 1048576, and
queues nothing. A response over 6,291,556 bytes makes the invocation fail with
``Function.ResponseSizeTooLarge`` (Invoke: 200 with ``X-Amz-Function-Error: Unhandled``; through
API Gateway: 502).

Memory (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html): a function whose
execution environment uses more than its configured memory is stopped; the invocation fails with
``Runtime.OutOfMemory`` ("Runtime exited with error: signal: killed"). Here the runtime reads the
worker process's peak resident set size (``VmHWM`` in ``/proc/PID/status``, which no short-lived
allocation escapes) while the worker runs and once more when it answers; RLIMIT_AS would count
virtual memory, which Python's allocator reserves far beyond what it uses.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

REQUEST_PAYLOAD_LIMIT = 6 * 1024 * 1024  # 6,291,456 bytes
ASYNC_REQUEST_PAYLOAD_LIMIT = 1024 * 1024  # 1,048,576 bytes (InvocationType=Event)
RESPONSE_PAYLOAD_LIMIT = 6 * 1024 * 1024 + 100  # 6,291,556 bytes
MEMORY_POLL_S = 0.02
IDLE_POLL_S = 1.0


class RequestTooLarge(Exception):
    """The invocation payload is over Lambda's request limit (synchronous, or ``limit``)."""

    def __init__(self, size: int, limit: int = REQUEST_PAYLOAD_LIMIT) -> None:
        super().__init__(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        self.size = size


def check_request_size(size: int, limit: int = REQUEST_PAYLOAD_LIMIT) -> None:
    """Raise RequestTooLarge when a request payload of ``size`` bytes is over ``limit`` (synchronous
    by default; ``ASYNC_REQUEST_PAYLOAD_LIMIT`` for an asynchronous invocation)."""
    if size > limit:
        raise RequestTooLarge(size, limit)


def event_size(event: Any) -> int:
    """The size of ``event`` as the JSON payload Lambda receives (compact, UTF-8)."""
    return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def response_too_large(size: int) -> dict[str, str] | None:
    """Lambda's error object for a response payload of ``size`` bytes, or None when it fits."""
    if size <= RESPONSE_PAYLOAD_LIMIT:
        return None
    return {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        f"({RESPONSE_PAYLOAD_LIMIT} bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def peak_rss_mb(pid: int) -> int | None:
    """The process's peak resident set size in MB (``VmHWM``), or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(int(line.split()[1]) / 1024)
    except (OSError, ValueError):
        return None
    return None


def out_of_memory_error(request_id: str | None) -> dict[str, str]:
    """Lambda's error object for an invocation whose environment ran out of memory."""
    prefix = f"RequestId: {request_id} " if request_id else ""
    return {
        "errorMessage": f"{prefix}Error: Runtime exited with error: signal: killed",
        "errorType": "Runtime.OutOfMemory",
    }


def watch_memory(pid: int, limit_mb: int, alive: Any, on_exceeded: Any, busy: threading.Event) -> None:
    """Poll ``pid``'s peak RSS until ``alive()`` is false; call ``on_exceeded()`` once it passes
    ``limit_mb`` (run in a daemon thread per worker).

    Every ``MEMORY_POLL_S`` while ``busy`` is set (the init phase, an invocation); between
    invocations, when Lambda freezes the environment, once every ``IDLE_POLL_S`` or as soon as the
    next invocation starts. A warm worker's watcher used to wake fifty times a second while idle,
    in the process that runs the local cloud."""
    while alive():
        peak = peak_rss_mb(pid)
        if peak is None:
            return
        if peak > limit_mb:
            on_exceeded()
            return
        if busy.is_set():
            time.sleep(MEMORY_POLL_S)
        else:
            busy.wait(IDLE_POLL_S)
