"""Fidelity fix for CloudWatch Logs retention values: only the day counts AWS accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException

from localcloud.registry import around, fixer

_fix = fixer(__name__)


# --------------------------------------------------------------------------------------------
# 6. CloudWatch Logs retention values
# --------------------------------------------------------------------------------------------

LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


def _check_retention(days: Any) -> None:
    if days is None:
        return
    try:
        valid = int(days) in LOG_RETENTION_DAYS
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise InvalidParameterException(
            constraint="Member must satisfy enum value set: ["
            + ", ".join(map(str, LOG_RETENTION_DAYS))
            + "]",
            parameter="retentionInDays",
            value=days,
        )


@_fix(
    "logs-retention-values",
    "PutRetentionPolicy (and a log group created with RetentionInDays, e.g. from CloudFormation) "
    "accepts any number of days, such as 13.",
    "Only 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, "
    "2922, 3288, 3653 are accepted; anything else answers InvalidParameterException.",
)
def _fix_log_retention() -> None:
    """moto's logs backend stores any retentionInDays; AWS accepts only its fixed list."""

    @around(logs_models.LogsBackend, "put_retention_policy")
    def put_retention_policy(
        orig: Callable[..., Any], self: Any, log_group_name: str, retention_in_days: Any
    ) -> None:
        _check_retention(retention_in_days)
        orig(self, log_group_name, retention_in_days)

    @around(logs_models.LogsBackend, "create_log_group")
    def create_log_group(
        orig: Callable[..., Any], self: Any, log_group_name: str, tags: Any, **kwargs: Any
    ) -> Any:
        _check_retention(kwargs.get("RetentionInDays"))
        return orig(self, log_group_name, tags, **kwargs)
