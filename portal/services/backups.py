"""An environment's backups, for the CLI, the API and the console: list them, take one on demand.

The work is the engine's (`provisioning.backups`); this layer decides who may (one call to
`_authorize` at the top of each function), turns the engine's failures into `ActionError`s each
path shows the same way (the CLI exits 2, the API answers a JSON problem), and audits what was
taken (`environment.backup_taken`, or `environment.backup_failed` with the reason).

Who may: viewers list; operators back up non-prod; admins back up prod too. A backup is the first
thing a teardown does, so backing up follows the teardown permission (`teardown` for non-prod,
`teardown_prod` for prod). The CLI without a user acts with admin rights, as for releases.
"""

from __future__ import annotations

from typing import Any

from portal.models import Environment
from portal.services import audit, authz
from portal.services.base import ActionError, Actor, InvalidInput, spec_of
from portal.targets import clients_for
from provisioning import backups as engine

__all__ = ["LIST", "TAKE", "list_backups", "take_backup"]

LIST = "backups.list"
TAKE = "backups.take"
# A request waits this long for the backup to be AVAILABLE (DynamoDB's take seconds at most).
TAKE_TIMEOUT_S = 120.0


def _authorize(actor: Actor, action: str, env: Environment) -> None:
    """The one guard (`portal.services.authz`): listing is viewing the environment; taking a
    backup is the `backup` action (operators below prod, admins on prod)."""
    authz.authorize(actor, "view" if action == LIST else "backup", env)


def list_backups(actor: Actor, env: Environment) -> dict[str, Any]:
    """On-demand and pre-teardown backups, newest first, and the point-in-time window; a torn-down
    environment's too (its backups outlive its table)."""
    _authorize(actor, LIST, env)
    spec = spec_of(env)
    try:
        listing = engine.list_backups(clients_for(env), spec.names, tags=spec.tags)
    except engine.BackupError as exc:
        raise ActionError(str(exc)) from None
    except Exception as exc:
        raise ActionError(
            f"could not list the backups of {env.suffix}: {type(exc).__name__}: {exc}"
        ) from None
    return listing.to_dict()


def take_backup(actor: Actor, env: Environment) -> dict[str, Any]:
    """An on-demand backup of the environment's table, AVAILABLE when this returns; audited."""
    _authorize(actor, TAKE, env)
    if env.status in (Environment.Status.NEW, Environment.Status.TORN_DOWN):
        raise InvalidInput(
            f"cannot back up {env.suffix}",
            [f"environment: {env.suffix} is {env.get_status_display()}; it has no table to back up"],
        )
    spec = spec_of(env)
    try:
        taken = engine.take_backup(clients_for(env), spec.names, tags=spec.tags, timeout_s=TAKE_TIMEOUT_S)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, engine.BackupError) else f"{type(exc).__name__}: {exc}"
        audit.audit(actor, "environment.backup_failed", env, detail={"error": reason[:500]})
        raise ActionError(f"could not back up {env.suffix}: {reason}") from None
    document = taken.to_dict()
    audit.audit(
        actor,
        "environment.backup_taken",
        env,
        detail={"arn": taken.arn, "name": taken.name, "table": taken.table_name},
    )
    return document
