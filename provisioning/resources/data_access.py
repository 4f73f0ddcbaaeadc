"""What the function may do to its data: one list that both its role and its VPC endpoint grant.

The execution role's policy (R-IAM-1) and the DynamoDB gateway endpoint's policy (R-NET-2) must
allow exactly the same calls on the same resources: a call the role allows but the endpoint does
not hangs inside the VPC until the function times out, and one the endpoint allows beyond the
role is a hole the next role edit opens. Both are built from `data_grants` so they cannot drift
apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..names import INDEX_NAME
from .base import Context

# The DynamoDB calls lambda_bundle/store.py makes: get_item, put_item (create and conditional
# replace), delete_item on the table, and query on the listing index. No UpdateItem, no Scan.
TABLE_ACTIONS = ("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem")
INDEX_ACTIONS = ("dynamodb:Query",)


@dataclass(frozen=True)
class Grant:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]


def data_grants(ctx: Context) -> list[Grant]:
    """The table's item calls and the listing index's query, on this environment's ARNs only."""
    index = f"{ctx.table_arn}/index/{INDEX_NAME}"
    return [
        Grant("ReadWriteDeleteItemsInOwnTable", TABLE_ACTIONS, (ctx.table_arn,)),
        Grant("ListItemsNewestFirstViaCreatedAtIndex", INDEX_ACTIONS, (index,)),
    ]
