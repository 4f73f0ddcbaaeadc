"""Fixtures for the Lambda bundle: a fresh boto3 client per test, the function's environment
variables, and a moto DynamoDB table with the real schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bundle_helpers import TABLE_NAME, Call, Response, create_items_table, invoke, make_event
from moto import mock_aws

from lambda_bundle import store


@pytest.fixture(autouse=True)
def fresh_client() -> Iterator[None]:
    """Each moto mock must get a client created inside it, not one cached by an earlier test."""
    store.reset_client()
    yield
    store.reset_client()


@pytest.fixture(autouse=True)
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("ENVIRONMENT", "lbtest")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    for name in ("INDEX_NAME", "CORS_ALLOW_ORIGINS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


# Keeping boto3's default session across mocks (it holds only conftest's dummy credentials)
# spares every test the ~100 ms of loading the DynamoDB service model into a new session;
# each test still gets a new mock, a new table and a new client.
_MOCK_CONFIG: Any = {"core": {"reset_boto3_session": False}}


@pytest.fixture
def table() -> Iterator[str]:
    with mock_aws(config=_MOCK_CONFIG):
        create_items_table()
        yield TABLE_NAME


@pytest.fixture
def call(table: str) -> Call:
    """``call("POST", "/items", {"name": "x"})`` -> Response; other keywords go to make_event."""

    def _call(method: str, path: str, body: Any = None, *, context: Any = None, **kwargs: Any) -> Response:
        return invoke(make_event(method, path, body, **kwargs), context)

    return _call
