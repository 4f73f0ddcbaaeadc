"""The token authorizer under hostile tokens: bounded decoding, and a Deny for anything malformed.

API Gateway answers 500 when a TOKEN authorizer raises anything but "Unauthorized"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html),
and each 500 feeds the environment's 5XX alarm (during a bake: a rollback). So no token, however
made, may make the function raise: it gets a Deny with a reason for the log. R-AUTH-1.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from authorizer_bundle import handler
from authorizer_bundle.jwt import MAX_JSON_DEPTH, json_depth
from provisioning import tokens
from provisioning.names import Names

NAMES = Names(project="envport", suffix="unit1", stage="dev")
KEY = b"k" * 32
NOW = 1_800_000_000.0
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/items/42"
BUNDLE = Path(handler.__file__).parent


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_ISSUER", NAMES.token_issuer)
    monkeypatch.setenv("TOKEN_AUDIENCE", NAMES.token_audience)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signed(header: bytes, payload: bytes, key: bytes = KEY) -> str:
    """A token whose parts are these bytes, correctly signed: only the content is hostile."""
    head, body = _b64(header), _b64(payload)
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"Bearer {head}.{body}.{_b64(mac)}"


def _claims(**changes: Any) -> dict[str, Any]:
    claims = tokens.claims_for(NAMES, subject="alice", ttl_s=600, scope="items:read", now=NOW)
    return {**claims, **changes}


GOOD_HEADER = b'{"alg":"HS256","typ":"JWT"}'
BRACKETS = b"[" * 5000  # 6.7 KB once base64url-encoded: the probe's token


def _decide(token: str) -> tuple[str, str, dict[str, Any]]:
    answer, reason = handler.decide(
        {"type": "TOKEN", "authorizationToken": token, "methodArn": METHOD_ARN}, KEY, NOW
    )
    return answer["policyDocument"]["Statement"][0]["Effect"], reason, answer


def test_a_token_of_nested_brackets_is_denied_not_a_recursion_error() -> None:
    """Issue 17, the nested-bracket token: 6.7 KB of `[[[[...` gave RecursionError, API Gateway's 500."""
    # R-AUTH-1, R-SEC-2: a Deny, never an exception, for any token
    in_header = f"Bearer {_b64(BRACKETS)}.e30.AA"
    assert 6_000 < len(in_header) < 8_192  # under the length cap: only the depth bound stops it
    effect, reason, answer = _decide(in_header)
    assert (effect, answer["principalId"]) == ("Deny", "anonymous")
    assert f"deeper than {MAX_JSON_DEPTH}" in reason and "context" not in answer

    # the same brackets in a payload signed with the right key (a leaked key, a signer's bug)
    effect, reason, _ = _decide(_signed(GOOD_HEADER, BRACKETS))
    assert effect == "Deny" and "payload is nested deeper" in reason
    # within a claim's value: still an object, but deeper than any claim set
    deep = b'{"sub":"alice","x":' + b"[" * 40 + b"]" * 40 + b"}"
    assert _decide(_signed(GOOD_HEADER, deep))[0] == "Deny"


def test_brackets_inside_strings_are_not_nesting() -> None:
    """The depth bound reads JSON's strings as strings: a claim may hold brackets and escapes."""
    assert json_depth('{"a":"[[[[\\"{{{{","b":[1,{"c":2}]}') == 3
    token = _signed(GOOD_HEADER, json.dumps(_claims(scope='[[[[items:read]]]] \\" {{')).encode())
    effect, reason, answer = _decide(token)
    assert (effect, reason) == ("Allow", "allowed") and answer["context"]["scope"].startswith("[[[[")


@pytest.mark.parametrize(
    ("case", "payload", "reason"),
    [
        ("exp Infinity", json.dumps(_claims(exp=float("inf"))).encode(), "not JSON"),
        ("exp NaN", json.dumps(_claims(exp=float("nan"))).encode(), "not JSON"),
        ("exp 1e308", json.dumps(_claims(exp=1e308)).encode(), "exp is out of range"),
        ("exp 4,000 digits", json.dumps(_claims(exp=10**3999)).encode(), "exp is out of range"),
        ("nbf -1e300", json.dumps(_claims(nbf=-1e300)).encode(), "nbf is out of range"),
        ("payload not UTF-8", b'{"sub":"\xff\xfe"}', "not UTF-8"),
        ("payload a list", b"[1,2]", "not a JSON object"),
    ],
)
def test_signed_but_malformed_claims_are_denied(case: str, payload: bytes, reason: str) -> None:
    """Issue 17, the authorizer's 500s: a number that is no time (inf raised OverflowError, NaN
    ValueError) or claims that are not a JSON object of UTF-8 get a Deny, even when signed."""
    # R-AUTH-1, R-SEC-2: a Deny, never an exception, for any token
    effect, why, _ = _decide(_signed(GOOD_HEADER, payload))
    assert effect == "Deny", case
    assert reason in why, (case, why)


def test_a_part_outside_base64url_is_denied_before_the_signature_is_computed() -> None:
    """Issue 17, the authorizer's 500s: a non-ASCII payload part raised UnicodeEncodeError in the
    HMAC's input (only the header part was checked before it)."""
    # R-AUTH-1, R-SEC-2: a Deny, never an exception, for any token
    head = _b64(GOOD_HEADER)
    for payload in ("é30", "e30\x00", "e3 0", "e30é"):
        effect, reason, _ = _decide(f"Bearer {head}.{payload}.AA")
        assert (effect, reason) == ("Deny", "not base64url"), payload


def test_no_mangled_token_raises() -> None:
    """Issue 17, "the authorizer never answers 500 to any token": 3,000 seeded mutations of a
    good token (bytes flipped, cut, duplicated, brackets and dots spliced in) are each a decision."""
    # R-AUTH-1, R-SEC-2: a Deny, never an exception, for any token
    rng = random.Random(17)
    good = _signed(GOOD_HEADER, json.dumps(_claims()).encode())
    splices = ["[", "{", '"', "\\", ".", "\x00", "é", "=", "[" * 3000, "e30", "W3s" * 500]
    for _ in range(3_000):
        token = list(good)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(token))
            move = rng.randrange(4)
            if move == 0:
                token[at] = chr(rng.randrange(32, 0x3000))
            elif move == 1:
                del token[at : at + rng.randint(1, 40)]
            elif move == 2:
                token[at:at] = list(rng.choice(splices))
            else:
                token[at:at] = token[: rng.randint(1, 200)]
        effect, reason, _ = _decide("".join(token))
        assert effect in ("Allow", "Deny") and reason


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[bytes]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        document = tokens.new_key_document()
        arn = client.create_secret(Name=NAMES.signing_secret, SecretString=document)["ARN"]
        monkeypatch.setenv("SIGNING_SECRET_ARN", arn)
        handler.reset_key_cache()
        yield tokens.key_from_document(document)
        handler.reset_key_cache()


def test_the_handler_answers_the_probe_token_with_a_deny_and_logs_why(
    secret: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 17, the nested-bracket token, through the Lambda entry point (a 500 there was the probe's)."""
    # R-AUTH-1, R-SEC-2: a Deny, never an exception, for any token
    for token in (f"Bearer {_b64(BRACKETS)}.e30.AA", _signed(GOOD_HEADER, BRACKETS, key=secret)):
        answer = handler.lambda_handler({"authorizationToken": token, "methodArn": METHOD_ARN}, None)
        assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["effect"] for line in lines] == ["Deny", "Deny"]
    assert all("nested deeper" in line["reason"] for line in lines)
    assert all(len(json.dumps(line)) < 500 for line in lines)  # the reason, never the token


def test_the_bundle_imports_only_the_standard_library_and_boto3() -> None:
    """The authorizer is its own artifact (provisioning/artifacts.py): it may import nothing of the
    project and nothing the Lambda runtime does not hold (boto3 is the runtime's own)."""
    allowed = set(sys.stdlib_module_names) | {"boto3", "__future__"}
    for path in sorted(BUNDLE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [(node.module or "").split(".")[0]]
            else:
                continue
            assert set(names) <= allowed, (path.name, names)
