"""The CRUD routes through the handler, against a moto table with the real schema."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from bundle_helpers import Call, invoke, make_event

from lambda_bundle import store


def test_crud_journey(call: Call) -> None:
    # R-FN-1 one function serves every route; R-VER-1 the journey the verifier runs over HTTP.
    created = call("POST", "/items", {"name": "first", "color": "red"})
    assert created.status == 201
    item = created.json
    item_id = item["id"]
    assert item["name"] == "first" and item["color"] == "red" and item["version"] == 1
    assert created.headers["Location"] == f"/dev/items/{item_id}"

    read = call("GET", f"/items/{item_id}")
    assert read.status == 200 and read.json == item

    updated = call("PUT", f"/items/{item_id}", {"name": "second", "size": 3, "version": 1})
    assert updated.status == 200
    assert updated.json["name"] == "second" and updated.json["version"] == 2
    assert updated.json["createdAt"] == item["createdAt"]
    assert updated.json["updatedAt"] >= item["updatedAt"]

    read_back = call("GET", f"/items/{item_id}")
    assert read_back.status == 200 and read_back.json == updated.json
    assert "color" not in read_back.json  # PUT replaces the client fields

    listed = call("GET", "/items")
    assert listed.status == 200
    assert listed.json == {"items": [updated.json], "next": None}

    deleted = call("DELETE", f"/items/{item_id}")
    assert deleted.status == 204 and deleted.body == ""

    gone = call("GET", f"/items/{item_id}")
    assert gone.status == 404
    assert gone.json["message"] == f"item '{item_id}' not found"


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct, increasing createdAt values, so 'newest first' has one right answer."""
    start = datetime(2030, 1, 1, tzinfo=UTC)
    ticks = itertools.count()
    monkeypatch.setattr(
        store,
        "now_iso",
        lambda: (start + timedelta(milliseconds=next(ticks))).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


def _all_pages(call: Call, limit: int) -> list[dict]:
    pages, token = [], None
    while True:
        query = {"limit": str(limit)} | ({"next": token} if token else {})
        response = call("GET", "/items", query=query)
        assert response.status == 200
        pages.append(response.json)
        token = response.json["next"]
        if token is None:
            return pages
        assert len(pages) < 20, "pagination does not terminate"


def test_pagination_newest_first_without_gaps_or_duplicates(call: Call, ticking_clock: None) -> None:
    # R-FN-9 listing is paginated with limit and an opaque next token.
    created = [call("POST", "/items", {"name": f"item-{n}"}).json["id"] for n in range(45)]

    pages = _all_pages(call, limit=20)

    assert [len(page["items"]) for page in pages] == [20, 20, 5]
    assert [page["next"] is None for page in pages] == [False, False, True]
    listed = [item["id"] for page in pages for item in page["items"]]
    assert listed == list(reversed(created))  # newest first, no duplicates, no gaps
    assert all("listKey" not in item for page in pages for item in page["items"])


def test_pagination_ends_without_an_empty_page(call: Call, ticking_clock: None) -> None:
    # R-FN-9 an exact multiple of the limit must not hand out a token that leads nowhere.
    for n in range(4):
        call("POST", "/items", {"name": f"item-{n}"})
    pages = _all_pages(call, limit=2)
    assert [len(page["items"]) for page in pages] == [2, 2]


def test_pagination_with_equal_timestamps(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    # R-FN-9 items created in the same microsecond are still listed exactly once.
    monkeypatch.setattr(store, "now_iso", lambda: "2030-01-01T00:00:00.000000Z")
    created = {call("POST", "/items", {"name": f"twin-{n}"}).json["id"] for n in range(5)}
    listed = [item["id"] for page in _all_pages(call, limit=2) for item in page["items"]]
    assert sorted(listed) == sorted(created)


def test_list_defaults_to_twenty_and_empty_table_lists_nothing(call: Call) -> None:
    # R-FN-9
    assert call("GET", "/items").json == {"items": [], "next": None}
    for n in range(21):
        call("POST", "/items", {"name": f"item-{n}"})
    first = call("GET", "/items").json
    assert len(first["items"]) == 20 and first["next"]
    assert len(call("GET", "/items", query={"limit": "100"}).json["items"]) == 21


def test_create_keeps_client_attributes_and_json_numbers(call: Call) -> None:
    body = {
        "name": "numbers",
        "count": 3,
        "price": 19.99,
        "negative": -2,
        "big": 12345678901234567890,
        "nested": {"list": [1, 2.25, "s", True, None], "empty": ""},
        "expiresAt": 4102444800,
    }
    created = call("POST", "/items", body)
    assert created.status == 201
    read = call("GET", f"/items/{created.json['id']}").json
    for response in (created.json, read):
        assert {key: response[key] for key in body} == body
        assert type(response["count"]) is int and type(response["big"]) is int
        assert type(response["expiresAt"]) is int and type(response["price"]) is float


def test_create_ignores_server_owned_fields(call: Call) -> None:
    # Documented choice (lambda_bundle/items.py): server-owned attributes in a body are ignored.
    created = call(
        "POST",
        "/items",
        {
            "name": "sneaky",
            "id": "chosen-by-client",
            "version": 99,
            "createdAt": "1999-01-01T00:00:00.000000Z",
            "updatedAt": "1999-01-01T00:00:00.000000Z",
            "listKey": "OTHER",
        },
    )
    assert created.status == 201
    item = created.json
    assert item["id"] != "chosen-by-client" and item["version"] == 1
    assert item["createdAt"] > "2000" and item["updatedAt"] == item["createdAt"]
    assert "listKey" not in item
    # listKey was forced to the constant, so the item is on the list index.
    assert [listed["id"] for listed in call("GET", "/items").json["items"]] == [item["id"]]


def test_create_from_base64_body(call: Call) -> None:
    created = call("POST", "/items", {"name": "encoded ✓"}, base64_body=True)
    assert created.status == 201 and created.json["name"] == "encoded ✓"


def test_create_accepts_exactly_64_kb(call: Call) -> None:
    # R-FN-8 the 413 limit is "more than 64 KB", so 65536 bytes are still accepted.
    prefix = '{"name":"big","pad":"'
    body = prefix + "a" * (64 * 1024 - len(prefix) - 2) + '"}'
    assert len(body.encode()) == 64 * 1024
    assert call("POST", "/items", raw_body=body).status == 201


def test_name_of_exactly_200_characters_is_allowed(call: Call) -> None:
    assert call("POST", "/items", {"name": "n" * 200}).status == 201


def test_update_without_version_is_last_writer_wins(call: Call) -> None:
    item = call("POST", "/items", {"name": "a"}).json
    first = call("PUT", f"/items/{item['id']}", {"name": "b"})
    second = call("PUT", f"/items/{item['id']}", {"name": "c"})
    assert (first.status, second.status) == (200, 200)
    assert second.json["version"] == 3 and second.json["name"] == "c"


def test_update_keeps_the_path_id_and_created_at(call: Call) -> None:
    item = call("POST", "/items", {"name": "a"}).json
    updated = call(
        "PUT",
        f"/items/{item['id']}",
        {**item, "name": "b", "id": "other", "createdAt": "1999-01-01T00:00:00.000000Z"},
    )
    assert updated.status == 200
    assert updated.json["id"] == item["id"] and updated.json["createdAt"] == item["createdAt"]
    assert call("GET", "/items/other").status == 404


def test_update_of_unknown_item_is_404_and_creates_nothing(call: Call) -> None:
    # R-FN-8 update is conditional on the item existing.
    response = call("PUT", "/items/does-not-exist", {"name": "ghost"})
    assert response.status == 404
    assert call("GET", "/items").json["items"] == []


def test_delete_of_unknown_item_is_404(call: Call) -> None:
    # R-FN-8
    assert call("DELETE", "/items/does-not-exist").status == 404


def test_options_reaching_the_function_is_204(call: Call) -> None:
    # R-API-3 API Gateway answers the preflight itself, but a stray OPTIONS still gets CORS.
    for path in ("/items", "/items/abc"):
        response = call("OPTIONS", path)
        assert response.status == 204 and response.body == ""
        assert response.headers["Access-Control-Allow-Methods"] == "GET,POST,PUT,DELETE,OPTIONS"


def test_routes_from_the_raw_path_when_resource_is_absent(call: Call) -> None:
    # R-FN-1 routing still works for an event that only carries the path (e.g. a test invoke).
    item = call("POST", "/items", {"name": "a"}).json
    event = make_event("GET", f"/items/{item['id']}/")
    event.pop("resource")
    event.pop("pathParameters")
    response = invoke(event)
    assert response.status == 200 and response.json["id"] == item["id"]
