"""What an environment is made of, by name: every resource key, its kind, its AWS name, whether
the spec wants it, and whether it is shared by the account.

One list for every page that names resources (the console's teardown page and plan, `manage.py
env show`), built from the resources themselves (`Resource.name`), so a resource added to the
catalogue is named everywhere without a second map to keep up to date. It makes no AWS call:
names follow from the spec and the target, and a name that embeds the account (the shared
artifact bucket's) shows ACCOUNT_PLACEHOLDER unless the account is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .aws import AwsClients, AwsTarget
from .resources import resources_for
from .resources.base import Context, Resource
from .spec import EnvironmentSpec

ACCOUNT_PLACEHOLDER = "<account>"


@dataclass(frozen=True)
class InventoryItem:
    """One resource of an environment as an operator sees it."""

    key: str
    kind: str
    name: str
    wanted: bool  # False: the spec's auth or network mode does not use it (deleted if it exists)
    shared: bool  # account-level: kept when the environment is torn down

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "name": self.name,
            "wanted": self.wanted,
            "shared": self.shared,
        }


def inventory(
    spec: EnvironmentSpec,
    resources: Iterable[Resource] | None = None,
    *,
    account_id: str | None = None,
) -> list[InventoryItem]:
    """Every resource of `spec` (or the `resources` given, as an engine holds them), in catalogue order."""
    clients = AwsClients(AwsTarget(region=spec.region))  # no client is made: nothing is called
    ctx = Context(spec=spec, aws=clients, known_account=account_id or ACCOUNT_PLACEHOLDER)
    return [
        InventoryItem(
            key=resource.key,
            kind=resource.kind,
            name=resource.name(ctx),
            wanted=resource.wanted(ctx),
            shared=resource.shared,
        )
        for resource in (resources_for(spec) if resources is None else resources)
    ]


def names_by_key(spec: EnvironmentSpec) -> dict[str, str]:
    """Resource key -> AWS name: what a page that lists steps by key shows beside each."""
    return {item.key: item.name for item in inventory(spec)}
