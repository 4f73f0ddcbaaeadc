"""plan / apply / drift / destroy of one environment: the engine's public face.

Each operation builds the resource graph for the spec, runs one small function per resource
(`reconcile.assess`, `converge` or `remove`) through `graph.run`, and returns a `RunResult`
that a CLI prints, a Celery task stores and a test asserts on. Progress goes out as plain
`StepEvent`s through a callback. Nothing here knows about Django, the local cloud or moto.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import graph, retained
from .artifacts import Artifact
from .aws import AwsClients, AwsTarget, CallCounts, error_code
from .inventory import InventoryItem, inventory
from .ratelimit import Wait
from .reconcile import Action, Outcome, assess, converge, remove
from .resources import resources_for
from .resources.base import Context, FieldDiff, Resource
from .spec import EnvironmentSpec


class DestroyRefused(RuntimeError):
    """Teardown of a protected environment: the operator must lift the protection first."""


@dataclass(frozen=True)
class StepEvent:
    """A step started or finished; `action` is known once the resource has been observed."""

    phase: str  # started / finished
    resource: str
    kind: str
    started: float
    action: str | None = None
    status: str | None = None  # succeeded / failed / skipped, when finished
    seconds: float | None = None
    calls: int = 0
    error: str | None = None
    diffs: tuple[FieldDiff, ...] = ()
    detail: str = ""  # what the resource noted, and its waits for quota tokens (R-FLEET-1)
    unused: bool = False  # a resource of a mode the spec does not use, found absent (see Step)


@dataclass
class Step:
    resource: str
    kind: str
    action: str
    status: str
    started: float
    seconds: float
    calls: int = 0
    diffs: list[FieldDiff] = field(default_factory=list)
    error: str | None = None
    quota_wait_s: float = 0.0
    detail: str = ""
    # A resource of a mode the spec does not use (the other auth and network modes'), checked and
    # found absent as expected: what a person reads as one line ("not used by this environment:
    # 9 resources, absent as expected"), not as a step, a check or a plan row each (`unused_line`).
    unused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "kind": self.kind,
            "action": self.action,
            "status": self.status,
            "started": round(self.started, 4),
            "seconds": round(self.seconds, 4),
            "calls": self.calls,
            "diffs": [d.to_dict() for d in self.diffs],
            "error": self.error,
            "quota_wait_s": round(self.quota_wait_s, 4),
            "detail": self.detail,
            "unused": self.unused,
        }


@dataclass
class RunResult:
    operation: str  # plan / apply / drift / destroy
    environment: str
    ok: bool
    steps: list[Step]
    outputs: dict[str, Any]
    calls: CallCounts
    wall_s: float
    error: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def findings(self) -> list[FieldDiff]:
        """Every field difference: what drift reports, and what a plan would change."""
        return [d for s in self.steps for d in s.diffs if self.operation != "destroy"]

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.action != Action.NOOP.value]

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "environment": self.environment,
            "ok": self.ok,
            "steps": [s.to_dict() for s in self.steps],
            "findings": [d.to_dict() for d in self.findings],
            "outputs": self.outputs,
            "calls": self.calls.to_dict(),
            "wall_s": round(self.wall_s, 4),
            "error": self.error,
            "notes": self.notes,
        }


EventSink = Callable[[StepEvent], None]


class Engine:
    """One environment's operations against one AWS target, sharing clients and a call recorder."""

    def __init__(
        self,
        spec: EnvironmentSpec,
        target: AwsTarget | None = None,
        *,
        clients: AwsClients | None = None,
        on_event: EventSink | None = None,
        workers: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        resources: Sequence[Resource] | None = None,
        artifact: Artifact | None = None,
    ) -> None:
        """`artifact`: code in hand to deploy (a release's fresh build), uploaded to the artifact
        bucket if absent; without it the function runs `spec.artifact_sha256` or `lambda_bundle/`.
        It must be the artifact the spec names, if the spec names one."""
        if artifact is not None and spec.artifact_sha256 not in (None, artifact.sha256):
            raise ValueError(
                f"the artifact given ({artifact.sha256}) is not the spec's ({spec.artifact_sha256})"
            )
        if artifact is not None and spec.handler not in (None, artifact.handler):
            raise ValueError(f"the artifact's handler {artifact.handler} is not the spec's {spec.handler}")
        self.spec = spec
        self.artifact = artifact
        self.clients = clients or AwsClients(target or AwsTarget(region=spec.region))
        self.on_event = on_event
        self.workers = workers
        self.sleep = sleep
        self.resources = {r.key: r for r in (resources if resources is not None else resources_for(spec))}
        self.deps = {
            key: {d for d in r.depends_on if d in self.resources} for key, r in self.resources.items()
        }
        probe = Context(spec=spec, aws=self.clients)  # `wanted` reads the spec only
        self.unwanted = {k for k, r in self.resources.items() if not r.wanted(probe)}
        self.converging_deps = converging(self.deps, self.unwanted)

    # --- operations ------------------------------------------------------------------------
    def inventory(self) -> list[InventoryItem]:
        """Every resource of the environment by key, kind and AWS name, and whether the spec
        wants it; no AWS call (see `provisioning.inventory`)."""
        return inventory(self.spec, self.resources.values())

    def plan(self) -> RunResult:
        """Read-only: per resource, create / update / no-op with the field diffs."""
        return self._run("plan", self.converging_deps, self._assess)

    def drift(self) -> RunResult:
        """The same comparison as plan, reported as findings (R-OPS-2, R-VER-3)."""
        return self._run("drift", self.converging_deps, self._assess)

    def apply(self) -> RunResult:
        return self._run("apply", self.converging_deps, lambda ctx, r: converge(r, ctx))

    def destroy(
        self,
        backup: bool = True,
        *,
        eni_release_timeout_s: float | None = None,
        eni_poll_s: float | None = None,
    ) -> RunResult:
        """Remove every resource of the environment in reverse order (R-OPS-4).

        In vpc mode the security group and subnets wait for Lambda to release its network
        interfaces (R-NET-4), polling every `eni_poll_s` for at most `eni_release_timeout_s`
        (defaults in `resources.network`); a run that times out is resumed by running it again."""
        if self.spec.protected:
            raise DestroyRefused(
                f"environment {self.spec.suffix} has deletion protection (stage {self.spec.stage}); "
                "lift it (deletion_protection=false) and provision before tearing it down"
            )
        own = {k: r for k, r in self.resources.items() if not r.shared}
        dependents = graph.reverse(self.deps)
        deps = {k: {d for d in dependents[k] if d in own} for k in own}
        options: dict[str, Any] = {"backup": backup}
        if eni_release_timeout_s is not None:
            options["eni_release_timeout_s"] = eni_release_timeout_s
        if eni_poll_s is not None:
            options["eni_poll_s"] = eni_poll_s
        result = self._run("destroy", deps, lambda ctx, r: remove(r, ctx), options=options)
        if result.ok:  # the tables a restore replaced and kept go too, backed up like the current one
            try:
                backups = retained.delete_all(self.clients, self.spec.names, backup=backup, sleep=self.sleep)
            except Exception as exc:
                result.ok, result.error = False, f"retained tables not removed: {_describe(exc)}"
            else:
                if backups:
                    result.notes["retained_backups"] = backups
        return result

    # --- machinery -------------------------------------------------------------------------
    @staticmethod
    def _assess(ctx: Context, resource: Resource) -> Outcome:
        outcome, _desired, _observed = assess(resource, ctx)
        ctx.attrs[resource.key] = outcome.attrs
        return outcome

    def _emit(self, event: StepEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _run(
        self,
        operation: str,
        deps: dict[str, set[str]],
        work: Callable[[Context, Resource], Outcome],
        options: dict[str, Any] | None = None,
    ) -> RunResult:
        recorder = self.clients.recorder
        if self.clients.shared is not None:  # a sweep: shared resources' reads are account-wide
            self.clients.shared.nodes.update(k for k, r in self.resources.items() if r.shared)
            self.clients.unused_nodes = frozenset(self.unwanted)
        before = recorder.snapshot()
        options = dict(options or {})
        if self.artifact is not None:
            options["artifact"] = self.artifact
        ctx = Context(spec=self.spec, aws=self.clients, options=options, sleep=self.sleep)
        calls_before = {k: recorder.calls_of(k) for k in deps}
        waits_before = {k: len(recorder.waits_of(k)) for k in deps}
        t0 = time.monotonic()

        def node_work(key: str) -> Outcome:
            with recorder.attributing(key):
                return work(ctx, self.resources[key])

        def absent(key: str) -> Outcome | None:
            """An unused mode's resource, read at the start: found absent, it is settled there and
            then, off the critical path; found present, it is deleted in its turn (`converging`)."""
            with recorder.attributing(key):
                outcome, _desired, _observed = assess(self.resources[key], ctx)
            if outcome.action is not Action.NOOP:
                return None
            ctx.attrs[key] = outcome.attrs
            return outcome

        early = self.unwanted & set(deps) if operation != "destroy" else set()

        def on_start(key: str, started: float) -> None:
            self._emit(StepEvent("started", key, self.resources[key].kind, started))

        steps: dict[str, Step] = {}

        def on_finish(node: graph.NodeRun) -> None:
            step = self._step(ctx, node, calls_before[node.key], waits_before[node.key])
            steps[node.key] = step
            self._emit(finished_event(step))

        error: str | None = None
        try:
            graph.run(
                deps,
                node_work,
                workers=self.workers,
                on_start=on_start,
                on_finish=on_finish,
                probe=absent,
                early=early,
            )
        except graph.CycleError as exc:
            error = str(exc)
        ordered = [steps[k] for k in graph.topological(deps) if k in steps]
        ordered.sort(key=lambda s: s.started)
        failed = [s for s in ordered if s.status == "failed"]
        if failed and error is None:
            error = "; ".join(f"{s.resource}: {s.error}" for s in failed)
        outputs = {} if operation == "destroy" else self._outputs(ctx, ordered)
        return RunResult(
            operation=operation,
            environment=self.spec.suffix,
            ok=error is None,
            steps=ordered,
            outputs=outputs,
            calls=recorder.since(before),
            wall_s=time.monotonic() - t0,
            error=error,
            notes=dict(ctx.notes),
        )

    def _step(self, ctx: Context, node: graph.NodeRun, calls_before: int, waits_before: int) -> Step:
        """A finished node as the run reports it: its action, its calls and its quota waits
        since the run began, and what its resource noted."""
        recorder = self.clients.recorder
        outcome: Outcome | None = node.value
        waits = recorder.waits_of(node.key)[waits_before:]
        step = Step(
            resource=node.key,
            kind=self.resources[node.key].kind,
            action=outcome.action.value if outcome else ("skipped" if node.status == "skipped" else "error"),
            status=node.status,
            started=node.started,
            seconds=node.seconds,
            calls=recorder.calls_of(node.key) - calls_before,
            diffs=list(outcome.diffs) if outcome else [],
            error=_describe(node.error) if node.error else None,
            quota_wait_s=sum(w.seconds for w in waits),
            detail="; ".join(filter(None, [ctx.details.get(node.key, ""), _describe_waits(waits)])),
        )
        step.unused = (
            node.key in self.unwanted
            and node.status == "succeeded"
            and outcome is not None
            and outcome.action is Action.NOOP
        )
        if node.status == "skipped":
            step.error = "skipped: a resource it depends on failed"
        return step

    def _outputs(self, ctx: Context, steps: list[Step]) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for step in steps:
            attrs = ctx.attrs.get(step.resource)
            if step.status == "succeeded" and attrs:
                outputs.update(self.resources[step.resource].outputs(ctx, attrs))
        return {k: v for k, v in outputs.items() if v is not None}


def finished_event(step: Step) -> StepEvent:
    return StepEvent(
        "finished",
        step.resource,
        step.kind,
        step.started,
        step.action,
        step.status,
        step.seconds,
        step.calls,
        step.error,
        tuple(step.diffs),
        step.detail,
        step.unused,
    )


def converging(deps: dict[str, set[str]], unwanted: set[str]) -> dict[str, set[str]]:
    """The order plan, apply and drift run in: a resource the spec no longer wants is deleted after
    the resources that depended on it have let go of it, so each edge onto an unwanted resource is
    turned around (the function leaves the VPC, and the alias its versions there, before the
    subnets and the group go; the API's methods drop the user pool's authorizer before the pool
    goes), as teardown turns every edge around."""
    out: dict[str, set[str]] = {k: set() for k in deps}
    for key, needs in deps.items():
        for need in needs:
            if need in unwanted:
                out[need].add(key)
            else:
                out[key].add(need)
    return out


UNUSED_RESOURCE = "not used by this environment"


def unused_line(keys: Sequence[str]) -> str:
    """The one line that stands for the unused modes' resources found absent (Step.unused)."""
    noun = "resource" if len(keys) == 1 else "resources"
    return f"{len(keys)} {noun}, absent as expected ({', '.join(sorted(keys))})"


def _describe_waits(waits: list[Wait]) -> str:
    """ "waited 7.9 s for API Gateway's quota (CreateRestApi) over 2 calls": why a step was slow."""
    if not waits:
        return ""
    total = sum(w.seconds for w in waits)
    longest = max(waits, key=lambda w: w.seconds)
    calls = f" over {len(waits)} calls" if len(waits) > 1 else ""
    return f"waited {total:.1f} s for {longest.quota.label}{calls}"


def _describe(error: BaseException) -> str:
    code = error_code(error)
    text = str(error) or type(error).__name__
    return f"{code}: {text}" if code and code not in text else text
