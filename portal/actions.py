"""What the portal does, as plain functions: the CLI, the admin and the Celery tasks all call these.

- environments: `create_environment`, `update_environment`, `delete_environment` (validated by
  the engine's build_spec, then by the service's own rules: placement, expiry, who may lift
  deletion protection), each with a `check_*` twin that writes nothing (the admin's form shows
  its refusal on its fields); `lift_protection`, `reveal_api_key`, `issue_token` (token mode);
- deployments: `request_deployment` (queued, one active per environment), `enqueue` (with the
  caller's `send`: this module never imports `portal.tasks`), `cancel_deployment`, and
  `run_deployment` (the body of a run; see `portal.runner`);
- schedules: `scheduled_drift_all`, `scheduled_health_all`, `teardown_expired_previews`,
  `reap_stale_deployments`, each given the dispatcher that sends its runs.

Every action by a person or a schedule leaves an AuditEvent, the same by every path: a change of
an environment records each changed field's before and after (`field_changes`).

Who acts is an `Actor`, and what it may do is decided in one place, `portal.services.authz`:
every function here that acts on an environment calls `authz.authorize` first, before anything
is queued or written, whichever path called it (console, admin, CLI, API, schedule). The CLI has
no user: whoever runs it holds the database's credentials and could change any row directly, so
it acts with admin rights (lifting protection included, as a prod teardown with --yes already
is) and is audited all the same, as `cli:<login name>`; a CLI actor given a user is judged by that
user. An API token's actor carries the token's reach (stages and name patterns).
"""

from __future__ import annotations

import logging

from .runner import run_deployment
from .services.audit import audit as audit
from .services.audit import field_changes as field_changes
from .services.base import (
    ActionError,
    Actor,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    unknown_environment,
)
from .services.environments import ADMIN_ONLY_LIFT as ADMIN_ONLY_LIFT
from .services.environments import AUDITED as AUDITED
from .services.environments import PLACEMENT as PLACEMENT
from .services.environments import TOKEN_SUBJECT_RE as TOKEN_SUBJECT_RE
from .services.environments import TOKEN_TTL_MAX_S as TOKEN_TTL_MAX_S
from .services.environments import UNPROVISIONED as UNPROVISIONED
from .services.environments import UPDATABLE as UPDATABLE
from .services.environments import EnvironmentChange as EnvironmentChange
from .services.environments import check_create_environment as check_create_environment
from .services.environments import check_delete_environment as check_delete_environment
from .services.environments import check_update_environment as check_update_environment
from .services.environments import create_environment as create_environment
from .services.environments import delete_environment as delete_environment
from .services.environments import deletion_problems as deletion_problems
from .services.environments import get_environment as get_environment
from .services.environments import issue_token as issue_token
from .services.environments import lift_protection as lift_protection
from .services.environments import may_lift_protection as may_lift_protection
from .services.environments import problems_of as problems_of
from .services.environments import reveal_api_key as reveal_api_key
from .services.environments import snapshot as snapshot
from .services.environments import update_environment as update_environment
from .services.idempotency import IDEMPOTENCY_KEY_MAX as IDEMPOTENCY_KEY_MAX
from .services.idempotency import check_idempotency_key as check_idempotency_key
from .services.idempotency import remember_run as remember_run
from .services.idempotency import replay_run as replay_run
from .services.releases import artifact_summary as artifact_summary
from .services.releases import check_release_target as check_release_target
from .services.releases import find_artifact as find_artifact
from .services.releases import may_release as may_release
from .services.releases import register_artifact as register_artifact
from .services.releases import request_release as request_release
from .services.releases import request_rollback as request_rollback
from .services.runs import REQUEUE_AFTER as REQUEUE_AFTER
from .services.runs import Dispatch as Dispatch
from .services.runs import Send as Send
from .services.runs import cancel_deployment as cancel_deployment
from .services.runs import enqueue as enqueue
from .services.runs import provisioned as provisioned
from .services.runs import request_deployment as request_deployment
from .services.runs import requeue_superseded as requeue_superseded
from .services.schedules import expiry_refusal as expiry_refusal
from .services.schedules import reap_stale_deployments as reap_stale_deployments
from .services.schedules import schedule_interval_s as schedule_interval_s
from .services.schedules import scheduled_drift_all as scheduled_drift_all
from .services.schedules import scheduled_health_all as scheduled_health_all
from .services.schedules import spread_offsets as spread_offsets
from .services.schedules import teardown_expired_previews as teardown_expired_previews
from .services.tokens import create_api_token as create_api_token
from .services.tokens import revoke_api_token as revoke_api_token

log = logging.getLogger("portal.actions")

__all__ = [
    "ActionError",
    "Actor",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "audit",
    "cancel_deployment",
    "check_create_environment",
    "check_delete_environment",
    "check_release_target",
    "check_update_environment",
    "create_api_token",
    "create_environment",
    "delete_environment",
    "enqueue",
    "expiry_refusal",
    "field_changes",
    "find_artifact",
    "get_environment",
    "issue_token",
    "lift_protection",
    "may_lift_protection",
    "may_release",
    "reap_stale_deployments",
    "register_artifact",
    "request_deployment",
    "request_release",
    "request_rollback",
    "reveal_api_key",
    "revoke_api_token",
    "run_deployment",
    "scheduled_drift_all",
    "scheduled_health_all",
    "teardown_expired_previews",
    "unknown_environment",
    "update_environment",
]
