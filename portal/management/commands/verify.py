"""manage.py verify NAME [--inline] [--json]"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvportCommand, Exit
from portal.models import Deployment, Environment

NOT_PROVISIONED = (Environment.Status.NEW, Environment.Status.TORN_DOWN, Environment.Status.TEARING_DOWN)


class Command(EnvportCommand):
    help = (
        "Verify a provisioned environment: the CRUD journey over HTTP, the negative checks and the live "
        "configuration (R-VER-1..4). Exit 0 every check passed, 1 a check failed, 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="the environment's suffix")
        parser.add_argument(
            "--inline", action="store_true", help="run in this process (no broker, no worker)"
        )
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
        dep = self.request(env, kind, {}, as_json=as_json)
        (dep,) = self.execute_runs([dep], inline=opts["inline"], as_json=as_json)
        code = self.report(dep, as_json=as_json)
        if code:
            raise Exit(code)
