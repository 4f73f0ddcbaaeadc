"""An environment's logs as an operator reads them: the function's lines, the stage's access log,
and the function's errors grouped by exception and the top frame of our code (issue 19 items 2-3).

One call shape on AWS and in the local cloud: CloudWatch Logs' `FilterLogEvents` on the log group
(`/aws/lambda/<function>` and the stage's access log group, both named in `names.py`), with an
optional CloudWatch filter pattern passed through unchanged
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).

Every view is bounded before the first call: the window (at most 30 days), the pattern (at most
`MAX_PATTERN_CHARS`, CloudWatch's own limit for a filter pattern), the pages read (`MAX_PAGES`),
the events kept (`MAX_EVENTS`) and the wall time (`MAX_SECONDS`). A view that hit a bound says so
(`truncated`, `reason`) instead of pretending it saw everything.

What the lines look like, so they can be read as rows:
- the function's own lines are JSON objects written by Powertools' Logger (`lambda_bundle/logs.py`):
  `timestamp`, `level`, `message`, `requestId` (API Gateway's request id, the one a client sees in
  `x-amzn-RequestId`), `lambdaRequestId`, and for `logger.exception` the `exception` (the formatted
  traceback) and `exception_name` fields;
- the runtime's lines are text: `START RequestId: <id> Version: <v>`, `END RequestId: <id>`,
  `REPORT RequestId: <id>\tDuration: ... ms\tBilled Duration: ... ms\tMemory Size: ... MB\tMax
  Memory Used: ... MB[\tInit Duration: ... ms]`, and `[ERROR] <Type>: <message>\nTraceback ...` for
  an exception the handler let out
  (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html);
- the log stream's name carries the version that wrote it: `YYYY/MM/DD/[$LATEST]<id>` or
  `YYYY/MM/DD/[7]<id>` (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html).

Anything that looks like a credential (the API key's value when the caller knows it, a bearer
token, a JWT, a portal API token) is replaced by `[redacted]` in every row before it leaves here.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .aws import error_code
from .names import Names

MAX_SINCE_S = 30 * 24 * 3600  # 30 days: how far back a view may reach
MAX_PATTERN_CHARS = 1024  # CloudWatch Logs' limit for a filter pattern
MAX_PAGES = 10  # FilterLogEvents pages per view
MAX_EVENTS = 500  # events kept per view
MAX_SECONDS = 10.0  # wall time per view
PAGE_LIMIT = 500  # events asked for per page
MAX_LAMBDA_IDS = 5  # a request's function invocations followed for their START/END/REPORT lines
MAX_RAW_CHARS = 8192  # a row's raw text as kept
MAX_GROUPS = 100
SINCE_RE = re.compile(r"([1-9][0-9]{0,5})([smhd])")
SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# API Gateway's and Lambda's request ids are UUIDs; a REST API's may also be its own hex form.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{7,63}")
STATUS_RE = re.compile(r"[1-5](?:xx|[0-9]{2})")
REDACTED = "[redacted]"
# Frames of these packages are ours; everything else (the runtime, boto3, Powertools) is a library.
OUR_PACKAGES = ("lambda_bundle",)

_RUNTIME_LINE = re.compile(r"(START|END|REPORT) RequestId: ([A-Za-z0-9-]+)")
_REPORT_FIELD = re.compile(r"([A-Za-z ]+): ([0-9.]+) (ms|MB)")
_PLAIN_LOG_LINE = re.compile(
    r"\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\]\t(\S+)\t([A-Za-z0-9-]+)\t(.*)", re.DOTALL
)
_UNHANDLED = re.compile(r"\[ERROR\] ([A-Za-z_][A-Za-z0-9_.]*): ?(.*)", re.DOTALL)
_STREAM_VERSION = re.compile(r"\[(\$LATEST|[0-9]+)\]")
_FRAME = re.compile(r'File "([^"]+)", line ([0-9]+), in (\S+)')
_EXC_LAST_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(?::|$)")
_SECRET_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"\benvp_[A-Za-z0-9_-]{8,}"),  # a portal API token
)


class LogQueryError(ValueError):
    """A view asked for with input out of bounds; `problems` says what is wrong and what is allowed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --- input -----------------------------------------------------------------------------------
def parse_since(text: str | None, default: str) -> int:
    """`15m`, `24h`, `7d` as seconds; at most 30 days. Raises LogQueryError naming what is allowed."""
    value = (text or default).strip()
    match = SINCE_RE.fullmatch(value)
    allowed = "a number and a unit s, m, h or d (15m, 24h, 7d), at most 30d"
    if match is None:
        raise LogQueryError([f"since: {value[:20]!r} is not allowed; {allowed}"])
    seconds = int(match.group(1)) * SINCE_UNITS[match.group(2)]
    if seconds > MAX_SINCE_S:
        raise LogQueryError([f"since: {value[:20]!r} is too far back; {allowed}"])
    return seconds


def check_pattern(pattern: str | None) -> str:
    """A filter pattern within CloudWatch's length, on one line; '' for none."""
    pattern = (pattern or "").strip()
    if len(pattern) > MAX_PATTERN_CHARS:
        raise LogQueryError([f"filter: {len(pattern)} characters is too long; at most {MAX_PATTERN_CHARS}"])
    if any(ord(c) < 32 for c in pattern):
        raise LogQueryError(["filter: control characters are not allowed; one line of printable text"])
    return pattern


def check_request_id(request_id: str | None) -> str:
    """A request id as API Gateway and Lambda write them: 8 to 64 letters, digits and '-'."""
    value = (request_id or "").strip()
    if value and REQUEST_ID_RE.fullmatch(value) is None:
        raise LogQueryError(
            [f"request id: {value[:40]!r} is not allowed; 8 to 64 letters, digits and '-' (a UUID)"]
        )
    return value


def check_status(status: str | None) -> str:
    """An access log status filter: one status (`503`) or a class (`5xx`)."""
    value = (status or "").strip().lower()
    if value and STATUS_RE.fullmatch(value) is None:
        raise LogQueryError([f"status: {value[:10]!r} is not allowed; a status (503) or a class (5xx)"])
    return value


@dataclass(frozen=True)
class Window:
    """[start_ms, end_ms] in epoch milliseconds."""

    start_ms: int
    end_ms: int

    @classmethod
    def last(cls, seconds: int, now: float | None = None) -> Window:
        end = int((time.time() if now is None else now) * 1000)
        return cls(end - seconds * 1000, end)

    @classmethod
    def between(cls, start_s: float, end_s: float) -> Window:
        """An explicit window (a release's), clipped to 30 days back from its end."""
        end = int(end_s * 1000)
        start = max(int(start_s * 1000), end - MAX_SINCE_S * 1000)
        if start > end:
            raise LogQueryError(["window: its start is after its end"])
        return cls(start, end)


# --- rows ------------------------------------------------------------------------------------
@dataclass
class LogRow:
    """One log event as a row. `kind`: json (the function's own line), runtime (START/END/REPORT),
    error (an exception the handler let out), access (an access log line), text (anything else)."""

    timestamp: int
    kind: str
    level: str = ""
    request_id: str = ""
    lambda_request_id: str = ""
    message: str = ""
    stream: str = ""
    version: str = ""
    status: int | None = None
    exception_name: str = ""
    exception: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    raw: str = ""
    event_id: str = ""

    @property
    def ids(self) -> set[str]:
        return {i for i in (self.request_id, self.lambda_request_id) if i}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def version_of(stream: str) -> str:
    """`$LATEST` or the version number a Lambda log stream's name carries; '' for another stream."""
    match = _STREAM_VERSION.search(stream or "")
    return match.group(1) if match else ""


def parse_function_event(event: dict[str, Any]) -> LogRow:
    """A function log group's event as a row (see the module docstring for the line formats)."""
    raw = str(event.get("message", ""))[:MAX_RAW_CHARS]
    stream = str(event.get("logStreamName", ""))
    row = LogRow(
        timestamp=int(event.get("timestamp") or 0),
        kind="text",
        stream=stream,
        version=version_of(stream),
        raw=raw,
        event_id=str(event.get("eventId", "")),
        message=raw.rstrip("\n"),
    )
    text = raw.strip()
    data = _json_object(text)
    if data is not None:
        _fill_from_json(row, data)
        return row
    runtime = _RUNTIME_LINE.match(text)
    if runtime is not None:
        row.kind, row.level, row.lambda_request_id = "runtime", "INFO", runtime.group(2)
        if runtime.group(1) == "REPORT":
            row.fields = {name.strip(): float(v) for name, v, _unit in _REPORT_FIELD.findall(text)}
        return row
    unhandled = _UNHANDLED.match(text)
    if unhandled is not None:
        row.kind, row.level = "error", "ERROR"
        row.exception_name = unhandled.group(1)
        row.message = unhandled.group(2).split("\n", 1)[0]
        row.exception = text
        return row
    plain = _PLAIN_LOG_LINE.match(text)
    if plain is not None:  # the runtime's own format for the logging module's root logger
        row.level, row.lambda_request_id, row.message = plain.group(1), plain.group(3), plain.group(4)
    return row


def _fill_from_json(row: LogRow, data: dict[str, Any]) -> None:
    row.kind = "metric" if "_aws" in data else "json"  # an embedded metric format line, or ours
    row.level = str(data.get("level", ""))[:16]
    row.message = str(data.get("message", ""))
    row.request_id = str(data.get("requestId") or "")
    row.lambda_request_id = str(data.get("lambdaRequestId") or data.get("function_request_id") or "")
    if isinstance(data.get("status"), int):
        row.status = data["status"]
    row.exception_name = str(data.get("exception_name") or "")
    row.exception = str(data.get("exception") or "")
    skip = {"level", "message", "requestId", "lambdaRequestId", "exception", "exception_name"}
    row.fields = {k: v for k, v in data.items() if k not in skip}


def parse_access_event(event: dict[str, Any]) -> LogRow:
    """An access log event (the stage's JSON format, `rest_api_parts.ACCESS_LOG_FIELDS`) as a row."""
    raw = str(event.get("message", ""))[:MAX_RAW_CHARS]
    row = LogRow(
        timestamp=int(event.get("timestamp") or 0),
        kind="text",
        stream=str(event.get("logStreamName", "")),
        raw=raw,
        message=raw,
        event_id=str(event.get("eventId", "")),
    )
    data = _json_object(raw.strip())
    if data is None:
        return row
    row.kind = "access"
    row.request_id = str(data.get("requestId") or "")
    status = str(data.get("status") or "")
    row.status = int(status) if status.isdigit() else None
    row.level = (
        "ERROR"
        if row.status and row.status >= 500
        else "WARNING"
        if row.status and row.status >= 400
        else "INFO"
    )
    row.message = (
        f"{data.get('httpMethod', '')} {data.get('path') or data.get('resourcePath') or ''} {status}".strip()
    )
    error = data.get("errorMessage")
    if error and error != "-":
        row.message += f" ({error})"
    row.fields = {k: v for k, v in data.items() if k != "requestId"}
    return row


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def status_matches(row: LogRow, status: str) -> bool:
    if not status:
        return True
    if row.status is None:
        return False
    return str(row.status)[0] == status[0] if status.endswith("xx") else str(row.status) == status


# --- redaction -------------------------------------------------------------------------------
def redactor(secrets: Iterable[str] = ()) -> Callable[[str], str]:
    """A function that replaces each of `secrets` (8 characters or more) and anything shaped like a
    bearer token, a JWT or a portal API token by `[redacted]`."""
    known = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in known:
            text = text.replace(secret, REDACTED)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text

    return redact


def redact_row(row: LogRow, redact: Callable[[str], str]) -> LogRow:
    row.raw, row.message, row.exception = redact(row.raw), redact(row.message), redact(row.exception)
    row.fields = json.loads(redact(json.dumps(row.fields, default=str)))
    return row


# --- reading ---------------------------------------------------------------------------------
@dataclass
class Bounds:
    max_events: int = MAX_EVENTS
    max_pages: int = MAX_PAGES
    max_seconds: float = MAX_SECONDS


@dataclass
class LogView:
    group: str
    window: Window
    pattern: str = ""
    rows: list[LogRow] = field(default_factory=list)
    calls: int = 0
    truncated: bool = False
    reason: str = ""  # why the view is incomplete (a bound, a missing group)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "start_ms": self.window.start_ms,
            "end_ms": self.window.end_ms,
            "pattern": self.pattern,
            "rows": [r.to_dict() for r in self.rows],
            "calls": self.calls,
            "truncated": self.truncated,
            "reason": self.reason,
        }


def read_events(
    logs: Any,
    view: LogView,
    pattern: str,
    bounds: Bounds,
    clock: Callable[[], float] = time.monotonic,
    *,
    stream: str = "",
    window: Window | None = None,
) -> list[dict[str, Any]]:
    """FilterLogEvents over the view's window, page by page within the bounds; a missing log group
    is an empty view with its reason (a function that never ran has none)."""
    events: list[dict[str, Any]] = []
    deadline = clock() + bounds.max_seconds
    token: str | None = None
    for page in range(bounds.max_pages):
        window = window or view.window
        args: dict[str, Any] = {
            "logGroupName": view.group,
            "startTime": window.start_ms,
            "endTime": window.end_ms,
            "limit": min(PAGE_LIMIT, bounds.max_events - len(events)),
        }
        if stream:
            args["logStreamNames"] = [stream]
        if pattern:
            args["filterPattern"] = pattern
        if token:
            args["nextToken"] = token
        try:
            answer = logs.filter_log_events(**args)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                view.reason = f"log group {view.group} does not exist (nothing was logged yet)"
                return events
            if error_code(exc) == "InvalidParameterException":
                raise LogQueryError([f"filter: CloudWatch refused the pattern: {_message(exc)}"]) from None
            raise
        finally:
            view.calls += 1
        events.extend(answer.get("events", [])[: bounds.max_events - len(events)])
        token = answer.get("nextToken")
        if not token:
            return events
        if len(events) >= bounds.max_events:
            _cut(view, f"the first {bounds.max_events} events are shown; narrow the window or the filter")
            return events
        if clock() > deadline:
            _cut(view, f"reading stopped after {bounds.max_seconds:.0f} s; narrow the window or the filter")
            return events
        if page == bounds.max_pages - 1:
            _cut(view, f"reading stopped after {bounds.max_pages} pages; narrow the window or the filter")
    return events


def _cut(view: LogView, reason: str) -> None:
    view.truncated, view.reason = True, reason


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", ""))[:200]
    return str(exc)[:200]


def quoted(term: str) -> str:
    """A filter pattern term matching `term` exactly (a request id holds '-', which is an operator)."""
    return '"' + term.replace("\\", "\\\\").replace('"', '\\"') + '"'


def function_logs(
    logs: Any,
    names: Names,
    window: Window,
    *,
    pattern: str = "",
    request_id: str = "",
    bounds: Bounds | None = None,
    redact: Callable[[str], str] | None = None,
) -> LogView:
    """The function's log lines in `window`, newest last; with `request_id`, that request's lines:
    its own JSON lines (by API Gateway's or Lambda's id) and the runtime's START/END/REPORT lines of
    the invocations they name."""
    bounds, redact = bounds or Bounds(), redact or redactor()
    pattern, request_id = check_pattern(pattern), check_request_id(request_id)
    if pattern and request_id:
        raise LogQueryError(["give a filter pattern or a request id, not both"])
    view = LogView(names.function_log_group, window, pattern or (quoted(request_id) if request_id else ""))
    if not request_id:
        rows = [parse_function_event(e) for e in read_events(logs, view, pattern, bounds)]
    else:
        rows = _request_rows(logs, view, request_id, bounds)
    view.rows = [redact_row(r, redact) for r in sorted(rows, key=lambda r: (r.timestamp, r.event_id))]
    return view


def _request_rows(logs: Any, view: LogView, request_id: str, bounds: Bounds) -> list[LogRow]:
    """One read for the id; for each Lambda invocation it names (at most MAX_LAMBDA_IDS), one read
    for the invocation's id (START/END/REPORT carry it) and one of its stream between its START and
    its END: lines that carry no id (the runtime's `[ERROR]` for an exception the handler let out,
    a library's print) belong to the invocation that ran then, as an execution environment runs one
    invocation at a time, on its own stream. Every row is checked here too, whatever the server's
    pattern support: a row found by an id is kept only if it names the id."""
    rows = [
        r
        for r in (parse_function_event(e) for e in read_events(logs, view, quoted(request_id), bounds))
        if request_id in r.ids or request_id in r.raw
    ]
    seen = {(r.stream, r.event_id) for r in rows}

    def keep(row: LogRow) -> None:
        if (row.stream, row.event_id) not in seen:
            seen.add((row.stream, row.event_id))
            rows.append(row)

    invocations = sorted({r.lambda_request_id for r in rows if r.lambda_request_id})
    for lambda_id in invocations[:MAX_LAMBDA_IDS]:
        if lambda_id != request_id:
            for row in (parse_function_event(e) for e in read_events(logs, view, quoted(lambda_id), bounds)):
                if lambda_id in row.ids:
                    keep(row)
        mine = [r for r in rows if r.kind == "runtime" and r.lambda_request_id == lambda_id]
        start = next((r for r in mine if r.raw.startswith("START")), None)
        end = next((r for r in reversed(mine) if r.raw.startswith(("END", "REPORT"))), None)
        if start is None or end is None or end.timestamp < start.timestamp:
            continue
        span = Window(start.timestamp, end.timestamp)
        for event in read_events(logs, view, "", bounds, stream=start.stream, window=span):
            row = parse_function_event(event)
            if row.lambda_request_id in ("", lambda_id):  # not a neighbour's line at the same ms
                row.lambda_request_id = lambda_id
                keep(row)
    return rows


def access_logs(
    logs: Any,
    names: Names,
    window: Window,
    *,
    pattern: str = "",
    status: str = "",
    request_id: str = "",
    bounds: Bounds | None = None,
    redact: Callable[[str], str] | None = None,
) -> LogView:
    """The stage's access log in `window`, filterable by status (`503` or `5xx`) and request id."""
    bounds, redact = bounds or Bounds(), redact or redactor()
    pattern, status = check_pattern(pattern), check_status(status)
    request_id = check_request_id(request_id)
    if sum(bool(x) for x in (pattern, status, request_id)) > 1:
        raise LogQueryError(["give one of a filter pattern, a status or a request id"])
    server = pattern
    if status:  # the format writes status as a string: a JSON string match, '*' for a class
        server = '{ $.status = "' + (status[0] + "*" if status.endswith("xx") else status) + '" }'
    elif request_id:
        server = quoted(request_id)
    view = LogView(names.access_log_group, window, server)
    rows = [parse_access_event(e) for e in read_events(logs, view, server, bounds)]
    rows = [r for r in rows if status_matches(r, status) and (not request_id or r.request_id == request_id)]
    view.rows = [redact_row(r, redact) for r in sorted(rows, key=lambda r: (r.timestamp, r.event_id))]
    return view


# --- grouped errors --------------------------------------------------------------------------
ERROR_PATTERN = "ERROR"  # a term: in every error line, JSON (`"level": "ERROR"`) or the runtime's


@dataclass
class ErrorGroup:
    """The errors of one exception type raised at one frame of our code."""

    key: str
    exception: str
    frame: str  # `lambda_bundle/store.py in get_item`, or '' when no frame of ours was found
    count: int = 0
    first_seen: int = 0
    last_seen: int = 0
    versions: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    sample: LogRow | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sample"] = self.sample.to_dict() if self.sample else None
        return data


@dataclass
class ErrorReport:
    view: LogView
    groups: list[ErrorGroup] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        view = self.view.to_dict()
        view.pop("rows")
        return {**view, "groups": [g.to_dict() for g in self.groups]}


def top_frame(traceback_text: str, packages: Sequence[str] = OUR_PACKAGES) -> tuple[str, int | None]:
    """The innermost frame of our code in a traceback, as `package/module.py in function`, and its
    line; library frames (the runtime, boto3, Powertools) are passed over."""
    ours: tuple[str, int | None] = ("", None)
    for path, line, function in _FRAME.findall(traceback_text):
        parts = path.replace("\\", "/").split("/")
        if "site-packages" in parts:
            continue
        for package in packages:
            if package in parts:
                ours = ("/".join(parts[parts.index(package) :]) + f" in {function}", int(line))
    return ours


def exception_type(row: LogRow) -> str:
    if row.exception_name:
        return row.exception_name
    for line in reversed(row.exception.strip().splitlines()):
        match = _EXC_LAST_LINE.match(line.strip())
        if match and not line.startswith(" "):
            return match.group(1)
    return "error"


def group_errors(rows: Iterable[LogRow], max_groups: int = MAX_GROUPS) -> list[ErrorGroup]:
    """Rows that carry an exception, grouped by exception type and top frame of our code; most
    frequent first. The line number is left out of the key: it moves with every release."""
    groups: dict[str, ErrorGroup] = {}
    for row in rows:
        if not (row.exception or row.exception_name):
            continue
        name = exception_type(row)
        frame, _line = top_frame(row.exception)
        key = hashlib.sha256(f"{name}|{frame}".encode()).hexdigest()[:12]
        group = groups.get(key)
        if group is None:
            if len(groups) >= max_groups:
                continue
            group = groups[key] = ErrorGroup(key, name, frame, first_seen=row.timestamp)
        group.count += 1
        group.first_seen = min(group.first_seen, row.timestamp)
        if row.timestamp >= group.last_seen:
            group.last_seen, group.sample = row.timestamp, row
        if row.version and row.version not in group.versions:
            group.versions.append(row.version)
        rid = row.request_id or row.lambda_request_id
        if rid and rid not in group.request_ids and len(group.request_ids) < 5:
            group.request_ids.append(rid)
    for group in groups.values():
        group.versions.sort(key=lambda v: (v != "$LATEST", int(v) if v.isdigit() else -1))
    return sorted(groups.values(), key=lambda g: (-g.count, -g.last_seen))


def function_errors(
    logs: Any,
    names: Names,
    window: Window,
    *,
    bounds: Bounds | None = None,
    redact: Callable[[str], str] | None = None,
) -> ErrorReport:
    """The function's errors in `window`, grouped (see `group_errors`)."""
    bounds, redact = bounds or Bounds(), redact or redactor()
    view = LogView(names.function_log_group, window, ERROR_PATTERN)
    rows = [parse_function_event(e) for e in read_events(logs, view, ERROR_PATTERN, bounds)]
    rows = [redact_row(r, redact) for r in rows if r.level in ("ERROR", "CRITICAL") or r.kind == "error"]
    return ErrorReport(view, group_errors(rows))
