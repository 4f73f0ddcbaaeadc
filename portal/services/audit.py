"""The audit trail: every change a person, a pipeline or a schedule makes leaves an AuditEvent, the
same by every path (console, admin, CLI, API, schedule). A change of a record keeps each changed
field's before and after (`field_changes`); what the documents hide, the trail hides (`redacted`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal.documents import redacted
from portal.models import AuditEvent, Deployment, Environment
from portal.runner import jsonable
from portal.services.base import Actor


def audit(
    actor: Actor,
    action: str,
    environment: Environment | None = None,
    deployment: Deployment | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        who=actor.user,
        actor=actor.name[:150],
        source=actor.source,
        action=action,
        environment=environment,
        environment_suffix=environment.suffix if environment else "",
        deployment=deployment,
        detail=redacted(jsonable(dict(detail or {}))),  # what the documents hide, the trail hides
        remote_addr=actor.remote_addr,
    )


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Each field's before and after, for every path: a change record that shows each state whole.

    A creation (no `before`) records every initial value with before None, a deletion (no
    `after`) every last value with after None, an update only the fields whose value differs.
    `overrides` is one field: its whole dict before and after, so that the record shows what the
    environment held at each point (a key set back to its stage default simply disappears) rather
    than a patch to be replayed.
    """
    old, new = before or {}, after or {}
    whole = before is None or after is None
    return {
        name: {"before": old.get(name), "after": new.get(name)}
        for name in (*old, *(n for n in new if n not in old))
        if whole or old.get(name) != new.get(name)
    }
