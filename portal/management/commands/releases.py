"""manage.py releases NAME [--json]: what serves the environment, and its releases and rollbacks."""

from __future__ import annotations

from typing import Any

from portal.documents import deployment_summary, release_fields
from portal.management.cli import EnvironmentCommand, short_hash, shown, when
from portal.models import Deployment, Environment


class Command(EnvironmentCommand):
    help = (
        "The artifact serving an environment and its release history, newest first: each run's status "
        "and result. Exit 0 shown, 2 refused."
    )

    kind = "releases"

    def add_options(self, parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        as_json = opts["json"]
        if not 1 <= opts["limit"] <= 1000:
            self.refuse("--limit must be from 1 to 1000", as_json=as_json, environment=env.suffix, kind=kind)
        runs = list(
            Deployment.objects.filter(
                environment=env, kind__in=(Deployment.Kind.RELEASE, Deployment.Kind.ROLLBACK)
            )
            .select_related("requested_by")
            .order_by("-created_at", "-id")[: opts["limit"]]
        )
        history = [
            {**(deployment_summary(d) or {}), **release_fields(d, (d.options or {}).get("artifact"))}
            for d in runs
        ]
        serving = {
            "artifact_sha256": env.artifact_sha256 or None,
            "handler": env.handler or None,
            "version": (env.outputs or {}).get("serving_version"),
        }
        if as_json:
            self.print_json({"environment": env.suffix, "serving": serving, "releases": history})
            return
        what = serving["artifact_sha256"] or "the portal's lambda_bundle/"
        self.stdout.write(f"{env.suffix} serves {what} (version {serving['version'] or '?'})")
        if not history:
            self.stdout.write("no releases yet: manage.py release NAME --bundle PATH")
        for item in history:
            sha = short_hash((item.get("artifact") or {}).get("sha256"))
            self.stdout.write(
                f"  #{item['id']:<5} {item['kind']:<9} {item['status']:<10} {item['result'] or '-':<12} "
                f"{sha[:12]:<12} "
                f"v{shown(item['from_version'])} -> v{shown(item['to_version'])}  {when(item['created_at'])}"
                + (f"  ({item['rollback_reason']})" if item.get("rollback_reason") else "")
            )
