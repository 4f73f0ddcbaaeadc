"""One resource, one pass: observe, compare, and create or update when they differ.

The engine runs this per node of its graph; tests run it on a single resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .resources.base import MISSING, PRESENT, WHOLE, Context, FieldDiff, Observed, Resource


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    NOOP = "no-op"
    DELETE = "delete"


@dataclass
class Outcome:
    """What one pass decided (and, unless it was only a plan, did)."""

    key: str
    kind: str
    action: Action
    diffs: list[FieldDiff] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)


def missing_diff(resource: Resource) -> FieldDiff:
    return FieldDiff(resource.key, WHOLE, PRESENT, MISSING)


def assess(resource: Resource, ctx: Context) -> tuple[Outcome, dict[str, Any], Observed | None]:
    """Read-only half: what would a pass do? Used by plan and drift, and first by converge."""
    observed = resource.observe(ctx)
    desired = resource.desired(ctx)
    if observed is None:
        return Outcome(resource.key, resource.kind, Action.CREATE, [missing_diff(resource)]), desired, None
    diffs = resource.diff(ctx, desired, observed)
    action = Action.UPDATE if diffs else Action.NOOP
    return Outcome(resource.key, resource.kind, action, diffs, dict(observed.attrs)), desired, observed


def converge(resource: Resource, ctx: Context) -> Outcome:
    """Make one resource match the spec and publish its attributes for its dependents."""
    outcome, desired, observed = assess(resource, ctx)
    if outcome.action is Action.CREATE:
        outcome.attrs = resource.create(ctx, desired)
    elif outcome.action is Action.UPDATE:
        assert observed is not None
        outcome.attrs = resource.update(ctx, desired, observed, outcome.diffs)
    ctx.attrs[resource.key] = outcome.attrs
    return outcome


def remove(resource: Resource, ctx: Context) -> Outcome:
    """Delete one resource if it exists; a resource already gone is a no-op (re-runnable teardown)."""
    observed = resource.observe(ctx)
    if observed is None:
        return Outcome(resource.key, resource.kind, Action.NOOP)
    ctx.attrs[resource.key] = dict(observed.attrs)
    resource.delete(ctx, observed)
    return Outcome(
        resource.key, resource.kind, Action.DELETE, [FieldDiff(resource.key, WHOLE, MISSING, PRESENT)]
    )
