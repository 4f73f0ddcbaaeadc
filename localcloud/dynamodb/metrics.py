"""The metrics DynamoDB puts into CloudWatch by itself, put into moto's CloudWatch by the local cloud.

moto's DynamoDB publishes nothing, and the ``ConsumedCapacity`` it answers is a constant. The server
passes every DynamoDB request (``X-Amz-Target: DynamoDB_20120810.*``) through ``observe``, which lets
moto answer and then puts, in process, what
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html documents:

- ``ConsumedReadCapacityUnits`` / ``ConsumedWriteCapacityUnits`` (Count; read as Sum per minute) by
  ``TableName``, and by ``TableName, GlobalSecondaryIndexName`` for a Query or Scan of a global
  secondary index. On-demand tables too (read and write request units are counted the same way).
  Units follow https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/provisioned-capacity-mode.html
  and the item sizes of
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html:
  a read is one unit per 4 KB of the item (at least one), half of it when eventually consistent;
  a Query or Scan sums the sizes of every item it evaluated (before a filter, whatever the
  projection) and rounds once; a write is one unit per 1 KB of the larger of the item before and
  after (at least one), a deleted item its size; transactions cost twice. Writes to the table's
  indexes are not counted.
- ``SuccessfulRequestLatency`` (Milliseconds) by ``TableName, Operation``.
- ``ThrottledRequests`` and ``SystemErrors`` (Count) by ``TableName, Operation``, when a request is
  throttled (ProvisionedThroughputExceeded, Throttling, RequestLimitExceeded) or fails with a 5xx;
  ``ConditionalCheckFailedRequests`` by ``TableName``; ``UserErrors`` (no dimension) for other 400s.

Cheap by design: a write looks its item up by key before and after (a dict lookup), a Query or Scan
adds the sizes of the items moto evaluated anyway. Best effort: a failure is logged and never
changes the answer.
"""

from __future__ import annotations

import base64
import functools
import inspect
import io
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localcloud.cloudwatch import metrics

logger = logging.getLogger("localcloud.dynamodb_metrics")

NAMESPACE = "AWS/DynamoDB"
TARGET_PREFIX = "DynamoDB_20120810."
READ_UNIT_BYTES = 4 * 1024
WRITE_UNIT_BYTES = 1024
THROTTLE_ERRORS = frozenset(
    ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")
)
MAX_OBSERVED_BODY = 16 * 1024 * 1024  # DynamoDB's own request limit; a larger body is not inspected


# -- capacity units -----------------------------------------------------------------------------------
def read_units(size_bytes: int, consistent: bool) -> float:
    """Read capacity for ``size_bytes`` read at once: 4 KB units (at least one), half if eventual."""
    units = max(1, math.ceil(size_bytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size_bytes: int) -> float:
    """Write capacity for an item of ``size_bytes``: 1 KB units, at least one."""
    return float(max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES)))


def item_size(attributes: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it: each attribute's name plus its value (wire format)."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in attributes.items())


def value_size(value: Any) -> int:
    """The size of one attribute value in DynamoDB's JSON wire format (``{"S": "text"}``)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return 0
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in inner)
    if kind == "BS":
        return sum(_binary_size(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    return 0


def _number_size(text: str) -> int:
    """1 byte per two significant digits, plus one."""
    digits = text.lstrip("+-").split("e")[0].split("E")[0].replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def _binary_size(inner: Any) -> int:
    if isinstance(inner, bytes):
        return len(inner)
    try:
        return len(base64.b64decode(str(inner), validate=False))
    except ValueError:
        return len(str(inner))


def _moto_item_size(item: Any) -> int:
    if item is None:
        return 0
    return item_size(item.to_json()["Attributes"])


# -- Query and Scan: the sizes of the items moto evaluated ---------------------------------------------
_LOCAL = threading.local()


def _evaluated() -> list[int] | None:
    return getattr(_LOCAL, "evaluated", None)


def _install_evaluation_hooks() -> None:
    """Table.query/scan record the size of every item they evaluate, before the filter and projection.

    Only while ``observe`` collects for this thread; otherwise moto's own methods run unchanged. With
    a collector, moto evaluates without filter and projection, and they are applied afterwards exactly
    as moto applies them (filter, then projection).
    """
    from moto.dynamodb.models.table import Table

    from localcloud.registry import patch as _patch

    def make(filter_arg: str, projection_arg: str) -> Callable[[Any], Callable[..., Any]]:
        def wrap(orig: Callable[..., Any]) -> Callable[..., Any]:
            signature = inspect.signature(orig)

            @functools.wraps(orig)
            def evaluate(self: Any, *args: Any, **kwargs: Any) -> Any:
                sizes = _evaluated()
                if sizes is None:
                    return orig(self, *args, **kwargs)
                bound = signature.bind(self, *args, **kwargs)
                condition = bound.arguments.get(filter_arg)
                projection = bound.arguments.get(projection_arg)
                bound.arguments[filter_arg] = None
                bound.arguments[projection_arg] = None
                results, scanned, last_key = orig(*bound.args, **bound.kwargs)
                sizes.append(sum(_moto_item_size(item) for item in results))
                if condition is not None:
                    results = [item for item in results if condition.expr(item)]
                if projection:
                    results = [item.project(projection) for item in results]
                return results, scanned, last_key

            return evaluate

        return wrap

    _patch(Table, "query", make("filter_expression", "projection_expressions"))
    _patch(Table, "scan", make("filter_expression", "projection_expression"))


# -- one request --------------------------------------------------------------------------------------
@dataclass
class Usage:
    """What one request consumed, per (table, index or None): read and write units."""

    reads: dict[tuple[str, str | None], float] = field(default_factory=dict)
    writes: dict[tuple[str, str | None], float] = field(default_factory=dict)

    def read(self, table: str, units: float, index: str | None = None) -> None:
        self.reads[(table, index)] = self.reads.get((table, index), 0.0) + units

    def write(self, table: str, units: float) -> None:
        self.writes[(table, None)] = self.writes.get((table, None), 0.0) + units


def metric_data(
    operation: str,
    tables: list[str],
    usage: Usage,
    status: int,
    error: str,
    latency_ms: float,
    timestamp: Any,
) -> list[dict[str, Any]]:
    """PutMetricData input for one DynamoDB request."""
    data: list[dict[str, Any]] = []

    def put(name: str, value: float, dims: list[tuple[str, str]], unit: str = "Count") -> None:
        dimensions = [{"Name": k, "Value": v} for k, v in dims]
        data.append(
            {
                "MetricName": name,
                "Value": value,
                "Unit": unit,
                "Timestamp": timestamp,
                "Dimensions": dimensions,
            }
        )

    for name, consumed in (
        ("ConsumedReadCapacityUnits", usage.reads),
        ("ConsumedWriteCapacityUnits", usage.writes),
    ):
        for (table, index), units in consumed.items():
            if index is None:
                put(name, units, [("TableName", table)])
            else:
                # "The TableName dimension returns the ConsumedReadCapacityUnits for the table, but
                # not for any global secondary indexes": an index's units are under both names only.
                put(name, units, [("TableName", table), ("GlobalSecondaryIndexName", index)])
    for table in tables:
        by_operation = [("TableName", table), ("Operation", operation)]
        if 200 <= status < 300:
            put("SuccessfulRequestLatency", latency_ms, by_operation, "Milliseconds")
        elif error in THROTTLE_ERRORS:
            put("ThrottledRequests", 1.0, by_operation)
        elif status >= 500:
            put("SystemErrors", 1.0, by_operation)
        elif error == "ConditionalCheckFailedException":
            put("ConditionalCheckFailedRequests", 1.0, [("TableName", table)])
    if 400 <= status < 500 and error not in THROTTLE_ERRORS and error != "ConditionalCheckFailedException":
        put("UserErrors", 1.0, [])
    return data


class _Request:
    """One DynamoDB call: its operation and body, the backend, and what it consumes."""

    def __init__(self, operation: str, body: dict[str, Any], backend: Any) -> None:
        self.operation = operation
        self.body = body
        self.backend = backend
        self.usage = Usage()
        self.before: dict[int, int] = {}  # write position -> size of the item before

    def tables(self) -> list[str]:
        if "TableName" in self.body:
            return [str(self.body["TableName"])]
        if isinstance(self.body.get("RequestItems"), dict):
            return [str(name) for name in self.body["RequestItems"]]
        names = []
        for entry in self.body.get("TransactItems") or []:
            for part in (entry or {}).values():
                if isinstance(part, dict) and part.get("TableName") and part["TableName"] not in names:
                    names.append(str(part["TableName"]))
        return names

    def writes(self) -> list[tuple[str, dict[str, Any], float]]:
        """(table, key, multiplier) of every item this request writes."""
        op, body = self.operation, self.body
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            table = str(body.get("TableName", ""))
            key = self._key(table, body.get("Item")) if op == "PutItem" else body.get("Key")
            return [(table, key or {}, 1.0)]
        found: list[tuple[str, dict[str, Any], float]] = []
        if op == "BatchWriteItem":
            for table, requests in (body.get("RequestItems") or {}).items():
                for request in requests or []:
                    if "PutRequest" in request:
                        found.append((table, self._key(table, request["PutRequest"].get("Item")) or {}, 1.0))
                    elif "DeleteRequest" in request:
                        found.append((table, request["DeleteRequest"].get("Key") or {}, 1.0))
        if op == "TransactWriteItems":
            for entry in body.get("TransactItems") or []:
                for kind, part in (entry or {}).items():
                    table = str(part.get("TableName", ""))
                    key = self._key(table, part.get("Item")) if kind == "Put" else part.get("Key")
                    found.append((table, key or {}, 2.0))
        return found

    def _key(self, table: str, item: Any) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            return None
        try:
            moto_table = self.backend.get_table(table)
        except Exception:
            return None
        names = [n for n in (moto_table.hash_key_attr, moto_table.range_key_attr) if n]
        return {n: item[n] for n in names if n in item}

    def _size(self, table: str, key: dict[str, Any]) -> int:
        try:
            return _moto_item_size(self.backend.get_item(table, key))
        except Exception:
            return 0

    def before_call(self) -> None:
        for position, (table, key, _times) in enumerate(self.writes()):
            self.before[position] = self._size(table, key)

    def after_call(self, evaluated: list[int], succeeded: bool, conditional_failure: bool) -> None:
        op, body = self.operation, self.body
        if succeeded or conditional_failure:  # a failed condition still consumes the write
            for position, (table, key, times) in enumerate(self.writes()):
                size = max(self.before.get(position, 0), self._size(table, key))
                self.usage.write(table, times * write_units(size))
        if not succeeded:
            return
        consistent = bool(body.get("ConsistentRead"))
        if op == "GetItem":
            table = str(body.get("TableName", ""))
            self.usage.read(table, read_units(self._size(table, body.get("Key") or {}), consistent))
        elif op == "BatchGetItem":
            for table, request in (body.get("RequestItems") or {}).items():
                strong = bool((request or {}).get("ConsistentRead"))
                for key in (request or {}).get("Keys") or []:
                    self.usage.read(table, read_units(self._size(table, key), strong))
        elif op == "TransactGetItems":
            for entry in body.get("TransactItems") or []:
                part = (entry or {}).get("Get") or {}
                table = str(part.get("TableName", ""))
                self.usage.read(table, 2 * read_units(self._size(table, part.get("Key") or {}), True))
        elif op in ("Query", "Scan") and evaluated:
            table = str(body.get("TableName", ""))
            index = self._global_index(table, body.get("IndexName"))
            self.usage.read(table, read_units(sum(evaluated), consistent), index)

    def _global_index(self, table: str, index: Any) -> str | None:
        if not index:
            return None
        try:
            names = {i.name for i in self.backend.get_table(table).global_indexes}
        except Exception:
            return None
        return str(index) if index in names else None


# -- the WSGI wrapper ---------------------------------------------------------------------------------
def is_dynamodb(environ: Mapping[str, Any]) -> bool:
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(TARGET_PREFIX)


def observe(
    app: Callable[..., Iterable[bytes]], environ: dict[str, Any], start_response: Any, region: str
) -> Iterable[bytes]:
    """Let moto answer a DynamoDB request, then put the metrics it produced. ``region`` is the
    local cloud's, for a request whose signature names none."""
    _install_evaluation_hooks()
    try:
        prepared = _prepare(environ, region)
    except Exception:
        logger.warning("could not read a DynamoDB request for its metrics", exc_info=True)
        prepared = None
    if prepared is None:
        return app(environ, start_response)
    request, account, region_name = prepared
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = status
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    started = time.perf_counter()
    _LOCAL.evaluated = []
    try:
        request.before_call()
        try:
            chunks = app(environ, capture)
        except Exception:
            captured["status"] = "500 Internal Server Error"  # the server answers it as a 500
            _record_quietly(request, captured, b"", [], started, account, region_name)
            raise
        answer = b"".join(chunks)
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        evaluated = list(_LOCAL.evaluated)
    finally:
        _LOCAL.evaluated = None
    _record_quietly(request, captured, answer, evaluated, started, account, region_name)
    return [answer]


def _record_quietly(*args: Any) -> None:
    try:
        _record(*args)
    except Exception:
        logger.warning("could not put the DynamoDB metrics of a request", exc_info=True)


def _prepare(environ: dict[str, Any], default_region: str) -> tuple[_Request, str, str] | None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.iam.models import get_account_id_from

    operation = str(environ.get("HTTP_X_AMZ_TARGET", ""))[len(TARGET_PREFIX) :]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length <= 0 or length > MAX_OBSERVED_BODY:
        return None
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)  # moto reads the same bytes
    body = json.loads(raw or b"{}")
    if not isinstance(body, dict):
        return None
    access_key, region = _credential(str(environ.get("HTTP_AUTHORIZATION", "")))
    account = get_account_id_from(access_key) if access_key else DEFAULT_ACCOUNT_ID
    region = region or default_region
    return _Request(operation, body, dynamodb_backends[account][region]), account, region


def _credential(header: str) -> tuple[str | None, str | None]:
    """(access key id, region) from a SigV4 ``Authorization`` header."""
    start = header.find("Credential=")
    if start < 0:
        return None, None
    scope = header[start + len("Credential=") :].split(",", 1)[0].strip().split("/")
    return (scope[0], scope[2]) if len(scope) >= 5 else (None, None)


def _record(
    request: _Request,
    captured: dict[str, Any],
    answer: bytes,
    evaluated: list[int],
    started: float,
    account: str,
    region: str,
) -> None:
    status = int(str(captured.get("status", "500")).split()[0])
    error = ""
    if status >= 400:
        try:
            error = str(json.loads(answer or b"{}").get("__type", "")).rsplit("#", 1)[-1]
        except (ValueError, AttributeError):
            error = ""
    succeeded = 200 <= status < 300
    request.after_call(evaluated, succeeded, error == "ConditionalCheckFailedException")
    data = metric_data(
        request.operation,
        request.tables(),
        request.usage,
        status,
        error,
        (time.perf_counter() - started) * 1000,
        metrics.utc(time.time()),
    )
    metrics.put_metric_data(account, region, NAMESPACE, data)
