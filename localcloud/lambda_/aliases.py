"""Which published version serves an invocation: Lambda's alias routing, which moto stores but never uses.

AWS resolves a qualifier when a function is invoked (``Invoke`` with ``Qualifier`` or a qualified name,
and API Gateway's ``.../functions/arn:...:function:NAME:QUALIFIER/invocations``):

- none, or ``$LATEST``: the unpublished version;
- a version number: that version, an immutable snapshot of code and configuration;
- an alias: its primary version, or with its ``RoutingConfig`` (``AdditionalVersionWeights``,
  https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html) the additional version
  for that share of the requests, chosen at random per request ("Lambda uses a simple probabilistic
  model to distribute the traffic between the two function versions").

moto's ``get_function(name, alias)`` always answers the primary version. ``resolve`` adds the weighted
choice; everything else (unknown names, versions and aliases) is left to moto, which raises AWS's
``ResourceNotFoundException``.

The choice uses ``random.random()`` of a module-level generator. Set the environment variable
``LOCALCLOUD_ROUTING_SEED`` (an integer, read when this module is imported) to make the sequence of
choices reproducible across runs; tests normally assert a tolerance band instead.
"""

from __future__ import annotations

import os
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Target", "resolve", "split_qualifier"]

_ARN = re.compile(r"^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:(?P<rest>.+)$")
_VERSION = re.compile(r"^\d+$")

_seed = os.environ.get("LOCALCLOUD_ROUTING_SEED")
_RANDOM = random.Random(int(_seed) if _seed and _seed.lstrip("-").isdigit() else None)
_RANDOM_LOCK = threading.Lock()


@dataclass(frozen=True)
class Target:
    """What runs an invocation: ``fn`` is the moto function object of the version that executes.

    ``qualifier`` is what the caller named (None for an unqualified name), ``alias`` the alias it
    named, if any, and ``executed_version`` the version chosen (``$LATEST`` or a number)."""

    fn: Any
    qualifier: str | None
    alias: str | None

    @property
    def executed_version(self) -> str:
        return str(self.fn.version)


def split_qualifier(name_or_arn: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """(function name, qualifier) from a name, a partial or full ARN, and an explicit qualifier.

    A qualifier inside the name wins over the explicit one, as moto resolves it."""
    found = _ARN.match(name_or_arn)
    rest = found.group("rest") if found else name_or_arn
    if not found and ":function:" in rest:  # partial ARN: 123456789012:function:NAME[:Q]
        rest = rest.split(":function:", 1)[1]
    name, _, inner = rest.partition(":")
    return name, (inner or qualifier or None)


def _weighted_version(alias: Any) -> str:
    """The version an alias sends this request to: one draw against its additional weights."""
    weights = ((alias.routing_config or {}).get("AdditionalVersionWeights")) or {}
    with _RANDOM_LOCK:
        draw = _RANDOM.random()
    cumulative = 0.0
    for version, weight in sorted(weights.items()):
        cumulative += float(weight)
        if draw < cumulative:
            return str(version)
    return str(alias.function_version)


def resolve(backend: Any, name_or_arn: str, qualifier: str | None = None) -> Target:
    """The version that serves one invocation of ``name_or_arn`` (with ``qualifier``) in ``backend``.

    Raises moto's own exceptions (``UnknownFunctionException`` and the like) for what does not exist.
    """
    name, qualifier = split_qualifier(name_or_arn, qualifier)
    if qualifier is None or qualifier.upper() == "$LATEST" or _VERSION.match(qualifier):
        return Target(backend.get_function(name, qualifier), qualifier, None)
    try:
        alias = backend.get_alias(qualifier, name)
    except Exception:
        # Not an alias of an existing function: moto answers ResourceNotFoundException.
        return Target(backend.get_function(name, qualifier), qualifier, None)
    version = _weighted_version(alias)
    return Target(backend.get_function(name, version), qualifier, qualifier)
