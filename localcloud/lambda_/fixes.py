"""Fidelity fixes for Lambda versions and aliases: what a release (publish, alias, traffic shift,
rollback, clean-up) relies on and moto 5.2.5 does not check.

Registered in ``localcloud.fidelity.FIXES`` (imported by that module) and installed by
``fidelity.apply()``, like every other fix. Each fix patches moto's backend or response class, so it
holds in decorator mode and in server mode. The error codes and messages are AWS's
(https://docs.aws.amazon.com/lambda/latest/api/API_CreateAlias.html, API_UpdateAlias.html,
API_PublishVersion.html, API_DeleteFunction.html, API_UpdateFunctionConfiguration.html,
API_UpdateFunctionCode.html, API_FunctionCode.html).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import (
    InvalidParameterValueException,
    LambdaClientError,
    PreconditionFailedException,
    UnknownFunctionException,
)
from moto.awslambda.responses import LambdaResponse
from moto.awslambda.utils import make_function_arn

from localcloud.lambda_.config_fixes import ResourceConflictException, revision_id
from localcloud.registry import around, fixer, replace

_fix = fixer(__name__)

__all__ = ["REVISION_MISMATCH", "new_revision"]

REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
ONLY_LATEST = (
    "Current operation does not support versions other than $LATEST. "
    "Please set the version to $LATEST or do not set a version in your request."
)
_WEIGHT_CONSTRAINT = (
    "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
    "Member must have value greater than or equal to 0.0, Member must not be null]"
)
_KEY_CONSTRAINT = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
    "Member must have length greater than or equal to 1, Member must satisfy regular expression "
    "pattern: [0-9]+, Member must not be null]"
)
_DIGITS = re.compile(r"^[0-9]+$")


class _ValidationException(LambdaClientError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


def new_revision(obj: Any) -> None:
    """Give a function, version or alias a new RevisionId (it changed)."""
    obj.revision_id = None
    revision_id(obj)


def _name_and_qualifier(name_or_arn: str, qualifier: str | None) -> tuple[str, str | None]:
    """(name, qualifier): a qualifier inside the name or ARN wins, as moto resolves it."""
    rest = name_or_arn.split(":function:", 1)[1] if ":function:" in name_or_arn else name_or_arn
    name, _, inner = rest.partition(":")
    return name, (inner or qualifier or None)


def _function_arn(backend: Any, name: str, qualifier: str | None = None) -> str:
    arn = make_function_arn(backend.region_name, backend.account_id, name)
    return f"{arn}:{qualifier}" if qualifier else arn


# --------------------------------------------------------------------------------------------
# Alias routing configuration
# --------------------------------------------------------------------------------------------


def _check_routing(backend: Any, function_name: str, primary: str, routing_config: Any) -> None:
    """Refuse a RoutingConfig that AWS refuses, in AWS's order and words."""
    weights = (routing_config or {}).get("AdditionalVersionWeights") or {}
    if not weights:
        return
    if len(weights) > 1:
        raise InvalidParameterValueException(
            "Number of items in AdditionalVersionWeights cannot be greater than 1"
        )
    name, _ = _name_and_qualifier(function_name, None)
    for version, weight in weights.items():
        shown = f"{{{version}={weight}}}"
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise _ValidationException(
                f"1 validation error detected: Value '{shown}' at 'routingConfig.additionalVersionWeights' "
                f"failed to satisfy constraint: {_WEIGHT_CONSTRAINT}"
            )
        if str(version) == str(primary):
            raise InvalidParameterValueException(
                f"Invalid function version {primary}. Function version {primary} is already included in "
                "routing configuration."
            )
        if str(primary).upper() == "$LATEST":
            raise InvalidParameterValueException(
                "$LATEST is not supported for an alias pointing to more than 1 version"
            )
        if not _DIGITS.match(str(version)):
            raise _ValidationException(
                f"1 validation error detected: Value '{shown}' at 'routingConfig.additionalVersionWeights' "
                f"failed to satisfy constraint: {_KEY_CONSTRAINT}"
            )
        try:
            backend.get_function(name, str(version))
        except UnknownFunctionException:
            raise UnknownFunctionException(_function_arn(backend, name, str(version))) from None


@dataclass(frozen=True)
class _AliasWrite:
    """The arguments of moto's ``LambdaBackend.create_alias`` and ``update_alias``, by keyword or place."""

    name: str
    function_name: str
    function_version: str
    description: str
    routing_config: Any


@_fix(
    "lambda-alias-routing-config",
    "CreateAlias and UpdateAlias store any RoutingConfig: a weight of 1.5, two additional versions, "
    "a version that does not exist, the alias's own primary version, weights on an alias of $LATEST. "
    "The alias RevisionId never changes and UpdateAlias ignores a stale RevisionId. CreateAlias of an "
    "existing alias answers ConflictException.",
    "ValidationException for a weight outside 0.0-1.0 or a version that is not a number; "
    "InvalidParameterValueException for more than one additional version ('Number of items in "
    "AdditionalVersionWeights cannot be greater than 1'), for the primary version ('Invalid function "
    "version N. Function version N is already included in routing configuration.') and for an alias of "
    "$LATEST ('$LATEST is not supported for an alias pointing to more than 1 version'); "
    "ResourceNotFoundException for a version that does not exist. UpdateAlias gives the alias a new "
    "RevisionId and refuses a stale one with 412 PreconditionFailedException. CreateAlias of an alias "
    "that exists answers 409 ResourceConflictException 'Alias already exists: ARN'.",
)
def _fix_alias_routing() -> None:
    """moto checks only that the primary version exists; AWS validates the routing configuration
    against the versions the alias would point at after the call."""
    backend_cls = lambda_models.LambdaBackend

    @around(backend_cls, "create_alias")
    def create_alias(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _AliasWrite(*args, **kwargs)
        self.get_function(call.function_name, call.function_version)  # 404 for a missing primary, as before
        try:
            existing = self.get_alias(call.name, call.function_name)
        except LambdaClientError:
            existing = None
        if existing is not None:
            raise ResourceConflictException(f"Alias already exists: {existing.arn}")
        _check_routing(self, call.function_name, call.function_version, call.routing_config)
        return orig(self, *args, **kwargs)

    @around(backend_cls, "update_alias")
    def update_alias(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _AliasWrite(*args, **kwargs)
        alias = self.get_alias(call.name, call.function_name)
        primary = call.function_version or alias.function_version
        resulting = call.routing_config if call.routing_config is not None else alias.routing_config
        _check_routing(self, call.function_name, primary, resulting)
        updated = orig(self, *args, **kwargs)
        new_revision(updated)
        return updated

    @around(LambdaResponse, "update_alias")
    def update_alias_response(orig: Callable[..., Any], self: Any) -> Any:
        expected = (json.loads(self.body or "{}") or {}).get("RevisionId")
        if expected:
            function_name = unquote(self.path.rsplit("/")[-3])
            alias_name = unquote(self.path.rsplit("/", 2)[-1])
            alias = self.backend.get_alias(alias_name, function_name)
            if expected != alias.revision_id:
                raise PreconditionFailedException(REVISION_MISMATCH)
        return orig(self)


# --------------------------------------------------------------------------------------------
# RevisionIds and the preconditions that use them; published versions are immutable
# --------------------------------------------------------------------------------------------


def _check_revision(fn: Any, body: dict[str, Any] | None) -> None:
    expected = (body or {}).get("RevisionId")
    if expected and expected != revision_id(fn):
        raise PreconditionFailedException(REVISION_MISMATCH)


def _only_latest(function_name: str, qualifier: str | None) -> None:
    _, qualifier = _name_and_qualifier(function_name, qualifier)
    if qualifier and qualifier.upper() != "$LATEST":
        raise InvalidParameterValueException(ONLY_LATEST)


def _revised(
    orig: Callable[..., Any],
    self: Any,
    function_name: str,
    qualifier: str,
    body: dict[str, Any],
    *,
    code: bool,
) -> Any:
    """An update of $LATEST's code or configuration under the RevisionId precondition: a new revision
    (but for a dry run of the code), answered in the result (but when the code is published: the
    version's answer is its own)."""
    _only_latest(function_name, qualifier)
    latest = self.get_function(function_name)
    _check_revision(latest, body)
    result = orig(self, function_name, qualifier, body)
    if not (code and body.get("DryRun")):
        new_revision(latest)
        if isinstance(result, dict) and not (code and body.get("Publish")):
            result["RevisionId"] = revision_id(latest)
    return result


@_fix(
    "lambda-revision-ids",
    "Functions and versions have no RevisionId; UpdateFunctionCode and UpdateFunctionConfiguration "
    "ignore a stale RevisionId; PublishVersion ignores its CodeSha256 and RevisionId preconditions; "
    "UpdateFunctionConfiguration and UpdateFunctionCode on a qualified name or ARN change that published "
    "version (which must be immutable).",
    "Every function, version and alias has a RevisionId (configuration responses carry it), renewed by "
    "each change of code or configuration, and each published version gets its own. A RevisionId that "
    "is not the current one is refused with 412 PreconditionFailedException ('The Revision Id provided "
    "does not match the latest Revision Id. ...'); PublishVersion with a CodeSha256 other than $LATEST's "
    "answers InvalidParameterValueException 'CodeSHA256 (X) is different from current CodeSHA256 in "
    "$LATEST (Y). Please try again with the CodeSHA256 in $LATEST.' and publishes nothing; a qualifier "
    "other than $LATEST on an update answers InvalidParameterValueException 'Current operation does not "
    "support versions other than $LATEST. ...'.",
)
def _fix_revisions() -> None:
    """moto has no function RevisionId; the preconditions built on it are added here. The RevisionId
    itself is reported by the configuration wrapper of the fix "lambda-function-configuration"."""
    backend_cls = lambda_models.LambdaBackend

    @around(backend_cls, "create_function")
    def create_function(orig: Callable[..., Any], self: Any, spec: dict[str, Any]) -> Any:
        fn = orig(self, spec)
        revision_id(self.get_function(fn.function_name))
        return fn

    around(backend_cls, "update_function_code")(functools.partial(_revised, code=True))
    around(backend_cls, "update_function_configuration")(functools.partial(_revised, code=False))

    @around(backend_cls, "publish_version")
    def publish_version(
        orig: Callable[..., Any], self: Any, function_name: str, description: str = ""
    ) -> Any:
        before = {id(v) for v in self.list_versions_by_function(_name_and_qualifier(function_name, None)[0])}
        version = orig(self, function_name, description)
        if version is not None and id(version) not in before:
            new_revision(version)  # a new snapshot has its own RevisionId
        return version

    @around(LambdaResponse, "publish_version")
    def publish_version_response(orig: Callable[..., Any], self: Any) -> Any:
        body = json.loads(self.body or "{}") or {}
        latest = self.backend.get_function(unquote(self.path.split("/")[-2]))
        expected_sha = body.get("CodeSha256")
        current_sha = getattr(latest, "code_sha_256", "") or ""
        if expected_sha and expected_sha != current_sha:
            raise InvalidParameterValueException(
                f"CodeSHA256 ({expected_sha}) is different from current CodeSHA256 in $LATEST "
                f"({current_sha}). Please try again with the CodeSHA256 in $LATEST."
            )
        _check_revision(latest, body)
        return orig(self)


# --------------------------------------------------------------------------------------------
# DeleteFunction with a Qualifier
# --------------------------------------------------------------------------------------------


def _aliases_using(backend: Any, name: str, version: str) -> list[str]:
    names = []
    for alias in backend.list_aliases(name):
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
        if str(alias.function_version) == version or version in {str(v) for v in weights}:
            names.append(alias.name)
    return sorted(names)


@_fix(
    "lambda-delete-version-in-use",
    "DeleteFunction with Qualifier=N deletes version N even when an alias points at it (the alias is "
    "left dangling); Qualifier=$LATEST removes only $LATEST, after which every call on the function "
    "fails with AttributeError (HTTP 500).",
    "A version that an alias routes to (as its primary or additional version) is refused with 409 "
    "ResourceConflictException 'Unable to delete version because the following aliases reference it: "
    "[live]'; Qualifier=$LATEST is refused with InvalidParameterValueException '$LATEST version cannot "
    "be deleted without deleting the function.'",
)
def _fix_delete_version() -> None:
    """moto's ``del_function`` deletes what the qualifier names, checking nothing."""

    @around(lambda_models.LambdaBackend, "delete_function")
    def delete_function(
        orig: Callable[..., Any], self: Any, function_name: str, qualifier: str | None = None
    ) -> None:
        name, named = _name_and_qualifier(function_name, qualifier)
        if named and named.upper() == "$LATEST":
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function."
            )
        if named and _DIGITS.match(named):
            self.get_function(name, named)  # 404 for a version that does not exist, as before
            users = _aliases_using(self, name, named)
            if users:
                raise ResourceConflictException(
                    "Unable to delete version because the following aliases reference it: "
                    f"[{', '.join(users)}]"
                )
        orig(self, function_name, qualifier)


# --------------------------------------------------------------------------------------------
# Function code from S3
# --------------------------------------------------------------------------------------------


def _s3_object(fn: Any, bucket: str, key: str, version: str | None) -> Any:
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends

    backend = s3_backends[fn.account_id][fn.partition]
    try:
        backend.get_bucket(bucket)
    except MissingBucket:
        raise InvalidParameterValueException(
            "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified "
            "bucket does not exist"
        ) from None
    found = (
        backend.get_object(bucket, key, version_id=version) if version else backend.get_object(bucket, key)
    )
    if found is None:
        raise InvalidParameterValueException(
            "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key "
            "does not exist."
        )
    return found


@_fix(
    "lambda-code-from-s3",
    "CreateFunction and UpdateFunctionCode from an S3 key that does not exist succeed with CodeSize 0 "
    "and CodeSha256 ''; UpdateFunctionCode from a bucket that does not exist fails with ValueError "
    "(HTTP 500); S3ObjectVersion is ignored (the newest object is used).",
    "InvalidParameterValueException 'Error occurred while GetObject. S3 Error Code: NoSuchKey. ...' "
    "(or NoSuchBucket) and nothing changes; with S3ObjectVersion the code is that version of the object.",
)
def _fix_code_from_s3() -> None:
    """moto reads a missing S3 key as no code at all; AWS refuses the call."""
    from moto.awslambda.models import _s3_content

    @around(lambda_models.LambdaFunction, "_set_function_code")
    def _set_function_code(orig: Callable[..., Any], self: Any, updated_spec: dict[str, Any]) -> None:
        from_s3 = "S3Bucket" in updated_spec and "S3Key" in updated_spec
        dry_run = updated_spec is not self.code and updated_spec.get("DryRun")
        if not from_s3 or dry_run:
            orig(self, updated_spec)
            return
        version = updated_spec.get("S3ObjectVersion")
        found = _s3_object(self, updated_spec["S3Bucket"], updated_spec["S3Key"], version)
        orig(self, updated_spec)
        if version:
            self.code_bytes, self.code_size, self.code_sha_256, self.code_digest = _s3_content(found)


# --------------------------------------------------------------------------------------------
# Version numbers are never reused
# --------------------------------------------------------------------------------------------


@_fix(
    "lambda-version-numbers",
    "PublishVersion numbers a new version len(versions) + 1: after version 3 of 1..3 is deleted the next "
    "one is 3 again, and after version 1 is deleted the next one collides with the existing version 3.",
    "Version numbers only grow: the next version is one more than the highest ever published, deleted or "
    "not (a rollback target or a metric by ExecutedVersion never changes meaning).",
)
def _fix_version_numbers() -> None:
    """moto derives the number from the count of the versions still there."""

    @replace(lambda_models.LambdaStorage, "publish_version")
    def publish_version(self: Any, name_or_arn: str, description: str = "") -> Any:
        function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
        group = self._functions.get(function.function_name)
        if not group or not group["latest"]:
            return None
        versions = group["versions"]
        if versions and not function.code_or_config_updated:
            return versions[-1]  # nothing changed since the last publish: that version (as moto)
        function.code_or_config_updated = False
        number = max([int(v.version) for v in versions] + [int(group.get("highest_version", 0))]) + 1
        group["highest_version"] = number
        fn = copy.copy(group["latest"])
        fn.set_version(number)
        if description:
            fn.description = description
        versions.append(fn)
        self._arns[fn.function_arn] = fn
        return fn


# --------------------------------------------------------------------------------------------
# Reserved environment variable keys
# --------------------------------------------------------------------------------------------


def _refuse_reserved_keys(environment: Any) -> None:
    """AWS refuses a function configuration that sets a key the runtime reserves."""
    from localcloud.lambda_.runtime import RESERVED_ENV

    variables = (environment or {}).get("Variables") or {} if isinstance(environment, dict) else {}
    used = [key for key in variables if key in RESERVED_ENV]
    if used:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            "you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(used)}"
        )


ENVIRONMENT_LIMIT_BYTES = 4 * 1024


def _refuse_oversized_environment(environment: Any) -> None:
    """AWS refuses environment variables over 4 KB in aggregate, measured on their JSON form."""
    variables = (environment or {}).get("Variables") or {} if isinstance(environment, dict) else {}
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode("utf-8")) > ENVIRONMENT_LIMIT_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {measured}"
        )


@_fix(
    "lambda-environment-size",
    "CreateFunction and UpdateFunctionConfiguration accept Environment.Variables of any total size.",
    'Variables over 4 KB in aggregate (their JSON form, {"KEY":"value",...}, over 4,096 bytes) are '
    "refused with InvalidParameterValueException 'Lambda was unable to configure your environment "
    "variables because the environment variables you have provided exceeded the 4KB limit. String "
    "measured: {...}' and nothing is created or changed "
    '(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Function environment '
    'variables: 4 KB, for all environment variables associated with the function, in aggregate"). '
    "Checked by the same response wrapper as the reserved keys, after them.",
)
def _fix_environment_size() -> None:
    """Installed with the reserved-keys wrapper, which runs both checks (one wrapper per handler)."""
    _fix_reserved_environment_keys()


@_fix(
    "lambda-reserved-environment-keys",
    "CreateFunction and UpdateFunctionConfiguration accept Environment.Variables with keys that Lambda "
    "reserves (AWS_REGION, _HANDLER, AWS_ACCESS_KEY_ID, ...); the runtime then silently ignores them.",
    "InvalidParameterValueException 'Lambda was unable to configure your environment variables because "
    "the environment variables you have provided contains reserved keys that are currently not supported "
    "for modification. Reserved keys used in this request: AWS_REGION' and nothing is created or changed "
    "(https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-runtime.html).",
)
def _fix_reserved_environment_keys() -> None:
    """moto stores any variable; the reserved list is ``runtime.RESERVED_ENV``."""

    # Wrapped at the response layer: the backend methods already carry the RevisionId fix, and a
    # second fix on one attribute would be skipped by _patch's idempotence marker.
    @around(LambdaResponse, "create_function", "update_function_configuration")
    def handler(orig: Callable[..., Any], self: Any) -> Any:
        environment = (self.json_body or {}).get("Environment")
        _refuse_reserved_keys(environment)
        _refuse_oversized_environment(environment)
        return orig(self)
