"""Who may press which console button: one Django permission per action, granted through groups.

The groups are made by migration 0003 (and 0004 for releases): viewer (view only), operator
(plan, provision, verify, drift check, teardown of and releases to non-prod, reveal the API key)
and admin (everything, including prod teardown and releases and lifting deletion protection).
Every console view calls `allowed` on the server; the templates call it too, but only to hide
buttons a user could not use anyway.
"""

from __future__ import annotations

from typing import Any

PERMISSIONS = {
    "plan": "portal.plan_environment",
    "provision": "portal.provision_environment",
    "verify": "portal.verify_environment",
    "drift": "portal.drift_environment",
    "teardown": "portal.teardown_environment",
    "teardown_prod": "portal.teardown_prod_environment",
    "lift_protection": "portal.lift_protection_environment",
    "reveal_key": "portal.reveal_key_environment",
    "release": "portal.release_environment",  # releasing code and rolling it back (R-REL)
    "release_prod": "portal.release_prod_environment",
}
ACTIONS = tuple(PERMISSIONS)
PROD = "prod"


def allowed(user: Any, action: str, env: Any = None) -> bool:
    """May `user` do `action` (to `env`)? Tearing down or releasing to prod needs its own permission."""
    if action not in PERMISSIONS:
        raise KeyError(action)
    if not (user and user.is_active and user.is_staff):
        return False
    if action in ("teardown", "release") and env is not None and env.stage == PROD:
        action = f"{action}_prod"
    return bool(user.has_perm(PERMISSIONS[action]))


def allowed_actions(user: Any, env: Any = None) -> dict[str, bool]:
    """Every action's answer at once, for a template (`can.plan`, `can.teardown`...)."""
    return {action: allowed(user, action, env) for action in ACTIONS}
