"""manage.py verify NAME [--inline] [--json]"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvportCommand
from portal.models import Deployment, Environment
from portal.services import environments

NOT_PROVISIONED = (*environments.UNPROVISIONED, Environment.Status.TEARING_DOWN)


class Command(EnvportCommand):
    help = (
        "Verify a provisioned environment: the CRUD journey over HTTP, the negative checks and the live "
        "configuration (R-VER-1..4). Exit 0 every check passed, 1 a check failed, 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="the environment's suffix")
        self.add_inline(parser)
        self.add_json(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json, kind = opts["json"], Deployment.Kind.VERIFY
        env = self.environment(opts["name"], as_json=as_json, kind=kind)
        if env.status in NOT_PROVISIONED:
            self.refuse(
                f"environment {env.suffix} is not provisioned (status {env.status}); provision it first",
                as_json=as_json,
                environment=env.suffix,
                kind=kind,
            )
        self.run_one(env, kind, {}, inline=opts["inline"], as_json=as_json)
