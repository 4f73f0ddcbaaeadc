"""API Gateway's own conventions, shared by the REST API and the usage plan (and the API's parts).

Both resources list paginated `items`, tag by an account-less ARN, patch with string values and
JSON-pointer paths, and answer NotFoundException for what is gone: written once here, so the two
cannot drift apart on any of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..aws import paged_items
from .base import Context, repair_tags

NOT_FOUND = "NotFoundException"


def apigateway_arn(ctx: Context, path: str) -> str:
    """The ARN TagResource/UntagResource take for an API Gateway resource: no account, a path."""
    return f"arn:{ctx.aws.partition}:apigateway:{ctx.region}::{path}"


def all_items(client: Any, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a paginated API Gateway read, in the largest pages it allows (fewest calls)."""
    return list(paged_items(client, operation, "items", **kwargs, PaginationConfig={"PageSize": 500}))


def repair_apigw_tags(
    apigw: Any, arn: str, found: Mapping[str, str] | None, wanted: Mapping[str, str]
) -> None:
    """`repair_tags` through API Gateway's calls, for an API, a stage, a usage plan or a key."""
    repair_tags(
        found,
        wanted,
        tag=lambda tags: apigw.tag_resource(resourceArn=arn, tags=tags),
        untag=lambda keys: apigw.untag_resource(resourceArn=arn, tagKeys=keys),
    )


def patch_value(value: Any) -> str:
    """Patch operation values are strings; booleans are lower-case, whole floats have no '.0'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def escape_patch(segment: str) -> str:
    """JSON-pointer escaping for a map key in a patch path ('application/json' -> 'application~1json')."""
    return segment.replace("~", "~0").replace("/", "~1")
