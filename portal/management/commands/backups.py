"""manage.py backups NAME [--json]: the environment's backups and its point-in-time window."""

from __future__ import annotations

from typing import Any

from portal.management.cli import ServiceCommand
from portal.models import Environment
from portal.services import backups
from portal.services import restore as restore_service
from portal.services.base import Actor

KIND = "backups"


class Command(ServiceCommand):
    help = (
        "List an environment's on-demand and pre-teardown backups (a torn-down environment's too) and "
        "its table's point-in-time window. Exit 0 listed, 1 AWS could not be read, 2 refused."
    )

    kind = KIND

    def answer(self, env: Environment) -> dict[str, Any]:
        listing = backups.list_backups(Actor.cli(), env)
        # issue 20: the tables a restore replaced, kept until their retention ends
        listing["retained_tables"] = restore_service.retained_tables(Actor.cli(), env)
        return listing

    def print_answer(self, env: Environment, listing: dict[str, Any]) -> None:
        self.stdout.write(f"{env.suffix}: point-in-time window {listing['point_in_time']['summary']}")
        for title, key in (("on-demand backups", "on_demand"), ("pre-teardown backups", "pre_teardown")):
            rows = listing[key]
            self.stdout.write(f"{title}: {len(rows) or 'none'}")
            for row in rows:
                self.stdout.write(f"  {row['created_at']}  {row['status']:<9} {row['name']}  {row['arn']}")
        kept = listing["retained_tables"]
        self.stdout.write(f"tables a restore replaced: {len(kept) or 'none'}")
        for row in kept:
            by, until = row["replaced_by"] or "-", row["retained_until"] or "-"
            self.stdout.write(f"  {row['name']}  replaced by {by}  kept until {until}")
