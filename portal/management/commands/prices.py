"""manage.py prices show|refresh [--region R] [--json]"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from portal.management.cli import RUN_FAILED, EnvportCommand, Exit
from portal.targets import target_for
from provisioning import pricing
from provisioning.aws import AwsClients

TEMPLATE_REGION = "us-east-1"  # the bundled table whose rows a region without one is priced by


class Command(EnvportCommand):
    help = (
        "The price table cost estimates use (docs/cost.md). 'show' prints it; 'refresh' updates it from "
        "the AWS Price List API where the account allows it (writing ENVPORT_PRICES_DIR), and keeps the "
        "bundled table otherwise. Exit 0; 1 when the refresh kept the bundled table; 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=("show", "refresh"))
        parser.add_argument("--region", default=TEMPLATE_REGION, help="a region name such as us-east-1")
        self.add_json(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json, region = opts["json"], opts["region"]
        if not pricing.REGION_RE.fullmatch(region or "") or len(region) > 32:
            self.refuse(f"--region {region[:40]!r} is not a region name such as us-east-1", as_json=as_json)
        if opts["action"] == "show":
            self._show(region, as_json)
            return
        try:
            base = pricing.load(region, settings.ENVPORT_PRICES_DIR)
        except pricing.PricesError:
            base = pricing.load(TEMPLATE_REGION, settings.ENVPORT_PRICES_DIR)
        client = AwsClients(target_for(pricing.PRICING_API_REGION)).client("pricing")
        table, report = pricing.refresh(base, client, region=region)
        if report.ok and report.updated:
            path = pricing.save(table, settings.ENVPORT_PRICES_DIR)
            report = pricing.RefreshReport(report.region, report.updated, report.kept, "", str(path))
        if as_json:
            self.print_json(report.to_dict())
        else:
            for line in report.lines():
                self.stdout.write(line)
        if not report.ok:
            self.stderr.write(f"error: {report.error}")
            raise Exit(RUN_FAILED)

    def _show(self, region: str, as_json: bool) -> None:
        try:
            table = pricing.load(region, settings.ENVPORT_PRICES_DIR)
        except pricing.PricesError as exc:
            self.refuse(str(exc), as_json=as_json)
        if as_json:
            self.print_json({**table.to_dict(), "path": table.path})
            return
        self.stdout.write(f"{table.region} ({table.currency}) from {table.path}")
        self.stdout.write(table.basis)
        for row in table:
            free = (
                f"; free: {row.free_tier.quantity:,} {row.unit} ({row.free_tier.note})"
                if row.free_tier
                else ""
            )
            self.stdout.write(f"  {row.id:34} {row.price_label}{free}")
            self.stdout.write(f"  {'':34} {row.source} (read {row.read.isoformat()})")
