"""manage.py drift NAME|--all [--inline] [--json]"""

from __future__ import annotations

from typing import Any

from portal.documents import deployment_document
from portal.management.cli import DRIFT_FOUND, RUN_FAILED, EnvportCommand, Exit
from portal.models import Deployment
from portal.services import runs
from portal.services.base import ActionError, Actor


class Command(EnvportCommand):
    help = (
        "Compare every managed resource with its definition (R-OPS-2); --all checks every provisioned "
        "environment. Exit 0 no drift, 3 drift found (the check succeeded; result drift_found), 1 the "
        "check failed, 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        self.add_name_or_all(parser, all_help="every provisioned environment")
        self.add_inline(parser)
        self.add_json(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json, kind = opts["json"], Deployment.Kind.DRIFT
        self.check_name_or_all(opts, kind=kind)
        if opts["all"]:
            self.handle_all(inline=opts["inline"], as_json=as_json)
        else:
            env = self.environment(opts["name"], as_json=as_json, kind=kind)
            self.run_one(env, kind, {}, inline=opts["inline"], as_json=as_json)

    def handle_all(self, *, inline: bool, as_json: bool) -> None:
        actor = Actor.cli()
        deps, skipped = [], []
        for env in runs.provisioned().order_by("suffix"):
            try:
                deps.append(runs.request_deployment(actor, env, Deployment.Kind.DRIFT))
            except ActionError as exc:
                skipped.append({"environment": env.suffix, "reason": exc.message})
                self.stderr.write(f"skipped {env.suffix}: {exc.message}")
        finished = self.execute_runs(deps, inline=inline, as_json=as_json) if deps else []
        failed = [d for d in finished if d.status != Deployment.Status.SUCCEEDED]
        if as_json:
            self.print_json(
                {
                    "kind": "drift",
                    "status": "failed" if failed else "succeeded",
                    "result": "drift_found" if any(d.result == "drift_found" for d in finished) else None,
                    "environments": [deployment_document(d) for d in finished],
                    "skipped": skipped,
                }
            )
        else:
            if not finished:
                self.stdout.write("no provisioned environment to check")
            for dep in finished:
                self.print_text(deployment_document(dep))
        for dep in failed:
            self.stderr.write(f"error: {dep.environment.suffix}: {dep.error}")
        if failed:
            raise Exit(RUN_FAILED)
        if any(d.result == "drift_found" for d in finished):
            raise Exit(DRIFT_FOUND)
