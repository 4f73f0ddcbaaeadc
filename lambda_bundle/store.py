"""DynamoDB access for items: the only module that talks to AWS.

The boto3 client is created on first use and then kept for the life of the process, so
warm invocations reuse its connections; ``reset_client`` exists so each test's moto mock
gets a client of its own. The table and index names are read per call (see ``config``).

Every write is conditional (R-FN-8): create requires that the id does not exist, replace
and delete that it does, so no write can silently create or resurrect an item.
Listing is a Query on the listing index (``INDEX_NAME``, default ``byCreatedAt``), newest
first, never a Scan (R-FN-9).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from . import config
from .errors import Conflict, item_not_found, shorten

LIST_KEY = "ITEM"
REPLACE_ATTEMPTS = 3

# Standard retries back off on throttling; short timeouts leave the function time to answer.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
_client: Any = None
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def client() -> Any:
    global _client
    if _client is None:
        _client = boto3.client("dynamodb", config=_CLIENT_CONFIG)
    return _client


def reset_client() -> None:
    global _client
    _client = None


def now_iso() -> str:
    """Microseconds and a fixed ``Z`` suffix, so string order on the index is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create_item(fields: Mapping[str, Any]) -> dict[str, Any]:
    now = now_iso()
    item = _stored_item(str(uuid.uuid4()), fields, created_at=now, updated_at=now, version=1)
    put_new_item(item)
    return item


def put_new_item(item: Mapping[str, Any]) -> None:
    try:
        _put(item, "attribute_not_exists(#id)", {"#id": "id"})
    except ClientError as exc:
        if _is_condition_failure(exc):
            raise Conflict(f"item '{item['id']}' already exists") from exc
        raise


def get_item(item_id: str) -> dict[str, Any] | None:
    """Consistent read, so a client that has just written reads its own write."""
    response = client().get_item(TableName=config.table_name(), Key=_key(item_id), ConsistentRead=True)
    item = response.get("Item")
    return _from_dynamo(item) if item else None


def replace_item(item_id: str, fields: Mapping[str, Any], expected_version: int | None) -> dict[str, Any]:
    """Replace the client fields, keeping id and createdAt and bumping version.

    The put is conditional on the version just read, so a writer that raced us is never
    overwritten. If the caller named a version, a race (or a stale version) is a 409. If it
    did not, it asked for last-writer-wins, so we re-read and try again a few times; the
    next read also tells a concurrent delete (404) from a concurrent update.
    """
    for _ in range(REPLACE_ATTEMPTS):
        current = get_item(item_id)
        if current is None:
            raise item_not_found(item_id)
        current_version = int(current["version"])
        if expected_version is not None and expected_version != current_version:
            raise Conflict(
                f"version {expected_version} is stale: the current version of item "
                f"'{shorten(item_id)}' is {current_version}; read it again and retry"
            )
        item = _stored_item(
            item_id,
            fields,
            created_at=current["createdAt"],
            updated_at=now_iso(),
            version=current_version + 1,
        )
        try:
            _put(
                item,
                "attribute_exists(#id) AND #version = :version",
                {"#id": "id", "#version": "version"},
                {":version": {"N": str(current_version)}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            continue
        return item
    raise Conflict(f"item '{shorten(item_id)}' is being changed by other requests; read it again and retry")


def delete_item(item_id: str) -> None:
    try:
        client().delete_item(
            TableName=config.table_name(),
            Key=_key(item_id),
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#id": "id"},
        )
    except ClientError as exc:
        if _is_condition_failure(exc):
            raise item_not_found(item_id) from exc
        raise


def list_page(
    limit: int, after: Mapping[str, str] | None
) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """One page, newest first, and the position to continue after (None on the last page).

    Asking for one item more than the page tells us whether another page exists, so the
    last page never comes back with a token that leads to an empty page. DynamoDB may still
    stop early at 1 MB; its LastEvaluatedKey then carries on from there.
    """
    request: dict[str, Any] = {
        "TableName": config.table_name(),
        "IndexName": config.index_name(),
        "KeyConditionExpression": "#listKey = :listKey",
        "ExpressionAttributeNames": {"#listKey": "listKey"},
        "ExpressionAttributeValues": {":listKey": {"S": LIST_KEY}},
        "ScanIndexForward": False,
        "Limit": limit + 1,
    }
    if after is not None:
        request["ExclusiveStartKey"] = {
            "id": {"S": after["id"]},
            "listKey": {"S": LIST_KEY},
            "createdAt": {"S": after["createdAt"]},
        }
    response = client().query(**request)
    items = [_from_dynamo(raw) for raw in response.get("Items", [])]
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        return items, {"id": last["id"], "createdAt": last["createdAt"]}
    evaluated = response.get("LastEvaluatedKey")
    if evaluated:
        return items, {"id": evaluated["id"]["S"], "createdAt": evaluated["createdAt"]["S"]}
    return items, None


def _stored_item(
    item_id: str, fields: Mapping[str, Any], *, created_at: str, updated_at: str, version: int
) -> dict[str, Any]:
    """The client's fields plus the server-owned attributes, which win over any of the same name."""
    return {
        "id": item_id,
        **fields,
        "listKey": LIST_KEY,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "version": version,
    }


def _put(
    item: Mapping[str, Any],
    condition: str,
    names: Mapping[str, str],
    values: Mapping[str, Any] | None = None,
) -> None:
    """A conditional put; a failed condition raises ClientError for the caller to judge."""
    request: dict[str, Any] = {
        "TableName": config.table_name(),
        "Item": _to_dynamo(item),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": dict(names),
    }
    if values is not None:
        request["ExpressionAttributeValues"] = dict(values)
    client().put_item(**request)


def _key(item_id: str) -> dict[str, Any]:
    return {"id": {"S": item_id}}


def _to_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def _from_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
