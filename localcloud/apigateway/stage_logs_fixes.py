"""Fidelity fix for API Gateway's UpdateStage: access log settings API Gateway refuses.

Registered in ``fidelity.FIXES`` when ``fidelity/install.py`` imports this module. What API Gateway
requires of ``accessLogSettings`` (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html):
the format includes at least ``$context.requestId`` or ``$context.extendedRequestId``, and the
destination is a CloudWatch Logs log group ARN or a Kinesis Data Firehose stream whose name starts
with ``amazon-apigateway-``. Tested in ``tests/localcloud/test_stage_observer.py``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from moto.apigateway import models as apigw_models
from moto.apigateway.exceptions import BadRequestException

from localcloud.registry import around, fixer

_fix = fixer(__name__)

_LOG_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:[\w#+=,.@/-]{1,512}(:\*)?$")
_FIREHOSE_ARN = re.compile(
    r"^arn:aws[a-z-]*:firehose:[a-z0-9-]+:\d{12}:deliverystream/amazon-apigateway-[\w.-]+$"
)
_REQUEST_ID = re.compile(r"\$context\.(requestId|extendedRequestId)(?![A-Za-z0-9_])")


def check_access_log_settings(settings: dict[str, Any] | None) -> None:
    """BadRequestException for settings API Gateway refuses; None (logging off) is fine."""
    if not settings:
        return
    destination, template = settings.get("destinationArn"), settings.get("format")
    if destination is not None and not (
        _LOG_GROUP_ARN.match(str(destination)) or _FIREHOSE_ARN.match(str(destination))
    ):
        raise BadRequestException(
            f"Invalid ARN specified in the request: {str(destination)[:300]!r} is neither a CloudWatch Logs "
            "log group ARN nor a Kinesis Data Firehose stream named amazon-apigateway-*"
        )
    if template is not None and not _REQUEST_ID.search(str(template)):
        raise BadRequestException(
            "Access log format must include at least $context.requestId or $context.extendedRequestId"
        )


@_fix(
    "apigateway-access-log-settings",
    "UpdateStage stores any accessLogSettings: a format without a request id, a destination that is "
    "not a log group.",
    "UpdateStage refuses (BadRequestException) an access log format without $context.requestId or "
    "$context.extendedRequestId and a destination that is not a log group or an amazon-apigateway-* "
    "Firehose stream; the stage is left as it was.",
)
def _fix_access_log_settings() -> None:
    """moto's Stage.apply_operations sets accessLogSettings fields without checking them."""

    @around(apigw_models.Stage, "apply_operations")
    def apply_operations(orig: Callable[..., Any], self: Any, patch_operations: list[dict[str, Any]]) -> Any:
        before = copy.deepcopy(self.access_log_settings)
        result = orig(self, patch_operations)
        try:
            check_access_log_settings(self.access_log_settings)
        except BadRequestException:
            self.access_log_settings = before
            raise
        return result
