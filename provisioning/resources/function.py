"""Lambda functions: API_FUNCTION, the one that serves every /items route (R-FN-1..7), and any
other instance of the same resource (the token authorizer, `authorizer.py`).

Every instance runs python3.12 on arm64 with JSON logs into a log group made before it; what
differs is a `FunctionInstance`. The API's function takes memory, timeout and reserved
concurrency from the stage profile (R-FN-6), and manages what the authorizer leaves to Lambda's
defaults (OPTIONAL_FIELDS): environment variables encrypted with the environment's KMS key
(R-FN-3), X-Ray active tracing (R-FN-4), failed asynchronous invocations to the SQS dead-letter
queue (R-FN-5), its VPC in vpc mode (R-NET-1). Its log group keeps the retention (R-FN-7, R-FN-10).

The code is an artifact (R-REL-1, R-FN-2): a deterministic zip stored in the account's artifact
bucket under its SHA-256, which Lambda reads from S3 (`Code={S3Bucket, S3Key}`). Its SHA-256 is
compared with the live `CodeSha256`, so an unchanged artifact is neither uploaded nor deployed
again, and an artifact already in the bucket is never uploaded twice. Which artifact: the one
handed to the engine (`Engine(artifact=...)`, a release's fresh build), else the one the spec
names (`artifact_sha256`, what the environment runs since its last release, deployed by
reference from the bucket), else the repository's `lambda_bundle/` built for this run. Every
other change goes through one UpdateFunctionConfiguration carrying only the fields that differ,
and nothing at all is called when nothing differs (R-OPS-1).

Two behaviours of real Lambda shape create and update:
- IAM is eventually consistent: a role created seconds ago may not be assumable yet
  ("The role defined for the function cannot be assumed by Lambda"), and a policy just put may
  not be visible to the DLQ permission check yet; both are retried with bounded backoff.
- A function is usable only when `State` is Active and `LastUpdateStatus` Successful, and a
  second update while one is in progress fails with ResourceConflictException; every create or
  update therefore waits for that before the next call, and before dependents (the API's
  integration) go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..artifacts import Artifact, S3Location, code_sha256, default_artifact, require_stored, upload_artifact
from ..aws import error_code, tolerating_absent, unless_absent
from ..names import INDEX_NAME, Names
from .base import (
    MISSING,
    UNKNOWN,
    Context,
    FieldDiff,
    InstanceResource,
    Observed,
    always,
    retry_until,
    sync_tags,
    user_tags,
    wait_for,
)

RUNTIME = "python3.12"
ARCHITECTURES = ["arm64"]
# The spec speaks Python's logging level names (the handler's LOG_LEVEL); Lambda's log-level
# controls use their own.
LAMBDA_LOG_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR"}
LOGGING_FIELDS = ("LogFormat", "LogGroup", "ApplicationLogLevel", "SystemLogLevel")
# Fields that CreateFunction and UpdateFunctionConfiguration take as they are, under the same name.
SIMPLE_CONFIG_FIELDS = ("Runtime", "Handler", "Role", "MemorySize", "Timeout", "KMSKeyArn")
CODE_FIELDS = ("CodeSha256", "Architectures")
# What the API's function manages and a smaller function (the token authorizer) may leave to
# Lambda's defaults: reserved concurrency (R-FN-6), the environment's key (R-FN-3), X-Ray
# (R-FN-4), the dead-letter queue (R-FN-5) and the VPC (R-NET-1).
OPTIONAL_FIELDS = (
    "ReservedConcurrentExecutions",
    "KMSKeyArn",
    "TracingConfig.Mode",
    "DeadLetterConfig.TargetArn",
    "VpcConfig.SubnetIds",
    "VpcConfig.SecurityGroupIds",
)
_BUSY = ("in progress", "currently in the following state")
# The run's cache key of $LATEST's configuration as the function's observe read it.
LATEST_CONFIG = "function.latest_config"
_IAM_NOT_READY = (
    "cannot be assumed by Lambda",
    "does not have permissions to call",  # e.g. SendMessage on the DLQ, checked on create/update
)


@dataclass(frozen=True)
class FunctionCode:
    """The artifact the function should run: its address, its handler, and its bytes if in hand."""

    sha256: str
    handler: str
    artifact: Artifact | None  # None: deployed by reference, must already be in the bucket

    @property
    def sha256_b64(self) -> str:
        return code_sha256(self.sha256)


@dataclass(frozen=True)
class FunctionSettings:
    """The values of one function's configuration that are its own."""

    memory_mb: int
    timeout_s: int
    variables: dict[str, Any]
    log_level: str  # Lambda's ApplicationLogLevel
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class FunctionInstance:
    """What differs between two Lambda functions of an environment (the API's, the token
    authorizer): names, code, settings, and which of OPTIONAL_FIELDS it manages."""

    key: str
    depends_on: tuple[str, ...]
    function_name: Callable[[Names], str]
    role_name: Callable[[Names], str]
    log_group: Callable[[Names], str]
    code: Callable[[Context], FunctionCode]
    settings: Callable[[Context], FunctionSettings]
    optional_fields: tuple[str, ...] = ()
    wanted: Callable[[Context], bool] = always
    publishes_outputs: bool = False  # function_name and function_arn (R-ENV-4)


def function_code(ctx: Context) -> FunctionCode:
    """Resolved once per run (the default build included), shared by every method and thread."""

    def resolve() -> FunctionCode:
        given: Artifact | None = ctx.options.get("artifact")
        if given is not None:
            return FunctionCode(given.sha256, given.handler, given)
        if ctx.spec.artifact_sha256:
            return FunctionCode(ctx.spec.artifact_sha256, ctx.spec.function_handler, None)
        built = default_artifact()
        return FunctionCode(built.sha256, built.handler, built)

    code: FunctionCode = ctx.cached("function_code", resolve)
    return code


def api_settings(ctx: Context) -> FunctionSettings:
    """The stage profile's memory, timeout and concurrency (R-FN-6), and what the handler reads."""
    spec, settings, names = ctx.spec, ctx.spec.settings, ctx.names
    return FunctionSettings(
        memory_mb=settings.memory_mb,
        timeout_s=settings.timeout_s,
        variables={
            "TABLE_NAME": names.table,
            "INDEX_NAME": INDEX_NAME,
            "ENVIRONMENT": spec.suffix,
            "STAGE": spec.stage,
            "LOG_LEVEL": settings.log_level,
            "CORS_ALLOW_ORIGINS": ",".join(spec.cors_origins),
        },
        log_level=LAMBDA_LOG_LEVELS[settings.log_level],
        reserved_concurrency=settings.reserved_concurrency,
    )


API_FUNCTION = FunctionInstance(
    key="function",
    # In vpc mode (R-NET-1) also its subnets, security group and DynamoDB endpoint: a function
    # put in a VPC before its endpoint exists would answer its first calls with timeouts.
    depends_on=(
        "function_role",
        "dlq",
        "function_log_group",
        "kms_key",
        "artifact_bucket",
        "subnets",
        "security_group",
        "dynamodb_endpoint",
    ),
    function_name=lambda n: n.function,
    role_name=lambda n: n.function_role,
    log_group=lambda n: n.function_log_group,
    code=function_code,
    settings=api_settings,
    optional_fields=OPTIONAL_FIELDS,
    publishes_outputs=True,
)


class Function(InstanceResource[FunctionInstance], default=API_FUNCTION):
    """A Lambda function of the environment; `Function()` is the API's (API_FUNCTION)."""

    kind = "lambda-function"

    def name(self, ctx: Context) -> str:
        return self.instance.function_name(ctx.names)

    # --- read ---
    def observe(self, ctx: Context) -> Observed | None:
        """One GetFunction: configuration, code hash, tags and concurrency in one read."""
        response = unless_absent(
            lambda: ctx.client("lambda").get_function(FunctionName=self.name(ctx)),
            "ResourceNotFoundException",
        )
        if response is None:
            return None
        if self.instance is API_FUNCTION:
            # The alias compares its version with $LATEST: this read already holds it (LATEST_CONFIG).
            ctx.remember(LATEST_CONFIG, response["Configuration"])
        return Observed(state=self._managed(_live_state(response)), attrs=_attrs(response["Configuration"]))

    def desired(self, ctx: Context) -> dict[str, Any]:
        names, code, settings = ctx.names, self.instance.code(ctx), self.instance.settings(ctx)
        return self._managed(
            {
                "Runtime": RUNTIME,
                "Architectures": list(ARCHITECTURES),
                "Handler": code.handler,
                "Role": ctx.arn("iam", f"role/{self.instance.role_name(names)}", region=""),
                "MemorySize": settings.memory_mb,
                "Timeout": settings.timeout_s,
                "ReservedConcurrentExecutions": settings.reserved_concurrency,
                "Environment.Variables": settings.variables,
                "KMSKeyArn": ctx.kms_key_arn,
                "TracingConfig.Mode": "Active",
                "DeadLetterConfig.TargetArn": ctx.dlq_arn,
                "LoggingConfig.LogFormat": "JSON",
                "LoggingConfig.LogGroup": self.instance.log_group(names),
                "LoggingConfig.ApplicationLogLevel": settings.log_level,
                "LoggingConfig.SystemLogLevel": "INFO",
                "CodeSha256": code.sha256_b64,
                "tags": ctx.tag_dict,
                **_vpc_config(ctx),
            }
        )

    def _managed(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The fields this instance manages, in order: every field but the optional ones it does not."""
        optional = set(OPTIONAL_FIELDS) - set(self.instance.optional_fields)
        return {name: value for name, value in fields.items() if name not in optional}

    # --- write ---
    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        name = self.name(ctx)
        _require_known(name, desired)
        client = ctx.client("lambda")
        params: dict[str, Any] = {
            "FunctionName": name,
            "Code": _stored_code(ctx, self.instance.code(ctx)).code(),
            "Architectures": desired["Architectures"],
            "Publish": False,
            "Tags": desired["tags"],
            **_config_params(desired, set(desired)),
        }
        try:
            config = _retrying(ctx, lambda: client.create_function(**params))
        except Exception as exc:
            return self.converge(ctx, desired, self.existing(ctx, exc, "ResourceConflictException"))
        _wait_ready(ctx, name)
        if "ReservedConcurrentExecutions" in desired:
            _set_concurrency(ctx, name, desired["ReservedConcurrentExecutions"])
        return _attrs(config)

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        client, name = ctx.client("lambda"), self.name(ctx)
        changed = {d.field for d in diffs if desired.get(d.field, MISSING) != UNKNOWN}
        attrs = dict(observed.attrs)
        params = _config_params(desired, changed)
        if params:
            config = _retrying(ctx, lambda: client.update_function_configuration(FunctionName=name, **params))
            attrs.update(_attrs(config))
            _wait_ready(ctx, name)
        if changed & set(CODE_FIELDS):
            attrs.update(self._update_code(ctx, desired, changed))
        if "ReservedConcurrentExecutions" in changed:
            _set_concurrency(ctx, name, desired["ReservedConcurrentExecutions"])
        if "tags" in changed:
            arn = attrs["arn"]
            sync_tags(
                observed, desired, client.tag_resource, client.untag_resource, Resource=arn, tags_as=dict
            )
        return attrs

    def _update_code(self, ctx: Context, desired: dict[str, Any], changed: set[str]) -> dict[str, Any]:
        name = self.name(ctx)
        code: dict[str, Any] = {"FunctionName": name, **_stored_code(ctx, self.instance.code(ctx)).code()}
        if "Architectures" in changed:  # only UpdateFunctionCode can change the architecture
            code["Architectures"] = desired["Architectures"]
        config = _retrying(ctx, lambda: ctx.client("lambda").update_function_code(**code))
        _wait_ready(ctx, name)
        return _attrs(config)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """Deleting the function also drops its concurrency setting; its log group is its own resource."""
        with tolerating_absent("ResourceNotFoundException"):
            ctx.client("lambda").delete_function(FunctionName=self.name(ctx))

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        """R-ENV-4."""
        if not self.instance.publishes_outputs:
            return {}
        return {"function_name": attrs.get("name"), "function_arn": attrs.get("arn")}


def _live_state(response: dict[str, Any]) -> dict[str, Any]:
    """Every field any instance compares, from one GetFunction answer."""
    config = response["Configuration"]
    logging_config = config.get("LoggingConfig") or {}
    vpc = config.get("VpcConfig") or {}
    return {
        "Runtime": config.get("Runtime", MISSING),
        "Architectures": config.get("Architectures", ["x86_64"]),
        "Handler": config.get("Handler", MISSING),
        "Role": config.get("Role", MISSING),
        "MemorySize": config.get("MemorySize", MISSING),
        "Timeout": config.get("Timeout", MISSING),
        "ReservedConcurrentExecutions": (response.get("Concurrency") or {}).get(
            "ReservedConcurrentExecutions", MISSING
        ),
        "Environment.Variables": (config.get("Environment") or {}).get("Variables", {}),
        "KMSKeyArn": config.get("KMSKeyArn") or MISSING,
        "TracingConfig.Mode": (config.get("TracingConfig") or {}).get("Mode", MISSING),
        "DeadLetterConfig.TargetArn": (config.get("DeadLetterConfig") or {}).get("TargetArn") or MISSING,
        **{f"LoggingConfig.{name}": logging_config.get(name, MISSING) for name in LOGGING_FIELDS},
        "CodeSha256": config.get("CodeSha256", MISSING),
        "tags": user_tags(response.get("Tags")),
        # AWS answers empty lists (or no VpcConfig at all) for a function outside any VPC.
        "VpcConfig.SubnetIds": sorted(vpc.get("SubnetIds") or []),
        "VpcConfig.SecurityGroupIds": sorted(vpc.get("SecurityGroupIds") or []),
    }


def _stored_code(ctx: Context, code: FunctionCode) -> S3Location:
    """Where Lambda reads the code: uploaded now if it is in hand and not stored yet."""
    if code.artifact is not None:
        return upload_artifact(ctx.aws, code.artifact)
    return require_stored(ctx.aws, code.sha256)


def _attrs(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "arn": config["FunctionArn"],
        "name": config["FunctionName"],
        "version": config.get("Version", "$LATEST"),
        "code_sha256": config.get("CodeSha256"),
    }


def _config_params(desired: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """UpdateFunctionConfiguration/CreateFunction parameters for `fields` only.

    Nested settings are sent whole (every LoggingConfig field when any differs), so one
    parameter never mixes a new value with whatever AWS would keep or default for the rest.
    """
    params: dict[str, Any] = {name: desired[name] for name in SIMPLE_CONFIG_FIELDS if name in fields}
    if "Environment.Variables" in fields:
        params["Environment"] = {"Variables": desired["Environment.Variables"]}
    if "TracingConfig.Mode" in fields:
        params["TracingConfig"] = {"Mode": desired["TracingConfig.Mode"]}
    if "DeadLetterConfig.TargetArn" in fields:
        params["DeadLetterConfig"] = {"TargetArn": desired["DeadLetterConfig.TargetArn"]}
    if "VpcConfig.SubnetIds" in fields or "VpcConfig.SecurityGroupIds" in fields:
        params["VpcConfig"] = {
            "SubnetIds": desired["VpcConfig.SubnetIds"],
            "SecurityGroupIds": desired["VpcConfig.SecurityGroupIds"],
        }
    if any(f"LoggingConfig.{name}" in fields for name in LOGGING_FIELDS):
        params["LoggingConfig"] = {name: desired[f"LoggingConfig.{name}"] for name in LOGGING_FIELDS}
    return params


def _vpc_config(ctx: Context) -> dict[str, Any]:
    """R-NET-1: the subnets and the security group in vpc mode; empty lists leave (or stay out of) a VPC."""
    if ctx.spec.settings.network != "vpc":
        return {"VpcConfig.SubnetIds": [], "VpcConfig.SecurityGroupIds": []}
    subnets, group = ctx.attr("subnets", "ids"), ctx.attr("security_group", "id")
    return {
        "VpcConfig.SubnetIds": UNKNOWN if subnets == UNKNOWN else sorted(subnets),
        "VpcConfig.SecurityGroupIds": UNKNOWN if group == UNKNOWN else [group],
    }


def _require_known(function_name: str, desired: dict[str, Any]) -> None:
    """Every value known, environment variables included (the authorizer's signing secret)."""
    unknown = sorted(name for name, value in desired.items() if value == UNKNOWN)
    variables = desired.get("Environment.Variables") or {}
    unknown += sorted(f"Environment.Variables.{k}" for k, v in variables.items() if v == UNKNOWN)
    if unknown:
        raise RuntimeError(
            f"cannot create {function_name}: {', '.join(unknown)} not known yet "
            "(the resources it depends on must exist first)"
        )


def _retryable(exc: BaseException) -> bool:
    """IAM not yet propagated, or the function busy (an update a crashed run left in progress)."""
    code = error_code(exc)
    if code == "ResourceConflictException":
        return any(text in str(exc) for text in _BUSY)
    return code in ("InvalidParameterValueException", "AccessDeniedException") and any(
        text in str(exc) for text in _IAM_NOT_READY
    )


def _retrying(ctx: Context, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = retry_until(ctx, call, _retryable, tries=10, first_delay=1.0, max_delay=8.0)
    return result


def _is_ready(config: dict[str, Any]) -> bool:
    state, last_update = config.get("State", "Active"), config.get("LastUpdateStatus")
    return state == "Active" and last_update in (None, "Successful")


def _wait_ready(ctx: Context, name: str) -> None:
    """Poll until Active and Successful; a Failed state is raised at once, with AWS's reason."""

    def ready() -> bool:
        config = ctx.client("lambda").get_function_configuration(FunctionName=name)
        if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
            reason = config.get("LastUpdateStatusReason") or config.get("StateReason") or "no reason given"
            raise RuntimeError(f"Lambda function {name} failed: {reason}")
        return _is_ready(config)

    wait_for(ctx, ready, f"Lambda function {name} to be Active with its last update Successful", timeout=300)


def _set_concurrency(ctx: Context, name: str, reserved: int | None) -> None:
    client = ctx.client("lambda")
    if reserved is None:
        client.delete_function_concurrency(FunctionName=name)
    else:
        client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
