"""manage.py backup NAME [--json]: an on-demand backup of the environment's table, now."""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvironmentCommand
from portal.models import Environment
from portal.services import backups
from portal.services.base import Actor

KIND = "backup"


class Command(EnvironmentCommand):
    help = (
        "Take an on-demand backup of an environment's table, named envport-NAME-ondemand-STAMP, and "
        "wait until it is AVAILABLE. Exit 0 taken, 1 DynamoDB failed to take it, 2 refused."
    )

    kind = KIND

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        as_json = opts["json"]
        taken = self.call_service(
            lambda: backups.take_backup(Actor.cli(), env), env=env, kind=KIND, as_json=as_json
        )
        if as_json:
            self.print_json({"environment": env.suffix, "kind": KIND, "status": "succeeded", "backup": taken})
            return
        self.stdout.write(f"backed up {taken['table_name']} as {taken['name']} ({taken['status']})")
        self.stdout.write(f"  {taken['arn']}")
