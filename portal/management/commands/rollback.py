"""manage.py rollback NAME [--to VERSION] [--inline] [--json]

Point the environment's `live` alias back at the version before the one serving, or at VERSION,
at 100% (R-REL-6). Exit 0 rolled back (or already there), 1 failed, 2 refused before any AWS call.
"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvironmentCommand
from portal.models import Deployment, Environment
from portal.services import releases
from portal.services.base import Actor


class Command(EnvironmentCommand):
    help = (
        "Roll an environment's function back to the previous version, or to --to VERSION. Exit 0 "
        "succeeded (result rolled_back, or unchanged when already there), 1 failed, 2 refused."
    )

    kind, inline = Deployment.Kind.ROLLBACK, True

    def add_options(self, parser: Any) -> None:
        parser.add_argument("--to", dest="to_version", metavar="VERSION", help="a published version number")

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        self.follow_request(
            lambda: releases.request_rollback(Actor.cli(), env, opts["to_version"]), env, kind, opts
        )
