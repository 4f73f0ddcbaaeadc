"""JSON documents of environments and deployments: what `--json` prints (and a later API could serve)."""

from __future__ import annotations

from typing import Any

from .models import Deployment, Environment

# Fields of an environment its document leaves out (`environment_document`): the audit trail keeps
# that they changed, never their values, so no reader of the trail learns what the document hides.
REDACTED_FIELDS = frozenset({"external_id"})
REDACTED = "[redacted]"


def redacted(detail: Any) -> Any:
    """`detail` (an audit event's) with the value of every redacted field masked, at any depth: a
    change's before and after become "[redacted]" (or stay empty), so a change is still seen."""
    if isinstance(detail, list):
        return [redacted(item) for item in detail]
    if not isinstance(detail, dict):
        return detail
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if key in REDACTED_FIELDS:
            out[key] = _masked(value)
        else:
            out[key] = redacted(value)
    return out


def _masked(value: Any) -> Any:
    if isinstance(value, dict) and set(value) <= {"before", "after"}:
        return {k: _masked(v) for k, v in value.items()}
    return REDACTED if value not in (None, "") else value


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def deployment_summary(dep: Deployment | None) -> dict[str, Any] | None:
    if dep is None:
        return None
    return {
        "id": dep.pk,
        "kind": dep.kind,
        "status": dep.status,  # queued / running / succeeded / failed / cancelled
        "result": dep.result or None,  # promoted, rolled_back, unchanged, drift_found, clean (models.RESULTS)
        "trigger": dep.trigger,
        "created_at": _iso(dep.created_at),
        "finished_at": _iso(dep.finished_at),
        "seconds": dep.duration_s,
        "error": dep.error or None,
    }


def deployment_document(dep: Deployment) -> dict[str, Any]:
    """Everything a pipeline needs from one run; three queries (steps, checks, findings)."""
    steps = list(dep.steps.order_by("position"))
    checks = list(dep.checks.order_by("position"))
    findings = list(dep.findings.order_by("resource", "field", "id"))
    document = {
        "environment": dep.environment.suffix,
        "deployment": dep.pk,
        "kind": dep.kind,
        "status": dep.status,  # queued / running / succeeded / failed / cancelled
        "result": dep.result or None,  # promoted, rolled_back, unchanged, drift_found, clean (models.RESULTS)
        "trigger": dep.trigger,
        "options": dep.options,
        "started_at": _iso(dep.started_at),
        "finished_at": _iso(dep.finished_at),
        "seconds": dep.duration_s,
        "outputs": dep.outputs,
        # the account and role the run worked as (None: runs recorded before it was kept)
        "identity": (dep.outputs or {}).get("identity"),
        "calls": {
            "total": dep.calls_total,
            "mutating": dep.calls_mutating,
            "by_operation": dep.calls_by_operation,
        },
        "steps": [
            {
                "resource": s.resource,
                "kind": s.kind,
                "action": s.action,
                "status": s.status,
                "started_offset_s": s.started_offset_s,
                "seconds": s.seconds,
                "calls": s.calls,
                "diffs": s.diffs,
                "error": s.error or None,
            }
            for s in steps
        ],
        "checks": [
            {
                "name": c.name,
                "requirement": c.requirement,
                "passed": c.passed,
                "status": c.http_status,
                "latency_ms": c.latency_ms,
                "expected": c.expected,
                "found": c.found,
                "request_id": c.request_id,
            }
            for c in checks
        ],
        "findings": [
            {"resource": f.resource, "field": f.field, "wanted": f.wanted, "found": f.found} for f in findings
        ],
        "warnings": [w.to_dict() for w in dep.capacity_warnings()],
        "error": dep.error or None,
    }
    if dep.kind in (Deployment.Kind.RELEASE, Deployment.Kind.ROLLBACK):
        document.update(release_fields(dep, (dep.options or {}).get("artifact")))
    return document


def release_fields(dep: Deployment, artifact: dict[str, Any] | None) -> dict[str, Any]:
    """What a release or rollback adds to its document: how it ended and how traffic moved."""
    out = dep.outputs or {}
    state = dep.release_state or {}  # while it runs: the versions as soon as the release knows them
    return {
        "artifact": artifact,
        "from_version": out.get("from_version") or state.get("from_version"),
        "to_version": out.get("to_version") or state.get("to_version"),
        "traffic": out.get("traffic", []),
        "rollback_reason": out.get("rollback_reason"),
    }


def refusal_document(environment: str, kind: str, error: str, problems: list[str]) -> dict[str, Any]:
    """The --json answer when nothing ran (exit 2): the same keys, status "refused"."""
    return {
        "environment": environment,
        "deployment": None,
        "kind": kind,
        "status": "refused",
        "result": None,
        "outputs": {},
        "calls": {"total": 0, "mutating": 0, "by_operation": {}},
        "steps": [],
        "checks": [],
        "findings": [],
        "warnings": [],
        "error": error,
        "problems": problems,
    }


def environment_document(env: Environment) -> dict[str, Any]:
    """An environment with its settings (inherited vs overridden), outputs, health and drift; no query
    beyond `last_deployment` (select it with the environment)."""
    return {
        "environment": env.suffix,
        "stage": env.stage,
        "region": env.region,
        "owner": env.owner,
        "cost_centre": env.cost_centre,
        "alarm_emails": env.alarm_emails,
        "desired_state": env.desired_state,
        "expires_at": _iso(env.expires_at),
        "status": env.status,
        "overrides": env.overrides,
        "settings": {
            row["key"]: {"value": row["value"], "default": row["default"], "source": row["source"]}
            for row in env.effective_settings()
        },
        "warnings": [w.to_dict() for w in env.capacity_warnings()],
        "artifact": (
            {"sha256": env.artifact_sha256, "handler": env.handler}
            if env.artifact_sha256
            else {"sha256": None, "handler": None, "source": "the portal's lambda_bundle/"}
        ),
        "outputs": env.outputs,
        "health": {
            "status": env.health,
            "checked_at": _iso(env.health_checked_at),
            "detail": env.health_detail,
        },
        "drift": {"state": env.drift_state, "checked_at": _iso(env.drift_checked_at)},
        "last_deployment": deployment_summary(env.last_deployment),
        "role_arn": env.role_arn or None,
        "created_at": _iso(env.created_at),
        "updated_at": _iso(env.updated_at),
    }
