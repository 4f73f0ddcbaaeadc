"""How far a run has come, shared by the CLI and the web console.

Both show a progress bar and a "is a worker running?" hint for a run that stays queued. They live
here, not in either of them, so that the web layer never imports the CLI module (and the CLI
never imports views): each depends on this small neutral module only.
"""

from __future__ import annotations

from typing import Any

from portal.models import Deployment

# A run still queued after this many seconds probably has no worker to take it: both say so.
QUEUED_HINT_S = 10.0


def expected_steps(kind: str, spec_snapshot: dict[str, Any]) -> int | None:
    """How many steps a run will have, for the progress bar; None when unknown (verification and
    health have no fixed step count, nor has a release, whose steps are its phases and traffic
    changes; a snapshot that no longer builds a spec has none either)."""
    if kind in (
        Deployment.Kind.VERIFY,
        Deployment.Kind.HEALTH,
        Deployment.Kind.RELEASE,
        Deployment.Kind.ROLLBACK,
    ):
        return None
    try:
        from provisioning.resources import resources_for
        from provisioning.spec import spec_from_dict

        resources = resources_for(spec_from_dict(spec_snapshot))
    except Exception:
        return None
    if kind == Deployment.Kind.TEARDOWN:
        resources = [r for r in resources if not r.shared]
    return len(resources)
