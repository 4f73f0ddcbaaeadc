"""What a client may store in an item, checked before anything reaches DynamoDB (R-FN-8).

Server-owned attributes (``id``, ``createdAt``, ``updatedAt``, ``version`` and the internal
``listKey``) in a request body are *ignored*, not rejected: a client may send back an item it
has just read, and refusing that would only make clients strip fields for nothing. The one
server-owned field a body may speak to is ``version`` on PUT, where it is the optimistic
locking precondition and must then be a positive integer.

Values DynamoDB would refuse (numbers beyond its 38-digit range, nesting deeper than 32
levels, empty attribute names, strings that are not valid Unicode) are rejected here as
400s; otherwise DynamoDB would refuse them later and the client would see a 500 (which also
counts toward the API's 5xx alarm, so anyone with a key could fire it at will). A refusal
names the attribute by its path (``price``, ``a.b[2]``).

Numbers follow DynamoDB's documented rule: zero, or a magnitude from 1E-130 to
9.9999999999999999999999999999999999999E+125, with at most 38 significant digits once
leading and trailing zeros are trimmed. Moto accepts numbers above that maximum and AWS does
not, so the limits are written out here rather than left to whichever DynamoDB answers.
Accepted numbers are passed on in that trimmed form (``1.50`` becomes ``1.5``, ``0E-200``
becomes ``0``), which is what DynamoDB stores anyway and what boto3's serializer can encode.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

from .errors import BadRequest, shorten

SERVER_FIELDS = frozenset({"id", "createdAt", "updatedAt", "version", "listKey"})
INTERNAL_FIELDS = frozenset({"listKey"})
MAX_NAME_LENGTH = 200
MAX_NESTING = 32
MAX_SIGNIFICANT_DIGITS = 38
SMALLEST_MAGNITUDE = Decimal("1E-130")
LARGEST_MAGNITUDE = Decimal("9.9999999999999999999999999999999999999E+125")
NUMBER_RULE = (
    f"DynamoDB numbers have at most {MAX_SIGNIFICANT_DIGITS} significant digits and are 0 or of "
    f"magnitude from {SMALLEST_MAGNITUDE} to {LARGEST_MAGNITUDE}"
)


@dataclass(frozen=True)
class ItemInput:
    fields: dict[str, Any]
    expected_version: int | None = None


def parse_item(body: Mapping[str, Any], *, honour_version: bool) -> ItemInput:
    """Validate a POST or PUT body; ``honour_version`` is True only for PUT."""
    client_fields = {key: value for key, value in body.items() if key not in SERVER_FIELDS}
    _check_name(client_fields.get("name"))
    if "expiresAt" in client_fields:
        _check_expires_at(client_fields["expiresAt"])
    fields: dict[str, Any] = {}
    for key, value in client_fields.items():
        if not key:
            raise BadRequest("attribute names must not be empty")
        _check_text(key, key)
        fields[key] = _checked_value(key, value, depth=0)
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


def _checked_value(path: str, value: Any, depth: int) -> Any:
    """The value as it will be stored; BadRequest naming ``path`` (``a.b[2]``) if DynamoDB refuses it."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, Decimal)):
        return dynamodb_number(path, value)
    if isinstance(value, str):
        _check_text(path, value)
        return value
    if depth >= MAX_NESTING:
        raise BadRequest(f"field '{shorten(path)}' is nested more than {MAX_NESTING} levels deep")
    if isinstance(value, list):
        return [_checked_value(f"{path}[{index}]", element, depth + 1) for index, element in enumerate(value)]
    if not isinstance(value, dict):  # JSON has no other types; floats arrive as Decimal
        raise BadRequest(f"field '{shorten(path)}' holds a {type(value).__name__}, which is not a JSON value")
    checked: dict[str, Any] = {}
    for key, element in value.items():
        if not key:
            raise BadRequest(f"field '{shorten(path)}' contains an empty attribute name")
        _check_text(path, key)
        checked[key] = _checked_value(f"{path}.{key}", element, depth + 1)
    return checked


def dynamodb_number(path: str, value: int | Decimal) -> Decimal:
    """``value`` trimmed of leading and trailing zeros, or BadRequest if DynamoDB cannot store it.

    Every step is exact (comparisons never round; ``copy_abs`` and the tuple arithmetic use
    no context), so the limits themselves pass and the first number past them fails. The last
    check is boto3's own encoding context: below 1E-128 it keeps fewer than 38 digits, and a
    number it would round must be refused here rather than become a 500 in the serializer.
    """
    number = Decimal(value)
    if not number.is_finite():
        raise _bad_number(path, number, "is not a finite number")
    if number.is_zero():
        return Decimal(0)
    sign, digits, exponent = number.as_tuple()
    kept = len(digits)
    while digits[kept - 1] == 0:
        kept -= 1
    if kept > MAX_SIGNIFICANT_DIGITS:
        raise _bad_number(path, number, f"has {kept} significant digits")
    magnitude = number.copy_abs()  # abs() would round to the context's 28 digits
    if magnitude < SMALLEST_MAGNITUDE:
        raise _bad_number(path, number, f"is smaller in magnitude than {SMALLEST_MAGNITUDE}")
    if magnitude > LARGEST_MAGNITUDE:
        raise _bad_number(path, number, f"is larger in magnitude than {LARGEST_MAGNITUDE}")
    trimmed = Decimal((sign, digits[:kept], int(exponent) + len(digits) - kept))
    try:
        DYNAMODB_CONTEXT.create_decimal(trimmed)
    except decimal.DecimalException as exc:
        raise _bad_number(path, number, "has more digits than DynamoDB keeps at that magnitude") from exc
    return trimmed


def _bad_number(path: str, number: Decimal, problem: str) -> BadRequest:
    return BadRequest(f"field '{shorten(path)}' holds {shorten(str(number))}, which {problem}: {NUMBER_RULE}")


def _check_text(path: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(f"field '{shorten(path)}' contains text that is not valid Unicode") from exc
