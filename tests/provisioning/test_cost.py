"""Issue 21 items 1 and 2: the price table as data, and what one environment costs.

The known-load test puts a known load's metrics into CloudWatch (moto, decorator mode) under the
environment's own metric names and checks the estimate against a hand calculation from the price
table, written out line by line.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioning import cost, pricing
from provisioning.aws import AwsClients
from provisioning.spec import EnvironmentSpec, build_spec

PRICES = pricing.load("us-east-1")
TOLERANCE = Decimal("1e-12")


def _spec(suffix: str = "costload", **overrides: Any) -> EnvironmentSpec:
    return build_spec(
        suffix=suffix,
        stage="dev",
        region="us-east-1",
        owner="team-a",
        cost_centre="cc-42",
        alarm_emails=["ops@example.com"],
        overrides=overrides,
    )


def _price(row_id: str) -> Decimal:
    """The first tier's price per unit (the table states it per `per` units)."""
    row = PRICES.row(row_id)
    return row.unit_price / row.per


# --- the price table ---------------------------------------------------------------------------


# R-COST-1
def test_every_price_row_names_its_source_and_date() -> None:
    """Issue 21 item 1: every row names the AWS page it came from and the date it was read."""
    raw = json.loads((pricing.BUNDLED_DIR / "us-east-1.json").read_text())
    assert len(raw["prices"]) == len(PRICES.rows) >= 25
    for row in raw["prices"]:
        assert row["source"].startswith("https://aws.amazon.com/") or row["source"].startswith(
            "https://docs.aws.amazon.com/"
        ), row["id"]
        assert dt.date.fromisoformat(row["read"]) <= dt.date.today(), row["id"]
        assert row["unit"] and row["tiers"], row["id"]


def test_the_table_covers_what_the_issue_lists() -> None:
    """Issue 21 item 1: the services listed, gateway endpoints as a row priced 0 that says so, and
    free tiers as data."""
    ids = {r.id for r in PRICES}
    for needed in (
        "apigateway.rest.requests",
        "lambda.requests",
        "lambda.duration.arm64",
        "lambda.duration.x86_64",
        "dynamodb.ondemand.read",
        "dynamodb.ondemand.write",
        "dynamodb.storage",
        "dynamodb.pitr",
        "dynamodb.backup",
        "cloudwatch.alarm.standard",
        "cloudwatch.dashboard",
        "cloudwatch.custom_metrics",
        "logs.ingestion",
        "logs.storage",
        "kms.key",
        "kms.requests",
        "secretsmanager.secret",
        "secretsmanager.api",
        "sns.requests",
        "sns.email",
        "xray.traces",
        "s3.standard.storage",
        "cognito.mau.essentials",
        "vpc.gateway_endpoint",
        "vpc.interface_endpoint",
    ):
        assert needed in ids, needed
    gateway = PRICES.row("vpc.gateway_endpoint")
    assert gateway.unit_price == 0 and "no additional charge" in gateway.note
    assert PRICES.row("lambda.requests").free_tier is not None
    assert PRICES.row("cloudwatch.dashboard").free_tier.quantity == 3  # type: ignore[union-attr]


def test_tiered_price_crosses_its_tiers() -> None:
    """API Gateway REST: 333 M at $3.50/M, the rest of 400 M at $2.80/M."""
    row = PRICES.row("apigateway.rest.requests")
    assert row.amount(Decimal(1_000_000)) == Decimal("3.50")
    assert row.amount(Decimal(400_000_000)) == Decimal(333) * Decimal("3.50") + Decimal(67) * Decimal("2.80")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("source"), "source must be the https:// URL"),
        (lambda r: r.update(source="javascript:alert(1)"), "source must be the https:// URL"),
        (lambda r: r.update(read="yesterday"), "read must be the date"),
        (lambda r: r.update(tiers=[{"upto": None, "price": "-1"}]), "at least 0"),
        (lambda r: r.update(tiers=[{"upto": None, "price": "NaN"}]), "finite"),
        (lambda r: r.update(tiers=[{"upto": 5, "price": "1"}]), "only the last tier"),
        (lambda r: r.update(per=0), "per must be an integer"),
        (lambda r: r.update(id="../../etc/passwd"), "id must be dotted"),
    ],
)
def test_a_hostile_price_table_is_refused_with_what_is_allowed(mutate: Any, message: str) -> None:
    data = json.loads((pricing.BUNDLED_DIR / "us-east-1.json").read_text())
    mutate(data["prices"][0])
    with pytest.raises(pricing.PricesError, match=message):
        pricing.parse(data, "test table")


def test_oversized_or_unknown_tables_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "us-east-1.json"
    big.write_text(" " * (pricing.MAX_TABLE_BYTES + 1))
    with pytest.raises(pricing.PricesError, match="more than a price table"):
        pricing.read(big)
    with pytest.raises(pricing.PricesError, match="region"):
        pricing.load("../us-east-1")
    with pytest.raises(pricing.PricesError, match="prices refresh --region eu-west-3"):
        pricing.load("eu-west-3")


def test_a_refreshed_table_in_the_directory_wins(tmp_path: Path) -> None:
    refreshed = pricing.PriceTable("us-east-1", "USD", "test", PRICES.rows[:1])
    pricing.save(refreshed, tmp_path)
    assert len(pricing.load("us-east-1", tmp_path).rows) == 1
    assert len(pricing.load("us-east-1", tmp_path / "none").rows) == len(PRICES.rows)


# --- refresh from the Price List API -----------------------------------------------------------


def _product(usage_type: str, dimensions: list[tuple[str, str, str]], unit: str = "Requests") -> str:
    """One PriceList entry in GetProducts' documented shape (FormatVersion aws_v1):
    https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
    `dimensions`: (beginRange, endRange, USD per unit)."""
    sku = "SKU" + usage_type.replace("-", "")[:10].upper()
    return json.dumps(
        {
            "product": {
                "productFamily": "Serverless",
                "attributes": {
                    "usagetype": usage_type,
                    "regionCode": "us-east-1",
                    "location": "US East (N. Virginia)",
                },
                "sku": sku,
            },
            "serviceCode": "AWSLambda",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.{i}": {
                                "unit": unit,
                                "beginRange": begin,
                                "endRange": end,
                                "pricePerUnit": {"USD": usd},
                                "description": "test",
                                "appliesTo": [],
                                "rateCode": f"{sku}.JRTCKXETXF.{i}",
                            }
                            for i, (begin, end, usd) in enumerate(dimensions)
                        },
                        "sku": sku,
                        "effectiveDate": "2026-11-01T00:00:00Z",
                        "offerTermCode": "JRTCKXETXF",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261101000000",
            "publicationDate": "2026-11-01T00:00:00Z",
        }
    )


class _RecordedPricing:
    """Answers GetProducts from documents recorded in AWS's format (moto has no `pricing` service),
    one page per service, and records the requests made."""

    def __init__(self, pages: dict[str, list[str]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def get_products(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        return {"FormatVersion": "aws_v1", "PriceList": self.pages.get(kwargs["ServiceCode"], [])}


def test_refresh_parses_getproducts_tiers_and_keeps_what_it_cannot_price() -> None:
    """Issue 21 item 1: `prices refresh` takes prices from GetProducts documents; a first tier at 0
    becomes the free tier (shown, not a tier); rows not found or ambiguous keep their bundled price."""
    pages = {
        "AWSLambda": [
            # x86 duration, us-east-1's unprefixed usage type, with a free first dimension
            _product(
                "Lambda-GB-Second",
                [
                    ("0", "400000", "0"),
                    ("400000", "6000000000", "0.0000170000"),
                    ("6000000000", "Inf", "0.0000150000"),
                ],
                unit="Lambda-GB-Second",
            ),
            # arm64 duration with a region prefix: matched without it
            _product("USE1-Lambda-GB-Second-ARM", [("0", "Inf", "0.0000140000")], unit="Lambda-GB-Second"),
            # requests listed twice at different prices: ambiguous, kept
            _product("Request", [("0", "Inf", "0.0000002")]),
            _product("Request", [("0", "Inf", "0.0000003")]),
        ],
        "awskms": [
            _product("KMS-Keys", [("0", "Inf", "1.0000000000")], unit="Keys"),
            _product("Keys", [("0", "Inf", "7.0000000000")], unit="Keys"),  # not KMS-Keys: no region prefix
            _product("USE1-KMS-Requests", [("0", "20000", "0"), ("20000", "Inf", "0.0000030000")]),
        ],
    }
    client = _RecordedPricing(pages)
    today = dt.date(2026, 12, 7)
    table, report = pricing.refresh(PRICES, client, today=today)
    assert report.ok, report.error
    x86 = table.row("lambda.duration.x86_64")
    assert [(t.upto, t.price) for t in x86.tiers] == [
        (Decimal(6_000_000_000), Decimal("0.000017")),
        (None, Decimal("0.000015")),
    ]
    assert x86.read == today and x86.free_tier is not None and x86.free_tier.quantity == 400_000
    assert table.row("lambda.duration.arm64").unit_price == Decimal("0.000014")
    assert table.row("kms.key").unit_price == Decimal("1")
    kms_requests = table.row("kms.requests")
    assert kms_requests.unit_price == Decimal("0.03")  # per 10,000
    assert kms_requests.free_tier is not None and kms_requests.free_tier.quantity == 20000
    assert set(report.updated) == {
        "lambda.duration.x86_64",
        "lambda.duration.arm64",
        "kms.key",
        "kms.requests",
    }
    kept = dict(report.kept)
    assert "ambiguous" in kept["lambda.requests"]
    assert table.row("lambda.requests") == PRICES.row("lambda.requests")
    assert "no product with usage type" in kept["secretsmanager.secret"]
    assert "no Price List usage type" in kept["vpc.gateway_endpoint"]
    # One query per service, filtered to the region, in the documented request shape.
    first = client.requests[0]
    assert first["Filters"] == [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}]
    assert first["FormatVersion"] == "aws_v1"


def test_refresh_refuses_a_price_ten_times_off() -> None:
    """A unit mismatch (per GB listed where the table has per GB-second) must not become a price."""
    pages = {"AWSLambda": [_product("Lambda-GB-Second", [("0", "Inf", "0.05")])]}
    table, report = pricing.refresh(PRICES, _RecordedPricing(pages))
    assert table.row("lambda.duration.x86_64") == PRICES.row("lambda.duration.x86_64")
    assert "unit mismatch" in dict(report.kept)["lambda.duration.x86_64"]


@pytest.mark.heavy
def test_refresh_keeps_the_bundled_table_when_the_api_does_not_answer(mocked_aws: None) -> None:
    """Issue 21 item 1: where the account (here moto, which has no Price List API) does not answer,
    the bundled table stays, with a clear message; nothing is written."""
    client = boto3.client("pricing", region_name=pricing.PRICING_API_REGION)
    table, report = pricing.refresh(PRICES, client)
    assert table is PRICES
    assert not report.ok
    assert "the Price List API did not answer" in report.error
    assert any("the bundled table stays in use" in line for line in report.lines())


def test_refresh_for_a_region_without_a_table_refuses_a_half_priced_one() -> None:
    pages = {"AWSLambda": [_product("EUW3-Request", [("0", "Inf", "0.0000002")])]}
    table, report = pricing.refresh(PRICES, _RecordedPricing(pages), region="eu-west-3")
    assert table is PRICES and "half of us-east-1's prices" in report.error


# --- fixed cost from the graph -----------------------------------------------------------------


def _fixed(spec: EnvironmentSpec) -> dict[str, Decimal]:
    inv = cost.inventory(spec)
    return {line.price_id: line.quantity for line in cost.fixed_lines(spec, inv, PRICES)}


def test_fixed_cost_is_counted_from_the_graph_per_auth_and_network_mode() -> None:
    """Issue 21 item 2: the fixed part follows the graph: the token mode's secret, the vpc mode's
    gateway endpoint (free, and shown), the alarms' metrics, the key, the dashboard."""
    # 6 single-metric alarms + 2 metric-math alarms of 8 metrics each (DynamoDB per operation)
    alarm_metrics = Decimal(6 + 2 * 8)
    api_key = _fixed(_spec())
    assert api_key == {
        "kms.key": 1,
        "cloudwatch.alarm.standard": alarm_metrics,
        "cloudwatch.dashboard": 1,
    }
    token = _fixed(_spec(auth="token"))
    assert token == {**api_key, "secretsmanager.secret": 1}
    vpc = _fixed(_spec(network="vpc"))
    assert vpc == {**api_key, "vpc.gateway_endpoint": 1}
    # cognito and iam add nothing fixed (Cognito is priced per monthly active user)
    assert _fixed(_spec(auth="cognito")) == api_key == _fixed(_spec(auth="iam"))
    # The monthly fixed figure of the api_key mode, by hand: $1.00 + 22 x $0.10 + $3.00 = $6.20
    lines = cost.fixed_lines(_spec(), cost.inventory(_spec()), PRICES)
    assert sum(line.amount for line in lines) == Decimal("1.00") + 22 * Decimal("0.10") + Decimal("3.00")
    # A spec that brings its own key makes no key: the graph has none, so it is not charged.
    own_key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    spec = build_spec(suffix="ownkey", stage="dev", kms_key_arn=own_key)
    assert "kms.key" not in _fixed(spec)


def test_every_resource_kind_of_every_mode_has_a_price_mapping() -> None:
    """A resource kind added to the graph without a price mapping would silently cost nothing:
    each mode's graph has only kinds that are priced, free or named as not attributed."""
    for overrides in ({}, {"auth": "token"}, {"auth": "cognito"}, {"auth": "iam"}, {"network": "vpc"}):
        not_counted, _free = cost.unpriced(cost.inventory(_spec(**overrides)))
        assert not [n for n in not_counted if "no price mapping" in n], overrides
    cognito_notes, _ = cost.unpriced(cost.inventory(_spec(auth="cognito")))
    assert any(n.startswith("user_pool:") for n in cognito_notes)


# --- usage from the environment's own metrics: a known load ---------------------------------------


def _put(cw: Any, namespace: str, metric: str, dims: dict[str, str], value: float, at: dt.datetime) -> None:
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": at,
                "Value": value,
            }
        ],
    )


def _load(cw: Any, spec: EnvironmentSpec, at: dt.datetime, requests: int, ms_each: int) -> None:
    """`requests` GETs and POSTs half and half, each `ms_each` ms long, as CloudWatch would see them:
    each read 1 RCU, each write 1 WCU on the table and 1 on the index, 2 KB of function log and
    400 bytes of access log per request."""
    n = spec.names
    _put(cw, "AWS/ApiGateway", "Count", {"ApiName": n.rest_api, "Stage": n.api_stage}, requests, at)
    _put(cw, "AWS/Lambda", "Invocations", {"FunctionName": n.function}, requests, at)
    _put(cw, "AWS/Lambda", "Duration", {"FunctionName": n.function}, requests * ms_each, at)
    _put(cw, "AWS/DynamoDB", "ConsumedReadCapacityUnits", {"TableName": n.table}, requests // 2, at)
    _put(cw, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": n.table}, requests // 2, at)
    index = {"TableName": n.table, "GlobalSecondaryIndexName": "byCreatedAt"}
    _put(cw, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", index, requests // 2, at)
    _put(cw, "AWS/Logs", "IncomingBytes", {"LogGroupName": n.function_log_group}, requests * 2048, at)
    _put(cw, "AWS/Logs", "IncomingBytes", {"LogGroupName": n.access_log_group}, requests * 400, at)
    _put(cw, "envport", "Requests", {"Environment": spec.suffix}, requests, at)
    _put(cw, "envport", "ItemsCreated", {"Environment": spec.suffix}, requests // 2, at)
    # Another environment's metrics in the same account must not be counted.
    _put(cw, "AWS/Lambda", "Invocations", {"FunctionName": "envport-other-api"}, 99_999, at)


# R-COST-1
def test_known_load_costs_what_the_hand_calculation_says(aws: AwsClients) -> None:
    """Issue 21 item 2, "done when": a known load (1,000 requests of 120 ms in the last day and
    2,000 of 100 ms three days ago) against a dev api_key environment costs what the hand
    calculation from the price table says, in every window."""
    spec = _spec()
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName=spec.names.table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_backup(TableName=spec.names.table, BackupName="envport-costload-manual")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    end = now.replace(minute=0, second=0) + dt.timedelta(hours=1)
    created = end - dt.timedelta(days=10)
    _load(cw, spec, now - dt.timedelta(hours=2), requests=1000, ms_each=120)
    _load(cw, spec, now - dt.timedelta(days=3), requests=2000, ms_each=100)

    result = cost.estimate(spec, aws, PRICES, now=now, created=created)

    # Three reads, one of them the only GetMetricData for all three windows.
    assert result.calls.by_operation == {
        "cloudwatch.GetMetricData": 1,
        "dynamodb.DescribeTable": 1,
        "dynamodb.ListBackups": 1,
    }

    # ---- fixed: $1.00 key + 22 alarm metrics x $0.10 + $3.00 dashboard = $6.20 a month
    assert result.fixed_monthly == Decimal("6.20")

    # ---- storage: moto reports TableSizeBytes 0 and a backup of 123 bytes
    gib = Decimal(1024**3)
    storage = Decimal(0) * _price("dynamodb.storage") + Decimal(123) / gib * _price("dynamodb.backup")
    assert abs(result.storage_monthly - storage) < TOLERANCE

    # ---- the 7-day window (the basis of the monthly figure): both loads, 3,000 requests
    f7 = Decimal(730) / Decimal(168)  # a month of 730 h over the window's 168 h
    requests = Decimal(1000 + 2000)
    gb_seconds = (Decimal(1000 * 120 + 2000 * 100) / 1000) * Decimal(256) / 1024  # 320 s x 0.25 GB = 80
    reads = Decimal(500 + 1000)  # table RCU; the index is only written
    writes = Decimal(500 + 1000) * 2  # table WCU + index WCU
    fn_log = Decimal((1000 + 2000) * 2048)  # bytes
    access_log = Decimal((1000 + 2000) * 400)
    days_in_month = Decimal(730) / 24
    expected7 = {
        "apigateway.rest.requests": requests * f7 * _price("apigateway.rest.requests"),
        "lambda.requests": requests * f7 * _price("lambda.requests"),
        "lambda.duration.arm64": gb_seconds * f7 * _price("lambda.duration.arm64"),
        "dynamodb.ondemand.read": reads * f7 * _price("dynamodb.ondemand.read"),
        "dynamodb.ondemand.write": writes * f7 * _price("dynamodb.ondemand.write"),
        "logs.ingestion": (fn_log + access_log) * f7 / gib * _price("logs.ingestion"),
        # stored: the daily intake kept for the dev stage's 7 days of retention
        "logs.storage": (fn_log + access_log) * f7 / days_in_month * 7 / gib * _price("logs.storage"),
        "cloudwatch.custom_metrics": 2 * _price("cloudwatch.custom_metrics"),  # Requests, ItemsCreated
        # every hour's requests are under X-Ray's reservoir of 1 a second: each one traced
        "xray.traces": requests * f7 * _price("xray.traces"),
    }
    _assert_lines(result.window(7), expected7)
    assert abs(result.usage_monthly - sum(expected7.values())) < TOLERANCE
    assert abs(result.monthly - (Decimal("6.20") + storage + sum(expected7.values()))) < TOLERANCE

    # ---- the 1-day window: only the recent 1,000 requests of 120 ms
    f1 = Decimal(730) / 24
    expected1 = {
        "apigateway.rest.requests": 1000 * f1 * _price("apigateway.rest.requests"),
        "lambda.requests": 1000 * f1 * _price("lambda.requests"),
        "lambda.duration.arm64": Decimal("120") * Decimal("0.25") * f1 * _price("lambda.duration.arm64"),
        "dynamodb.ondemand.read": 500 * f1 * _price("dynamodb.ondemand.read"),
        "dynamodb.ondemand.write": 1000 * f1 * _price("dynamodb.ondemand.write"),
        "logs.ingestion": Decimal(1000 * 2448) * f1 / gib * _price("logs.ingestion"),
        "logs.storage": Decimal(1000 * 2448) * f1 / days_in_month * 7 / gib * _price("logs.storage"),
        "cloudwatch.custom_metrics": 2 * _price("cloudwatch.custom_metrics"),
        "xray.traces": 1000 * f1 * _price("xray.traces"),
    }
    _assert_lines(result.window(1), expected1)

    # ---- the 30-day window: the environment is 10 days (240 h) old, so over 240 h, not 720
    assert result.window(30).hours == 240
    f30 = Decimal(730) / 240
    assert (
        abs(
            sum(
                line.amount for line in result.window(30).lines if line.price_id == "apigateway.rest.requests"
            )
            - requests * f30 * _price("apigateway.rest.requests")
        )
        < TOLERANCE
    )

    # Every line shows quantity x price = amount and names its price's source and date.
    for line in (*result.fixed, *result.window(7).lines):
        assert " x $" in line.formula and line.source.startswith("https://") and line.read
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["monthly"] == pytest.approx(float(result.monthly))
    assert {f["price_id"] for f in as_json["free_tiers"]} >= {"lambda.requests", "cloudwatch.dashboard"}


def _assert_lines(window: cost.UsageWindow, expected: dict[str, Decimal]) -> None:
    got: dict[str, Decimal] = {}
    for line in window.lines:
        got[line.price_id] = got.get(line.price_id, Decimal(0)) + line.amount
    assert set(got) == set(expected), (window.days, sorted(got))
    for price_id, amount in expected.items():
        assert abs(got[price_id] - amount) < TOLERANCE, (window.days, price_id, got[price_id], amount)


def test_a_preview_shows_its_cost_so_far_and_at_expiry(aws: AwsClients) -> None:
    """Issue 21 item 2: a preview with an expiry: cost since creation and projected to its expiry."""
    spec = _spec("preview1")
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    end = now.replace(minute=0, second=0) + dt.timedelta(hours=1)
    created = end - dt.timedelta(days=2)
    expires = now + dt.timedelta(days=5)
    _load(cw, spec, now - dt.timedelta(hours=3), requests=400, ms_each=50)

    result = cost.estimate(spec, aws, PRICES, now=now, created=created, expires=expires)

    assert result.preview is not None
    age_h = Decimal(str((now - created).total_seconds())) / 3600
    share = age_h / 730  # the part of a month it has existed
    fixed_so_far = Decimal("6.20") * share  # no table in this account: no storage line
    usage_so_far = (  # measured since creation, not extrapolated
        400 * _price("apigateway.rest.requests")
        + 400 * _price("lambda.requests")
        + Decimal(400 * 50) / 1000 * Decimal("0.25") * _price("lambda.duration.arm64")
        + 200 * _price("dynamodb.ondemand.read")
        + 400 * _price("dynamodb.ondemand.write")
        + Decimal(400 * 2448) / Decimal(1024**3) * _price("logs.ingestion")
        + 400 * _price("xray.traces")
    )
    # Billed by the month: 2 custom metrics (Requests, ItemsCreated), and the logs' storage at the
    # 30-day window's rate (the window covers its 48 hours: a month is 730/48 of it, and a day's
    # intake is kept 7 days), both for the share of the month it has existed.
    by_month = (
        2 * _price("cloudwatch.custom_metrics")
        + Decimal(400 * 2448)
        * (Decimal(730) / 48)
        / (Decimal(730) / 24)
        * 7
        / Decimal(1024**3)
        * _price("logs.storage")
    ) * share
    assert abs(result.preview.so_far - (fixed_so_far + usage_so_far + by_month)) < TOLERANCE
    left_h = Decimal(5 * 24)
    assert abs(result.preview.at_expiry - (result.preview.so_far + result.monthly * left_h / 730)) < TOLERANCE
    assert result.preview.at_expiry > result.preview.so_far


def test_provisioned_capacity_is_fixed_cost_and_not_priced_per_request() -> None:
    """A table on provisioned capacity pays for its capacity by the hour whatever its traffic: the
    spec's minimum for the table and its index is fixed cost, and consumed units are not priced."""
    spec = _spec(billing_mode="PROVISIONED", read_capacity=5, write_capacity=10)
    inv = cost.inventory(spec)
    fixed = {line.price_id: line for line in cost.fixed_lines(spec, inv, PRICES)}
    # 5 RCU x 2 (table, index) x 730 h = 7,300 RCU-hours x $0.00013; 10 WCU x 2 x 730 = 14,600 x $0.00065
    assert fixed["dynamodb.provisioned.read"].quantity == 7300
    assert fixed["dynamodb.provisioned.read"].amount == Decimal(7300) * Decimal("0.00013")
    assert fixed["dynamodb.provisioned.write"].amount == Decimal(14600) * Decimal("0.00065")
    lines = cost.usage_lines(
        spec, inv, PRICES, {"table_rcu": Decimal(100), "table_wcu": Decimal(100)}, Decimal(0), Decimal(1)
    )
    assert not [line for line in lines if line.price_id.startswith("dynamodb.ondemand")]


def test_the_worked_example_of_docs_cost_md() -> None:
    """docs/cost.md's demo environment: a week of 7,000 requests of 80 ms comes to $7.12 a month."""
    spec = build_spec(suffix="demo", stage="dev", owner="demo", alarm_emails=["ops@example.com"])
    inv = cost.inventory(spec)
    week = {
        "api_count": Decimal(7000),
        "function_invocations": Decimal(7000),
        "function_duration": Decimal(7000 * 80),
        "table_rcu": Decimal(3500),
        "table_wcu": Decimal(3500),
        "index_wcu": Decimal(3500),
        "logs_function_log_group": Decimal(7000 * 1536),
        "logs_access_log_group": Decimal(7000 * 350),
        "emf_requests": Decimal(7000),
        "emf_itemscreated": Decimal(3500),
    }
    usage = cost.usage_lines(spec, inv, PRICES, week, Decimal(7000), Decimal(730) / 168)
    storage = cost.storage_lines(
        spec, cost.Storage(Decimal(1_050_000), Decimal(0), Decimal(0), 0, False, True), PRICES
    )
    fixed = cost.fixed_lines(spec, inv, PRICES)
    amounts = {line.price_id: line.amount for line in usage if line.price_id != "logs.ingestion"}
    assert round(amounts["apigateway.rest.requests"], 4) == Decimal("0.1065")
    assert round(amounts["xray.traces"], 4) == Decimal("0.1521")
    assert round(sum(line.amount for line in usage), 4) == Decimal("0.9207")
    total = sum(line.amount for line in (*fixed, *storage, *usage))
    assert round(total, 2) == Decimal("7.12")
    docs = (pricing.BUNDLED_DIR.parents[1] / "docs" / "cost.md").read_text()
    assert "usage   = $0.9207" in docs and "**$7.12**" in docs
