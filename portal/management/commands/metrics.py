"""manage.py metrics NAME [--since 1h] [--json]: an environment's traffic, as the traffic page shows it.

A compact table (a row per series: points, last, maximum and, for counts, the total), the alarm
bands and the portal's runs in the range, and the AWS calls the view cost; `--json` prints the
series themselves. A range that is not one of 1h, 6h, 24h, 7d, 30d exits 2 before any AWS call.
"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvironmentCommand
from portal.models import Environment
from portal.services import traffic as service
from portal.services.base import ActionError, Actor
from provisioning.traffic import DEFAULT_RANGE, RANGES

KIND = "metrics"


class Command(EnvironmentCommand):
    help = "An environment's API Gateway, Lambda and DynamoDB metrics, alarm states and runs over a range."

    kind = KIND

    def add_options(self, parser: Any) -> None:
        parser.add_argument(
            "--since", default=DEFAULT_RANGE, help=f"the range: one of {', '.join(RANGES)} (default 1h)"
        )

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        as_json = opts["json"]
        try:
            found = service.traffic(Actor.cli(), env, opts["since"])
        except ActionError as exc:
            self.refuse_action(exc, as_json=as_json, environment=env.suffix, kind=kind)
        if as_json:
            self.print_json(found.to_dict())
            return
        self.print_table(found)

    def print_table(self, found: service.Traffic) -> None:
        view = found.view
        calls = ", ".join(f"{op.split('.', 1)[1]} {n}" for op, n in view.calls.by_operation.items())
        self.stdout.write(
            f"{found.environment}: last {view.range.name} in {view.range.period} s periods; "
            f"{view.calls.total} AWS calls ({calls})" + (", from the cache" if found.cached else "")
        )
        self.stdout.write(
            f"  {'series':<44} {'unit':<13} {'points':>6} {'last':>10} {'max':>10} {'total':>10}"
        )
        for chart in view.charts:
            for s in chart.series:
                last = f"{s.values[-1]:.6g}" if s.values else "-"
                top = f"{max(s.values):.6g}" if s.values else "-"
                total = f"{s.total:.6g}" if s.values and s.stat == "Sum" else ""
                label = f"{chart.key}: {s.label}"[:44]
                self.stdout.write(
                    f"  {label:<44} {s.unit:<13} {len(s.values):>6} {last:>10} {top:>10} {total:>10}"
                )
        for band in view.bands:
            self.stdout.write(f"  alarm {band.alarm}: {band.state} {_hm(band.start)} to {_hm(band.end)}")
        for marker in found.markers:
            self.stdout.write(
                f"  run #{marker.deployment} {marker.kind} ({marker.status}) at {_hm(marker.at)}"
            )
        for message in view.messages:
            self.stderr.write(f"note: {message}")


def _hm(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
