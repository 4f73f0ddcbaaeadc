"""manage.py release NAME (--bundle PATH | --artifact SHA256 | --from ENV) [--handler MODULE.FUNCTION]
                   [--strategy all-at-once|canary|linear] [--percent P] [--bake DURATION]
                   [--interval DURATION] [--inline] [--json]

Ship function code into an environment (R-REL): a new version behind the `live` alias, verified
before traffic moves, traffic shifted by the strategy while alarms and checks watch it, rolled
back automatically on any failure. Exit 0 promoted (or nothing to do), 1 rolled back or failed,
2 refused before any AWS call (unknown environment, an artifact that fails its checks, a bad
strategy or duration).
"""

from __future__ import annotations

from typing import Any

from portal.management.cli import EnvironmentCommand
from portal.models import Artifact, Deployment, Environment
from portal.services import environments, releases
from portal.services import releases as release_service
from portal.services.base import Actor
from provisioning.release import KINDS, ReleaseInputError, strategy_for


class Command(EnvironmentCommand):
    help = (
        "Release function code into an environment: --bundle a package folder or .zip, --artifact a "
        "SHA-256 the portal holds, or --from another environment (the same bytes). Durations: 30s, 5m, 1h."
    )

    kind, inline = Deployment.Kind.RELEASE, True

    def add_options(self, parser: Any) -> None:
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument(
            "--bundle", metavar="PATH", help="a package folder (requirements.txt vendored) or a .zip"
        )
        what.add_argument("--artifact", metavar="SHA256", help="an artifact the portal holds (8+ hex digits)")
        what.add_argument("--from", dest="source", metavar="ENV", help="promote what ENV serves")
        parser.add_argument(
            "--handler", metavar="MODULE.FUNCTION", help="default: PACKAGE.handler.lambda_handler"
        )
        parser.add_argument("--strategy", help="one of " + ", ".join(KINDS) + " (default: the stage's)")
        parser.add_argument("--percent", help="canary share, or linear step, in percent (1-99)")
        parser.add_argument("--bake", metavar="DURATION", help="how long the canary (or 100%%) is watched")
        parser.add_argument("--interval", metavar="DURATION", help="time between linear steps")

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        refuse = self.refuser(env.suffix, opts["json"])
        strategy = {k: opts[k] for k in ("strategy", "percent", "bake", "interval")}
        try:  # the cheap checks first: a build can take a while
            strategy_for(
                env.stage, strategy["strategy"], strategy["percent"], strategy["bake"], strategy["interval"]
            )
        except ReleaseInputError as exc:
            refuse(
                f"cannot release to {env.suffix}",
                [f"--{p.field}: {p.value!r} is not allowed; {p.allowed}" for p in exc.problems],
            )

        def requested() -> Deployment:
            source: Environment | None = None
            artifact = None
            release_service.check_release_target(Actor.cli(), env)
            if opts["bundle"]:
                artifact = self.build(opts, env, refuse)
            elif opts["artifact"]:
                artifact = release_service.find_artifact(opts["artifact"])
            else:
                source = environments.get_environment(opts["source"])
            return release_service.request_release(
                Actor.cli(), env, artifact=artifact, source=source, **strategy
            )

        self.follow_request(requested, env, kind, opts)

    def build(self, opts: dict[str, Any], env: Environment, refuse: Any) -> Artifact:
        if opts["handler"] is not None and not opts["handler"].strip():
            refuse("--handler is empty", ["--handler: MODULE.FUNCTION, such as app.handler.main"])
        artifact, _ = releases.build_artifact(Actor.cli(), opts["bundle"], handler=opts["handler"], env=env)
        return artifact

    def refuser(self, suffix: str, as_json: bool) -> Any:
        def refuse(message: str, problems: list[str]) -> None:
            self.refuse(message, problems, as_json=as_json, environment=suffix, kind=Deployment.Kind.RELEASE)

        return refuse
