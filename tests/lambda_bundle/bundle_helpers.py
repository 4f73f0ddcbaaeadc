"""Helpers shared by the bundle's tests: the table schema and API Gateway proxy events.

Kept out of conftest.py so that test modules can import them under a name that no other
test folder uses (``import conftest`` would be ambiguous with tests/conftest.py).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3

# The bundle is imported as the top-level package ``lambda_bundle``, exactly as Lambda does;
# make sure the repository root is importable even when no Django project put it on the path.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from lambda_bundle.handler import lambda_handler  # noqa: E402

TABLE_NAME = "items-lbtest"
INDEX_NAME = "byCreatedAt"
API_KEY = "k3y-VALUE-that-must-never-be-logged"
API_REQUEST_ID = "api-req-1"


def create_items_table(name: str = TABLE_NAME, index_name: str = INDEX_NAME) -> None:
    """The schema contract with the provisioning engine (R-DB-1, R-DB-3)."""
    boto3.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "listKey", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index_name,
                "KeySchema": [
                    {"AttributeName": "listKey", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str
    raw: dict[str, Any]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Call = Callable[..., Response]


def make_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    raw_body: str | None = None,
    base64_body: bool = False,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    request_id: str = API_REQUEST_ID,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0) as the /items resources produce it."""
    parts = path.strip("/").split("/")
    if path == "/items":
        resource, path_parameters = "/items", None
    elif len(parts) == 2 and parts[0] == "items":
        resource, path_parameters = "/items/{id}", {"id": parts[1]}
    else:
        resource, path_parameters = path, None
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    if base64_body and text is not None:
        text = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "X-Api-Key": API_KEY, **(headers or {})},
        "queryStringParameters": query,
        "pathParameters": path_parameters,
        "body": text,
        "isBase64Encoded": base64_body,
        "requestContext": {"requestId": request_id, "path": f"/dev{path}", "stage": "dev"},
    }


def invoke(event: Any, context: Any = None) -> Response:
    raw = lambda_handler(event, context)
    return Response(raw["statusCode"], raw["headers"], raw["body"], raw)


def lambda_context(request_id: str = "lambda-req-1") -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=request_id, function_name="items-lbtest")
