"""The price table: AWS prices as data, one JSON file per region, each row with its source and date.

Prices live in `provisioning/pricing/<region>.json`, not in Python constants, so that a refresh
from the AWS Price List API (`refresh`) or an edit by hand changes figures without a code change,
and so that every figure the cost estimate shows can name the page it came from and when that page
was read. A directory of refreshed tables (the portal's `ENVPORT_PRICES_DIR`) is searched before
the bundled one.

Free tiers are data on each row (`FreeTier`), never subtracted: they are per account, while an
estimate is per environment, and the portal cannot know what else the account runs.

Tiered prices (API Gateway, Lambda duration, custom metrics) apply to the quantity they are given:
an environment is priced as if it were alone in its account, which is its first tier in practice.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

BUNDLED_DIR = Path(__file__).resolve().parent
MAX_TABLE_BYTES = 256 * 1024  # a price table is a few KB; anything larger is not one of ours
MAX_ROWS = 200
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
ROW_ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+){1,4}$")


class PricesError(ValueError):
    """A price table that cannot be used: which file, what is wrong, and what is expected."""


@dataclass(frozen=True)
class Tier:
    """`price` per `PriceRow.per` units, for the quantity up to `upto` units (None: no limit)."""

    upto: Decimal | None
    price: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"upto": None if self.upto is None else _number(self.upto), "price": str(self.price)}


@dataclass(frozen=True)
class FreeTier:
    """What AWS gives each account for free: shown beside a line, never subtracted from it."""

    quantity: Decimal
    period: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"quantity": _number(self.quantity), "period": self.period, "note": self.note}


@dataclass(frozen=True)
class AwsUsage:
    """Where the Price List API keeps this price: its service code and usage type (region prefix
    left off: us-east-1 has none for most services, other regions `USW2-` and the like)."""

    service_code: str
    usage_type: str

    def to_dict(self) -> dict[str, str]:
        return {"service_code": self.service_code, "usage_type": self.usage_type}


@dataclass(frozen=True)
class PriceRow:
    id: str
    service: str
    description: str
    unit: str  # what the quantity counts: "requests", "GB-months", ...
    per: int  # prices are per this many units ($3.50 per 1,000,000 requests)
    tiers: tuple[Tier, ...]
    source: str  # the AWS pricing page the price was read from
    read: dt.date  # the date of the page version relied on
    free_tier: FreeTier | None = None
    aws: AwsUsage | None = None
    note: str = ""

    @property
    def unit_price(self) -> Decimal:
        """The first tier's price per `per` units: what a single environment pays."""
        return self.tiers[0].price

    @property
    def price_label(self) -> str:
        per = f"{self.per:,} " if self.per != 1 else ""
        return f"${self.unit_price} per {per}{self.unit}"

    def amount(self, quantity: Decimal) -> Decimal:
        """What `quantity` units cost, tier by tier (not rounded: rounding is for display)."""
        total = Decimal(0)
        below = Decimal(0)
        for tier in self.tiers:
            top = quantity if tier.upto is None else min(quantity, tier.upto)
            if top > below:
                total += (top - below) * tier.price / self.per
            if tier.upto is None or quantity <= tier.upto:
                break
            below = tier.upto
        return total

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "service": self.service,
            "description": self.description,
            "unit": self.unit,
            "per": self.per,
            "tiers": [t.to_dict() for t in self.tiers],
            "source": self.source,
            "read": self.read.isoformat(),
        }
        if self.free_tier is not None:
            data["free_tier"] = self.free_tier.to_dict()
        data["aws"] = None if self.aws is None else self.aws.to_dict()
        if self.note:
            data["note"] = self.note
        return data


@dataclass(frozen=True)
class PriceTable:
    region: str
    currency: str
    basis: str
    rows: tuple[PriceRow, ...]
    path: str = ""  # the file it was read from

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {r.id: r for r in self.rows})

    def row(self, row_id: str) -> PriceRow:
        found: dict[str, PriceRow] = self._by_id  # type: ignore[attr-defined]
        if row_id not in found:
            raise PricesError(f"price table {self.region} ({self.path}) has no row {row_id!r}")
        return found[row_id]

    def __iter__(self) -> Iterator[PriceRow]:
        return iter(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "currency": self.currency,
            "basis": self.basis,
            "prices": [r.to_dict() for r in self.rows],
        }


# --- reading ---------------------------------------------------------------------------------


def table_path(region: str, directory: Path | str | None = None) -> Path:
    if not REGION_RE.fullmatch(region or ""):
        raise PricesError(f"region {region!r} is not a region name such as us-east-1")
    return Path(directory or BUNDLED_DIR) / f"{region}.json"


def load(region: str, directory: Path | str | None = None) -> PriceTable:
    """The table of `region`: a refreshed one in `directory` if there is one, else the bundled one."""
    candidates = [table_path(region, directory)] if directory else []
    candidates.append(table_path(region))
    for path in candidates:
        if path.is_file():
            return read(path)
    bundled = sorted(p.stem for p in BUNDLED_DIR.glob("*.json"))
    raise PricesError(
        f"no price table for {region}: bundled tables are {', '.join(bundled)}; "
        f"run 'manage.py prices refresh --region {region}' where the Price List API answers"
    )


def read(path: Path) -> PriceTable:
    """Parse and check one table file; every problem names the file and the row."""
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise PricesError(f"{path}: {size} bytes, more than a price table's {MAX_TABLE_BYTES}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PricesError(f"{path}: not JSON ({exc})") from exc
    return parse(data, str(path))


def parse(data: Any, where: str = "price table") -> PriceTable:
    if not isinstance(data, dict) or not isinstance(data.get("prices"), list):
        raise PricesError(f"{where}: expected an object with a 'prices' list")
    rows = data["prices"]
    if not 0 < len(rows) <= MAX_ROWS:
        raise PricesError(f"{where}: {len(rows)} rows; a table has 1 to {MAX_ROWS}")
    region = str(data.get("region", ""))
    if not REGION_RE.fullmatch(region):
        raise PricesError(f"{where}: region {region!r} is not a region name such as us-east-1")
    parsed = tuple(_row(item, f"{where} row {i}") for i, item in enumerate(rows))
    ids = [r.id for r in parsed]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise PricesError(f"{where}: rows {', '.join(dupes)} appear more than once")
    return PriceTable(
        region=region,
        currency=str(data.get("currency", "USD")),
        basis=str(data.get("basis", "")),
        rows=parsed,
        path=where,
    )


def _row(item: Any, where: str) -> PriceRow:
    if not isinstance(item, dict):
        raise PricesError(f"{where}: expected an object")
    row_id = str(item.get("id", ""))
    where = f"{where} ({row_id})"
    if not ROW_ID_RE.fullmatch(row_id):
        raise PricesError(f"{where}: id must be dotted lower-case words such as lambda.requests")
    source = str(item.get("source", ""))
    if not source.startswith("https://"):
        raise PricesError(f"{where}: source must be the https:// URL of the AWS page the price came from")
    try:
        read_on = dt.date.fromisoformat(str(item.get("read", "")))
    except ValueError as exc:
        raise PricesError(f"{where}: read must be the date (YYYY-MM-DD) the price was read") from exc
    per = item.get("per")
    if not isinstance(per, int) or isinstance(per, bool) or not 1 <= per <= 10**9:
        raise PricesError(f"{where}: per must be an integer from 1 to 1000000000")
    tiers = _tiers(item.get("tiers"), where)
    free = item.get("free_tier")
    aws = item.get("aws")
    for name in ("service", "description", "unit"):
        if not str(item.get(name, "")).strip():
            raise PricesError(f"{where}: {name} is missing")
    return PriceRow(
        id=row_id,
        service=str(item["service"]),
        description=str(item["description"]),
        unit=str(item["unit"]),
        per=per,
        tiers=tiers,
        source=source,
        read=read_on,
        free_tier=None
        if free is None
        else FreeTier(
            _decimal(free.get("quantity"), where), str(free.get("period", "month")), str(free.get("note", ""))
        ),
        aws=None if aws is None else AwsUsage(str(aws["service_code"]), str(aws["usage_type"])),
        note=str(item.get("note", "")),
    )


def _tiers(raw: Any, where: str) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise PricesError(f"{where}: tiers must be a non-empty list of {{upto, price}}")
    tiers = []
    for tier in raw:
        upto = tier.get("upto") if isinstance(tier, dict) else None
        tiers.append(
            Tier(
                None if upto is None else _decimal(upto, where),
                _decimal(tier.get("price") if isinstance(tier, dict) else None, where),
            )
        )
    bounds = [t.upto for t in tiers]
    if bounds[-1] is not None or None in bounds[:-1]:
        raise PricesError(f"{where}: only the last tier may (and must) have no upper bound (upto null)")
    finite = [b for b in bounds if b is not None]
    if finite != sorted(set(finite)):
        raise PricesError(f"{where}: tier bounds must rise")
    return tuple(tiers)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PricesError(f"{where}: {value!r} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise PricesError(f"{where}: {value!r} is not a number") from exc
    if not number.is_finite() or number < 0:
        raise PricesError(f"{where}: {value!r} must be a finite number of at least 0")
    return number


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def save(table: PriceTable, directory: Path | str) -> Path:
    """Write `table` as `<directory>/<region>.json`, deterministically (sorted, indented)."""
    path = table_path(table.region, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


# --- refreshing from the AWS Price List API --------------------------------------------------
# https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
# Its endpoints are in us-east-1, eu-central-1 and ap-south-1 only; it answers for every region.
PRICING_API_REGION = "us-east-1"
MAX_PAGES = 40  # per service: a region's products of one service fit in far fewer pages of 100
MAX_CHANGE = Decimal(10)  # a refreshed price 10x off the bundled one is a unit mismatch, not a price
# A usage type's region prefix: USE1-, USW2-, EUC1-, APN1-, EU-, ... (us-east-1 mostly has none).
_REGION_PREFIX = re.compile(r"^[A-Z]{2,4}\d?$")


@dataclass(frozen=True)
class RefreshReport:
    """What a refresh did: rows updated, rows kept (with why), and an error that kept them all."""

    region: str
    updated: tuple[str, ...] = ()
    kept: tuple[tuple[str, str], ...] = ()
    error: str = ""
    written: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def lines(self) -> list[str]:
        out = [f"{self.region}: {len(self.updated)} price(s) updated, {len(self.kept)} kept"]
        if self.error:
            out.append(f"the bundled table stays in use: {self.error}")
        out.extend(f"  updated {row_id}" for row_id in self.updated)
        out.extend(f"  kept {row_id}: {why}" for row_id, why in self.kept)
        if self.written:
            out.append(f"written to {self.written}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "updated": list(self.updated),
            "kept": [{"id": i, "why": w} for i, w in self.kept],
            "error": self.error,
            "written": self.written,
        }


@dataclass
class _Found:
    products: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # usage type -> products


def refresh(
    table: PriceTable, pricing: Any, region: str | None = None, today: dt.date | None = None
) -> tuple[PriceTable, RefreshReport]:
    """A copy of `table` for `region` with every row the Price List API prices unambiguously
    replaced (and dated today); every other row kept, with the reason. `pricing` is a boto3
    `pricing` client. An API that does not answer (no permission, no endpoint) keeps the whole
    table and says why in the report."""
    region = region or table.region
    today = today or dt.date.today()
    wanted = [r for r in table if r.aws is not None]
    found: dict[str, _Found] = {}
    try:
        for code in sorted({r.aws.service_code for r in wanted if r.aws is not None}):
            found[code] = _Found(_products_by_usage(get_products(pricing, code, region)))
    except Exception as exc:  # AccessDenied, no endpoint, throttled: keep the bundled table
        return table, RefreshReport(region, error=f"the Price List API did not answer: {_describe(exc)}")
    rows: list[PriceRow] = []
    updated: list[str] = []
    kept: list[tuple[str, str]] = []
    for row in table:
        if row.aws is None:
            rows.append(row)
            kept.append((row.id, "no Price List usage type is mapped for it"))
            continue
        candidates = _matching(found[row.aws.service_code].products, row.aws.usage_type)
        new, why = _priced(row, candidates, today)
        rows.append(new or row)
        if new is None:
            kept.append((row.id, why))
        else:
            updated.append(row.id)
    unpriced = [row_id for row_id, _ in kept if table.row(row_id).aws is not None]
    if region != table.region and unpriced:
        return table, RefreshReport(
            region,
            kept=tuple(kept),
            error=f"{region} has no table of its own and the Price List API did not price "
            f"{', '.join(unpriced)}; a table half of {table.region}'s prices would be wrong",
        )
    basis = (
        table.basis
        if not updated
        else f"Refreshed from the AWS Price List API on {today.isoformat()}; "
        f"rows not refreshed keep their own date. {table.basis}"
    )
    new_table = PriceTable(region=region, currency=table.currency, basis=basis, rows=tuple(rows), path="")
    return new_table, RefreshReport(region, tuple(updated), tuple(kept))


def get_products(pricing: Any, service_code: str, region: str) -> Iterable[dict[str, Any]]:
    """Every product of one service in one region, each PriceList entry parsed from its JSON."""
    token: str | None = None
    for _ in range(MAX_PAGES):
        kwargs: dict[str, Any] = {
            "ServiceCode": service_code,
            "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
            "FormatVersion": "aws_v1",
            "MaxResults": 100,
        }
        if token:
            kwargs["NextToken"] = token
        page = pricing.get_products(**kwargs)
        for entry in page.get("PriceList", []):
            yield json.loads(entry) if isinstance(entry, str) else entry
        token = page.get("NextToken")
        if not token:
            return
    raise PricesError(f"{service_code}: more than {MAX_PAGES} pages of products; refusing to read on")


def _products_by_usage(products: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for product in products:
        usage = str(((product.get("product") or {}).get("attributes") or {}).get("usagetype", ""))
        out.setdefault(usage, []).append(product)
    return out


def _matching(by_usage: dict[str, list[dict[str, Any]]], usage_type: str) -> list[dict[str, Any]]:
    """The products of `usage_type`, with or without a region prefix (`USE1-KMS-Keys` is
    `KMS-Keys`; `KMS-Keys` is not `Keys`: only a whole region prefix is left off)."""
    out: list[dict[str, Any]] = []
    for usage, products in by_usage.items():
        prefix, _, rest = usage.partition("-")
        if usage == usage_type or (rest == usage_type and _REGION_PREFIX.fullmatch(prefix)):
            out.extend(products)
    return out


def _priced(row: PriceRow, products: list[dict[str, Any]], today: dt.date) -> tuple[PriceRow | None, str]:
    """The row with the products' on-demand tiers, or None and why not."""
    if not products:
        assert row.aws is not None
        return None, f"no product with usage type {row.aws.usage_type}"
    offers = {_tier_key(t) for t in (_on_demand_tiers(p, row.per) for p in products) if t is not None}
    if len(offers) != 1:
        return None, f"{len(products)} products priced {len(offers)} different ways: ambiguous"
    free, tiers = _split_free(list(offers.pop()))
    if not tiers:
        return None, "only a free tier was listed"
    old, new = row.unit_price, tiers[0].price
    if old and new and not (old / MAX_CHANGE <= new <= old * MAX_CHANGE):
        return (
            None,
            f"listed {new} per {row.per} {row.unit}, more than {MAX_CHANGE}x from {old}: a unit mismatch?",
        )
    free_tier = row.free_tier
    if free is not None:
        free_tier = FreeTier(
            free, "month", row.free_tier.note if row.free_tier else "listed by the Price List API"
        )
    return replace(row, tiers=tuple(tiers), read=today, free_tier=free_tier), ""


def _on_demand_tiers(
    product: dict[str, Any], per: int
) -> list[tuple[Decimal, Decimal | None, Decimal]] | None:
    """(begin, end, price per `per` units) of a product's OnDemand term, sorted by begin."""
    terms = (product.get("terms") or {}).get("OnDemand") or {}
    if len(terms) != 1:
        return None
    dimensions = next(iter(terms.values())).get("priceDimensions") or {}
    out = []
    for dim in dimensions.values():
        try:
            usd = Decimal(str((dim.get("pricePerUnit") or {})["USD"]))
            begin = Decimal(str(dim.get("beginRange", "0")))
            end_raw = str(dim.get("endRange", "Inf"))
            end = None if end_raw == "Inf" else Decimal(end_raw)
        except (KeyError, InvalidOperation):
            return None
        out.append((begin, end, (usd * per).normalize()))
    return sorted(out, key=lambda t: t[0]) or None


def _tier_key(
    tiers: list[tuple[Decimal, Decimal | None, Decimal]],
) -> tuple[tuple[Decimal, Decimal | None, Decimal], ...]:
    return tuple(tiers)


def _split_free(tiers: list[tuple[Decimal, Decimal | None, Decimal]]) -> tuple[Decimal | None, list[Tier]]:
    """A first dimension priced 0 is the free tier: shown as such, not a tier (never subtracted)."""
    free = None
    if len(tiers) > 1 and tiers[0][2] == 0 and tiers[0][1] is not None:
        free = tiers[0][1]
        tiers = tiers[1:]
    return free, [Tier(end, price) for _begin, end, price in tiers]


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', '')}: {error.get('Message', '') or exc}".strip(": ")
    return str(exc) or type(exc).__name__
