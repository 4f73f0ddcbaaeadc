"""Who may press which console button: the console's names for the actions of `portal.services.authz`.

The table of who may do what is `portal.services.authz.ACTIONS` (one Django permission per
action, granted through the groups migrations 0003..0005 made: viewer reads; operator plans,
provisions, verifies, drift checks, tears down, backs up, releases, restores and clones data below
prod, reveals the API key and computes cost figures; admin does everything, prod teardowns,
releases and restores, lifting deletion protection and sweeping retained tables included; the
whole table is in docs/security.md).
This module keeps the console's spelling of it: `allowed(user, action, env)` for the templates
and the console's listings, which only hide what a user could not use anyway; every service
function asks `authz.authorize` itself.
"""

from __future__ import annotations

from typing import Any

PROD = "prod"
# the console's actions (the template's `can.*`); `*_prod`: the same action on a prod environment
ACTIONS = (
    "plan",
    "provision",
    "verify",
    "drift",
    "teardown",
    "teardown_prod",
    "lift_protection",
    "reveal_key",
    "release",
    "release_prod",
)


def allowed(user: Any, action: str, env: Any = None) -> bool:
    """May `user`, in the console, do `action` (to `env`)? Asked of `authz`, the one table."""
    from portal.services import authz
    from portal.services.base import Actor

    if action not in ACTIONS:
        raise KeyError(action)
    if not (user and user.is_active and user.is_staff):
        return False
    stage = None
    if action.endswith("_prod"):
        action, stage = action.removesuffix("_prod"), PROD
    who = Actor("ui", user)
    if env is not None:
        return authz.may(who, action, env)
    rule = authz.rule(action)
    if stage == PROD and rule.prod_permission:
        return bool(user.has_perm(rule.prod_permission))
    return bool(user.has_perm(rule.permission))


def allowed_actions(user: Any, env: Any = None) -> dict[str, bool]:
    """Every action's answer at once, for a template (`can.plan`, `can.teardown`...)."""
    return {action: allowed(user, action, env) for action in ACTIONS}
