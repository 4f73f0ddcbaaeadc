"""One guard: `authorize(actor, action, env)` before anything is queued or written, on every path.

Every action on an environment is declared once, in `ACTIONS`: the Django permission a role's
group must hold for it, the stronger one it needs on a prod environment, whether a read-only
token may do it, and whether a schedule's sweep does it. The service functions of
`portal.services` call `authorize` first, so the console, the admin, the CLI, the API and the
schedules are judged by the same table and refused the same way:

- out of a token's reach (its stages and name patterns, `portal.tokens.reach.Reach`): `NotFound`,
  word for word what an absent environment answers, so a token cannot learn that prod exists;
- a read-only token asking for anything but a read, or a role without the permission:
  `Forbidden` (the API answers 403, the console shows the message, the CLI exits 2).

Who acts (`portal.services.base.Actor`):
- a person (console session, API token, or a CLI actor given a user) is judged by their user's
  permissions; an API token's user is already narrowed to the token's role (`portal.api.auth`),
  and the token's reach is the actor's `reach`;
- a schedule may do only its sweeps' actions (drift and health checks, cost estimates and the
  retained tables' sweep of every stage, the expiry teardown of non-prod environments);
- the CLI without a user runs with the database's own credentials (whoever runs it could change
  any row directly), so it acts with admin rights and is audited as `cli:<login name>`.

`may` is the same question without the exception, for hiding a button a user could not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from portal.services import base
from portal.tokens.reach import STAGES

if TYPE_CHECKING:
    from portal.models import Environment
    from portal.tokens.reach import Reach

PROD = "prod"
OPERATOR_OR_ADMIN = "an operator or an admin"
ADMIN = "an admin"


@dataclass(frozen=True)
class Rule:
    """What an action needs. `permission`: the Django permission (app.codename) the actor's role
    must hold; `prod_permission`: the one it needs instead on a prod environment; `who`/`prod_who`:
    the roles that hold them, in words; `read_only`: a read-only token may do it (reads only);
    `schedule`: a schedule's sweep does it (on prod only if there is no prod escalation);
    `what`: the action in words, for refusals."""

    what: str
    permission: str
    who: str = OPERATOR_OR_ADMIN
    prod_permission: str | None = None
    prod_who: str = ADMIN
    read_only: bool = False
    schedule: bool = False


ACTIONS: Mapping[str, Rule] = {
    "view": Rule("reading", "portal.view_environment", "any role", read_only=True),
    "create": Rule("creating", "portal.add_environment"),
    "update": Rule("changing", "portal.change_environment"),
    "delete": Rule("deleting the record of", "portal.delete_environment", ADMIN),
    "lift_protection": Rule(
        "lifting the deletion protection of", "portal.lift_protection_environment", ADMIN
    ),
    "plan": Rule("a plan of", "portal.plan_environment"),
    "provision": Rule("a provision of", "portal.provision_environment"),
    "verify": Rule("a verification of", "portal.verify_environment"),
    "drift": Rule("a drift check of", "portal.drift_environment", schedule=True),
    # a health check is a light verification; only the sweep asks for one today
    "health": Rule("a health check of", "portal.verify_environment", schedule=True),
    "teardown": Rule(
        "a teardown of",
        "portal.teardown_environment",
        prod_permission="portal.teardown_prod_environment",
        schedule=True,  # the expiry schedule, of previews (never prod: see prod_permission)
    ),
    "release": Rule(
        "a release to",
        "portal.release_environment",
        prod_permission="portal.release_prod_environment",
    ),
    "rollback": Rule(
        "a rollback of",
        "portal.release_environment",
        prod_permission="portal.release_prod_environment",
    ),
    # a queued run is cancelled by whoever may start runs
    "cancel": Rule("cancelling a run of", "portal.provision_environment"),
    "reveal_key": Rule("revealing the API key of", "portal.reveal_key_environment"),
    # a signed bearer token opens the environment's API as its key does
    "issue_token": Rule("issuing a bearer token for", "portal.reveal_key_environment"),
    # an on-demand backup of the table (listing them is "view"); prod's, like its teardown, an admin's
    "backup": Rule(
        "a backup of",
        "portal.teardown_environment",
        prod_permission="portal.teardown_prod_environment",
    ),
    # a restore of the table (to a point in time, from a backup, or its undo) cuts over like a
    # release; prod's is an admin's
    "restore": Rule(
        "a restore of",
        "portal.release_environment",
        prod_permission="portal.release_prod_environment",
    ),
    # reading an environment's data to clone it into another (asked of the source): prod's data
    # is an admin's to copy
    "clone_data": Rule(
        "cloning the data of",
        "portal.release_environment",
        prod_permission="portal.release_prod_environment",
    ),
    # deleting the tables a restore replaced once their retention is over: the sweep's, or an admin's
    "sweep_retained": Rule(
        "deleting the retained tables of", "portal.teardown_prod_environment", ADMIN, schedule=True
    ),
    # reading stored cost figures is "view"; computing one makes AWS reads like a drift check
    "estimate_cost": Rule("estimating the cost of", "portal.drift_environment", schedule=True),
}


def rule(action: str) -> Rule:
    try:
        return ACTIONS[action]
    except KeyError:
        raise KeyError(f"no such action {action!r}; one of {', '.join(ACTIONS)}") from None


def authorize(
    actor: base.Actor,
    action: str,
    env: Environment | None = None,
    *,
    stage: str | None = None,
    name: str | None = None,
) -> None:
    """Refuse `actor` doing `action` to `env` (or, before it exists or when it would move, to an
    environment of `stage` named `name`): NotFound if it is out of the actor's reach, Forbidden if
    its token or role does not allow it. Returns None when allowed; writes nothing."""
    needs = rule(action)
    target_stage = env.stage if env is not None else (stage or "")
    target_name = env.suffix if env is not None else (name or "")
    reach = actor.reach
    if reach is not None:
        _require_reach(reach, env, target_stage, target_name)
        if reach.read_only and not needs.read_only:
            raise base.Forbidden(
                "token: read-only; only reads (GET) are allowed",
                ["token: read-only; only reads (GET) are allowed"],
            )
    prod = target_stage == PROD and needs.prod_permission is not None
    if actor.source == "schedule" and actor.user is None:
        if needs.schedule and not prod:
            return
        raise base.Forbidden(
            f"{needs.what} {target_name or 'an environment'} is not a schedule's to do",
            [f"actor: {actor.name} is not allowed; only a person with the right role does this"],
        )
    if actor.user is None:
        if actor.source == "cli":
            return  # the CLI without a user: admin rights (see the module's docstring)
        raise base.Forbidden(  # fail closed: no other path acts without a user
            f"{needs.what} {target_name or 'an environment'} needs a signed-in user",
            [f"actor: {actor.name} is not allowed; a user with the right role"],
        )
    permission = needs.prod_permission if prod and needs.prod_permission else needs.permission
    user = actor.user
    if user.is_active and user.is_staff and user.has_perm(permission):
        return
    who = needs.prod_who if prod else needs.who
    on = f"{target_stage} environment {target_name}" if target_name else "an environment"
    narrowed = " (as its API token narrows it)" if reach is not None else ""
    raise base.Forbidden(
        f"{needs.what} {on} needs {who}; {actor.name} may not",
        [f"role: {actor.name}'s role{narrowed} is not allowed; {needs.what} {on} needs {who}"],
    )


def _require_reach(reach: Reach, env: Environment | None, stage: str, name: str) -> None:
    if reach.covers(stage, name):
        return
    if env is not None:  # it exists, but not for this token: answer as if it did not
        raise base.unknown_environment(name)
    if stage not in STAGES:
        return  # not a stage at all: the environment's own validation lists it with the rest
    allowed = reach.describe().removesuffix("; read-only")
    if stage not in reach.stages:
        raise base.Forbidden(
            f"this token does not reach stage {stage!r}",
            [f"stage: {stage[:20]!r} is not allowed; this token reaches {allowed}"],
        )
    raise base.Forbidden(
        f"this token does not reach {name!r}",
        [f"environment: {name[:40]!r} is not allowed; this token reaches {allowed}"],
    )


def may(
    actor: base.Actor,
    action: str,
    env: Environment | None = None,
    *,
    stage: str | None = None,
    name: str | None = None,
) -> bool:
    """`authorize` as a yes or no, for hiding what a user could not use (the server still asks)."""
    try:
        authorize(actor, action, env, stage=stage, name=name)
    except base.ActionError:
        return False
    return True


def reach_filter(reach: Reach | None, prefix: str = "") -> Q:
    """The environments within `reach`, as a filter on an Environment (or, with `prefix`
    "environment__", on a row that names one); everything when there is no reach."""
    if reach is None or reach.everything:
        return Q()
    found = Q(**{f"{prefix}stage__in": sorted(reach.stages)})
    regex = reach.regex()
    if regex is not None:
        found &= Q(**{f"{prefix}suffix__regex": regex})
    return found


def visible(actor: base.Actor, queryset: QuerySet[Any], prefix: str = "") -> QuerySet[Any]:
    """`queryset` cut down to what `actor` may see: a token's reach (rows of environments out of
    it, and rows that name no environment, are left out for a token that does not reach
    everything)."""
    reach = actor.reach
    if reach is None or reach.everything:
        return queryset
    if prefix:
        queryset = queryset.filter(**{f"{prefix.removesuffix('__')}__isnull": False})
    return queryset.filter(reach_filter(reach, prefix))
