"""manage.py provision NAME [--plan] [--no-verify] [--inline] [--json]"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvportCommand
from portal.models import Deployment


class Command(EnvportCommand):
    help = (
        "Provision an environment (create or update every resource), then verify it (R-VER); "
        "--plan only shows what would change. Exit 0 succeeded, 1 failed, 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="the environment's suffix")
        parser.add_argument("--plan", action="store_true", help="read-only: what would change, per resource")
        parser.add_argument(
            "--no-verify", action="store_true", help="skip the CRUD verification after provisioning"
        )
        self.add_inline(parser)
        self.add_json(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json = opts["json"]
        kind = Deployment.Kind.PLAN if opts["plan"] else Deployment.Kind.PROVISION
        env = self.environment(opts["name"], as_json=as_json, kind=kind)
        options = {} if opts["plan"] else {"verify": not opts["no_verify"]}
        self.run_one(env, kind, options, inline=opts["inline"], as_json=as_json)
