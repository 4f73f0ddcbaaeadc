"""manage.py rollback NAME [--to VERSION] [--inline] [--json]

Point the environment's `live` alias back at the version before the one serving, or at VERSION,
at 100% (R-REL-6). Exit 0 rolled back (or already there), 1 failed, 2 refused before any AWS call.
"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvportCommand
from portal.models import Deployment
from portal.services import releases
from portal.services.base import ActionError, Actor


class Command(EnvportCommand):
    help = (
        "Roll an environment's function back to the previous version, or to --to VERSION. Exit 0 "
        "succeeded (result rolled_back, or unchanged when already there), 1 failed, 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="the environment's suffix")
        parser.add_argument("--to", dest="to_version", metavar="VERSION", help="a published version number")
        self.add_inline(parser)
        self.add_json(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json, kind = opts["json"], Deployment.Kind.ROLLBACK
        env = self.environment(opts["name"], as_json=as_json, kind=kind)
        try:
            dep = releases.request_rollback(Actor.cli(), env, opts["to_version"])
        except ActionError as exc:
            self.refuse_action(exc, as_json=as_json, environment=env.suffix, kind=kind)
        self.follow_one(dep, inline=opts["inline"], as_json=as_json)
