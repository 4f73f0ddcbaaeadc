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
        Deployment.Kind.RESTORE,
    ):
        return None
    try:
        from provisioning.resources import resources_for
        from provisioning.resources.base import Context
        from provisioning.spec import spec_from_dict

        spec = spec_from_dict(spec_snapshot)
        resources = resources_for(spec)
    except Exception:
        return None
    if kind == Deployment.Kind.TEARDOWN:
        resources = [r for r in resources if not r.shared]
    # The other modes' resources are one step together (when found absent, as they should be).
    probe = Context(spec=spec, aws=None)  # type: ignore[arg-type]  # `wanted` reads the spec only
    unwanted = [r for r in resources if not r.wanted(probe)]
    return len(resources) - len(unwanted) + (1 if unwanted else 0)
