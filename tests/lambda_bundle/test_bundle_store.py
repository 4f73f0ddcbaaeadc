"""The DynamoDB layer on its own: conditional writes, the list Query, and the client cache."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from bundle_helpers import TABLE_NAME, create_items_table
from moto import mock_aws

from lambda_bundle import store
from lambda_bundle.errors import Conflict, NotFound


def _stored(item_id: str) -> dict[str, Any]:
    return boto3.client("dynamodb").get_item(TableName=TABLE_NAME, Key={"id": {"S": item_id}})["Item"]


def test_create_refuses_an_existing_id(table: str) -> None:
    # R-FN-8 create uses a condition that the id does not exist.
    item = store.create_item({"name": "original"})
    with pytest.raises(Conflict, match="already exists"):
        store.put_new_item({**item, "name": "impostor"})
    assert _stored(item["id"])["name"] == {"S": "original"}


def test_create_stores_the_schema_attributes(table: str) -> None:
    # R-DB-3 every item is on the list index; createdAt sorts as time.
    item = store.create_item({"name": "a", "expiresAt": 4102444800})
    raw = _stored(item["id"])
    assert raw["listKey"] == {"S": "ITEM"}
    assert raw["version"] == {"N": "1"}
    assert raw["expiresAt"] == {"N": "4102444800"}  # R-DB-4 TTL attribute is a number
    assert raw["createdAt"]["S"].endswith("Z") and len(raw["createdAt"]["S"]) == len(
        "2030-01-01T00:00:00.000000Z"
    )


def test_replace_requires_the_item_to_exist(table: str) -> None:
    # R-FN-8 update uses a condition that the id exists.
    with pytest.raises(NotFound):
        store.replace_item("missing", {"name": "a"}, None)
    with pytest.raises(NotFound):
        store.replace_item("missing", {"name": "a"}, 1)


def test_replace_never_overwrites_a_concurrent_write(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # R-FN-8 the put is conditional on the version read, so a racing writer is not lost.
    item = store.create_item({"name": "a"})
    real_get = store.get_item
    raced = []

    def get_then_race(item_id: str) -> dict[str, Any] | None:
        snapshot = real_get(item_id)
        if not raced:  # another request updates the item right after our read
            raced.append(True)
            boto3.client("dynamodb").update_item(
                TableName=TABLE_NAME,
                Key={"id": {"S": item_id}},
                UpdateExpression="SET #n = :n, #v = #v + :one",
                ExpressionAttributeNames={"#n": "name", "#v": "version"},
                ExpressionAttributeValues={":n": {"S": "racer"}, ":one": {"N": "1"}},
            )
        return snapshot

    monkeypatch.setattr(store, "get_item", get_then_race)
    with pytest.raises(Conflict, match=r"current version of item .* is 2"):
        store.replace_item(item["id"], {"name": "mine"}, 1)
    assert _stored(item["id"])["name"] == {"S": "racer"}

    raced.clear()  # without a version the caller asked for last-writer-wins: re-read and retry
    replaced = store.replace_item(item["id"], {"name": "mine"}, None)
    assert replaced["version"] == 4 and _stored(item["id"])["name"] == {"S": "mine"}


def test_delete_requires_the_item_to_exist(table: str) -> None:
    # R-FN-8
    item = store.create_item({"name": "a"})
    store.delete_item(item["id"])
    with pytest.raises(NotFound):
        store.delete_item(item["id"])


def test_list_queries_the_index_newest_first_and_never_scans(table: str) -> None:
    # R-FN-9 listing is a Query on the index, never a Scan.
    for n in range(3):
        store.create_item({"name": f"item-{n}"})
    calls: list[tuple[str, dict[str, Any]]] = []
    store.client().meta.events.register(
        "provide-client-params.dynamodb.*",
        lambda params, model, **_: calls.append((model.name, dict(params))),
    )
    items, position = store.list_page(2, None)
    items2, position2 = store.list_page(2, position)
    assert [name for name, _ in calls] == ["Query", "Query"]
    params = calls[0][1]
    assert params["IndexName"] == "byCreatedAt" and params["ScanIndexForward"] is False
    assert len(items) == 2 and position is not None
    assert len(items2) == 1 and position2 is None


@pytest.mark.heavy
def test_list_uses_the_configured_index(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        create_items_table(index_name="byTime")
        monkeypatch.setenv("INDEX_NAME", "byTime")
        store.create_item({"name": "a"})
        assert len(store.list_page(10, None)[0]) == 1


def test_client_is_created_once_and_reset_for_tests(table: str) -> None:
    first = store.client()
    assert store.client() is first
    store.reset_client()
    assert store.client() is not first


def test_client_honours_aws_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # The local cloud is reached through AWS_ENDPOINT_URL, which boto3 reads itself.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # pick the variable up in a new session
    assert store.client().meta.endpoint_url == "http://localhost:4566"


def test_timestamps_sort_as_time() -> None:
    stamp = store.now_iso()
    assert len(stamp) == 27 and stamp.endswith("Z") and stamp[10] == "T"
