"""Numbers DynamoDB cannot store are 400s naming the attribute, before any DynamoDB call (R-FN-8).

DynamoDB keeps zero and magnitudes from 1E-130 to 9.9999999999999999999999999999999999999E+125
with at most 38 significant digits. Moto refuses only the bottom of that range ("Number
underflow") and stores anything above the top, so these tests check the bundle's own limits
and prove, with a client that fails the test if it is used, that a refused body never reaches
DynamoDB: a 500 there would count toward the prod 5xx alarm.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from bundle_helpers import Call, Response
from test_bundle_errors import assert_error

from lambda_bundle import http, items, store

SMALLEST = "1E-130"
LARGEST = "9.9999999999999999999999999999999999999E+125"
THIRTY_EIGHT_DIGITS = "0.12345678901234567890123456789012345678"


def refuse_dynamodb(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replaces the bundle's DynamoDB client with one that records its use and fails the request."""
    calls: list[str] = []

    def refuse() -> object:
        calls.append("client")
        raise AssertionError("a refused body reached DynamoDB")

    monkeypatch.setattr(store, "client", refuse)
    return calls


def _post(call: Call, attributes: str) -> Response:
    return call("POST", "/items", raw_body='{"name": "a", ' + attributes + "}")


def _read_back(call: Call, created: Response) -> dict[str, object]:
    """The stored item as a client reads it, numbers parsed exactly."""
    response = call("GET", f"/items/{created.json['id']}")
    assert response.status == 200, response.body
    return json.loads(response.body, parse_float=Decimal)


@pytest.mark.parametrize(
    ("attributes", "path", "problem"),
    [
        ('"f": 1e-131', "'f'", "smaller in magnitude than 1E-130"),
        ('"f": -1e-131', "'f'", "smaller in magnitude than 1E-130"),
        ('"a": {"b": [1, 2, 1e-131]}', "'a.b[2]'", "smaller in magnitude than 1E-130"),
        ('"f": 1E+126', "'f'", "larger in magnitude than " + LARGEST),
        ('"f": -1E+126', "'f'", "larger in magnitude than " + LARGEST),
        ('"a": [{"b": 1e200}]', "'a[0].b'", "larger in magnitude than " + LARGEST),
        ('"a": {"b": 1234567890123456789012345678901234567.89}', "'a.b'", "has 39 significant digits"),
    ],
    ids=[
        "underflow",
        "negative-underflow",
        "nested-underflow",
        "overflow",
        "negative-overflow",
        "nested-overflow",
        "nested-39-digits",
    ],
)
def test_number_out_of_dynamodb_range_is_400_naming_its_path_without_calling_dynamodb(
    call: Call, monkeypatch: pytest.MonkeyPatch, attributes: str, path: str, problem: str
) -> None:
    """probe: POST {"name": "a", "f": 1e-131} answered 500 (DynamoDB's "Number underflow"), and
    1E+126, above DynamoDB's documented maximum, was stored by moto where AWS refuses it."""
    # R-FN-8 a value DynamoDB would refuse is a 400 with a useful message, never a 500.
    dynamodb_calls = refuse_dynamodb(monkeypatch)
    assert_error(_post(call, attributes), 400, path, problem, "38 significant digits")
    assert dynamodb_calls == []


def test_put_with_number_out_of_range_is_400_and_leaves_the_item_alone(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    """probe: PUT /items/{id} {"name": "a", "f": 1e-131} answered 500 after reading the item."""
    # R-FN-8
    created = _post(call, '"f": 1')
    with monkeypatch.context() as patched:
        calls = refuse_dynamodb(patched)
        response = call("PUT", f"/items/{created.json['id']}", raw_body='{"name": "b", "m": {"f": 1e-131}}')
    assert_error(response, 400, "'m.f'", "smaller in magnitude than 1E-130")
    assert calls == []
    assert _read_back(call, created)["name"] == "a"


@pytest.mark.parametrize("number", [SMALLEST, "-" + SMALLEST, LARGEST, "-" + LARGEST, THIRTY_EIGHT_DIGITS])
def test_numbers_at_dynamodb_limits_are_stored_and_read_back_exactly(call: Call, number: str) -> None:
    """probe: a 38-digit fraction came back rounded to 17 digits (it left the function as a float)."""
    # R-FN-8 the limits themselves are storable, and nothing is rounded on the way back.
    created = _post(call, f'"f": {number}, "nested": {{"list": [{number}]}}')
    assert created.status == 201, created.body
    for item in (json.loads(created.body, parse_float=Decimal), _read_back(call, created)):
        assert item["f"] == Decimal(number)
        assert item["nested"] == {"list": [Decimal(number)]}


@pytest.mark.parametrize("number", ["0", "-0.0", "0E-200", "0.000"])
def test_zero_in_any_spelling_is_stored_as_zero(call: Call, number: str) -> None:
    """probe: {"f": 0E-200} was refused as a number DynamoDB cannot store; zero always can be."""
    created = _post(call, f'"f": {number}')
    assert created.status == 201, created.body
    assert _read_back(call, created)["f"] == 0


def test_trailing_zeros_do_not_count_as_significant_digits(call: Call) -> None:
    """probe: 1.000000000000000000000000000000000000000 (1 and 39 zeros) was refused; DynamoDB
    trims trailing zeros, so it is the number 1."""
    created = _post(call, '"f": 1.000000000000000000000000000000000000000, "g": ' + "1" + "0" * 125)
    assert created.status == 201, created.body
    item = _read_back(call, created)
    assert item["f"] == 1 and item["g"] == 10**125


def test_number_boto3_cannot_encode_below_1e128_is_refused() -> None:
    """Below 1E-128 boto3's encoding context keeps fewer than 38 digits; rounding is refused."""
    with pytest.raises(items.BadRequest, match="more digits than DynamoDB keeps"):
        items.dynamodb_number("f", Decimal("1.2345678901234567890123456789012345678E-130"))
    assert items.dynamodb_number("f", Decimal("1.5E-129")) == Decimal("1.5E-129")


def test_decimals_leave_digit_for_digit() -> None:
    """probe: Decimal("0.12345678901234567890") left the function as 0.12345678901234568."""
    payload = {
        "f": Decimal(THIRTY_EIGHT_DIGITS),
        "s": Decimal(SMALLEST),
        "i": Decimal(LARGEST),
        "t": "\u00e9",
    }
    text = http.to_json(payload)
    assert text == f'{{"f":{THIRTY_EIGHT_DIGITS},"s":1E-130,"i":{int(Decimal(LARGEST))},"t":"\\u00e9"}}'
    assert json.loads(text, parse_float=Decimal) == payload
