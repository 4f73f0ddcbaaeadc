"""Runs Lambda functions held by moto: the exact uploaded zip, in worker processes.

One pool of warm workers per function version (and per configuration: a new CodeSha256, handler,
runtime, environment, timeout or memory size starts new workers and retires the old ones). A worker
is a separate ``python localcloud/lambda_/worker.py`` process; see that module for the protocol. The
first invocation of a worker is a cold start (spawn + import of the handler's module), later ones are
warm.

Concurrency is per function, as on AWS: with reserved concurrency N at most N invocations run at
once and the next one is throttled at once (``TooManyRequestsException``; N = 0 throttles every
invocation); without a reservation invocations queue for a free slot once ``max_concurrency``
workers of the function are busy (AWS would scale further, up to the account's limit).

Each invocation leaves a record (see ``Runtime.invocations``), the last ``max_records`` are kept.
Besides the fields listed in ``localcloud/__init__.py`` a record holds ``executed_version`` (the
version that ran, as Invoke's ``ExecutedVersion``) and ``alias`` (the alias invoked, or None), so a
test can count which version of a weighted alias served each request.

Published versions are immutable snapshots with their own zip: workers are pooled per version, so
version 1 and version 2 of one function run side by side, each its own code.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

from localcloud.cloudwatch import metrics
from localcloud.lambda_ import kms as lambda_kms
from localcloud.lambda_ import limits as lambda_limits
from localcloud.lambda_ import sandbox

logger = logging.getLogger("localcloud.runtime")
function_logger = logging.getLogger("localcloud.function")

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
INIT_TIMEOUT_S = 10.0  # AWS gives the init phase of an on-demand function 10 s
LOG_TAIL_LINES = 50

# Environment variables that Lambda sets itself and a function's configuration cannot override.
RESERVED_ENV = (
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
)


class FunctionThrottled(Exception):
    """Reserved concurrency exhausted (AWS: 429 TooManyRequestsException, Reason
    ReservedFunctionConcurrentInvocationLimitExceeded)."""


# The body of Lambda's answer to a throttled Invoke.
THROTTLED_PAYLOAD = json.dumps(
    {
        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        "Type": "User",
        "message": "Rate Exceeded.",
    }
).encode()


def reserved_concurrency(fn: Any) -> int | None:
    """A moto function's reserved concurrency setting, or None when it has none."""
    value = fn.reserved_concurrency
    return int(value) if value not in (None, "") else None


def _trace_id() -> str:
    """An X-Ray trace header for one invocation, in the format Lambda puts in ``_X_AMZN_TRACE_ID``
    (https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader)."""
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=0"


class CodeUnavailable(Exception):
    """The function has no zip we can run (image package, missing S3 object, hash mismatch)."""


@dataclass(frozen=True)
class FunctionSpec:
    """What a worker is started from: a frozen copy of a moto ``LambdaFunction``'s settings."""

    account_id: str
    region: str
    name: str
    version: str
    function_arn: str
    code_sha256: str
    handler: str
    runtime: str
    environment: tuple[tuple[str, str], ...]
    timeout_s: float
    memory_size: int
    # EphemeralStorage (MB): the cap on the worker's /tmp (sandbox.py); 512 is Lambda's default.
    ephemeral_storage: int = 512
    # The execution role: a new role is a new environment (its credentials are the role's).
    role: str = ""
    # The moto object itself: a function deleted and created again is a new function (new workers).
    identity: int = 0

    @property
    def pool_key(self) -> tuple[str, str, str, str]:
        return (self.account_id, self.region, self.name, self.version)

    @property
    def function_key(self) -> tuple[str, str, str]:
        return (self.account_id, self.region, self.name)

    @classmethod
    def from_moto(cls, fn: Any) -> FunctionSpec:
        env = fn.environment_vars or {}
        return cls(
            account_id=fn.account_id,
            region=fn.region,
            name=fn.function_name,
            version=str(fn.version),
            function_arn=fn.function_arn,
            code_sha256=getattr(fn, "code_sha_256", "") or "",
            handler=fn.handler or "",
            runtime=fn.run_time or "",
            environment=tuple(sorted((str(k), str(v)) for k, v in env.items())),
            timeout_s=float(fn.timeout or 3),
            memory_size=int(fn.memory_size or 128),
            ephemeral_storage=int(getattr(fn, "ephemeral_storage", None) or 512),
            role=str(getattr(fn, "role", "") or ""),
            identity=id(fn),
        )


@dataclass(kw_only=True)
class InvocationRecord:
    """What one invocation left behind (``Runtime.invocations``, ``GET /_localcloud/invocations``, and
    the AWS/Lambda metrics are read from it)."""

    request_id: str
    function_name: str
    function_arn: str  # as invoked (a version's or an alias's ARN), else the function's
    version: str
    executed_version: str
    alias: str | None  # the alias the caller invoked, when it did
    code_sha256: str
    source: str  # direct | apigateway | authorizer | ...
    status: str | None = None  # ok | error | timeout | crash | throttled, once finished
    error_type: str | None = None
    cold: bool = False
    init_ms: float | None = None
    duration_ms: float = 0.0
    total_ms: float = 0.0
    max_memory_mb: int | None = None
    memory_size: int
    worker_pid: int | None = None
    started_at: float  # time.time() when the call arrived
    log: list[str] = field(default_factory=list)  # the last LOG_TAIL_LINES lines

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class InvocationResult:
    """The outcome of one invocation, in the terms of Lambda's Invoke API."""

    status: str  # ok | error | timeout | crash | throttled
    payload: bytes  # the response payload (the handler's JSON result, or an error object)
    record: InvocationRecord
    executed_version: str = "$LATEST"
    log_lines: list[str] = field(default_factory=list)

    @property
    def function_error(self) -> bool:
        return self.status in ("error", "timeout", "crash")


class _WorkerGone(Exception):
    pass


class Worker:
    """One execution environment: a child process plus the threads that read its pipes."""

    def __init__(self, spec: FunctionSpec, task_root: str, env: dict[str, str], log_sink: _LogSink) -> None:
        self.spec = spec
        self.log_stream = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.invocations = 0
        self.last_used = time.monotonic()
        self.retired = False
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._log_lock = threading.Lock()
        self._log_lines: list[str] = []
        self._report_seen = threading.Event()
        self._log_sink = log_sink
        self.oom = False  # set when the memory watchdog killed the worker
        self.tmp_dir = env.get("TMPDIR")
        self.busy = threading.Event()  # the init phase or an invocation: memory is watched closely
        self.busy.set()
        self.proc = subprocess.Popen(
            sandbox.worker_command(
                WORKER_SCRIPT, task_root, env["LAMBDA_RUNTIME_DIR"], spec.ephemeral_storage * 1024 * 1024
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=task_root,
            env=env,
        )
        self.pid = self.proc.pid
        threading.Thread(target=self._read_protocol, name=f"lc-proto-{self.pid}", daemon=True).start()
        threading.Thread(target=self._read_logs, name=f"lc-logs-{self.pid}", daemon=True).start()
        threading.Thread(target=self._watch_memory, name=f"lc-mem-{self.pid}", daemon=True).start()

    # -- memory -------------------------------------------------------------------------------
    def _watch_memory(self) -> None:
        limit = self.spec.memory_size
        lambda_limits.watch_memory(self.pid, limit, self.alive, self.kill_for_memory, self.busy)

    def kill_for_memory(self) -> None:
        """Stop an environment that used more than its configured memory, as Lambda does."""
        self.oom = True
        if self.proc.poll() is None:
            self.proc.kill()

    # -- pipe readers -------------------------------------------------------------------------
    def _read_protocol(self) -> None:
        assert self.proc.stdout is not None
        try:
            for raw in self.proc.stdout:
                try:
                    self._answers.put(json.loads(raw))
                except ValueError:
                    logger.warning("worker %s: unreadable protocol line %r", self.pid, raw[:200])
        except (OSError, ValueError):
            pass
        finally:
            self._answers.put(None)
            self.proc.stdout.close()

    def _read_logs(self) -> None:
        assert self.proc.stderr is not None
        try:
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._log_lock:
                    self._log_lines.append(line)
                    if len(self._log_lines) > 1000:
                        del self._log_lines[:500]
                if line.startswith("REPORT RequestId:"):
                    self._report_seen.set()
                function_logger.info("[%s] %s", self.spec.name, line)
                self._log_sink.write(self.spec, self.log_stream, line)
        except (OSError, ValueError):
            pass
        finally:
            self.proc.stderr.close()

    def take_log(self, wait_for_report: bool) -> list[str]:
        if wait_for_report:
            self._report_seen.wait(1.0)
        with self._log_lock:
            lines, self._log_lines = self._log_lines, []
        self._report_seen.clear()
        return lines

    # -- life cycle ---------------------------------------------------------------------------
    def wait_ready(self) -> tuple[float, dict[str, Any] | None]:
        """Wait for the worker's init; returns (init_ms, error object or None)."""
        try:
            message = self._answers.get(timeout=INIT_TIMEOUT_S)
            self.busy.clear()
        except queue.Empty:
            self.kill()
            return INIT_TIMEOUT_S * 1000, {
                "errorMessage": f"Init phase timed out after {INIT_TIMEOUT_S:.2f} seconds",
                "errorType": "Sandbox.Timedout",
            }
        if message is None:
            code = self._exit_code()
            if self.oom:
                return 0.0, lambda_limits.out_of_memory_error(None)
            return 0.0, {
                "errorMessage": f"Runtime exited with error: exit status {code}",
                "errorType": "Runtime.ExitError",
            }
        return float(message.get("init_ms") or 0.0), message.get("error")

    def invoke(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one invocation; returns the worker's answer. Raises TimeoutError or _WorkerGone."""
        assert self.proc.stdin is not None
        self.busy.set()
        try:
            self.proc.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise _WorkerGone(str(exc)) from exc
        try:
            answer = self._answers.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError from None
        finally:
            self.busy.clear()
        if answer is None:
            raise _WorkerGone(f"exit status {self._exit_code()}")
        return answer

    def _exit_code(self) -> int | None:
        try:
            return self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Ask the worker to finish (end of input), kill it if it does not."""
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        self._close_pipes()

    def _close_pipes(self) -> None:
        """Close our end of stdin; the reader threads close stdout and stderr themselves."""
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        if self.proc.poll() is not None:
            sandbox.remove_tmp_dir(self.tmp_dir)


class _Pool:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.idle: list[Worker] = []
        self.busy: set[Worker] = set()


class _LogSink:
    """Writes a function's log lines to moto's CloudWatch Logs, into /aws/lambda/NAME, one stream per
    worker, as Lambda does with the function's execution role
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html, "Prerequisites":
    ``logs:CreateLogGroup``, ``logs:CreateLogStream``, ``logs:PutLogEvents``):

    - the group is created when it does not exist and the role allows ``logs:CreateLogGroup`` on it;
    - the stream is created when the role allows ``logs:CreateLogStream`` on it, and each line is
      written when it allows ``logs:PutLogEvents``;
    - otherwise the line is not written: no group, no stream, no event and therefore no EMF metric
      (metrics are extracted from the events put into a group, ``fidelity_cloudwatch``).

    The role's policies are evaluated as the function's own calls are (``iam_enforcement``), as moto's
    IAM holds them now, on resources ``arn:aws:logs:R:A:log-group:G`` and ``...:log-group:G:log-stream:S``.
    A function without a role (moto accepts none) writes as the administrator. The invocation's own
    record and the ``LogType=Tail`` answer do not depend on any of this, as on AWS.

    A decision is kept for ``DECISION_TTL_S`` (one second) per role, action and resource, so that a
    function printing thousands of lines does not evaluate its role thousands of times (each
    evaluation reads moto's IAM: some 0.1-0.4 ms); a policy change reaches the logs within that second,
    as IAM changes reach AWS's services after a delay of their own ("Changes that I make are not always
    immediately visible", https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html)."""

    DECISION_TTL_S = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decisions: dict[tuple[str, str, str], tuple[float, bool]] = {}

    def _allows(self, spec: FunctionSpec, action: str, resource: str) -> bool:
        key = (spec.role, action, resource)
        now = time.monotonic()
        kept = self._decisions.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        allowed = role_allows(spec, action, resource)
        if len(self._decisions) > 10000:
            self._decisions.clear()
        self._decisions[key] = (now + self.DECISION_TTL_S, allowed)
        return allowed

    def write(self, spec: FunctionSpec, stream: str, line: str) -> None:
        try:
            from moto.logs.models import logs_backends

            backend = logs_backends[spec.account_id][spec.region]
            group_name = f"/aws/lambda/{spec.name}"
            group_arn = f"arn:aws:logs:{spec.region}:{spec.account_id}:log-group:{group_name}"
            stream_arn = f"{group_arn}:log-stream:{stream}"
            with self._lock:
                group = backend.groups.get(group_name)
                if group is None:
                    if not self._allows(spec, "logs:CreateLogGroup", group_arn):
                        return
                    group = backend.create_log_group(group_name, tags={})
                if stream not in group.streams:
                    if not self._allows(spec, "logs:CreateLogStream", stream_arn):
                        return
                    group.create_log_stream(stream)
                if not self._allows(spec, "logs:PutLogEvents", stream_arn):
                    return
                group.put_log_events(stream, [{"timestamp": int(time.time() * 1000), "message": line}])
        except Exception:  # logs are best effort, never fail an invocation
            logger.debug("could not write a log line to CloudWatch Logs", exc_info=True)


def role_allows(spec: FunctionSpec, action: str, resource: str) -> bool:
    """Do the function's execution role's identity policies allow ``action`` on ``resource``?"""
    if not spec.role:
        return True
    from moto.utilities.utils import get_partition

    from localcloud.iam import policy as iam_policy
    from localcloud.iam.enforcement import Session, role_policies

    session = Session(spec.account_id, get_partition(spec.region), spec.role, spec.name[:64])
    context = {
        "aws:RequestedRegion": spec.region,
        "aws:PrincipalArn": spec.role,
        "aws:PrincipalAccount": spec.account_id,
        "aws:SecureTransport": "true",
    }
    return iam_policy.evaluate(role_policies(session), action, resource, context).allowed


@dataclass
class _Call:
    """One invocation in progress: its function, its record, when it started, the ARN it was invoked
    by, and the worker running it (None once discarded: it never goes back to the pool)."""

    spec: FunctionSpec
    record: InvocationRecord
    t0: float
    invoked_arn: str
    worker: Worker | None = None


class Runtime:
    def __init__(
        self,
        endpoint_url: str,
        work_dir: str | None = None,
        *,
        max_records: int = 1000,
        max_concurrency: int = 10,
        idle_timeout_s: float = 900.0,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._own_work_dir = work_dir is None
        self.work_dir = work_dir or tempfile.mkdtemp(prefix="localcloud-")
        self.max_concurrency = max_concurrency
        self.idle_timeout_s = idle_timeout_s
        self._lock = threading.Lock()
        self._slots = threading.Condition(self._lock)
        self._inflight: dict[tuple[str, str, str], int] = collections.defaultdict(int)
        self._pools: dict[tuple[str, str, str, str], _Pool] = {}
        self._records: collections.deque[InvocationRecord] = collections.deque(maxlen=max_records)
        self._code_locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._log_sink = _LogSink()
        self._closed = False

    # -- public -------------------------------------------------------------------------------
    def invoke(
        self,
        fn: Any,
        event: Any,
        *,
        invoked_arn: str | None = None,
        source: str = "direct",
        reserved_concurrency: int | None = None,
        alias: str | None = None,
    ) -> InvocationResult:
        """Run moto function object ``fn`` (a specific version) with ``event``; blocks until done.

        ``reserved_concurrency`` is the function's setting (it lives on the unqualified function on
        AWS, so callers pass the value read from $LATEST); it raises FunctionThrottled when exhausted.
        ``alias`` is the alias the caller invoked, when it did (``localcloud.lambda_.aliases`` chose
        ``fn`` from its routing configuration); the record keeps it beside ``executed_version``.
        """
        spec = FunctionSpec.from_moto(fn)
        # Over 6 MB: Lambda refuses the call before it runs anything (RequestEntityTooLargeException).
        lambda_limits.check_request_size(lambda_limits.event_size(event))
        # Environment variables under a customer managed key Lambda cannot use: Invoke fails (502).
        lambda_kms.check_environment_key(fn)
        record = InvocationRecord(
            request_id=str(uuid.uuid4()),
            function_name=spec.name,
            function_arn=invoked_arn or spec.function_arn,
            version=spec.version,
            executed_version=spec.version,
            alias=alias,
            code_sha256=spec.code_sha256,
            source=source,
            memory_size=spec.memory_size,
            started_at=time.time(),
        )
        call = _Call(spec, record, time.perf_counter(), invoked_arn or spec.function_arn)
        try:
            self._acquire_slot(spec, reserved_concurrency)
        except FunctionThrottled:
            self._finish(call, "throttled", THROTTLED_PAYLOAD, "TooManyRequestsException")
            raise
        try:
            return self._run(fn, event, call)
        finally:
            if call.worker is not None:
                self._return_worker(call.worker)
            self._release_slot(spec)

    def _finish(
        self,
        call: _Call,
        status: str,
        payload: bytes,
        error_type: str | None = None,
        lines: list[str] | None = None,
    ) -> InvocationResult:
        """Close the invocation's record, keep it, put its metrics, and answer."""
        record = call.record
        record.status = status
        record.error_type = error_type
        record.total_ms = round((time.perf_counter() - call.t0) * 1000, 3)
        record.log = (lines or [])[-LOG_TAIL_LINES:]
        spec = call.spec
        with self._lock:
            self._records.append(record)
        metrics.lambda_invocation(
            record.as_dict(), spec.account_id, spec.region, self._inflight[spec.function_key]
        )
        return InvocationResult(status, payload, record, spec.version, lines or [])

    def _fail(
        self, call: _Call, status: str, error: dict[str, Any], lines: list[str] | None = None
    ) -> InvocationResult:
        """Finish with Lambda's error object ``error`` as the payload."""
        return self._finish(call, status, json.dumps(error).encode(), error.get("errorType"), lines)

    def _run(self, fn: Any, event: Any, call: _Call) -> InvocationResult:
        """The code, a worker (started cold when none is idle), and the call to it."""
        spec = call.spec
        try:
            task_root = self._code_dir(fn, spec)
        except CodeUnavailable as exc:
            return self._fail(
                call, "error", {"errorMessage": str(exc), "errorType": "Runtime.InvalidEntrypoint"}
            )
        try:
            worker, cold = self._take_worker(spec, task_root)
        except (OSError, RuntimeError) as exc:
            logger.exception("could not start a worker for %s", spec.name)
            err = {"errorMessage": f"could not start the runtime: {exc}", "errorType": "Runtime.Unknown"}
            return self._fail(call, "error", err)
        call.worker = worker
        call.record.worker_pid = worker.pid
        call.record.cold = cold
        if cold:
            init_ms, init_error = worker.wait_ready()
            call.record.init_ms = round(init_ms, 3)
            if init_error is not None:
                lines = self._drop(call, worker)
                err = dict(init_error)
                err.setdefault("requestId", call.record.request_id)
                return self._fail(call, "error", err, lines)
        return self._call_worker(worker, event, call)

    def _drop(self, call: _Call, worker: Worker, kill: bool = False) -> list[str]:
        """Discard a worker that timed out, crashed or failed to start; its last log lines."""
        if kill:
            worker.kill()
        lines = worker.take_log(wait_for_report=False)
        self._discard(worker)
        call.worker = None
        return lines

    def _call_worker(self, worker: Worker, event: Any, call: _Call) -> InvocationResult:
        """Send the event to the worker and turn its answer (or its silence, or its death) into a result."""
        spec, record = call.spec, call.record
        request = {
            "type": "invoke",
            "request_id": record.request_id,
            "event": event,
            "deadline_ms": int((time.time() + spec.timeout_s) * 1000),
            "invoked_function_arn": call.invoked_arn,
            "trace_id": _trace_id(),
        }
        worker.invocations += 1
        stream = worker.log_stream
        t_invoke = time.perf_counter()
        try:
            answer = worker.invoke(request, spec.timeout_s)
        except TimeoutError:
            record.duration_ms = round((time.perf_counter() - t_invoke) * 1000, 3)
            lines = self._drop(call, worker, kill=True)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            message = f"{stamp} {record.request_id} Task timed out after {spec.timeout_s:.2f} seconds"
            self._platform_log(spec, stream, message)
            return self._fail(
                call, "timeout", {"errorMessage": message, "errorType": "Sandbox.Timedout"}, [*lines, message]
            )
        except _WorkerGone as exc:
            record.duration_ms = round((time.perf_counter() - t_invoke) * 1000, 3)
            lines = worker.take_log(wait_for_report=False)
            oom = worker.oom  # read after the log: the exit is known by then
            self._discard(worker)
            call.worker = None
            err = {
                "errorMessage": f"RequestId: {record.request_id} Error: Runtime exited with error: {exc}",
                "errorType": "Runtime.ExitError",
            }
            if oom:
                err = lambda_limits.out_of_memory_error(record.request_id)
            self._platform_log(spec, stream, f"{err['errorMessage']}\n{err['errorType']}")
            return self._fail(call, "crash", err, lines)
        return self._answered(worker, answer, call, stream)

    def _answered(self, worker: Worker, answer: dict[str, Any], call: _Call, stream: str) -> InvocationResult:
        """The worker answered: within the function's limits (memory, response size), its result."""
        spec, record = call.spec, call.record
        record.duration_ms = answer.get("duration_ms", 0.0)
        record.max_memory_mb = answer.get("max_memory_mb")
        lines = worker.take_log(wait_for_report=True)
        limit_error = self._over_limits(worker, spec, answer, record.request_id)
        if limit_error is not None:
            self._platform_log(spec, stream, f"{limit_error['errorMessage']}\n{limit_error['errorType']}")
            if worker.oom:
                self._discard(worker)
                call.worker = None
            status = "crash" if limit_error["errorType"] == "Runtime.OutOfMemory" else "error"
            return self._fail(call, status, limit_error, lines)
        if answer.get("ok"):
            return self._finish(call, "ok", str(answer.get("payload", "null")).encode("utf-8"), None, lines)
        err = answer.get("error") or {"errorMessage": "unknown error", "errorType": "Runtime.Unknown"}
        return self._fail(call, "error", err, lines)

    def _platform_log(self, spec: FunctionSpec, stream: str, message: str) -> None:
        """A line Lambda itself writes to the function's log stream (a timeout, a killed runtime)."""
        function_logger.info("[%s] %s", spec.name, message)
        self._log_sink.write(spec, stream, message)

    @staticmethod
    def _over_limits(
        worker: Worker, spec: FunctionSpec, answer: dict[str, Any], request_id: str
    ) -> dict[str, str] | None:
        """Lambda's error when an answered invocation broke a sandbox limit (see lambda_limits): its
        peak memory passed MemorySize (the watchdog polls; a short spike is caught here), or its
        response is over 6 MB. None when it kept to both."""
        peak = answer.get("max_memory_mb")
        if worker.oom or (isinstance(peak, int) and peak > spec.memory_size):
            worker.kill_for_memory()
            return lambda_limits.out_of_memory_error(request_id)
        if answer.get("ok"):
            return lambda_limits.response_too_large(len(str(answer.get("payload", "null")).encode("utf-8")))
        return None

    def invocations(self, function_name: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            records = [r.as_dict() for r in self._records if function_name in (None, r.function_name)]
        return records[-limit:] if limit else records

    def clear_invocations(self) -> None:
        with self._lock:
            self._records.clear()

    def workers(self) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for pool in self._pools.values():
                for w, state in [(w, "idle") for w in pool.idle] + [(w, "busy") for w in pool.busy]:
                    out.append(
                        {
                            "function_name": w.spec.name,
                            "version": w.spec.version,
                            "code_sha256": w.spec.code_sha256,
                            "pid": w.pid,
                            "state": state,
                            "invocations": w.invocations,
                        }
                    )
            return out

    def stop_all(self) -> None:
        """Stop every worker (used by reset and stop); invocations in flight see a crash."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            workers = []
            for pool in pools:
                workers.extend(pool.idle)
                for w in pool.busy:
                    w.retired = True
                    workers.append(w)
                pool.idle = []
        for w in workers:
            w.kill()

    def shutdown(self) -> None:
        self._closed = True
        self.stop_all()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- concurrency --------------------------------------------------------------------------
    def _acquire_slot(self, spec: FunctionSpec, reserved: int | None) -> None:
        key = spec.function_key
        with self._slots:
            if reserved is not None:
                if self._inflight[key] >= reserved:
                    raise FunctionThrottled(spec.name)
            else:
                deadline = time.monotonic() + max(spec.timeout_s, 30.0)
                while self._inflight[key] >= self.max_concurrency:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise FunctionThrottled(spec.name)
                    self._slots.wait(remaining)
            self._inflight[key] += 1

    def _release_slot(self, spec: FunctionSpec) -> None:
        with self._slots:
            self._inflight[spec.function_key] -= 1
            self._slots.notify_all()

    # -- workers ------------------------------------------------------------------------------
    def _take_worker(self, spec: FunctionSpec, task_root: str) -> tuple[Worker, bool]:
        if self._closed:
            raise RuntimeError("runtime is shut down")
        stale: list[Worker] = []
        chosen: Worker | None = None
        with self._lock:
            pool = self._pools.get(spec.pool_key)
            if pool is not None and pool.spec != spec:
                # New code or configuration: retire the old environments.
                stale.extend(pool.idle)
                for w in pool.busy:
                    w.retired = True
                pool = None
            if pool is None:
                pool = self._pools[spec.pool_key] = _Pool(spec)
            now = time.monotonic()
            keep = []
            for w in pool.idle:
                if not w.alive() or now - w.last_used > self.idle_timeout_s:
                    stale.append(w)
                else:
                    keep.append(w)
            pool.idle = keep
            if pool.idle:
                chosen = pool.idle.pop()  # most recently used first
                pool.busy.add(chosen)
        for w in stale:
            w.stop()
        if chosen is not None:
            return chosen, False
        worker = Worker(spec, task_root, self._environment(spec, task_root), self._log_sink)
        with self._lock:
            current = self._pools.get(spec.pool_key)
            if current is not None and current.spec == spec:
                current.busy.add(worker)
            else:  # pragma: no cover - reconfigured while we were spawning
                worker.retired = True
        return worker, True

    def _return_worker(self, worker: Worker) -> None:
        worker.last_used = time.monotonic()
        with self._lock:
            pool = self._pools.get(worker.spec.pool_key)
            if pool is not None:
                pool.busy.discard(worker)
            reuse = pool is not None and pool.spec == worker.spec and not worker.retired and worker.alive()
            if pool is not None and reuse:
                pool.idle.append(worker)
        if not reuse:
            worker.stop()

    def _discard(self, worker: Worker) -> None:
        worker.kill()
        with self._lock:
            pool = self._pools.get(worker.spec.pool_key)
            if pool is not None:
                pool.busy.discard(worker)

    def _environment(self, spec: FunctionSpec, task_root: str) -> dict[str, str]:
        today = dt.datetime.now(dt.UTC)
        stream = f"{today:%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        env: dict[str, str] = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": sandbox.new_tmp_dir(self.work_dir),
        }
        if "SYSTEMROOT" in os.environ:  # pragma: no cover - Windows needs it to start Python
            env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
        env.update({k: v for k, v in spec.environment if k not in RESERVED_ENV})
        env.update(
            {
                "_HANDLER": spec.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.11'}",
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": stream,
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                # Not reserved on AWS, but always ours: a function run here must never reach real AWS.
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "LAMBDA_TASK_ROOT": task_root,
                # As /var/runtime on AWS: the runtime's libraries (boto3, botocore, ...), see sandbox.py.
                "LAMBDA_RUNTIME_DIR": sandbox.runtime_libraries(self.work_dir),
            }
        )
        env.update(self._credentials(spec))
        return env

    @staticmethod
    def _credentials(spec: FunctionSpec) -> dict[str, str]:
        """The execution role's temporary credentials for this environment's lifetime, so that the
        function's calls are authorized against the role's policies (``iam_enforcement``). A
        function without a role (moto accepts none) keeps the administrator's test keys."""
        if not spec.role:
            return {
                key: "testing" for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
            }
        from localcloud.iam.enforcement import function_credentials

        return function_credentials(spec.account_id, spec.region, spec.role, spec.name)

    # -- code ---------------------------------------------------------------------------------
    def _code_dir(self, fn: Any, spec: FunctionSpec) -> str:
        code = getattr(fn, "code_bytes", b"") or b""
        if not code:
            raise CodeUnavailable(f"function {spec.name} has no zip package to run")
        digest = hashlib.sha256(code)
        if spec.code_sha256 and base64.b64encode(digest.digest()).decode() != spec.code_sha256:
            raise CodeUnavailable(f"function {spec.name}: code bytes do not match CodeSha256")
        target = os.path.join(self.work_dir, "code", digest.hexdigest())
        if os.path.isdir(target):
            return target
        with self._code_locks[digest.hexdigest()]:
            if os.path.isdir(target):
                return target
            os.makedirs(os.path.dirname(target), exist_ok=True)
            staging = tempfile.mkdtemp(prefix=".unpack-", dir=os.path.dirname(target))
            try:
                with zipfile.ZipFile(io.BytesIO(code)) as zf:
                    zf.extractall(staging)
            except zipfile.BadZipFile as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise CodeUnavailable(f"function {spec.name}: the package is not a zip file") from exc
            os.rename(staging, target)
        return target
