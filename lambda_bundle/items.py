"""What a client may store in an item, checked before anything reaches DynamoDB (R-FN-8).

Server-owned attributes (``id``, ``createdAt``, ``updatedAt``, ``version`` and the internal
``listKey``) in a request body are *ignored*, not rejected: a client may send back an item it
has just read, and refusing that would only make clients strip fields for nothing. The one
server-owned field a body may speak to is ``version`` on PUT, where it is the optimistic
locking precondition and must then be a positive integer.

Values DynamoDB would refuse (numbers beyond its 38-digit range, nesting deeper than 32
levels, empty attribute names, strings that are not valid Unicode) are rejected here as
400s; otherwise DynamoDB would refuse them later and the client would see a 500.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

from .errors import BadRequest

SERVER_FIELDS = frozenset({"id", "createdAt", "updatedAt", "version", "listKey"})
INTERNAL_FIELDS = frozenset({"listKey"})
MAX_NAME_LENGTH = 200
MAX_NESTING = 32


@dataclass(frozen=True)
class ItemInput:
    fields: dict[str, Any]
    expected_version: int | None = None


def parse_item(body: Mapping[str, Any], *, honour_version: bool) -> ItemInput:
    """Validate a POST or PUT body; ``honour_version`` is True only for PUT."""
    fields = {key: value for key, value in body.items() if key not in SERVER_FIELDS}
    _check_name(fields.get("name"))
    if "expiresAt" in fields:
        _check_expires_at(fields["expiresAt"])
    for key, value in fields.items():
        if not key:
            raise BadRequest("attribute names must not be empty")
        _check_text(key, key)
        _check_value(key, value, depth=0)
    expected_version = _expected_version(body["version"]) if honour_version and "version" in body else None
    return ItemInput(fields=fields, expected_version=expected_version)


def public_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as a client sees it: internal attributes never leave the function."""
    return {key: value for key, value in item.items() if key not in INTERNAL_FIELDS}


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise BadRequest(
            f"field 'name' is required and must be a non-empty string of at most {MAX_NAME_LENGTH} characters"
        )


def _check_expires_at(value: Any) -> None:
    if not _is_int(value) or value <= 0:
        raise BadRequest("field 'expiresAt' must be a positive integer (epoch seconds)")


def _expected_version(value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise BadRequest("field 'version' must be a positive integer (the version you last read)")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(field: str, value: Any, depth: int) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, Decimal)):
        _check_number(field, value)
    elif isinstance(value, str):
        _check_text(field, value)
    elif isinstance(value, (list, dict)):
        if depth >= MAX_NESTING:
            raise BadRequest(f"field '{field}' is nested more than {MAX_NESTING} levels deep")
        if isinstance(value, list):
            for element in value:
                _check_value(field, element, depth + 1)
        else:
            for key, element in value.items():
                if not key:
                    raise BadRequest(f"field '{field}' contains an empty attribute name")
                _check_text(field, key)
                _check_value(field, element, depth + 1)


def _check_number(field: str, value: int | Decimal) -> None:
    try:
        DYNAMODB_CONTEXT.create_decimal(value)
    except decimal.DecimalException as exc:
        raise BadRequest(
            f"field '{field}' holds a number DynamoDB cannot store: at most 38 significant digits, "
            "magnitude between 1E-130 and 1E+126"
        ) from exc


def _check_text(field: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(f"field '{field}' contains text that is not valid Unicode") from exc
