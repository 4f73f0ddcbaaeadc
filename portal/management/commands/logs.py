"""manage.py logs NAME [--since 15m] [--filter PATTERN] [--request-id ID] [--access [--status 5xx]]
[--follow] [--json]: an environment's function log (or its stage's access log), as rows."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from portal.management.cli import EnvironmentCommand
from portal.models import Environment
from portal.services import logs as service
from portal.services.base import ActionError, Actor

FOLLOW_MAX_S = 3600  # a tail left running stops by itself after an hour
_sleep = time.sleep  # replaced in tests


def row_line(row: dict[str, Any]) -> str:
    """One row on one line: time, version, level, request id, message (runtime lines raw)."""
    when = dt.datetime.fromtimestamp(row["timestamp"] / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    rid = row.get("request_id") or row.get("lambda_request_id") or "-"
    text = row["message"] if row["kind"] in ("json", "access") else row["raw"].rstrip("\n")
    if row.get("exception_name"):
        text += f" [{row['exception_name']}]"
    version = f"[{row['version']}]" if row.get("version") else ""
    first = text.splitlines()[0] if text else ""
    return f"{when} {version:<10} {(row.get('level') or '-'):<7} {rid:<36} {first}"


class Command(EnvironmentCommand):
    help = "An environment's log lines (the function's, or with --access the stage's access log)."

    kind = "logs"

    def add_options(self, parser: Any) -> None:
        parser.add_argument(
            "--since", default="15m", help="how far back: 15m (default), 24h, 7d; at most 30d"
        )
        parser.add_argument(
            "--filter", default="", help="a CloudWatch filter pattern (at most 1024 characters)"
        )
        parser.add_argument(
            "--request-id", default="", help="one request's lines (API Gateway's or Lambda's id)"
        )
        parser.add_argument("--access", action="store_true", help="the stage's access log instead")
        parser.add_argument("--status", default="", help="with --access: a status (503) or a class (5xx)")
        parser.add_argument("--follow", action="store_true", help="keep printing new lines (stops after 1 h)")

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        as_json = opts["json"]
        if as_json and opts["follow"]:
            self.refuse(
                "--follow prints lines, not one document; leave out --json",
                as_json=True,
                environment=env.suffix,
                kind=kind,
            )
        query = {
            "source": "access" if opts["access"] else "function",
            "pattern": opts["filter"],
            "request_id": opts["request_id"],
            "status": opts["status"],
        }
        view = self.read(env, as_json, since=opts["since"], **query)
        if as_json:
            self.print_json(view)
            return
        if view.get("reason"):
            self.stderr.write(f"note: {view['reason']}")
        seen: set[str] = set()
        self.print_rows(view["rows"], seen)
        if not opts["follow"]:
            return
        for _ in range(FOLLOW_MAX_S // service.LIVE_TAIL_S):  # bounded: a poll per interval
            _sleep(service.LIVE_TAIL_S)
            self.print_rows(self.read(env, False, since="2m", **query)["rows"], seen)

    def read(self, env: Any, as_json: bool, **query: Any) -> dict[str, Any]:
        try:
            return service.read_logs(Actor.cli(), env, **query)
        except ActionError as exc:
            self.refuse_action(exc, as_json=as_json, environment=env.suffix, kind=self.kind)

    def print_rows(self, rows: list[dict[str, Any]], seen: set[str]) -> None:
        for row in rows:
            key = f"{row['stream']}|{row['event_id']}|{row['timestamp']}"
            if key in seen:
                continue
            seen.add(key)
            self.stdout.write(row_line(row))
        self.stdout.flush()
