"""What "apply exactly this plan" means, as a fingerprint.

A plan is the environment's definition (the spec snapshot) plus, per resource, the action and
the field diffs the engine found. Its fingerprint is a SHA-256 of that, in a canonical order
(resource name, sorted diffs) and without timings, so two plans of the same definition against
the same live state have the same fingerprint however the engine's threads interleaved.

Applying a plan first runs a fresh plan; if its fingerprint differs (someone edited the
environment, or the live resources changed), nothing is applied and the operator is shown the
fresh plan to review. Otherwise the provision starts with the fingerprint in its options. The
provision itself re-reads every resource (the engine is idempotent), so a change in the second
between the check and the run is converged too, not blindly overwritten from a stale picture.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any


def fingerprint(spec_snapshot: dict[str, Any], steps: Iterable[Any]) -> str:
    resources = sorted(
        [
            step.resource,
            step.action,
            step.status,
            sorted(json.dumps(d, sort_keys=True, default=str) for d in step.diffs or []),
        ]
        for step in steps
    )
    body = json.dumps({"spec": spec_snapshot, "resources": resources}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def summary(steps: Iterable[Any]) -> dict[str, int]:
    """How many resources a plan would create, update, leave unchanged, or could not read."""
    counts = Counter(step.action if step.status == "succeeded" else "error" for step in steps)
    counts["unchanged"] = counts.pop("no-op", 0)
    return {key: counts.get(key, 0) for key in ("create", "update", "unchanged", "delete", "error")}


def with_names(steps: Iterable[Any], spec_snapshot: dict[str, Any]) -> list[Any]:
    """The plan's steps, each given `aws_name`: what the resource is called in AWS, from the
    engine's inventory of the planned definition (blank if that no longer builds a spec)."""
    from provisioning.inventory import names_by_key
    from provisioning.spec import SpecError, spec_from_dict

    try:
        names = names_by_key(spec_from_dict(spec_snapshot))
    except (SpecError, KeyError, TypeError, ValueError):
        names = {}
    rows = list(steps)
    for step in rows:
        step.aws_name = names.get(step.resource, "")
    return rows
