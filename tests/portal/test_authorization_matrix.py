"""The authorization matrix at the service boundary (issue 17, item 2).

Roles (viewer, operator, admin, a schedule) x token scopes (no token, dev only, dev+staging with
`pr*`, every stage with prod granted by an admin, read-only) x stages (dev, staging, prod) x every
action of `portal.services.authz.ACTIONS`: allowed, refused (Forbidden) or not found (NotFound, the
same words as an absent environment). The expectation below is written out from the roles'
contract (README, docs/security.md), not read from the table it checks.

Then every service function of `portal.services` is called by actors it must refuse, to prove each
one asks the guard before it writes or queues anything.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from portal.api.auth import scoped_user
from portal.models import AuditEvent, Deployment, Environment
from portal.services import authz, releases, runs
from portal.services import environments as environment_service
from portal.services import tokens as token_service
from portal.services.base import Actor, Forbidden, NotFound, unknown_environment
from portal.tokens.reach import Reach

pytestmark = pytest.mark.django_db

ROLES = ("viewer", "operator", "admin")
# scope -> create_api_token's arguments (None: no token, a console session or the CLI with a user)
SCOPES: dict[str, dict[str, Any] | None] = {
    "no token": None,
    "dev only": {"stages": ["dev"]},
    "dev+staging pr*": {"stages": ["dev", "staging"], "environments": ["pr*"]},
    "every stage (admin granted prod)": {"stages": ["dev", "staging", "prod"]},
    "read-only": {"stages": ["dev", "staging", "prod"], "read_only": True},
}
# one environment per stage; `prod` is named so that the glob pr* matches it (the probe's case)
ENVS = {"dev": "pr1", "staging": "stage1", "prod": "prod"}
ALLOWED, REFUSED, NOT_FOUND = "allowed", "refused", "not found"

# what each role may do, from the roles' contract (README: "Roles")
VIEWER = {"view"}
OPERATOR = VIEWER | {
    "create",
    "update",
    "plan",
    "provision",
    "verify",
    "drift",
    "health",
    "teardown",
    "release",
    "rollback",
    "cancel",
    "reveal_key",
    "issue_token",
    "backup",  # an on-demand backup of the table
    "estimate_cost",  # computing a cost figure reads AWS as a drift check does (reading one is "view")
    "restore",  # a restore, or its undo, cut over like a release
    "clone_data",  # asked of the source environment of a clone
}
# sweep_retained: deleting the tables a restore replaced, after their retention (the sweep's)
ADMIN_ONLY = {"delete", "lift_protection", "sweep_retained"}
# operators do these below prod only (restoring into prod, cloning from prod: admins)
PROD_ADMIN_ONLY = {"teardown", "release", "rollback", "backup", "restore", "clone_data"}
# the sweeps, the hourly cost figures, the expiry (never prod's teardown), the retained tables' sweep
SCHEDULE = {"drift", "health", "teardown", "estimate_cost", "sweep_retained"}


def expected(role: str, scope: str, stage: str, action: str) -> str:
    name = ENVS[stage]
    if scope == "dev only" and stage != "dev":
        return REFUSED if action == "create" else NOT_FOUND
    if scope == "dev+staging pr*" and (stage == "prod" or not name.startswith("pr")):
        return REFUSED if action == "create" else NOT_FOUND
    if scope == "read-only" and action != "view":
        return REFUSED
    if role == "schedule":
        return ALLOWED if action in SCHEDULE and not (action == "teardown" and stage == "prod") else REFUSED
    if role == "admin":
        return ALLOWED
    if role == "viewer":
        return ALLOWED if action in VIEWER else REFUSED
    if action in ADMIN_ONLY or (stage == "prod" and action in PROD_ADMIN_ONLY):
        return REFUSED
    return ALLOWED if action in OPERATOR else REFUSED


def _user(role: str) -> User:
    user = User.objects.create_user(role, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def _actor(role: str, scope: str) -> Actor:
    if role == "schedule":
        return Actor.schedule("drift")
    user = _user(role)
    made = SCOPES[scope]
    if made is None:
        return Actor("ui", user)
    token, _ = token_service.create_api_token(Actor.cli(), user, **made)
    # exactly what the API's authentication makes of a request bearing it (portal.api.auth)
    return Actor("api", scoped_user(user, token), reach=Reach.of(token))


def _verdict(actor: Actor, action: str, env: Environment) -> str:
    try:
        if action == "create":
            authz.authorize(actor, action, stage=env.stage, name=env.suffix)
        else:
            authz.authorize(actor, action, env)
    except NotFound as exc:
        assert exc.message == unknown_environment(env.suffix).message  # as if absent
        return NOT_FOUND
    except Forbidden:
        return REFUSED
    return ALLOWED


CASES = [(role, scope) for role in ROLES for scope in SCOPES] + [("schedule", "no token")]


# R-SEC-1
@pytest.mark.parametrize(("role", "scope"), CASES)
def test_authorization_matrix(role, scope, make_env):
    """issue 17 item 2 (the probe: a `pr*` token provisioned prod, and plan, provision, verify,
    drift and teardown were checked by each caller): every stage x every action for one role and
    one token scope, decided by the one guard, against the contract."""
    envs = {stage: make_env(name, stage, status="ready") for stage, name in ENVS.items()}
    actor = _actor(role, scope)
    wrong = []
    for stage, env in envs.items():
        for action in authz.ACTIONS:
            want, got = expected(role, scope, stage, action), _verdict(actor, action, env)
            if want != got:
                wrong.append(f"{action} on {stage} ({env.suffix}): expected {want}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_the_table_holds_only_actions_that_exist():
    """Every action in the table is one a service function performs; every kind of run is one."""
    assert set(authz.ACTIONS) == VIEWER | OPERATOR | ADMIN_ONLY
    assert set(Deployment.Kind.values) <= set(authz.ACTIONS)


# --- every service function asks the guard before it writes -----------------------------------
def _service_calls(env: Environment, dep: Deployment) -> dict[str, Any]:
    """Each service function that acts on `env`, as a call of one actor."""
    return {
        "get_environment": lambda a: environment_service.get_environment(env.suffix, a),
        "check_update_environment": lambda a: environment_service.check_update_environment(a, env, owner="x"),
        "update_environment": lambda a: environment_service.update_environment(a, env, owner="x"),
        "check_delete_environment": lambda a: environment_service.check_delete_environment(a, env),
        "delete_environment": lambda a: environment_service.delete_environment(a, env),
        "lift_protection": lambda a: environment_service.lift_protection(a, env),
        "reveal_api_key": lambda a: environment_service.reveal_api_key(a, env),
        "issue_token": lambda a: environment_service.issue_token(a, env),
        "check_release_target": lambda a: releases.check_release_target(a, env),
        "request_release": lambda a: releases.request_release(a, env, source=env),
        "request_rollback": lambda a: releases.request_rollback(a, env),
        "cancel_deployment": lambda a: runs.cancel_deployment(a, dep),
        **{
            f"request_deployment({kind})": (lambda k: lambda a: runs.request_deployment(a, env, k))(kind)
            for kind in Deployment.Kind.values
            if kind != Deployment.Kind.RELEASE  # a release goes through request_release
        },
    }


def _written() -> tuple[Any, ...]:
    return (
        AuditEvent.objects.count(),
        list(Deployment.objects.values_list("pk", "status")),
        list(Environment.objects.values_list("suffix", "owner", "overrides", "desired_state")),
    )


# R-SEC-1
def test_every_service_function_hides_what_a_token_does_not_reach(make_env, users_and_tokens):
    """probe: a `pr*` token (dev, staging) reached `prod` through every function but release and
    teardown. Now each one answers NotFound, as for an absent environment, and writes nothing."""
    prod = make_env("prod", "prod", status="ready", overrides={"deletion_protection": False})
    dep = runs.request_deployment(Actor.cli(), prod, "verify")
    actor = users_and_tokens("admin", stages=["dev", "staging"], environments=["pr*"])
    before = _written()
    for name, call in _service_calls(prod, dep).items():
        with pytest.raises(NotFound) as caught:
            call(actor)
        assert caught.value.message == unknown_environment("prod").message, name
    with pytest.raises(Forbidden):
        environment_service.create_environment(actor, suffix="prod2", stage="prod")
    assert _written() == before


# R-SEC-1
def test_every_service_function_refuses_a_role_without_the_right(make_env):
    """Each function refuses a viewer (Forbidden, 403 by the API, exit 2 by the CLI) before
    writing; and a schedule everything but its sweeps."""
    env = make_env("pr1", "dev", status="ready")
    dep = runs.request_deployment(Actor.cli(), env, "verify")
    viewer = Actor("ui", _user("viewer"))
    schedule = Actor.schedule("drift")
    before = _written()
    for name, call in _service_calls(env, dep).items():
        if name == "get_environment":
            continue  # a viewer reads
        with pytest.raises(Forbidden):
            call(viewer)
        if not any(k in name for k in ("drift", "health", "teardown")):
            with pytest.raises(Forbidden):
                call(schedule)
    with pytest.raises(Forbidden):
        environment_service.create_environment(viewer, suffix="pr9", stage="dev")
    assert _written() == before


# R-SEC-1
def test_a_prod_environment_made_after_the_token_is_out_of_its_reach(make_env, users_and_tokens):
    """A token whose stages exclude prod never reaches a prod environment, whenever it is made."""
    actor = users_and_tokens("admin", stages=["dev", "staging"])
    later = environment_service.create_environment(Actor.cli(), suffix="live9", stage="prod")
    with pytest.raises(NotFound):
        runs.request_deployment(actor, later, "provision")
    assert not Deployment.objects.exists()


def test_a_token_cannot_move_an_environment_out_of_its_reach(make_env, users_and_tokens):
    """Changing the stage of a reachable environment to one the token does not reach is refused."""
    env = make_env("pr1", "dev")
    actor = users_and_tokens("admin", stages=["dev"])
    with pytest.raises(Forbidden) as caught:
        environment_service.update_environment(actor, env, stage="prod")
    assert caught.value.problems[0].startswith("stage: 'prod' is not allowed; this token reaches stages dev")
    assert Environment.objects.get().stage == "dev"


@pytest.fixture
def users_and_tokens() -> Any:
    def make(role: str, **scope: Any) -> Actor:
        user = _user(role)
        token, _ = token_service.create_api_token(Actor.cli(), user, **scope)
        return Actor("api", scoped_user(user, token), reach=Reach.of(token))

    return make


def test_no_path_but_the_cli_acts_without_a_user(make_env):
    """Only the CLI (the database's own credentials) acts with admin rights and no user; any other
    source without a user is refused, not waved through."""
    env = make_env("pr1", "dev", status="ready")
    for source in ("ui", "api"):
        with pytest.raises(Forbidden):
            authz.authorize(Actor(source, None), "view", env)
    authz.authorize(Actor.cli(), "lift_protection", env)
