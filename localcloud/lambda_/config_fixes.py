"""Fidelity fixes for Lambda's function configuration (DeadLetterConfig, LoggingConfig, TracingConfig,
KMSKeyArn) and AddPermission's duplicate StatementId, as AWS answers them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
from moto.awslambda.policy import Policy

from localcloud.registry import around, fixer

_fix = fixer(__name__)


# --------------------------------------------------------------------------------------------
# 4. Lambda DeadLetterConfig, LoggingConfig, TracingConfig, KMSKeyArn
# --------------------------------------------------------------------------------------------


def revision_id(fn: Any) -> str:
    """The RevisionId of a moto function or published version; moto keeps none, so it is made on
    first use and replaced on every change (see fidelity_lambda.py, fix "lambda-revision-ids")."""
    current = getattr(fn, "revision_id", None)
    if not current:
        current = str(uuid.uuid4())
        fn.revision_id = current
    return str(current)


def _logging_config(function_name: str, sent: dict[str, Any] | None, current: dict[str, Any] | None) -> dict:
    config = dict(current or {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function_name}"})
    config.update({k: v for k, v in (sent or {}).items() if v is not None})
    if config.get("LogFormat") == "JSON":
        config.setdefault("ApplicationLogLevel", "INFO")
        config.setdefault("SystemLogLevel", "INFO")
        return config
    if {"ApplicationLogLevel", "SystemLogLevel"} & set(sent or {}):
        raise InvalidParameterValueException(
            "ApplicationLogLevel and SystemLogLevel can be set only when LogFormat is JSON."
        )
    config.pop("ApplicationLogLevel", None)
    config.pop("SystemLogLevel", None)
    return config


@_fix(
    "lambda-function-configuration",
    "CreateFunction ignores DeadLetterConfig and LoggingConfig; no response ever returns them; "
    "UpdateFunctionConfiguration ignores TracingConfig, DeadLetterConfig, KMSKeyArn, LoggingConfig and "
    "EphemeralStorage.",
    "CreateFunction, GetFunction, GetFunctionConfiguration, UpdateFunctionConfiguration return "
    "DeadLetterConfig {TargetArn} when set and LoggingConfig {LogFormat, LogGroup, and "
    "ApplicationLogLevel/SystemLogLevel (default INFO) when JSON}; UpdateFunctionConfiguration stores "
    "TracingConfig, DeadLetterConfig (empty TargetArn removes it), KMSKeyArn ('' clears it), "
    "LoggingConfig (merged into the current one), EphemeralStorage (the worker's /tmp cap, 512-10240 MB).",
)
def _fix_lambda_configuration() -> None:
    """moto's LambdaFunction drops DeadLetterConfig/LoggingConfig and ignores four update fields."""
    cls = lambda_models.LambdaFunction

    @around(cls, "__init__")
    def __init__(
        orig: Callable[..., Any], self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        orig(self, account_id, spec, *args, **kwargs)
        self.dead_letter_config = (spec.get("DeadLetterConfig") or {}).get("TargetArn") or None
        self.logging_config = _logging_config(self.function_name, spec.get("LoggingConfig"), None)
        self.logs_group_name = self.logging_config["LogGroup"]

    @around(cls, "get_configuration")
    def get_configuration(orig: Callable[..., Any], self: Any, on_create: bool = False) -> dict[str, Any]:
        config: dict[str, Any] = orig(self, on_create=on_create)
        target = getattr(self, "dead_letter_config", None)
        if target:
            config["DeadLetterConfig"] = {"TargetArn": target}
        config["LoggingConfig"] = dict(
            getattr(self, "logging_config", None) or _logging_config(self.function_name, None, None)
        )
        # The fix "lambda-revision-ids" (fidelity_lambda.py) keeps it; one wrapper reports it.
        config["RevisionId"] = revision_id(self)
        return config

    @around(cls, "update_configuration")
    def update_configuration(
        orig: Callable[..., Any], self: Any, config_updates: dict[str, Any]
    ) -> dict[str, Any]:
        # New objects, never in-place edits: published versions share these (copy.copy).
        if "LoggingConfig" in config_updates:
            current = getattr(self, "logging_config", None)
            self.logging_config = _logging_config(
                self.function_name, config_updates["LoggingConfig"], current
            )
            self.logs_group_name = self.logging_config["LogGroup"]
        if "TracingConfig" in config_updates:
            self.tracing_config = {
                "Mode": (config_updates["TracingConfig"] or {}).get("Mode") or "PassThrough"
            }
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = (config_updates["DeadLetterConfig"] or {}).get("TargetArn") or None
        if "KMSKeyArn" in config_updates:
            self.kms_key_arn = config_updates["KMSKeyArn"] or None
        if (config_updates.get("EphemeralStorage") or {}).get("Size") is not None:
            # moto's setter refuses more than 10240; botocore, less than 512.
            self.ephemeral_storage = int(config_updates["EphemeralStorage"]["Size"])
        updated: dict[str, Any] = orig(self, config_updates)
        return updated


# --------------------------------------------------------------------------------------------
# 5. Lambda add_permission with a duplicate StatementId
# --------------------------------------------------------------------------------------------


class ResourceConflictException(LambdaClientError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", message)


@_fix(
    "lambda-add-permission-duplicate-sid",
    "AddPermission with a StatementId already in the policy appends a second statement with that Sid.",
    "AddPermission answers 409 ResourceConflictException 'The statement id (X) provided already "
    "exists. Please provide a new statement id, or remove the existing statement.'",
)
def _fix_duplicate_statement_id() -> None:
    """moto's ``Policy.add_statement`` accepts a duplicate Sid; AWS refuses it."""

    @around(Policy, "add_statement")
    def add_statement(orig: Callable[..., Any], self: Any, raw: str, qualifier: str | None = None) -> Any:
        sid = json.loads(raw).get("StatementId")
        if sid and any(statement.get("Sid") == sid for statement in self.statements):
            raise ResourceConflictException(
                f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
                "or remove the existing statement."
            )
        return orig(self, raw, qualifier)
