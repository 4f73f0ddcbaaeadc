"""manage.py verify NAME [--inline] [--json]"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvironmentCommand
from portal.models import Deployment, Environment
from portal.services import environments

NOT_PROVISIONED = (*environments.UNPROVISIONED, Environment.Status.TEARING_DOWN)


class Command(EnvironmentCommand):
    help = (
        "Verify a provisioned environment: the CRUD journey over HTTP, the negative checks and the live "
        "configuration (R-VER-1..4). Exit 0 every check passed, 1 a check failed, 2 refused."
    )

    kind, inline = Deployment.Kind.VERIFY, True

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        as_json = opts["json"]
        if env.status in NOT_PROVISIONED:
            self.refuse(
                f"environment {env.suffix} is not provisioned (status {env.status}); provision it first",
                as_json=as_json,
                environment=env.suffix,
                kind=kind,
            )
        self.run_one(env, kind, {}, inline=opts["inline"], as_json=as_json)
