"""manage.py teardown NAME [--no-backup] [--yes] [--inline] [--json]"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from portal.management.cli import EnvironmentCommand, stdin_is_tty
from portal.models import Deployment, Environment


class Command(EnvironmentCommand):
    help = (
        "Delete every resource of an environment and nothing else (R-OPS-4). A table holding items is "
        "backed up first unless --no-backup. Needs --yes, or typing the name on a terminal; a prod "
        "environment always needs --yes, and one with deletion protection is refused by the engine."
    )

    kind, inline = Deployment.Kind.TEARDOWN, True

    def add_options(self, parser: Any) -> None:
        parser.add_argument(
            "--no-backup", action="store_true", help="do not back up a table that holds items"
        )
        parser.add_argument("--yes", action="store_true", help="confirm without a prompt")

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        as_json = opts["json"]
        if not opts["yes"]:
            self.confirm(env.suffix, env.stage, as_json=as_json)
        self.run_one(env, kind, {"backup": not opts["no_backup"]}, inline=opts["inline"], as_json=as_json)

    def confirm(self, suffix: str, stage: str, *, as_json: bool) -> None:
        refuse = partial(self.refuse, as_json=as_json, environment=suffix, kind=Deployment.Kind.TEARDOWN)
        if stage == "prod":
            refuse(f"teardown of prod environment {suffix} needs --yes")
        if not stdin_is_tty():
            refuse("teardown needs --yes (or type the name to confirm, on a terminal)")
        self.stderr.write(f"This deletes every resource of {suffix}. Type its name to confirm: ", ending="")
        self.stderr.flush()
        typed = sys.stdin.readline().strip()
        if typed != suffix:
            refuse(f"confirmation {typed!r} does not match {suffix!r}; nothing was done")
