"""manage.py provision NAME [--plan] [--no-verify] [--inline] [--json]"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvironmentCommand
from portal.models import Deployment, Environment


class Command(EnvironmentCommand):
    help = (
        "Provision an environment (create or update every resource), then verify it (R-VER); "
        "--plan only shows what would change. Exit 0 succeeded, 1 failed, 2 refused."
    )

    inline = True

    def add_options(self, parser: Any) -> None:
        parser.add_argument("--plan", action="store_true", help="read-only: what would change, per resource")
        parser.add_argument(
            "--no-verify", action="store_true", help="skip the CRUD verification after provisioning"
        )

    def kind_of(self, opts: dict[str, Any]) -> str:
        return Deployment.Kind.PLAN if opts["plan"] else Deployment.Kind.PROVISION

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        options = {} if opts["plan"] else {"verify": not opts["no_verify"]}
        self.run_one(env, kind, options, inline=opts["inline"], as_json=opts["json"])
