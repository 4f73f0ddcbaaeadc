"""The one shape every managed resource has: observe, desired, diff, create, update, delete.

It follows Crossplane's managed reconciler: read what is live (by deterministic name and tag,
never from memory of an earlier run), compare it field by field with what the spec asks for,
then create, update or leave alone. `observe` makes read calls only, which is what lets `plan`
and `drift` share the exact comparison that `apply` acts on (R-VER-3, R-OPS-2).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from ..aws import AwsClients, error_code
from ..names import MANAGED_BY, Names
from ..spec import EnvironmentSpec

# What a value will be once a resource it depends on exists (shown by `plan`, like Terraform).
UNKNOWN = "(known after apply)"
# What `found` says for a field or a resource that is not there.
MISSING = "(missing)"
PRESENT = "(present)"
WHOLE = "(resource)"  # the field name of a finding about a whole resource


@dataclass(frozen=True)
class FieldDiff:
    """One difference: `resource` key, `field` path, `wanted` value, `found` value."""

    resource: str
    field: str
    wanted: Any
    found: Any

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "field": self.field, "wanted": self.wanted, "found": self.found}


@dataclass
class Observed:
    """What is live: `state` holds the comparable fields, `attrs` the ids and ARNs others need."""

    state: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What a resource needs while it runs; one per engine run, shared by its worker threads.

    `attrs` maps a resource key to the attributes it published (ids, ARNs); each key is written
    by exactly one resource, and only after every reader of it is scheduled to wait for it, so
    plain dict access is safe under the GIL.
    """

    spec: EnvironmentSpec
    aws: AwsClients
    options: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # run-level facts, e.g. the teardown backup
    # What a resource's step did beyond its action, shown with the step (e.g. an ENI wait).
    details: dict[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    # The account when it is known without asking STS (an inventory has no credentials to ask with).
    known_account: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> Names:
        return self.spec.names

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def account_id(self) -> str:
        return self.known_account or self.aws.account_id

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    @property
    def in_sweep(self) -> bool:
        """A sweep's check (R-FLEET-2): account-wide reads are shared, and a resource may skip a
        read whose answer the other reads already imply (each says when; plan, apply and a single
        environment's drift read everything)."""
        return self.aws.shared is not None

    def attr(self, key: str, name: str) -> Any:
        """An attribute another resource published, or UNKNOWN while that resource does not exist."""
        return self.attrs.get(key, {}).get(name, UNKNOWN)

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        """Compute once per run (the bundle's zip, for example), safely across threads."""
        with self._lock:
            if name not in self._cache:
                self._cache[name] = make()
            return self._cache[name]

    def remember(self, name: str, value: Any) -> None:
        """Keep a fact one resource read for another (the latest read wins)."""
        with self._lock:
            self._cache[name] = value

    def recalled(self, name: str) -> Any:
        """What `remember` (or `cached`) holds under `name`, or None: nothing is computed."""
        with self._lock:
            return self._cache.get(name)

    # --- ARNs that follow from names alone, so dependents need not wait to learn them ---
    def arn(self, service: str, resource: str, region: str | None = None) -> str:
        region = self.region if region is None else region
        return f"arn:{self.aws.partition}:{service}:{region}:{self.account_id}:{resource}"

    @property
    def table_arn(self) -> str:
        return self.arn("dynamodb", f"table/{self.names.table}")

    @property
    def function_arn(self) -> str:
        return self.arn("lambda", f"function:{self.names.function}")

    @property
    def dlq_arn(self) -> str:
        return self.arn("sqs", self.names.dlq)

    @property
    def topic_arn(self) -> str:
        return self.arn("sns", self.names.topic)

    def log_group_arn(self, name: str) -> str:
        return self.arn("logs", f"log-group:{name}")

    @property
    def kms_key_arn(self) -> str:
        """The key that encrypts the table and the function's environment (R-DB-4, R-FN-3)."""
        return self.spec.kms_key_arn or self.attr("kms_key", "arn")

    # --- tags in the shapes the different AWS APIs want (R-ENV-3) ---
    def tag_list(self) -> list[dict[str, str]]:
        return key_value_list(self.spec.tags)

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.spec.tags)


def always(ctx: Context) -> bool:
    """The `wanted` of a resource every environment has, whatever its modes."""
    return True


class Resource:
    """Base of every managed resource kind. Subclasses set the class attributes and the methods.

    One class per AWS resource type: where an environment has two of a type (the API's function
    and the token authorizer, their roles, log groups and invoke permissions), the class takes the
    instance's differences as one frozen dataclass in its constructor, and sets `key` and
    `depends_on` from it; it is never subclassed per instance.

    - `name(ctx)`: the resource's AWS name or identifier as an operator knows it (no AWS call).
    - `observe(ctx)`: read calls only; None when the resource does not exist.
    - `desired(ctx)`: the comparable fields the spec asks for (same keys as `Observed.state`).
    - `diff(ctx, desired, observed)`: the field differences; the default compares key by key.
    - `create` / `update`: make it so, return the attributes dependents need (like `Observed.attrs`).
    - `delete(ctx, observed)`: remove it; must tolerate it being gone already.
    - `outputs(ctx, attrs)`: the environment outputs this resource contributes (R-ENV-4).
    """

    # Class attributes, or set per instance by a parameterised resource's constructor.
    key: str
    kind: str
    depends_on: tuple[str, ...] = ()
    shared: ClassVar[bool] = False  # account-level: kept when an environment is destroyed

    def name(self, ctx: Context) -> str:
        """What the console, the plan and `env show` call it: the table's name, the role's, the
        log group's... A resource made of several (alarms, subnets) summarises them. Follows from
        the spec and the target alone, so a page can show it without asking AWS."""
        raise NotImplementedError

    def observe(self, ctx: Context) -> Observed | None:
        raise NotImplementedError

    def wanted(self, ctx: Context) -> bool:
        """Whether the spec asks for this resource at all. One that exists but is not wanted (the
        token authorizer after a switch to `iam`, say) is deleted by apply and reported by plan
        and drift, so a mode switch converges instead of leaving the old mode's resources."""
        return True

    def desired(self, ctx: Context) -> dict[str, Any]:
        raise NotImplementedError

    def diff(self, ctx: Context, desired: dict[str, Any], observed: Observed) -> list[FieldDiff]:
        return compare(self.key, desired, observed.state)

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def delete(self, ctx: Context, observed: Observed) -> None:
        raise NotImplementedError

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {}

    def existing(self, ctx: Context, conflict: Exception, *codes: str) -> Observed:
        """What a create call found already there (made by a run we did not see finish), observed
        so it is adopted rather than failed on or duplicated. Re-raises `conflict` when its error
        code is not one of `codes` (any, when none are named) or nothing is there after all."""
        if codes and error_code(conflict) not in codes:
            raise conflict
        observed = self.observe(ctx)
        if observed is None:
            raise conflict
        return observed

    def converge(self, ctx: Context, desired: dict[str, Any], observed: Observed) -> dict[str, Any]:
        """Update what is live to `desired` by the differences the comparison finds."""
        return self.update(ctx, desired, observed, self.diff(ctx, desired, observed))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key}>"


class Instance(Protocol):
    """What a parameterised resource's instance dataclass has in common: its key in the graph,
    what it depends on, and whether the spec wants it."""

    @property
    def key(self) -> str: ...

    @property
    def depends_on(self) -> tuple[str, ...]: ...

    @property
    def wanted(self) -> Callable[[Context], bool]: ...


InstanceT = TypeVar("InstanceT", bound=Instance)


class InstanceResource(Resource, Generic[InstanceT]):
    """A resource kind an environment can have several of (the API's function and the token
    authorizer, their roles, log groups and invoke permissions): the instance gives the key, the
    dependencies and whether it is wanted; the subclass gives the AWS type's behaviour."""

    instance: InstanceT
    # The instance a bare constructor call makes (`Function()` is the API's function), given as
    # the class keyword `default=`; its key and dependencies are the class's too.
    default: ClassVar[Instance | None] = None

    def __init_subclass__(cls, default: Instance | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if default is not None:
            cls.default = default
            cls.key = default.key
            cls.depends_on = default.depends_on

    def __init__(self, instance: InstanceT | None = None) -> None:
        if instance is None:
            if self.default is None:
                raise TypeError(f"{type(self).__name__} has no default instance: name one")
            instance = cast("InstanceT", self.default)
        self.instance = instance
        self.key = instance.key
        self.depends_on = instance.depends_on

    def wanted(self, ctx: Context) -> bool:
        return self.instance.wanted(ctx)


def compare(resource: str, desired: dict[str, Any], found: dict[str, Any]) -> list[FieldDiff]:
    """Field-level differences; a desired value of UNKNOWN is not compared (it will be known later).

    Keys present only in `found` are differences too (wanted MISSING): an extra policy statement
    or an alarm nobody asked for is drift.
    """
    diffs = []
    for name, wanted in desired.items():
        if wanted == UNKNOWN:
            continue
        have = found.get(name, MISSING)
        if not _same(wanted, have):
            diffs.append(FieldDiff(resource, name, wanted, have))
    for name, have in found.items():
        if name not in desired:
            diffs.append(FieldDiff(resource, name, MISSING, have))
    return diffs


@dataclass(frozen=True)
class TagChanges:
    """What turns the tags found into the tags wanted, touching only what differs."""

    to_set: dict[str, str]  # keys that are new or whose value changed
    to_remove: list[str]  # keys found that are not wanted


def tag_changes(found: Mapping[str, str] | None, wanted: Mapping[str, str]) -> TagChanges:
    """The tags to set and the keys to remove; `aws:` tags are never either (AWS refuses both).

    `found` is whatever observe recorded; a drift value is untyped, so anything but a mapping
    (MISSING, for instance) counts as no tags at all.
    """
    have = user_tags(found if isinstance(found, Mapping) else None)
    want = user_tags(wanted)
    to_set = {k: v for k, v in sorted(want.items()) if have.get(k) != v}
    return TagChanges(to_set=to_set, to_remove=sorted(set(have) - set(want)))


def repair_tags(
    found: Mapping[str, str] | None,
    wanted: Mapping[str, str],
    *,
    tag: Callable[[dict[str, str]], None],
    untag: Callable[[list[str]], None],
) -> TagChanges:
    """Make a resource's tags exactly `wanted` through its service's own tag and untag calls.

    Every resource repairs tags this one way: strays are removed first (so the resource never
    holds more tags than it will end with: AWS caps the count), then only new or changed values
    are set, and no call is made when nothing differs.
    """
    changes = tag_changes(found, wanted)
    if changes.to_remove:
        untag(changes.to_remove)
    if changes.to_set:
        tag(changes.to_set)
    return changes


def key_value_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags in the `[{"Key": ..., "Value": ...}]` shape most AWS APIs take, in a stable order."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def repair_tags_through(
    found: Mapping[str, str] | None,
    wanted: Mapping[str, str],
    tag: Callable[..., Any],
    untag: Callable[..., Any],
    *,
    tags_as: Callable[[dict[str, str]], Any] = key_value_list,
    **where: Any,
) -> TagChanges:
    """`repair_tags` through a service's tag call taking `Tags` (in the shape `tags_as` makes:
    AWS's key-value list unless told) and its untag call taking `TagKeys`, each beside the
    resource's identifier given as `where` (`ResourceArn=arn`, `RoleName=name`...)."""
    return repair_tags(
        found,
        wanted,
        tag=lambda tags: tag(**where, Tags=tags_as(tags)),
        untag=lambda keys: untag(**where, TagKeys=keys),
    )


def sync_tags(
    observed: Observed,
    desired: Mapping[str, Any],
    tag: Callable[..., Any],
    untag: Callable[..., Any],
    *,
    tags_as: Callable[[dict[str, str]], Any] = key_value_list,
    **where: Any,
) -> TagChanges:
    """`repair_tags_through` from the tags `observe` found to those `desired` asks for."""
    found = observed.state.get("tags")
    return repair_tags_through(found, desired["tags"], tag, untag, tags_as=tags_as, **where)


def user_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Tags AWS adds itself (`aws:` prefix) can be neither set nor removed: not ours to compare."""
    return {k: v for k, v in (tags or {}).items() if not k.startswith("aws:")}


def is_ours(ctx: Context, tags: Mapping[str, str] | None) -> bool:
    """Whether a resource found by name (or by a shared prefix) belongs to this environment.

    Names alone do not decide it: REST APIs, usage plans and keys may share names, and an alarm
    prefix `envport-dev1-` also matches environment `dev1-x`'s alarms. Only the Environment and
    ManagedBy tags together make something ours to adopt, change or delete.
    """
    mine = user_tags(tags)
    return mine.get("Environment") == ctx.spec.suffix and mine.get("ManagedBy") == MANAGED_BY


def ownership_filters(ctx: Context) -> list[dict[str, Any]]:
    """The same test as `is_ours`, as the tagging API's TagFilters (for a server-side search)."""
    return [
        {"Key": "Environment", "Values": [ctx.spec.suffix]},
        {"Key": "ManagedBy", "Values": [MANAGED_BY]},
    ]


def oldest_of_mine(
    ctx: Context, items: list[dict[str, Any]], name: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """Adopt by name AND tags where AWS names are not unique (REST APIs, usage plans, keys).

    The oldest match is ours; the ids of further matches (left by concurrent runs) are returned
    so they can be reported as drift. Someone else's item with the same name is never adopted.
    """
    mine = [item for item in items if item.get("name") == name and is_ours(ctx, item.get("tags"))]
    if not mine:
        return None, []
    mine.sort(key=lambda item: (str(item.get("createdDate", "")), item["id"]))
    return mine[0], sorted(item["id"] for item in mine[1:])


def _same(wanted: Any, found: Any) -> bool:
    if isinstance(wanted, float) or isinstance(found, float):
        try:
            return float(wanted) == float(found)
        except (TypeError, ValueError):
            return False
    return bool(wanted == found)


def retry_until(
    ctx: Context,
    attempt: Callable[[], Any],
    retry_if: Callable[[BaseException], bool],
    *,
    tries: int = 8,
    first_delay: float = 0.5,
    max_delay: float = 8.0,
) -> Any:
    """Bounded exponential backoff for AWS's eventual consistency (a new IAM role, a new key)."""
    delay = first_delay
    for attempt_no in range(tries):
        try:
            return attempt()
        except Exception as exc:
            if attempt_no == tries - 1 or not retry_if(exc):
                raise
            ctx.sleep(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


def wait_for(
    ctx: Context,
    check: Callable[[], bool],
    what: str,
    *,
    timeout: float = 300.0,
    interval: float = 1.0,
) -> None:
    """Poll `check` until it is true; raise TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        ctx.sleep(interval)
