"""manage.py backup NAME [--json]: an on-demand backup of the environment's table, now."""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvportCommand
from portal.services import backups
from portal.services.base import Actor

KIND = "backup"


class Command(EnvportCommand):
    help = (
        "Take an on-demand backup of an environment's table, named envport-NAME-ondemand-STAMP, and "
        "wait until it is AVAILABLE. Exit 0 taken, 1 DynamoDB failed to take it, 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="the environment's suffix")
        self.add_json(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json = opts["json"]
        env = self.environment(opts["name"], as_json=as_json, kind=KIND)
        taken = self.call_service(
            lambda: backups.take_backup(Actor.cli(), env), env=env, kind=KIND, as_json=as_json
        )
        if as_json:
            self.print_json({"environment": env.suffix, "kind": KIND, "status": "succeeded", "backup": taken})
            return
        self.stdout.write(f"backed up {taken['table_name']} as {taken['name']} ({taken['status']})")
        self.stdout.write(f"  {taken['arn']}")
