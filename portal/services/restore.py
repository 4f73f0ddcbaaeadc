"""Restores, undos and clones of an environment's data, for the CLI, the API and the console.

The work is the engine's (`provisioning.restore`); this layer decides who may, checks the input
before anything is queued or any AWS call is made, and queues one run of the environment (a
`restore` Deployment: never concurrent with another run of it, resumable from its recorded state
after a worker dies, audited and notified like a release).

Who may (the one guard, `authz.authorize`): a restore or an undo is the `restore` action on the
environment (operators below prod, admins on prod); a clone is `restore` on the environment it
goes into and `clone_data` on the one it copies (so cloning FROM prod is an admin's). The retained
tables' sweep is `sweep_retained` (the schedule's, or an admin's).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from django.utils import timezone

from portal.models import Deployment, Environment
from portal.services import audit as audit_service
from portal.services import authz
from portal.services import runs as run_service
from portal.services.base import ActionError, Actor, InvalidInput, spec_of
from portal.targets import clients_for
from provisioning import restore as engine
from provisioning import retained

log = logging.getLogger("portal.services.restore")

__all__ = [
    "request_restore",
    "retained_tables",
    "sweep_retained_all",
]

_ACCOUNT_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


def _account(env: Environment) -> str:
    """The account the environment's runs act in, as far as the portal knows it without AWS: the
    role's, or "" for the portal's own credentials."""
    found = _ACCOUNT_RE.match(env.role_arn or "")
    return found.group(1) if found else ""


def _state_problems(env: Environment, source: Environment | None) -> list[str]:
    problems = []
    if env.status != Environment.Status.READY:
        problems.append(
            f"environment: {env.suffix} is {env.get_status_display()}; a restore cuts over a provisioned "
            "environment (provision it first)"
        )
    if source is not None and _account(source) != _account(env):
        problems.append(
            f"from: {source.suffix} is in another account than {env.suffix} "
            f"({_account(source) or 'the portal own'} vs {_account(env) or 'the portal own'}); "
            "clones stay within one account"
        )
    return problems


def _operation(undo: bool, source: Environment | None) -> str:
    if undo:
        return engine.UNDO
    return engine.CLONE if source is not None else engine.RESTORE


def request_restore(
    actor: Actor,
    env: Environment,
    *,
    to_time: str | None = None,
    backup: str | None = None,
    undo: bool = False,
    source: Environment | None = None,
    masks: Sequence[str] = (),
    retention_days: int = retained.DEFAULT_RETENTION_DAYS,
    confirm: Callable[[], None] | None = None,
) -> Deployment:
    """A queued restore of `env` (to a time, from a backup, or the undo of the last one), or a
    clone of `source`'s data into it. Every problem is listed before anything is queued;
    `confirm` (the CLI's prompt) is asked once the input is valid, and may refuse."""
    authz.authorize(actor, "restore", env)
    if source is not None:
        authz.authorize(actor, "clone_data", source)
    operation = _operation(undo, source)
    if undo and source is not None:
        raise InvalidInput(
            f"cannot undo {env.suffix}", ["undo: --undo alone; it swaps back to the replaced table"]
        )
    problems = _state_problems(env, source)
    spec = spec_of(env)
    source_spec = spec_of(source) if source is not None else None
    try:
        request = engine.parse_request(
            spec,
            operation=operation,
            source=source_spec,
            to_time=to_time,
            backup=backup,
            masks=list(masks),
            retention_days=retention_days,
        )
    except engine.RestoreInputError as exc:
        problems += [f"{p.field}: {p.value!r} is not allowed; {p.allowed}" for p in exc.problems]
        request = None
    if problems or request is None:
        raise InvalidInput(f"cannot {operation} {env.suffix}", problems)
    if confirm is not None:
        confirm()
    options = {
        "operation": operation,
        "request": request.to_dict(),
        "source_environment": source.suffix if source is not None else env.suffix,
        "point_in_time": request.to_time.isoformat() if request.to_time else None,
        "backup": request.backup,
        "masks": list(request.masks),
    }
    return run_service.request_deployment(actor, env, Deployment.Kind.RESTORE, options)


def retained_tables(actor: Actor, env: Environment) -> list[dict[str, Any]]:
    """The tables a restore replaced and keeps (viewing the environment); listed beside backups."""
    authz.authorize(actor, "view", env)
    try:
        found = retained.list_retained(clients_for(env), spec_of(env).names)
    except ActionError:
        raise
    except Exception as exc:
        raise ActionError(
            f"could not list the retained tables of {env.suffix}: {type(exc).__name__}: {exc}"
        ) from None
    return [t.to_dict() for t in found]


def sweep_retained_all(actor: Actor, now: dt.datetime | None = None) -> dict[str, list[str]]:
    """Delete every environment's retained tables whose period is over (the beat's hourly task);
    each environment passes the guard, and each deletion is audited."""
    moment = now or timezone.now()
    deleted: dict[str, list[str]] = {}
    for env in Environment.objects.exclude(status=Environment.Status.NEW):
        try:
            authz.authorize(actor, "sweep_retained", env)
            gone = retained.sweep_expired(clients_for(env), spec_of(env).names, moment)
        except Exception as exc:  # one environment's failure does not stop the sweep
            log.warning("retained tables of %s not swept: %s", env.suffix, exc)
            continue
        if gone:
            deleted[env.suffix] = gone
            audit_service.audit(actor, "environment.retained_tables_deleted", env, detail={"tables": gone})
    return deleted
