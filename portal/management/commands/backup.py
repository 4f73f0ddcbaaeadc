"""manage.py backup NAME [--json]: an on-demand backup of the environment's table, now."""

from __future__ import annotations

from typing import Any

from portal.management.cli import ServiceCommand
from portal.models import Environment
from portal.services import backups
from portal.services.base import Actor

KIND = "backup"


class Command(ServiceCommand):
    help = (
        "Take an on-demand backup of an environment's table, named envport-NAME-ondemand-STAMP, and "
        "wait until it is AVAILABLE. Exit 0 taken, 1 DynamoDB failed to take it, 2 refused."
    )

    kind = KIND

    def answer(self, env: Environment) -> dict[str, Any]:
        return backups.take_backup(Actor.cli(), env)

    def document(self, env: Environment, found: dict[str, Any]) -> dict[str, Any]:
        return {"environment": env.suffix, "kind": KIND, "status": "succeeded", "backup": found}

    def print_answer(self, env: Environment, found: dict[str, Any]) -> None:
        self.stdout.write(f"backed up {found['table_name']} as {found['name']} ({found['status']})")
        self.stdout.write(f"  {found['arn']}")
