"""manage.py cost [NAME|--all] [--by owner|cost-centre|stage] [--refresh] [--json]"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from portal.costs import service
from portal.costs.models import CostEstimate
from portal.management.cli import RUN_FAILED, EnvportCommand, Exit
from portal.models import Environment
from portal.services.base import Actor


class Command(EnvportCommand):
    help = (
        "What environments cost (docs/cost.md): each line quantity x price = amount, from the stored "
        "figures (the hourly schedule computes them); --refresh computes them now (three AWS reads per "
        "environment). Exit 0; 1 when a figure is missing or a refresh failed; 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        self.add_name_or_all(parser, all_help="every environment not torn down")
        parser.add_argument("--by", choices=sorted(service.GROUPINGS), help="roll the totals up by this")
        parser.add_argument("--refresh", action="store_true", help="compute the figures now from AWS")
        parser.add_argument(
            "--actuals",
            action="store_true",
            help="also ask Cost Explorer for the last 7 full days' actuals (one $0.01 call per environment)",
        )
        self.add_json(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json = opts["json"]
        self.check_name_or_all(opts, kind="cost")
        actor = Actor.cli()
        if opts["all"]:
            envs = list(Environment.objects.exclude(status=Environment.Status.TORN_DOWN).order_by("suffix"))
        else:
            envs = [self.environment(opts["name"], as_json=as_json, kind="cost")]
        failed = []
        if opts["refresh"]:
            for env in envs:
                if env.status in service.NOT_BILLABLE:
                    self.stderr.write(
                        f"{env.suffix} is {env.get_status_display()}: no resources, nothing to compute"
                    )
                    continue
                record = service.compute(env, actor)
                if not record.ok:
                    failed.append(f"{env.suffix}: {record.error}")
        groups, found = service.rollup(envs, opts["by"] or "cost-centre", actor)
        actual = {env.suffix: service.actuals(env, actor) for env in envs} if opts["actuals"] else {}
        missing = [suffix for suffix, record in found.items() if record is None]
        total = sum((g.monthly for g in groups), Decimal(0))
        if as_json:
            self.print_json(
                {
                    "environments": [
                        {**_document(env, found[env.suffix]), **_actuals(actual, env.suffix)} for env in envs
                    ],
                    "by": opts["by"] or "cost-centre",
                    "groups": [g.to_dict() for g in groups],
                    "monthly_total": float(total),
                    "missing": missing,
                    "idle": [s for s, record in found.items() if service.idle_finding(record)],
                    "failed": failed,
                }
            )
        else:
            for env in envs:
                self._print(env, found[env.suffix], last=service.last_attempt(env, actor))
                if env.suffix in actual:
                    self._print_actuals(actual[env.suffix])
            if opts["by"] or len(envs) > 1:
                self._print_groups(opts["by"] or "cost-centre", groups, total)
        for problem in failed:
            self.stderr.write(f"refresh failed: {problem}")
        if missing:
            self.stderr.write(
                f"no figure yet for {', '.join(missing)}: "
                "the hourly schedule computes them, or run with --refresh"
            )
        if failed or missing:
            raise Exit(RUN_FAILED)

    def _print(self, env: Environment, record: CostEstimate | None, *, last: CostEstimate | None) -> None:
        who = ", ".join(
            part
            for part in (
                env.stage,
                f"owner {env.owner}" if env.owner else "",
                f"cost centre {env.cost_centre}" if env.cost_centre else "",
            )
            if part
        )
        if record is None:
            self.stdout.write(f"{env.suffix} ({who}): no figure yet")
            return
        f = record.figures
        self.stdout.write(
            f"{env.suffix} ({who}): ${record.monthly:.2f} a month "
            f"(fixed ${record.fixed_monthly:.2f}, storage ${record.storage_monthly:.2f}, "
            f"usage ${record.usage_monthly:.2f} at the last {f['basis_days']} days' rate); "
            f"computed {record.computed_at:%Y-%m-%d %H:%M} UTC"
        )
        idle = service.idle_finding(record)
        if idle is not None:
            self.stdout.write(f"  idle: {idle['summary']}")
        if last is not None and not last.ok:
            self.stdout.write(
                f"  the latest attempt failed ({last.computed_at:%Y-%m-%d %H:%M}): {last.error}"
            )
        for title, lines in (("fixed", f["fixed"]), ("storage", f["storage"])):
            for line in lines:
                self.stdout.write(f"  {title:8} {line['item']}: {line['formula']}")
        basis = next(w for w in f["windows"] if w["days"] == f["basis_days"])
        for line in basis["lines"]:
            self.stdout.write(f"  usage    {line['item']}: {line['formula']}")
        by_window = ", ".join(f"{days} d: ${amount:.2f}" for days, amount in f["monthly_by_window"].items())
        self.stdout.write(f"  a month at each window's rate: {by_window}")
        if f.get("preview"):
            p = f["preview"]
            self.stdout.write(
                f"  preview: ${p['so_far']:.2f} so far since {p['created'][:16]}, "
                f"${p['at_expiry']:.2f} by its expiry {p['expires'][:16]}"
            )
        if f["free_tiers"]:
            self.stdout.write(
                "  free tiers (per account, not subtracted): "
                + "; ".join(f"{t['description']}: {t['quantity']:,} {t['unit']}" for t in f["free_tiers"])
            )
        for note in f["not_counted"]:
            self.stdout.write(f"  not counted: {note}")

    def _print_actuals(self, found: dict[str, Any]) -> None:
        if not found["available"]:
            self.stdout.write(f"  actuals (Cost Explorer): {found['summary']}")
            return
        versus = (
            f", estimate ${found['estimate_for_days']:.2f}, difference ${found['difference']:+.2f}"
            if found["difference"] is not None
            else ""
        )
        self.stdout.write(f"  actuals (Cost Explorer, tag {found['tag']['key']}): {found['summary']}{versus}")

    def _print_groups(self, by: str, groups: list[service.Group], total: Decimal) -> None:
        self.stdout.write(f"by {by}:")
        for group in groups:
            missing = f" ({len(group.missing)} without a figure)" if group.missing else ""
            self.stdout.write(
                f"  {group.key:30} ${group.monthly:>10.2f} a month  "
                f"{len(group.environments)} environment(s){missing}"
            )
        self.stdout.write(f"  {'total':30} ${total:>10.2f} a month")


def _actuals(found: dict[str, dict[str, Any]], suffix: str) -> dict[str, Any]:
    return {"actuals": found[suffix]} if suffix in found else {}


def _document(env: Environment, record: CostEstimate | None) -> dict[str, Any]:
    return {
        **service.document_head(env, record),
        "estimate": None if record is None else record.figures,
        "idle": service.idle_finding(record),
    }
