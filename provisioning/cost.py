"""What one environment costs: fixed monthly cost from its resource graph, usage from its metrics.

Fixed cost is counted from the graph the engine builds for the spec (`Engine.resources`, less
what the spec does not want), never from a list of what an environment "usually" has: a token
environment's secret, a vpc environment's endpoint and the alarm metrics of the alarms resource
appear because the graph wants them. A resource kind this module has no price mapping for is
reported in `not_counted`, so a new kind of resource cannot be silently free.

Usage cost comes from the environment's own CloudWatch metrics over the last 1, 7 and 30 days,
read with ONE GetMetricData (hourly sums over 30 days, summed per window here), plus one
DescribeTable (table and index size) and one ListBackups (backup sizes): three reads, within a
sweep's read budget. Each window's totals are extrapolated to a month of 730 hours (AWS's
convention), over the hours the environment existed if it is younger than the window.

Every line is quantity x unit price = amount, naming its price row's source and date. Free tiers
are listed, never subtracted (they are per account). Nothing here imports Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from .aws import AwsClients, AwsTarget, CallCounts, unless_absent
from .names import INDEX_NAME
from .pricing import PriceRow, PriceTable
from .resources.base import Context, Resource
from .spec import EnvironmentSpec

HOURS_PER_MONTH = Decimal(730)
WINDOWS_DAYS = (1, 7, 30)
BASIS_DAYS = 7  # the monthly figure: recent enough to follow a change, long enough to smooth a day
PERIOD_S = 3600
GIB = Decimal(1024**3)  # AWS bills data in binary gigabytes
MAX_METRIC_PAGES = 5  # ~20 metrics x 720 hourly points fit one page of GetMetricData (100,800)
XRAY_RESERVOIR_PER_HOUR = Decimal(3600)  # the default sampling rule: the first request each second
XRAY_RATE = Decimal("0.05")  # ... and 5% of the rest
# Usage lines billed per month rather than per request: a preview's cost so far prorates them.
PRORATED_USAGE = frozenset({"cloudwatch.custom_metrics", "logs.storage"})
EMF_NAMESPACE = "envport"
EMF_DIMENSION = "Environment"
# The default function's metrics (lambda_bundle/metrics.py); each one published is a custom metric.
EMF_METRICS = ("Requests", "ClientErrors", "ServerErrors", "ItemsCreated", "ItemsUpdated", "ItemsDeleted")

# Resource kinds with no charge of their own (what they do is priced through usage lines, or they
# are free): IAM, permissions, aliases, API Gateway's account setting and usage plans, VPCs,
# subnets, route tables and security groups, SNS topics and SQS queues (per request), log groups
# (per byte), functions and the REST API (per request), the table (per request and per GB).
NO_CHARGE_KINDS = frozenset(
    {
        "iam-role",
        "lambda-permission",
        "lambda-alias",
        "apigateway-account",
        "apigateway-usage-plan",
        "ec2-vpc",
        "ec2-vpc (adopted)",
        "ec2-subnets",
        "ec2-subnets (adopted)",
        "ec2-route-table",
        "ec2-security-group",
        "sns-topic",
        "sqs-queue",
        "logs-log-group",
        "lambda-function",
        "apigateway-rest-api",
        "dynamodb-table",
    }
)
PRICED_KINDS = frozenset(
    {"kms-key", "cloudwatch-alarms", "cloudwatch-dashboard", "secretsmanager-secret", "ec2-vpc-endpoint"}
)
# Priced elsewhere or not per environment: shown as such rather than counted.
NOT_ATTRIBUTED_KINDS = {
    "s3-bucket": "the artifact bucket is shared by every environment of the account and region "
    "(content-addressed artifacts of a few MB: S3 Standard storage, not attributed per environment)",
    "cognito-idp-user-pool": "Cognito monthly active users are not in CloudWatch metrics; the user "
    "pool's MAUs are priced per MAU beyond the account's free 10,000",
}


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    """One line: `quantity` `unit` x `unit_price` per `per` units = `amount` (per month, or so far)."""

    item: str
    resource: str  # the graph's resource key the line is for
    quantity: Decimal
    unit: str
    price_id: str
    unit_price: Decimal
    per: int
    amount: Decimal
    source: str
    read: str
    detail: str = ""  # how the quantity was found

    @property
    def formula(self) -> str:
        per = f"{self.per:,} " if self.per != 1 else ""
        return f"{_fmt(self.quantity)} {self.unit} x ${self.unit_price}/{per}{self.unit} = ${self.amount:.4f}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "resource": self.resource,
            "quantity": _float(self.quantity),
            "unit": self.unit,
            "price_id": self.price_id,
            "unit_price": str(self.unit_price),
            "per": self.per,
            "amount": _float(self.amount),
            "formula": self.formula,
            "source": self.source,
            "read": self.read,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class UsageWindow:
    """The last `days` days: what the metrics summed to, and those totals extrapolated to a month."""

    days: int
    hours: Decimal  # the hours the totals cover (fewer than days x 24 for a younger environment)
    totals: dict[str, Decimal]
    lines: tuple[CostLine, ...]

    @property
    def monthly(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "hours": _float(self.hours),
            "totals": {k: _float(v) for k, v in sorted(self.totals.items())},
            "lines": [line.to_dict() for line in self.lines],
            "monthly": _float(self.monthly),
        }


@dataclass(frozen=True)
class PreviewCost:
    """A preview's cost since it was created, and what it will have cost when it expires."""

    created: dt.datetime
    expires: dt.datetime
    so_far: Decimal
    at_expiry: Decimal
    lines_so_far: tuple[CostLine, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
            "so_far": _float(self.so_far),
            "at_expiry": _float(self.at_expiry),
            "lines_so_far": [line.to_dict() for line in self.lines_so_far],
        }


@dataclass(frozen=True)
class FreeTierNote:
    price_id: str
    description: str
    quantity: Decimal
    unit: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "price_id": self.price_id,
            "description": self.description,
            "quantity": int(self.quantity) if self.quantity == int(self.quantity) else _float(self.quantity),
            "unit": self.unit,
            "note": self.note,
        }


@dataclass(frozen=True)
class CostEstimate:
    environment: str
    stage: str
    region: str
    owner: str
    cost_centre: str
    computed_at: dt.datetime
    currency: str
    fixed: tuple[CostLine, ...]
    storage: tuple[CostLine, ...]
    windows: tuple[UsageWindow, ...]
    basis_days: int
    preview: PreviewCost | None = None
    free_tiers: tuple[FreeTierNote, ...] = ()
    not_counted: tuple[str, ...] = ()
    no_charge: tuple[str, ...] = ()  # graph resources with no charge of their own
    prices: str = ""  # the price table's basis
    calls: CallCounts = field(default_factory=CallCounts)

    @property
    def fixed_monthly(self) -> Decimal:
        return sum((line.amount for line in self.fixed), Decimal(0))

    @property
    def storage_monthly(self) -> Decimal:
        return sum((line.amount for line in self.storage), Decimal(0))

    def window(self, days: int) -> UsageWindow:
        return next(w for w in self.windows if w.days == days)

    @property
    def usage_monthly(self) -> Decimal:
        return self.window(self.basis_days).monthly

    @property
    def monthly(self) -> Decimal:
        """The month's projection: fixed + storage + usage at the basis window's rate."""
        return self.fixed_monthly + self.storage_monthly + self.usage_monthly

    def monthly_by_window(self) -> dict[int, Decimal]:
        base = self.fixed_monthly + self.storage_monthly
        return {w.days: base + w.monthly for w in self.windows}

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "stage": self.stage,
            "region": self.region,
            "owner": self.owner,
            "cost_centre": self.cost_centre,
            "computed_at": self.computed_at.isoformat(),
            "currency": self.currency,
            "monthly": _float(self.monthly),
            "fixed_monthly": _float(self.fixed_monthly),
            "storage_monthly": _float(self.storage_monthly),
            "usage_monthly": _float(self.usage_monthly),
            "basis_days": self.basis_days,
            "monthly_by_window": {str(k): _float(v) for k, v in self.monthly_by_window().items()},
            "fixed": [line.to_dict() for line in self.fixed],
            "storage": [line.to_dict() for line in self.storage],
            "windows": [w.to_dict() for w in self.windows],
            "preview": None if self.preview is None else self.preview.to_dict(),
            "free_tiers": [f.to_dict() for f in self.free_tiers],
            "not_counted": list(self.not_counted),
            "no_charge": list(self.no_charge),
            "prices": self.prices,
            "calls": self.calls.to_dict(),
        }


# --- the graph: what the engine makes for this spec ----------------------------------------------


@dataclass(frozen=True)
class FunctionInfo:
    key: str
    name: str
    memory_mb: int
    architecture: str  # arm64 / x86_64


@dataclass(frozen=True)
class Inventory:
    """The wanted resources of the spec's graph, in the terms cost needs."""

    wanted: dict[str, Resource]
    functions: tuple[FunctionInfo, ...]
    log_groups: dict[str, str]  # resource key -> log group name
    alarm_metrics: int  # metrics the alarms evaluate: what CloudWatch charges alarms by

    def has(self, key: str) -> bool:
        return key in self.wanted

    def kinds(self) -> set[str]:
        return {r.kind for r in self.wanted.values()}


def inventory(spec: EnvironmentSpec) -> Inventory:
    """The engine's graph for `spec`, less what it does not want; makes no AWS call."""
    from .engine import Engine
    from .resources import alarms, authorizer, function
    from .resources.log_group import LogGroup

    clients = AwsClients(AwsTarget(region=spec.region))  # never used to call: `wanted` reads the spec
    engine = Engine(spec, clients=clients)
    wanted = {k: r for k, r in engine.resources.items() if k not in engine.unwanted}
    probe = Context(spec=spec, aws=clients)
    functions = []
    if "function" in wanted:
        arch = function.ARCHITECTURES[0]
        functions.append(FunctionInfo("function", spec.names.function, spec.settings.memory_mb, arch))
    if "authorizer_function" in wanted:
        arch = function.ARCHITECTURES[0]  # every instance of the one function resource
        functions.append(
            FunctionInfo("authorizer_function", spec.names.authorizer_function, authorizer.MEMORY_MB, arch)
        )
    log_groups = {k: r.name(probe) for k, r in wanted.items() if isinstance(r, LogGroup)}
    alarm_metrics = 0
    if "alarms" in wanted:
        alarm_metrics = sum(len(alarms.DYNAMODB_OPERATIONS) if a.per_operation else 1 for a in alarms.ALARMS)
    return Inventory(wanted, tuple(functions), log_groups, alarm_metrics)


def fixed_lines(spec: EnvironmentSpec, inv: Inventory, prices: PriceTable) -> tuple[CostLine, ...]:
    """A month of what the graph's resources cost by existing, whatever their traffic."""
    lines: list[CostLine] = []
    for key, resource in sorted(inv.wanted.items()):
        kind = resource.kind
        if kind == "kms-key":
            lines.append(_line(prices.row("kms.key"), f"KMS key {spec.names.kms_alias}", key, 1))
        elif kind == "cloudwatch-alarms":
            lines.append(
                _line(
                    prices.row("cloudwatch.alarm.standard"),
                    f"CloudWatch alarms ({spec.names.alarm_prefix}*)",
                    key,
                    inv.alarm_metrics,
                    "metrics the environment's alarms evaluate: one per single-metric alarm, "
                    "one per metric in each metric-math alarm's expression",
                )
            )
        elif kind == "cloudwatch-dashboard":
            lines.append(
                _line(prices.row("cloudwatch.dashboard"), f"dashboard {spec.names.dashboard}", key, 1)
            )
        elif kind == "secretsmanager-secret":
            lines.append(
                _line(prices.row("secretsmanager.secret"), f"secret {spec.names.signing_secret}", key, 1)
            )
        elif kind == "ec2-vpc-endpoint":
            lines.append(
                _line(
                    prices.row("vpc.gateway_endpoint"),
                    "DynamoDB gateway endpoint",
                    key,
                    1,
                    "gateway endpoints have no charge",
                )
            )
    if "table" in inv.wanted and spec.settings.billing_mode == "PROVISIONED":
        s = spec.settings
        for what, units, row in (
            ("read", s.read_capacity, "dynamodb.provisioned.read"),
            ("write", s.write_capacity, "dynamodb.provisioned.write"),
        ):
            hours = Decimal(units) * 2 * HOURS_PER_MONTH  # the table and its index, each at the minimum
            lines.append(
                _line(
                    prices.row(row),
                    f"provisioned {what} capacity of {spec.names.table} and {INDEX_NAME}",
                    "table",
                    hours,
                    f"{units} units x 2 (table, index) x 730 h: the minimum; auto scaling may add more",
                )
            )
    return tuple(lines)


def unpriced(inv: Inventory) -> tuple[list[str], list[str]]:
    """(not counted, with why; resources with no charge of their own), from the graph."""
    not_counted: list[str] = []
    free: list[str] = []
    for key, resource in sorted(inv.wanted.items()):
        if resource.kind in NOT_ATTRIBUTED_KINDS:
            not_counted.append(f"{key}: {NOT_ATTRIBUTED_KINDS[resource.kind]}")
        elif resource.kind in NO_CHARGE_KINDS:
            free.append(key)
        elif resource.kind not in PRICED_KINDS:
            not_counted.append(
                f"{key}: resource kind {resource.kind} has no price mapping in provisioning/cost.py"
            )
    return not_counted, free


# --- metrics: one GetMetricData for every window -------------------------------------------------


@dataclass(frozen=True)
class MetricQuery:
    id: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]

    def request(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
                },
                "Period": PERIOD_S,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }


def metric_queries(spec: EnvironmentSpec, inv: Inventory, rest_api_id: str = "") -> list[MetricQuery]:
    """The environment's own metrics that usage is priced from (ids: GetMetricData's ^[a-z]\\w*$)."""
    n = spec.names
    queries: list[MetricQuery] = []
    if inv.has("rest_api"):
        queries.append(
            MetricQuery(
                "api_count", "AWS/ApiGateway", "Count", (("ApiName", n.rest_api), ("Stage", n.api_stage))
            )
        )
    for fn in inv.functions:
        dims = (("FunctionName", fn.name),)
        queries.append(MetricQuery(f"{fn.key}_invocations", "AWS/Lambda", "Invocations", dims))
        queries.append(MetricQuery(f"{fn.key}_duration", "AWS/Lambda", "Duration", dims))
    if inv.has("table"):
        table = (("TableName", n.table),)
        index = (("GlobalSecondaryIndexName", INDEX_NAME), ("TableName", n.table))
        queries += [
            MetricQuery("table_rcu", "AWS/DynamoDB", "ConsumedReadCapacityUnits", table),
            MetricQuery("table_wcu", "AWS/DynamoDB", "ConsumedWriteCapacityUnits", table),
            MetricQuery("index_rcu", "AWS/DynamoDB", "ConsumedReadCapacityUnits", index),
            MetricQuery("index_wcu", "AWS/DynamoDB", "ConsumedWriteCapacityUnits", index),
        ]
    for key, name in sorted(_log_groups(spec, inv, rest_api_id).items()):
        queries.append(MetricQuery(f"logs_{key}", "AWS/Logs", "IncomingBytes", (("LogGroupName", name),)))
    if inv.has("function"):
        for metric in EMF_METRICS:
            queries.append(
                MetricQuery(f"emf_{metric.lower()}", EMF_NAMESPACE, metric, ((EMF_DIMENSION, spec.suffix),))
            )
    if inv.has("topic"):
        topic = (("TopicName", n.topic),)
        queries.append(MetricQuery("sns_published", "AWS/SNS", "NumberOfMessagesPublished", topic))
        queries.append(MetricQuery("sns_delivered", "AWS/SNS", "NumberOfNotificationsDelivered", topic))
    if inv.has("dlq"):
        queries.append(MetricQuery("dlq_sent", "AWS/SQS", "NumberOfMessagesSent", (("QueueName", n.dlq),)))
    return queries


def _log_groups(spec: EnvironmentSpec, inv: Inventory, rest_api_id: str) -> dict[str, str]:
    """The graph's log groups, plus the stage's execution log group (INFO logging), which API Gateway
    makes itself: counted when the REST API's id is known (an output of the environment)."""
    groups = dict(inv.log_groups)
    if rest_api_id and inv.has("rest_api"):
        groups["execution_log_group"] = f"API-Gateway-Execution-Logs_{rest_api_id}/{spec.names.api_stage}"
    return groups


Series = dict[str, list[tuple[dt.datetime, Decimal]]]


def read_metrics(clients: AwsClients, queries: list[MetricQuery], end: dt.datetime, days: int) -> Series:
    """Hourly sums of every query over `days` days up to `end`: ONE GetMetricData (paged if needed)."""
    cloudwatch = clients.client("cloudwatch")
    series: Series = {q.id: [] for q in queries}
    if not queries:
        return series
    kwargs: dict[str, Any] = {
        "MetricDataQueries": [q.request() for q in queries],
        "StartTime": end - dt.timedelta(days=days),
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    for _ in range(MAX_METRIC_PAGES):
        page = cloudwatch.get_metric_data(**kwargs)
        for result in page.get("MetricDataResults", []):
            points = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
            series.setdefault(result["Id"], []).extend((_utc(t), Decimal(str(v))) for t, v in points)
        token = page.get("NextToken")
        if not token:
            return series
        kwargs["NextToken"] = token
    raise RuntimeError(f"GetMetricData answered more than {MAX_METRIC_PAGES} pages; refusing to read on")


@dataclass(frozen=True)
class Storage:
    table_bytes: Decimal
    index_bytes: Decimal
    backup_bytes: Decimal
    backups: int
    pitr: bool
    found: bool  # whether the table exists


def read_storage(clients: AwsClients, spec: EnvironmentSpec) -> Storage:
    """One DescribeTable (table and index size, PITR as the spec wants it) and one ListBackups."""
    dynamodb = clients.client("dynamodb")
    name = spec.names.table
    table = unless_absent(
        lambda: dynamodb.describe_table(TableName=name)["Table"], "ResourceNotFoundException"
    )
    index_bytes = sum(
        (Decimal(i.get("IndexSizeBytes", 0)) for i in (table or {}).get("GlobalSecondaryIndexes", [])),
        Decimal(0),
    )
    backups = dynamodb.list_backups(TableName=name, BackupType="USER", Limit=100).get("BackupSummaries", [])
    return Storage(
        table_bytes=Decimal((table or {}).get("TableSizeBytes", 0)),
        index_bytes=index_bytes,
        backup_bytes=sum((Decimal(b.get("BackupSizeBytes", 0)) for b in backups), Decimal(0)),
        backups=len(backups),
        pitr=spec.settings.pitr,
        found=table is not None,
    )


def storage_lines(spec: EnvironmentSpec, storage: Storage, prices: PriceTable) -> tuple[CostLine, ...]:
    n = spec.names
    size = storage.table_bytes + storage.index_bytes
    gb = size / GIB
    detail = f"TableSizeBytes {size - storage.index_bytes:,} + IndexSizeBytes {storage.index_bytes:,}"
    lines = [_line(prices.row("dynamodb.storage"), f"table {n.table} storage", "table", gb, detail)]
    if storage.pitr:
        lines.append(
            _line(prices.row("dynamodb.pitr"), f"point-in-time recovery of {n.table}", "table", gb, detail)
        )
    if storage.backups:
        lines.append(
            _line(
                prices.row("dynamodb.backup"),
                f"on-demand backups of {n.table}",
                "table",
                storage.backup_bytes / GIB,
                f"{storage.backups} backup(s), {storage.backup_bytes:,} bytes",
            )
        )
    return tuple(lines)


# --- usage lines -------------------------------------------------------------------------------


def window_totals(series: Series, since: dt.datetime) -> dict[str, Decimal]:
    """Each query's sum over the hourly points at or after `since`."""
    return {qid: sum((v for t, v in points if t >= since), Decimal(0)) for qid, points in series.items()}


def traced(series: Series, qid: str, since: dt.datetime) -> Decimal:
    """Traces X-Ray records at most, by the default sampling rule, hour by hour."""
    total = Decimal(0)
    for t, n in series.get(qid, []):
        if t >= since:
            total += (
                n
                if n <= XRAY_RESERVOIR_PER_HOUR
                else XRAY_RESERVOIR_PER_HOUR + XRAY_RATE * (n - XRAY_RESERVOIR_PER_HOUR)
            )
    return total


class _Lines:
    """The lines of one window as they are added: a quantity of zero (a metric with no data) is
    no line, not a zero line."""

    def __init__(self, prices: PriceTable) -> None:
        self.prices = prices
        self.lines: list[CostLine] = []

    def add(self, row_id: str, item: str, resource: str, quantity: Decimal, detail: str = "") -> None:
        if quantity > 0:
            self.lines.append(_line(self.prices.row(row_id), item, resource, quantity, detail))


def usage_lines(
    spec: EnvironmentSpec,
    inv: Inventory,
    prices: PriceTable,
    totals: Mapping[str, Decimal],
    traces: Decimal,
    factor: Decimal,
    rest_api_id: str = "",
) -> tuple[CostLine, ...]:
    """The lines of one window: each total times `factor` (a month over the window's hours, or 1
    for the cost so far), priced. A metric with no data is no line, not a zero line."""
    n = spec.names
    t = {k: v * factor for k, v in totals.items()}
    out = _Lines(prices)
    zero = Decimal(0)
    out.add(
        "apigateway.rest.requests",
        f"API {n.rest_api} stage {n.api_stage} requests",
        "rest_api",
        t.get("api_count", zero),
    )
    _function_lines(out, inv, t)
    if spec.settings.billing_mode == "PAY_PER_REQUEST":
        _table_lines(out, spec, t)
    _log_lines(out, spec, inv, t, factor, rest_api_id)
    published = [m for m in EMF_METRICS if totals.get(f"emf_{m.lower()}", zero) > 0]
    if published and factor != 1:
        out.add(
            "cloudwatch.custom_metrics",
            f"custom metrics {EMF_NAMESPACE}/{', '.join(published)} ({EMF_DIMENSION}={spec.suffix})",
            "function",
            Decimal(len(published)),
            "metrics the function published in the window, each billed for the month",
        )
    out.add(
        "xray.traces",
        "X-Ray traces recorded",
        "function",
        traces * factor,
        "the default sampling rule, at most",
    )
    out.add("sns.requests", f"topic {n.topic} publishes", "topic", t.get("sns_published", zero))
    out.add("sns.email", f"topic {n.topic} e-mail notifications", "topic", t.get("sns_delivered", zero))
    out.add("sqs.requests", f"queue {n.dlq} messages", "dlq", t.get("dlq_sent", zero))
    return tuple(out.lines)


def _function_lines(out: _Lines, inv: Inventory, t: Mapping[str, Decimal]) -> None:
    for fn in inv.functions:
        calls = t.get(f"{fn.key}_invocations", Decimal(0))
        ms = t.get(f"{fn.key}_duration", Decimal(0))
        gb = Decimal(fn.memory_mb) / 1024
        out.add("lambda.requests", f"function {fn.name} invocations", fn.key, calls)
        out.add(
            f"lambda.duration.{fn.architecture}",
            f"function {fn.name} duration ({fn.memory_mb} MB, {fn.architecture})",
            fn.key,
            ms / 1000 * gb,
            f"{_fmt(ms)} ms of Duration x {gb} GB",
        )


def _table_lines(out: _Lines, spec: EnvironmentSpec, t: Mapping[str, Decimal]) -> None:
    """An on-demand table's reads and writes (a provisioned table's capacity is a fixed cost)."""
    table = spec.names.table
    for kind, unit in (("read", "rcu"), ("write", "wcu")):
        mine, index = t.get(f"table_{unit}", Decimal(0)), t.get(f"index_{unit}", Decimal(0))
        out.add(
            f"dynamodb.ondemand.{kind}",
            f"table {table} {kind}s",
            "table",
            mine + index,
            f"consumed {kind} units: table {_fmt(mine)}, index {_fmt(index)}",
        )


def _log_lines(
    out: _Lines,
    spec: EnvironmentSpec,
    inv: Inventory,
    t: Mapping[str, Decimal],
    factor: Decimal,
    rest_api_id: str,
) -> None:
    retention = Decimal(spec.settings.log_retention_days)
    for key, name in sorted(_log_groups(spec, inv, rest_api_id).items()):
        ingested = t.get(f"logs_{key}", Decimal(0))
        out.add(
            "logs.ingestion", f"log group {name} ingestion", key, ingested / GIB, f"{_fmt(ingested)} bytes"
        )
        if factor != 1 and ingested > 0:  # stored: a month's daily intake kept for the retention period
            stored = ingested / (HOURS_PER_MONTH / 24) * min(retention, HOURS_PER_MONTH / 24) / GIB
            out.add(
                "logs.storage",
                f"log group {name} storage",
                key,
                stored,
                f"{retention} days' retention of the daily intake (uncompressed: an upper bound)",
            )


# --- the estimate ------------------------------------------------------------------------------


def estimate(
    spec: EnvironmentSpec,
    clients: AwsClients,
    prices: PriceTable,
    *,
    now: dt.datetime | None = None,
    created: dt.datetime | None = None,
    expires: dt.datetime | None = None,
    rest_api_id: str = "",
) -> CostEstimate:
    """The environment's cost: fixed from the graph, usage from three reads (see the module's doc)."""
    now = _utc(now or dt.datetime.now(dt.UTC))
    created = _utc(created) if created else None
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)  # hour-aligned buckets
    inv = inventory(spec)
    before = clients.recorder.snapshot()
    queries = metric_queries(spec, inv, rest_api_id)
    series = read_metrics(clients, queries, end, max(WINDOWS_DAYS))
    storage = read_storage(clients, spec) if inv.has("table") else None
    calls = clients.recorder.since(before)

    windows = []
    for days in WINDOWS_DAYS:
        since = end - dt.timedelta(days=days)
        hours = Decimal(days * 24)
        if created is not None and created > since:
            hours = max(Decimal(1), Decimal(str((end - created).total_seconds())) / 3600)
        factor = HOURS_PER_MONTH / hours
        totals = window_totals(series, since)
        traces = traced(series, "api_count" if inv.has("rest_api") else "function_invocations", since)
        windows.append(
            UsageWindow(
                days, hours, totals, usage_lines(spec, inv, prices, totals, traces, factor, rest_api_id)
            )
        )
    fixed = fixed_lines(spec, inv, prices)
    stored = storage_lines(spec, storage, prices) if storage is not None else ()
    not_counted, no_charge = unpriced(inv)
    not_counted += [
        "KMS requests (the table's and the function's use of the key): no per-key request metric",
        "Secrets Manager API calls (the authorizer reads its secret on a cold start): no metric",
        "data transfer out of AWS (API responses to the internet)",
    ]
    result = CostEstimate(
        environment=spec.suffix,
        stage=spec.stage,
        region=spec.region,
        owner=spec.owner,
        cost_centre=spec.cost_centre,
        computed_at=now,
        currency=prices.currency,
        fixed=fixed,
        storage=stored,
        windows=tuple(windows),
        basis_days=BASIS_DAYS,
        free_tiers=_free_tiers(prices, [*fixed, *stored, *(line for w in windows for line in w.lines)]),
        not_counted=tuple(not_counted),
        no_charge=tuple(no_charge),
        prices=prices.basis,
        calls=calls,
    )
    if created is not None and expires is not None:
        result = _with_preview(result, spec, inv, prices, series, created, _utc(expires), end, rest_api_id)
    return result


def _with_preview(
    result: CostEstimate,
    spec: EnvironmentSpec,
    inv: Inventory,
    prices: PriceTable,
    series: Series,
    created: dt.datetime,
    expires: dt.datetime,
    end: dt.datetime,
    rest_api_id: str,
) -> CostEstimate:
    """Cost so far: fixed, storage, custom metrics and log storage for the hours it has existed,
    usage as measured since then (at the 30-day rate before the metrics read, for an environment
    older than 30 days); at expiry: so far plus the monthly projection over the hours left."""
    now = result.computed_at
    age_h = max(Decimal(0), Decimal(str((now - created).total_seconds())) / 3600)
    since = max(
        created.replace(minute=0, second=0, microsecond=0), end - dt.timedelta(days=max(WINDOWS_DAYS))
    )
    totals = window_totals(series, since)
    traces = traced(series, "api_count" if inv.has("rest_api") else "function_invocations", since)
    measured = usage_lines(spec, inv, prices, totals, traces, Decimal(1), rest_api_id)
    share = age_h / HOURS_PER_MONTH
    # Billed by the month, not per request: the 30-day window's monthly lines for the hours so far.
    by_month = [line for line in result.window(max(WINDOWS_DAYS)).lines if line.price_id in PRORATED_USAGE]
    lines = [
        _scaled(line, share, "for the hours it has existed")
        for line in (*result.fixed, *result.storage, *by_month)
    ]
    lines += list(measured)
    unmeasured_h = age_h - Decimal(str((now - since).total_seconds())) / 3600
    if unmeasured_h > 0:
        rate = result.window(max(WINDOWS_DAYS)).monthly
        lines.append(
            CostLine(
                item="usage before the metrics read (at the 30-day rate)",
                resource="",
                quantity=unmeasured_h,
                unit="hours",
                price_id="",
                unit_price=rate,
                per=int(HOURS_PER_MONTH),
                amount=rate * unmeasured_h / HOURS_PER_MONTH,
                source="",
                read="",
            )
        )
    so_far = sum((line.amount for line in lines), Decimal(0))
    left_h = max(Decimal(0), Decimal(str((expires - now).total_seconds())) / 3600)
    at_expiry = so_far + result.monthly * left_h / HOURS_PER_MONTH
    preview = PreviewCost(created, expires, so_far, at_expiry, tuple(lines))
    return replace(result, preview=preview)


# --- helpers -----------------------------------------------------------------------------------


def _line(row: PriceRow, item: str, resource: str, quantity: Decimal | int, detail: str = "") -> CostLine:
    q = Decimal(quantity)
    return CostLine(
        item=item,
        resource=resource,
        quantity=q,
        unit=row.unit,
        price_id=row.id,
        unit_price=row.unit_price,
        per=row.per,
        amount=row.amount(q),
        source=row.source,
        read=row.read.isoformat(),
        detail=detail,
    )


def _scaled(line: CostLine, share: Decimal, why: str) -> CostLine:
    return CostLine(
        item=f"{line.item} ({why})",
        resource=line.resource,
        quantity=line.quantity * share,
        unit=line.unit,
        price_id=line.price_id,
        unit_price=line.unit_price,
        per=line.per,
        amount=line.amount * share,
        source=line.source,
        read=line.read,
        detail=line.detail,
    )


def _free_tiers(prices: PriceTable, lines: Iterable[CostLine]) -> tuple[FreeTierNote, ...]:
    used = sorted({line.price_id for line in lines if line.price_id})
    notes = []
    for row_id in used:
        row = prices.row(row_id)
        if row.free_tier is not None:
            notes.append(
                FreeTierNote(row.id, row.description, row.free_tier.quantity, row.unit, row.free_tier.note)
            )
    return tuple(notes)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _float(value: Decimal) -> float:
    return float(round(value, 6))


def _fmt(value: Decimal) -> str:
    rounded = round(value, 4)
    return f"{rounded.normalize():,f}" if rounded != rounded.to_integral_value() else f"{int(rounded):,}"
