"""manage.py errors NAME [--since 24h] [--json]: the function's errors grouped by exception type and
the top frame of its own code, most frequent first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from portal.management.cli import EnvironmentCommand
from portal.models import Environment
from portal.services import logs as service
from portal.services.base import ActionError, Actor


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class Command(EnvironmentCommand):
    help = "An environment's function errors, grouped by exception and top frame of its code."

    kind = "errors"

    def add_options(self, parser: Any) -> None:
        parser.add_argument("--since", default="24h", help="how far back: 24h (default), 7d; at most 30d")

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        as_json = opts["json"]
        try:
            report = service.read_errors(Actor.cli(), env, since=opts["since"])
        except ActionError as exc:
            self.refuse_action(exc, as_json=as_json, environment=env.suffix, kind=kind)
        if as_json:
            self.print_json(report)
            return
        if report.get("reason"):
            self.stderr.write(f"note: {report['reason']}")
        groups = report["groups"]
        if not groups:
            self.stdout.write(f"{env.suffix}: no errors in the last {report['since']}")
            return
        for group in groups:
            versions = ", ".join(group["versions"]) or "?"
            self.stdout.write(
                f"{group['count']:>5}x {group['exception']} at {group['frame'] or '(no frame of ours)'}"
                f"  versions {versions}  first {_when(group['first_seen'])}  last {_when(group['last_seen'])}"
            )
            sample = group.get("sample") or {}
            if sample:
                self.stdout.write(
                    f"       sample: {sample.get('request_id') or '-'} {sample.get('message', '')[:160]}"
                )
