"""The `live` alias: the one name through which an environment serves traffic (R-REL-2).

API Gateway's integration and the invoke permission name the alias, never the function, so a
release or a rollback moves the alias (a Lambda call) and never calls API Gateway, whose
control-plane quota is tiny and shared by the account.

The alias's wanted state is relative to the function: it points at an immutable version that
holds exactly what $LATEST holds (its code, `CodeSha256`, and every setting a version freezes),
with no routing weights. A release (`provisioning/release.py`) moves the alias gradually with
weights; outside a release, weights are drift.

- Nothing changed: three reads and no write (R-OPS-1).
- $LATEST changed: one PublishVersion (with the CodeSha256 it was compared against, so a
  concurrent code change fails the call instead of being published unseen) and one
  UpdateAlias that moves the alias and clears any weights in the same call.
- A run interrupted between the two converges on the next one: PublishVersion of unchanged
  code returns the version already published (AWS and moto alike), so no needless version is
  made; the alias is found by its fixed name, so never a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..aws import error_code, tolerating_absent, unless_absent
from ..names import LIVE_ALIAS, qualified_arn
from .base import MISSING, UNKNOWN, Context, FieldDiff, Observed, Resource, retry_until, wait_for
from .function import LATEST_CONFIG, Function

WEIGHTS = "RoutingConfig.AdditionalVersionWeights"
# What a published version freezes of the function's configuration, as flat comparable fields
# (Lambda's own names). Concurrency and tags belong to the function, not to a version.
FROZEN_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "CodeSha256": lambda c: c.get("CodeSha256", MISSING),
    "Runtime": lambda c: c.get("Runtime", MISSING),
    "Handler": lambda c: c.get("Handler", MISSING),
    "Role": lambda c: c.get("Role", MISSING),
    "MemorySize": lambda c: c.get("MemorySize", MISSING),
    "Timeout": lambda c: c.get("Timeout", MISSING),
    "Architectures": lambda c: c.get("Architectures", ["x86_64"]),
    "Environment.Variables": lambda c: (c.get("Environment") or {}).get("Variables", {}),
    "KMSKeyArn": lambda c: c.get("KMSKeyArn") or MISSING,
    "TracingConfig.Mode": lambda c: (c.get("TracingConfig") or {}).get("Mode", MISSING),
    "DeadLetterConfig.TargetArn": lambda c: (c.get("DeadLetterConfig") or {}).get("TargetArn") or MISSING,
    "LoggingConfig": lambda c: dict(c.get("LoggingConfig") or {}),
    "Layers": lambda c: sorted(layer.get("Arn", "") for layer in c.get("Layers") or []),
    "EphemeralStorage.Size": lambda c: (c.get("EphemeralStorage") or {}).get("Size", 512),
    # R-NET-1: a version keeps the network it was published in; a switch of `network` must move
    # the alias to a version in the new one, or traffic would stay where it was.
    "VpcConfig.SubnetIds": lambda c: sorted((c.get("VpcConfig") or {}).get("SubnetIds") or []),
    "VpcConfig.SecurityGroupIds": lambda c: sorted((c.get("VpcConfig") or {}).get("SecurityGroupIds") or []),
}
_BUSY = ("in progress", "currently in the following state")


def frozen_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The fields of a function configuration ($LATEST or a version) that a version freezes."""
    return {name: read(config) for name, read in FROZEN_FIELDS.items()}


class LiveAlias(Resource):
    """Alias `live` at a version holding $LATEST's code and configuration, with no weights."""

    key = "alias"
    kind = "lambda-alias"
    # The network only for its order when it goes (back to public): the engine deletes an
    # unwanted resource after its dependents, so the subnets and the group wait for the alias to
    # leave the versions that run in them (network.retire_vpc_versions).
    depends_on = ("function", "subnets", "security_group")

    # --- read ---
    def name(self, ctx: Context) -> str:
        return f"{ctx.names.function}:{LIVE_ALIAS}"

    def observe(self, ctx: Context) -> Observed | None:
        """GetAlias, then the configuration of the version it points at (one read each)."""
        client = ctx.client("lambda")
        alias = unless_absent(
            lambda: client.get_alias(FunctionName=ctx.names.function, Name=LIVE_ALIAS),
            "ResourceNotFoundException",
        )
        if alias is None:  # no alias, or no function at all
            return None
        version = alias["FunctionVersion"]
        try:
            config = client.get_function_configuration(FunctionName=ctx.names.function, Qualifier=version)
            state = frozen_fields(config)
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            state = dict.fromkeys(FROZEN_FIELDS, MISSING)  # the version was deleted under the alias
        state[WEIGHTS] = dict((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
        return Observed(state=state, attrs=_attrs(alias["AliasArn"], version))

    def desired(self, ctx: Context) -> dict[str, Any]:
        """What $LATEST will hold once `function` has converged (one read of $LATEST).

        In a run that has the function in its graph, every setting the function manages is the
        spec's value, not $LATEST's: after an out-of-band change of the function (its memory,
        say), plan and drift would otherwise take the changed $LATEST for what the alias should
        serve, report the alias backwards (wanted the changed value, found the spec's) and plan
        a publish that apply never makes, since apply first puts $LATEST back. Settings the
        function does not manage (layers, ephemeral storage) are what $LATEST holds, which is
        what a version published after the function's step freezes. Converged alone (no
        function step in the run), the alias follows $LATEST as it is.

        Before the function exists (a plan of a new environment) every value is unknown.
        """
        try:
            # The function's observe read $LATEST in this run already (one read less per
            # environment, R-FLEET-2); a setting it may have changed since is the spec's below.
            latest = ctx.recalled(LATEST_CONFIG) or ctx.client("lambda").get_function_configuration(
                FunctionName=ctx.names.function
            )
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            wanted: dict[str, Any] = dict.fromkeys(FROZEN_FIELDS, UNKNOWN)
        else:
            wanted = frozen_fields(latest)
            if "function" in ctx.attrs:
                wanted.update(_function_wanted(ctx, wanted))
        wanted[WEIGHTS] = {}
        return wanted

    # --- write ---
    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        version = self._publish(ctx, desired)
        try:
            alias = ctx.client("lambda").create_alias(
                FunctionName=ctx.names.function,
                Name=LIVE_ALIAS,
                FunctionVersion=version,
                Description=_description(ctx),
            )
        except Exception as exc:
            return self._point(ctx, version, self.existing(ctx, exc, "ResourceConflictException"))
        return _attrs(alias["AliasArn"], alias["FunctionVersion"])

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        if any(d.field in FROZEN_FIELDS for d in diffs):
            version = self._publish(ctx, desired)
        else:  # only weights differ: the alias stays where it is
            version = observed.attrs["version"]
        return self._point(ctx, version, observed)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """The alias goes with the function too; deleting it first keeps teardown explicit."""
        with tolerating_absent("ResourceNotFoundException"):
            ctx.client("lambda").delete_alias(FunctionName=ctx.names.function, Name=LIVE_ALIAS)

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        """R-ENV-4: which version serves the environment, and the ARN that serves it."""
        return {"serving_version": attrs.get("version"), "alias_arn": attrs.get("arn")}

    # --- helpers ---
    def _publish(self, ctx: Context, desired: dict[str, Any]) -> str:
        """PublishVersion of $LATEST, guarded by the CodeSha256 it was compared against."""
        sha = desired.get("CodeSha256", UNKNOWN)
        if sha in (UNKNOWN, MISSING):
            raise RuntimeError(
                f"alias {LIVE_ALIAS}: the code of function {ctx.names.function} is not known; "
                "converge the function first"
            )
        client, name = ctx.client("lambda"), ctx.names.function
        published = retry_until(
            ctx,
            lambda: client.publish_version(FunctionName=name, CodeSha256=sha),
            _busy,
            tries=10,
            first_delay=1.0,
        )
        version = str(published["Version"])
        _wait_active(ctx, version)
        return version

    def _point(self, ctx: Context, version: str, observed: Observed) -> dict[str, Any]:
        """One UpdateAlias: the version, and weights cleared (a release in flight would have none
        here: it is the only run of the environment, R-REL-5)."""
        if observed.attrs.get("version") == version and not observed.state.get(WEIGHTS):
            return dict(observed.attrs)
        alias = ctx.client("lambda").update_alias(
            FunctionName=ctx.names.function,
            Name=LIVE_ALIAS,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
        return _attrs(alias["AliasArn"], alias["FunctionVersion"])


def _function_wanted(ctx: Context, latest: dict[str, Any]) -> dict[str, Any]:
    """The frozen fields the function's own step sets to the spec's values, in the alias's shape.

    A value the function does not know yet stays UNKNOWN (not compared), as in the function's plan.
    """
    function = Function().desired(ctx)
    out = {name: function[name] for name in FROZEN_FIELDS if name in function}
    logging = {
        name[len("LoggingConfig.") :]: v for name, v in function.items() if name.startswith("LoggingConfig.")
    }
    if any(value == UNKNOWN for value in logging.values()):
        out["LoggingConfig"] = UNKNOWN
    else:
        found = latest.get("LoggingConfig")
        out["LoggingConfig"] = {**(found if isinstance(found, dict) else {}), **logging}
    return out


def _attrs(arn: str, version: str) -> dict[str, Any]:
    return {"arn": arn, "name": LIVE_ALIAS, "version": str(version)}


def alias_arn(ctx: Context) -> str:
    """The alias ARN, known from names alone (dependents need not wait to learn it)."""
    return qualified_arn(ctx.function_arn, LIVE_ALIAS)


def _description(ctx: Context) -> str:
    return f"envport {ctx.spec.suffix}: the version that serves traffic (API Gateway invokes this alias)"


def _busy(exc: BaseException) -> bool:
    """$LATEST still being updated (an update a crashed run left in progress): retry, bounded."""
    return error_code(exc) == "ResourceConflictException" and any(text in str(exc) for text in _BUSY)


def _wait_active(ctx: Context, version: str) -> None:
    """A new version may be Pending for a moment; the alias should only ever serve an Active one."""
    name = ctx.names.function

    def active() -> bool:
        config = ctx.client("lambda").get_function_configuration(FunctionName=name, Qualifier=version)
        if config.get("State") == "Failed":
            reason = config.get("StateReason") or "no reason given"
            raise RuntimeError(f"Lambda function {name} version {version} failed: {reason}")
        return bool(config.get("State", "Active") == "Active")

    wait_for(ctx, active, f"Lambda function {name} version {version} to be Active", timeout=300)
