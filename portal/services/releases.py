"""Releases (R-REL) and the artifacts they ship: building an artifact from a package folder or a zip
(one implementation, for the API's upload, the console's form and `manage.py release --bundle`),
registering it (the same SHA-256 stored once), finding one, and requesting a release, a
promotion from another environment, or a rollback. Every problem is listed at once, before
anything is queued or any AWS call is made; every public function asks `authz.authorize` first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portal.models import Artifact, Deployment, Environment
from portal.services import authz
from portal.services.audit import audit
from portal.services.base import Actor, InvalidInput, NotFound
from portal.services.runs import request_deployment
from provisioning import artifacts as builder
from provisioning.artifacts import Artifact as BuiltArtifact
from provisioning.release import ReleaseInputError, strategy_for


def may_release(actor: Actor, env: Environment) -> bool:
    """Releasing code and rolling it back: operators for non-prod, admins for prod, by every path
    (`authz`; the CLI without a user acts with admin rights; a schedule never releases)."""
    return authz.may(actor, "release", env)


def _require_release(actor: Actor, env: Environment, what: str) -> None:
    authz.authorize(actor, "rollback" if what == "a rollback" else "release", env)


def _releasable_problems(env: Environment) -> list[str]:
    if env.status != Environment.Status.READY:
        return [
            f"environment: {env.suffix} is {env.status}; provision it first "
            "(a release needs its function and its live alias)"
        ]
    return []


def check_release_target(actor: Actor, env: Environment) -> None:
    """May `actor` release to `env` now? Asked before an artifact is built, which can take a while."""
    _require_release(actor, env, "a release")
    problems = _releasable_problems(env)
    if problems:
        raise InvalidInput(f"cannot release to {env.suffix}", problems)


def register_artifact(actor: Actor, built: BuiltArtifact) -> Artifact:
    """The portal's record (and bytes) of a built artifact; the same SHA-256 is stored once."""
    authz.authorize(actor, "release")  # an artifact is registered to be released
    record, created = Artifact.objects.get_or_create(
        sha256=built.sha256,
        defaults={
            "size_bytes": built.size_bytes,
            "source": built.source[:1024],
            "handler": built.handler,
            "runtime": built.runtime,
            "architecture": built.architecture,
            "data": built.data,
            "created_by": actor.user,
        },
    )
    if created:
        audit(actor, "artifact.registered", detail=artifact_summary(record))
    return record


def build_artifact(
    actor: Actor,
    source: Path | str | bytes,
    *,
    handler: str | None = None,
    name: str | None = None,
    env: Environment | None = None,
) -> tuple[Artifact, bool]:
    """An artifact built from a package folder (its requirements.txt vendored), a .zip file, or the
    bytes of an uploaded zip (`name`: its file name), checked (`provisioning.artifacts`) and
    registered; with whether the portal held it already (False) or it is new (True).

    The one implementation behind the API's upload, the console's release form and `manage.py
    release --bundle`. The guard first: releasing to `env`, or, without one (the API's upload,
    before any target is named), releasing at all. A refusal lists every problem of the zip."""
    if env is not None:
        check_release_target(actor, env)
    else:
        authz.authorize(actor, "release")
    try:
        built = builder.build_artifact(source, handler=handler, name=name)
    except builder.ArtifactError as exc:
        refused = f"the zip {name} was refused" if name is not None else f"artifact {source!s} refused"
        raise InvalidInput(refused, exc.problems) from None
    existed = Artifact.objects.filter(sha256=built.sha256).exists()
    return register_artifact(actor, built), not existed


def artifact_summary(record: Artifact) -> dict[str, Any]:
    return {
        "sha256": record.sha256,
        "size_bytes": record.size_bytes,
        "source": record.source,
        "handler": record.handler,
    }


def find_artifact(sha256: str) -> Artifact:
    """An artifact the portal holds, by its full SHA-256 or a unique prefix of at least 8 digits."""
    text = (sha256 or "").strip().lower()
    if not (8 <= len(text) <= 64) or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInput(
            f"artifact {sha256!r} is not a SHA-256",
            [f"artifact: {sha256!r} is not allowed; 8 to 64 hexadecimal digits of an artifact's SHA-256"],
        )
    found = list(Artifact.objects.defer("data").filter(sha256__startswith=text)[:2])
    if len(found) != 1:
        what = "no artifact" if not found else "more than one artifact"
        raise NotFound(f"{what} with SHA-256 {text}; `manage.py releases NAME` lists what was released")
    return found[0]


def request_release(
    actor: Actor,
    env: Environment,
    *,
    artifact: Artifact | None = None,
    source: Environment | None = None,
    strategy: str | None = None,
    percent: int | str | None = None,
    bake: int | str | None = None,
    interval: int | str | None = None,
) -> Deployment:
    """A queued release of `artifact`, or of what `source` serves (a promotion: the same bytes).

    Every problem (artifact or source, the environment's state, the strategy and its durations)
    is listed at once, before anything is queued or any AWS call is made (R-REL-3/6)."""
    _require_release(actor, env, "a release")
    problems = _releasable_problems(env)
    if (artifact is None) == (source is None):
        problems.append("artifact: name exactly one of an artifact or a source environment to promote from")
    if source is not None:
        if source.pk == env.pk:
            problems.append(f"from: {env.suffix} cannot be promoted from itself")
        elif not source.artifact_sha256:
            problems.append(
                f"from: {source.suffix} runs the portal's own lambda_bundle/, not a released artifact; "
                "release it with --bundle lambda_bundle"
            )
        else:
            artifact = Artifact.objects.defer("data").filter(sha256=source.artifact_sha256).first()
            if artifact is None:
                unknown = source.artifact_sha256[:12]
                problems.append(f"from: the artifact {unknown} that {source.suffix} serves is unknown here")
    try:
        chosen = strategy_for(env.stage, strategy, percent, bake, interval)
    except ReleaseInputError as exc:
        problems += [f"{p.field}: {p.value!r} is not allowed; {p.allowed}" for p in exc.problems]
    if problems or artifact is None:
        raise InvalidInput(f"cannot release to {env.suffix}", problems)
    options = {
        "strategy": chosen.to_dict(),
        "artifact": artifact_summary(artifact),
        "source_environment": source.suffix if source is not None else None,
    }
    return request_deployment(actor, env, Deployment.Kind.RELEASE, options, artifact_sha256=artifact.sha256)


def request_rollback(actor: Actor, env: Environment, to_version: str | None = None) -> Deployment:
    """A queued rollback to `to_version`, or to the version before the one serving (R-REL-6)."""
    _require_release(actor, env, "a rollback")
    problems = _releasable_problems(env)
    if to_version is not None and not (to_version.isdigit() and int(to_version) > 0):
        problems.append(f"to: {to_version!r} is not allowed; a published version number such as 3")
    if problems:
        raise InvalidInput(f"cannot roll back {env.suffix}", problems)
    return request_deployment(actor, env, Deployment.Kind.ROLLBACK, {"to_version": to_version})
