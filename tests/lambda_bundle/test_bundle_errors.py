"""Every error status of R-FN-8, its JSON body, and the CORS headers on every response."""

from __future__ import annotations

import base64
import json

import pytest
from bundle_helpers import API_REQUEST_ID, Call, Response, invoke, make_event

from lambda_bundle import store

CORS_ALLOW_HEADERS = "Content-Type,X-Amz-Date,Authorization,X-Api-Key"
CORS_ALLOW_METHODS = "GET,POST,PUT,DELETE,OPTIONS"


def assert_error(response: Response, status: int, *fragments: str) -> str:
    assert response.status == status, response.body
    body = response.json
    assert set(body) == {"message", "requestId"}
    assert body["requestId"] == API_REQUEST_ID
    for fragment in fragments:
        assert fragment in body["message"]
    assert_cors(response)
    return body["message"]


def assert_cors(response: Response, origin: str = "*") -> None:
    # R-FN-8 every response carries the CORS headers; R-API-3 the allowed headers.
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["Access-Control-Allow-Headers"] == CORS_ALLOW_HEADERS
    assert headers["Access-Control-Allow-Methods"] == CORS_ALLOW_METHODS
    assert headers["Content-Type"] == "application/json"
    if origin == "*":
        assert "Vary" not in headers
    else:
        assert headers["Vary"] == "Origin"


# R-FN-8 400: bad JSON
@pytest.mark.parametrize(
    ("raw_body", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"name": "a",}', "not valid JSON"),
        ('{"name": "a", "x": NaN}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not an array"),
        ('"text"', "must be a JSON object, not a string"),
        ("null", "must be a JSON object, not null"),
        ("", "request body is required"),
    ],
)
def test_bad_json_is_400(call: Call, raw_body: str, fragment: str) -> None:
    assert_error(call("POST", "/items", raw_body=raw_body), 400, fragment)


def test_missing_body_is_400(call: Call) -> None:
    # R-FN-8
    assert_error(call("POST", "/items"), 400, "request body is required")


def test_bad_base64_body_is_400(call: Call) -> None:
    # R-FN-8
    event = make_event("POST", "/items", raw_body="%%%not-base64%%%")
    event["isBase64Encoded"] = True
    assert_error(invoke(event), 400, "base64")


def test_body_that_is_not_utf8_is_400(call: Call) -> None:
    event = make_event("POST", "/items", raw_body=base64.b64encode(b'{"name": "\xff"}').decode())
    event["isBase64Encoded"] = True
    assert_error(invoke(event), 400, "UTF-8")


def test_deeply_nested_body_is_400(call: Call) -> None:
    deep = "[" * 5000 + "]" * 5000
    assert_error(call("POST", "/items", raw_body='{"name": "a", "x": ' + deep + "}"), 400)
    nested: object = 1
    for _ in range(40):
        nested = [nested]
    # The message names the path down to the level that went too deep.
    assert_error(call("POST", "/items", {"name": "a", "x": nested}), 400, "'x[0][0]", "32 levels")


# R-FN-8 400: failed validation names the field and what is allowed
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"color": "red"},
        {"name": ""},
        {"name": "   "},
        {"name": "n" * 201},
        {"name": 5},
        {"name": None},
        {"name": ["a"]},
    ],
    ids=["empty", "missing", "empty-string", "blank", "too-long", "number", "null", "list"],
)
def test_bad_name_is_400(call: Call, body: dict) -> None:
    message = assert_error(call("POST", "/items", body), 400, "'name'", "at most 200 characters")
    assert "non-empty string" in message


@pytest.mark.parametrize("expires_at", [0, -5, 1.5, "tomorrow", True, None])
def test_bad_expires_at_is_400(call: Call, expires_at: object) -> None:
    # R-DB-4 TTL attribute expiresAt is epoch seconds.
    response = call("POST", "/items", {"name": "a", "expiresAt": expires_at})
    assert_error(response, 400, "'expiresAt'", "positive integer")


@pytest.mark.parametrize("number", ["1e200", "123456789012345678901234567890123456789012", "1e-200"])
def test_number_dynamodb_cannot_store_is_400(call: Call, number: str) -> None:
    response = call("POST", "/items", raw_body='{"name": "a", "amount": ' + number + "}")
    assert_error(response, 400, "'amount'", "38 significant digits")


def test_empty_attribute_name_is_400(call: Call) -> None:
    assert_error(call("POST", "/items", {"name": "a", "": 1}), 400, "attribute names")
    assert_error(call("POST", "/items", {"name": "a", "m": {"": 1}}), 400, "'m'")


def test_put_validates_like_post(call: Call) -> None:
    # R-FN-8
    item_id = call("POST", "/items", {"name": "a"}).json["id"]
    assert_error(call("PUT", f"/items/{item_id}", {"name": ""}), 400, "'name'")
    assert_error(call("PUT", f"/items/{item_id}", raw_body="{oops"), 400, "not valid JSON")


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, True, None])
def test_put_with_malformed_version_is_400(call: Call, version: object) -> None:
    item_id = call("POST", "/items", {"name": "a"}).json["id"]
    response = call("PUT", f"/items/{item_id}", {"name": "b", "version": version})
    assert_error(response, 400, "'version'", "positive integer")


# R-FN-8 / R-FN-9 400: bad limit
@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "", " 5", "+5", "99999"])
def test_bad_limit_is_400(call: Call, limit: str) -> None:
    assert_error(call("GET", "/items", query={"limit": limit}), 400, "'limit'", "from 1 to 100")


@pytest.mark.parametrize("limit", ["1", "100", "020"])
def test_limits_at_the_edges_are_accepted(call: Call, limit: str) -> None:
    assert call("GET", "/items", query={"limit": limit}).status == 200


# R-FN-8 / R-FN-9 400: bad token
@pytest.mark.parametrize(
    "token",
    [
        "!!!",
        "abc",
        "null",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"id": "x"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"id": "x", "createdAt": 5}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"id": "x", "createdAt": "y", "listKey": "Z"}).encode()).decode(),
        "A" * 2000,
    ],
)
def test_bad_next_token_is_400(call: Call, token: str) -> None:
    assert_error(call("GET", "/items", query={"next": token}), 400, "'next'")


def test_unknown_id_is_404(call: Call) -> None:
    # R-FN-8
    for method, body in (("GET", None), ("PUT", {"name": "a"}), ("DELETE", None)):
        assert_error(call(method, "/items/no-such-id", body), 404, "item 'no-such-id' not found")


def test_id_longer_than_dynamodb_allows_is_404(call: Call) -> None:
    assert_error(call("GET", "/items/" + "x" * 3000), 404, "not found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/widgets"), ("GET", "/items/a/b"), ("POST", "/itemsx"), ("GET", "")],
)
def test_unknown_route_is_404(call: Call, method: str, path: str) -> None:
    # R-FN-8
    assert_error(call(method, path), 404, "no route")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/items", "GET,POST,OPTIONS"),
        ("DELETE", "/items", "GET,POST,OPTIONS"),
        ("PUT", "/items", "GET,POST,OPTIONS"),
        ("POST", "/items/abc", "GET,PUT,DELETE,OPTIONS"),
        ("PATCH", "/items/abc", "GET,PUT,DELETE,OPTIONS"),
        ("HEAD", "/items/abc", "GET,PUT,DELETE,OPTIONS"),
    ],
)
def test_wrong_method_is_405_with_allow(call: Call, method: str, path: str, allow: str) -> None:
    # R-FN-8
    response = call(method, path, {"name": "a"})
    assert_error(response, 405, f"method {method} is not allowed")
    assert response.headers["Allow"] == allow


def test_stale_version_is_409_naming_the_current_version(call: Call) -> None:
    # R-FN-8 409 conflict: update conditional on the version the client read.
    item_id = call("POST", "/items", {"name": "a"}).json["id"]
    assert call("PUT", f"/items/{item_id}", {"name": "b", "version": 1}).status == 200
    stale = call("PUT", f"/items/{item_id}", {"name": "c", "version": 1})
    message = assert_error(stale, 409, "version 1 is stale", "current version", "is 2")
    assert item_id in message
    assert call("GET", f"/items/{item_id}").json["name"] == "b"
    ahead = call("PUT", f"/items/{item_id}", {"name": "c", "version": 7})
    assert_error(ahead, 409, "is 2")


def test_body_over_64_kb_is_413(call: Call) -> None:
    # R-FN-8
    body = {"name": "big", "pad": "a" * (64 * 1024)}
    assert_error(call("POST", "/items", body), 413, "at most 65536 bytes")
    item_id = call("POST", "/items", {"name": "a"}).json["id"]
    assert_error(call("PUT", f"/items/{item_id}", body), 413)
    assert_error(call("POST", "/items", body, base64_body=True), 413)


def _assert_generic_500(response: Response, *secrets: str) -> None:
    assert_error(response, 500)
    assert response.json["message"] == "internal server error"
    for text in ("Traceback", "Exception", "botocore", ".py", *secrets):
        assert text not in response.body


def test_missing_table_is_500_without_detail(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    # R-FN-8 500 with no stack trace or internal detail in the body.
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    for method, path, body in (
        ("GET", "/items", None),
        ("POST", "/items", {"name": "a"}),
        ("GET", "/items/x", None),
    ):
        _assert_generic_500(call(method, path, body), "no-such-table", "ResourceNotFound")


def test_unexpected_exception_is_500_without_detail(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    # R-FN-8
    def explode(item_id: str) -> None:
        raise RuntimeError("secret internal detail at /var/task/db.py")

    monkeypatch.setattr(store, "get_item", explode)
    _assert_generic_500(call("GET", "/items/abc"), "secret internal detail", "RuntimeError")


def test_missing_table_name_setting_is_500_without_detail(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TABLE_NAME")
    _assert_generic_500(call("GET", "/items"), "TABLE_NAME")


@pytest.mark.heavy
def test_malformed_events_still_get_a_json_answer(table: str) -> None:
    # R-FN-8 the handler never raises, whatever API Gateway (or a test invoke) sends.
    for event in ({}, None, "not an event", {"httpMethod": 5, "path": ["x"], "headers": "h"}):
        response = invoke(event)
        assert response.status == 404
        assert set(response.json) == {"message", "requestId"} and response.json["requestId"]
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def _every_kind_of_response(call: Call, headers: dict[str, str] | None = None) -> list[Response]:
    created = call("POST", "/items", {"name": "a"}, headers=headers)
    item_id = created.json["id"]
    return [
        created,  # 201
        call("GET", f"/items/{item_id}", headers=headers),  # 200
        call("GET", "/items", headers=headers),  # 200
        call("PUT", f"/items/{item_id}", {"name": "b"}, headers=headers),  # 200
        call("PUT", f"/items/{item_id}", {"name": "c", "version": 1}, headers=headers),  # 409
        call("OPTIONS", "/items", headers=headers),  # 204
        call("POST", "/items", raw_body="{", headers=headers),  # 400
        call("GET", "/items/missing", headers=headers),  # 404
        call("GET", "/nowhere", headers=headers),  # 404
        call("PATCH", "/items", headers=headers),  # 405
        call("POST", "/items", {"name": "x" * 70000}, headers=headers),  # 413
        call("DELETE", f"/items/{item_id}", headers=headers),  # 204
    ]


def test_cors_headers_on_every_response(call: Call) -> None:
    # R-FN-8 every response, errors and 204 included, carries the CORS headers.
    responses = _every_kind_of_response(call)
    assert [r.status for r in responses] == [201, 200, 200, 200, 409, 204, 400, 404, 404, 405, 413, 204]
    for response in responses:
        assert_cors(response)


def test_cors_headers_on_500(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    # R-FN-8
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    assert_cors(call("GET", "/items"))


def test_cors_echoes_an_allowed_origin(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    # R-API-3 allowed origins come from CORS_ALLOW_ORIGINS.
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example.com, https://admin.example.com/")
    for response in _every_kind_of_response(call, {"origin": "https://admin.example.com"}):
        assert_cors(response, origin="https://admin.example.com")


def test_cors_names_the_first_allowed_origin_for_a_stranger(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-API-3
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example.com,https://admin.example.com")
    assert_cors(call("GET", "/items", headers={"Origin": "https://evil.example"}), "https://app.example.com")
    assert_cors(call("GET", "/items/missing"), "https://app.example.com")
