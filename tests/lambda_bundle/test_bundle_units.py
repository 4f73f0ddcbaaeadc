"""Pure functions of the bundle (no AWS): tokens, limits, validation, CORS, settings, imports."""

from __future__ import annotations

import ast
import base64
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from lambda_bundle import config, http, items, paging, request
from lambda_bundle.errors import BadRequest, PayloadTooLarge

BUNDLE = Path(items.__file__).resolve().parent


def _vendored_modules() -> set[str]:
    """The import names of what requirements.txt pins (the artifact build vendors them)."""
    lines = (BUNDLE / "requirements.txt").read_text().splitlines()
    names = [line.split("#", 1)[0].split("==", 1)[0].strip() for line in lines]
    return {name.lower().replace("-", "_") for name in names if name}


def test_bundle_imports_nothing_outside_itself_but_stdlib_boto3_and_its_pinned_requirements() -> None:
    # R-FN-2 the zip holds lambda_bundle/ and its vendored requirements only, so every import must
    # resolve inside it or the runtime.
    assert "aws_lambda_powertools" in _vendored_modules()
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore"} | _vendored_modules()
    for module in sorted(BUNDLE.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{module.name} imports {roots - allowed}"


def test_token_round_trip_is_opaque_url_safe() -> None:
    # R-FN-9
    position = {"id": "a/b+c?", "createdAt": "2030-01-01T00:00:00.000000Z"}
    token = paging.encode_token(position)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert paging.decode_token(token) == position
    assert paging.decode_token(None) is None and paging.decode_token("") is None


def test_token_with_padding_or_invalid_utf8_is_refused() -> None:
    with pytest.raises(BadRequest):
        paging.decode_token(paging.encode_token({"id": "x", "createdAt": "y"}) + "==")
    with pytest.raises(BadRequest):
        paging.decode_token(base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="))


def test_limit_default_and_range() -> None:
    # R-FN-9
    assert paging.parse_limit(None) == 20
    assert paging.parse_limit("1") == 1 and paging.parse_limit("100") == 100
    for bad in ("0", "101", "x", "", "1e2"):
        with pytest.raises(BadRequest, match="from 1 to 100"):
            paging.parse_limit(bad)


def test_parse_item_drops_server_fields_and_honours_version_only_for_put() -> None:
    body = {"name": "a", "id": "x", "createdAt": "c", "updatedAt": "u", "listKey": "L", "version": 3, "k": 1}
    created = items.parse_item(body, honour_version=False)
    assert created.fields == {"name": "a", "k": 1} and created.expected_version is None
    assert items.parse_item(body, honour_version=True).expected_version == 3


def test_public_view_hides_the_list_key() -> None:
    assert items.public_view({"id": "1", "listKey": "ITEM", "name": "a"}) == {"id": "1", "name": "a"}


def test_numbers_dynamodb_can_store_pass_validation() -> None:
    body = {"name": "a", "small": Decimal("1E-129"), "large": Decimal("9.9E+125"), "int": 10**37}
    assert items.parse_item(body, honour_version=False).fields["int"] == 10**37


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(BadRequest, match="not valid Unicode"):
        items.parse_item({"name": "a", "x": "\ud800"}, honour_version=False)


def test_decimals_leave_as_json_numbers() -> None:
    payload = {
        "i": Decimal("3"),
        "f": Decimal("1.5"),
        "e": Decimal("1E+2"),
        "s": {Decimal("2"), Decimal("1")},
    }
    assert json.loads(http.to_json(payload)) == {"i": 3, "f": 1.5, "e": 100, "s": [1, 2]}
    assert http.to_json({"i": Decimal("3")}) == '{"i":3}'


def test_cors_headers() -> None:
    # R-API-3
    assert http.cors_headers("https://x", ("*",))["Access-Control-Allow-Origin"] == "*"
    allowed = ("https://a", "https://b")
    assert http.cors_headers("https://b", allowed)["Access-Control-Allow-Origin"] == "https://b"
    assert http.cors_headers(None, allowed) == {
        "Access-Control-Allow-Headers": "Content-Type,X-Amz-Date,Authorization,X-Api-Key",
        "Access-Control-Allow-Methods": "GET,POST,PUT,DELETE,OPTIONS",
        "Access-Control-Allow-Origin": "https://a",
        "Vary": "Origin",
    }


def test_settings_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.index_name() == "byCreatedAt"
    assert config.cors_allow_origins() == ("*",)
    monkeypatch.setenv("INDEX_NAME", "other")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", " https://a/ ,, https://b ")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert config.index_name() == "other"
    assert config.cors_allow_origins() == ("https://a", "https://b")
    assert config.log_level() == 10
    monkeypatch.delenv("TABLE_NAME")
    with pytest.raises(config.ConfigError, match="TABLE_NAME"):
        config.table_name()


def test_request_parsing_is_case_insensitive_and_lenient() -> None:
    parsed = request.from_event(
        {
            "httpMethod": "get",
            "path": "/items",
            "headers": {"ORIGIN": "https://a", "X-Bad": None},
            "queryStringParameters": None,
            "requestContext": {"requestId": "r", "path": "/prod/items"},
        }
    )
    assert parsed.method == "GET" and parsed.header("Origin") == "https://a"
    assert parsed.query == {} and parsed.api_request_id == "r" and parsed.public_path == "/prod/items"


def test_body_size_is_measured_in_bytes_after_base64_decoding() -> None:
    # R-FN-8 413 is about the bytes the client sent, not the characters of the event.
    text = '{"name":"' + "é" * 33000 + '"}'  # 33011 characters, 66011 bytes
    with pytest.raises(PayloadTooLarge, match="66011 bytes"):
        request.json_object_body(request.Request(body=text))
    encoded = base64.b64encode(text.encode()).decode()
    with pytest.raises(PayloadTooLarge):
        request.json_object_body(request.Request(body=encoded, is_base64=True))
    assert request.json_object_body(request.Request(body='{"a": 1.25}')) == {"a": Decimal("1.25")}
