"""manage.py restore NAME (--to-time T | --backup ARN|latest | --undo | --from SOURCE ...) [--yes]
[--inline] [--json]

Restore an environment's table into a new one and cut over to it like a release (issue 20):
`--to-time` a point in time, `--backup` a backup (or the newest), `--undo` swaps back to the table
the last restore replaced (kept 7 days by default), `--from SOURCE` clones another environment's
data (same account and region), with `--mask ATTR` replacing an attribute by stable pseudonyms.
Exit 0 cut over, 1 failed (the live table still serves unless the alias had moved), 2 refused
before anything was queued.
"""

from __future__ import annotations

import sys
from typing import Any

from portal.management.cli import EnvironmentCommand, stdin_is_tty
from portal.models import Deployment, Environment
from portal.services import restore as restore_service
from portal.services.base import Actor
from provisioning import retained


class Command(EnvironmentCommand):
    help = (
        "Restore an environment's table to a point in time (--to-time 2026-12-07T19:30:00Z) or from "
        "a backup (--backup ARN|latest) into a new table and cut over to it; --undo swaps back; "
        "--from SOURCE clones another environment's data (--mask ATTR, repeatable). Needs --yes, or "
        "typing the name on a terminal. Exit 0 cut over, 1 failed, 2 refused."
    )

    kind, inline = Deployment.Kind.RESTORE, True
    name_help = "the environment whose table is replaced"

    def add_options(self, parser: Any) -> None:
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--to-time", metavar="T", help="ISO-8601 time with its offset, e.g. ...Z")
        what.add_argument("--backup", metavar="ARN|latest", help="a backup's ARN, or latest")
        what.add_argument("--undo", action="store_true", help="swap back to the replaced table")
        parser.add_argument("--from", dest="source", metavar="SOURCE", help="clone this environment's data")
        parser.add_argument(
            "--mask", action="append", default=[], metavar="ATTR", help="replace ATTR by pseudonyms (clones)"
        )
        parser.add_argument(
            "--retain-days",
            type=int,
            default=retained.DEFAULT_RETENTION_DAYS,
            help=f"keep the replaced table this many days (default {retained.DEFAULT_RETENTION_DAYS})",
        )
        parser.add_argument("--yes", action="store_true", help="confirm without a prompt")

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        as_json = opts["json"]
        source = self.environment(opts["source"], as_json=as_json, kind=kind) if opts["source"] else None
        self.follow_request(
            lambda: restore_service.request_restore(
                Actor.cli(),
                env,
                to_time=opts["to_time"],
                backup=opts["backup"],
                undo=opts["undo"],
                source=source,
                masks=opts["mask"],
                retention_days=opts["retain_days"],
                confirm=lambda: self.confirm(env.suffix, env.stage, yes=opts["yes"], as_json=as_json),
            ),
            env,
            kind,
            opts,
        )

    def confirm(self, suffix: str, stage: str, *, yes: bool, as_json: bool) -> None:
        """Asked once the input is valid and before anything is queued."""
        if yes:
            return
        kind = Deployment.Kind.RESTORE
        if stage == "prod":
            self.refuse(
                f"a restore of prod environment {suffix} needs --yes",
                as_json=as_json,
                environment=suffix,
                kind=kind,
            )
        if not stdin_is_tty():
            self.refuse(
                "a restore needs --yes (or type the name to confirm, on a terminal)",
                as_json=as_json,
                environment=suffix,
                kind=kind,
            )
        self.stderr.write(
            f"This replaces the table {suffix} serves from (the current one is kept). "
            "Type its name to confirm: ",
            ending="",
        )
        self.stderr.flush()
        typed = sys.stdin.readline().strip()
        if typed != suffix:
            self.refuse(
                f"confirmation {typed!r} does not match {suffix!r}; nothing was done",
                as_json=as_json,
                environment=suffix,
                kind=kind,
            )
