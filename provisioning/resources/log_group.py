"""Log groups made before what writes to them, so their retention is ours (R-FN-7, R-API-4).

Left to Lambda or API Gateway, a log group is created on first write with no retention and no
tags, and outlives the environment. Creating it first fixes both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..aws import error_code, tolerating_absent
from ..names import Names
from .base import Context, FieldDiff, InstanceResource, Observed, always, repair_tags


@dataclass(frozen=True)
class LogGroupInstance:
    """One log group of an environment: its resource key, its name, and whether the spec wants it."""

    key: str
    name_of: Callable[[Names], str]
    wanted: Callable[[Context], bool] = always
    depends_on: tuple[str, ...] = ()


FUNCTION_LOG_GROUP = LogGroupInstance("function_log_group", lambda n: n.function_log_group)
ACCESS_LOG_GROUP = LogGroupInstance("access_log_group", lambda n: n.access_log_group)


class LogGroup(InstanceResource[LogGroupInstance]):
    kind = "logs-log-group"

    def name(self, ctx: Context) -> str:
        return self.instance.name_of(ctx.names)

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {"retentionInDays": ctx.spec.settings.log_retention_days, "tags": ctx.tag_dict}

    def observe(self, ctx: Context) -> Observed | None:
        logs = ctx.client("logs")
        name = self.name(ctx)
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        if group is None:
            return None
        arn = ctx.log_group_arn(name)
        tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
        state = {"retentionInDays": group.get("retentionInDays", "(never expire)"), "tags": tags}
        return Observed(state, {"name": name, "arn": arn})

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        logs = ctx.client("logs")
        name = self.name(ctx)
        try:
            logs.create_log_group(logGroupName=name, tags=desired["tags"])
        except Exception as exc:
            # Lambda or API Gateway may have made it first on a write; adopt it.
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise
            logs.tag_resource(resourceArn=ctx.log_group_arn(name), tags=desired["tags"])
        logs.put_retention_policy(logGroupName=name, retentionInDays=desired["retentionInDays"])
        return {"name": name, "arn": ctx.log_group_arn(name)}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        logs = ctx.client("logs")
        fields = {d.field for d in diffs}
        if "retentionInDays" in fields:
            logs.put_retention_policy(
                logGroupName=observed.attrs["name"], retentionInDays=desired["retentionInDays"]
            )
        if "tags" in fields:
            arn = observed.attrs["arn"]
            repair_tags(
                observed.state["tags"],
                desired["tags"],
                tag=lambda tags: logs.tag_resource(resourceArn=arn, tags=tags),
                untag=lambda keys: logs.untag_resource(resourceArn=arn, tagKeys=keys),
            )
        return observed.attrs

    def delete(self, ctx: Context, observed: Observed) -> None:
        with tolerating_absent("ResourceNotFoundException"):
            ctx.client("logs").delete_log_group(logGroupName=observed.attrs["name"])


def function_log_group() -> LogGroup:
    return LogGroup(FUNCTION_LOG_GROUP)


def access_log_group() -> LogGroup:
    return LogGroup(ACCESS_LOG_GROUP)
