"""The TOKEN authorizer's own tests: what it allows, what it denies, and that nothing escapes.

API Gateway's contract for a TOKEN authorizer (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html):
the event holds `authorizationToken` and `methodArn`; the answer is a principalId, a policy
document and an optional context of string, number or boolean values; an error other than
"Unauthorized" is a 500. R-AUTH-1: every bad token is a Deny, never an exception.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from authorizer_bundle import handler
from authorizer_bundle.jwt import LEEWAY_S
from provisioning import tokens
from provisioning.names import Names

NAMES = Names(project="envport", suffix="unit1", stage="dev")
KEY = b"k" * 32
NOW = 1_800_000_000.0
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/items/42"
SCOPE = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/*/*"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_ISSUER", NAMES.token_issuer)
    monkeypatch.setenv("TOKEN_AUDIENCE", NAMES.token_audience)


def _event(token: Any) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": METHOD_ARN}


def _token(key: bytes = KEY, header: dict[str, Any] | None = None, **changes: Any) -> str:
    claims = {**tokens.claims_for(NAMES, subject="alice", ttl_s=600, scope="items:read", now=NOW), **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    return "Bearer " + tokens.sign(claims, key, header=header)


def _effect(answer: dict[str, Any]) -> str:
    statement = answer["policyDocument"]["Statement"][0]
    assert statement["Action"] == "execute-api:Invoke" and statement["Resource"] == SCOPE
    return str(statement["Effect"])


def test_a_good_token_is_allowed_for_the_whole_stage_with_its_context() -> None:
    # R-AUTH-1: the policy must cover every method the cached answer is reused for
    answer, reason = handler.decide(_event(_token()), KEY, NOW)
    assert _effect(answer) == "Allow" and reason == "allowed"
    assert answer["principalId"] == "alice"
    assert answer["context"] == {"sub": "alice", "scope": "items:read", "expires": int(NOW) + 600}
    assert all(isinstance(v, (str, int, bool)) for v in answer["context"].values())


@pytest.mark.parametrize(
    ("name", "token", "reason"),
    [
        ("no header", None, "no bearer token"),
        ("not bearer", "Basic dXNlcjpwYXNz", "no bearer token"),
        ("malformed", "Bearer not-a-jwt", "three dot-separated"),
        ("bad base64", "Bearer a.b*c.d", "not base64url"),
        (
            "header not json",
            "Bearer " + base64.urlsafe_b64encode(b"{x").decode().rstrip("=") + ".e30.AA",
            "not JSON",
        ),
        ("expired", _token(exp=int(NOW) - LEEWAY_S - 1), "expired"),
        ("not yet valid", _token(nbf=int(NOW) + LEEWAY_S + 60), "not valid yet"),
        ("wrong issuer", _token(iss="https://evil.invalid/unit1"), "issuer"),
        ("wrong audience", _token(aud="envport-other-api"), "audience"),
        ("audience list without ours", _token(aud=["a", "b"]), "audience"),
        ("wrong key", _token(key=b"x" * 32), "signature"),
        ("alg none", _token(header={"alg": "none", "typ": "JWT"}), "algorithm"),
        ("alg RS256", _token(header={"alg": "RS256"}), "algorithm"),
        ("no exp", _token(exp=None), "exp"),
        ("exp not a number", _token(exp="soon"), "exp"),
        ("no sub", _token(sub=None), "sub"),
        ("huge", "Bearer " + "a" * 9000, "not a token"),
        ("a number", 42, "no bearer token"),
    ],
)
def test_every_bad_token_is_denied_with_a_reason_and_nothing_raised(
    name: str, token: Any, reason: str
) -> None:
    # R-AUTH-1: denied, never an exception; the reason is for the log, without the token
    answer, why = handler.decide(_event(token), KEY, NOW)
    assert _effect(answer) == "Deny", name
    assert reason in why, (name, why)
    assert "context" not in answer and answer["principalId"] == "anonymous"


def test_alg_none_with_an_empty_signature_is_denied() -> None:
    head = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).decode().rstrip("=")
    body = base64.urlsafe_b64encode(json.dumps({"sub": "x"}).encode()).decode().rstrip("=")
    answer, why = handler.decide(_event(f"Bearer {head}.{body}."), KEY, NOW)
    assert _effect(answer) == "Deny" and "algorithm" in why


def test_a_token_within_the_clock_skew_is_still_allowed() -> None:
    answer, _ = handler.decide(_event(_token(exp=int(NOW) - LEEWAY_S + 5)), KEY, NOW)
    assert _effect(answer) == "Allow"


def test_event_without_method_arn_gets_a_deny_for_everything() -> None:
    answer, _ = handler.decide({"authorizationToken": "Bearer x.y.z"}, KEY, NOW)
    assert answer["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": "*",
    }
    answer, _ = handler.decide("not even a dict", KEY, NOW)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        document = tokens.new_key_document()
        arn = client.create_secret(Name=NAMES.signing_secret, SecretString=document)["ARN"]
        monkeypatch.setenv("SIGNING_SECRET_ARN", arn)
        handler.reset_key_cache()
        yield document
        handler.reset_key_cache()


def test_handler_reads_the_key_from_secrets_manager_once_and_logs_no_token(
    secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tokens.key_from_document(secret)
    assert len(key) == tokens.KEY_BYTES
    good = "Bearer " + tokens.sign(tokens.claims_for(NAMES, subject="bob", ttl_s=60), key)
    answer = handler.lambda_handler(_event(good), None)
    assert _effect(answer) == "Allow" and answer["principalId"] == "bob"
    denied = handler.lambda_handler(_event(good + "x"), None)
    assert _effect(denied) == "Deny"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["effect"] for line in lines] == ["Allow", "Deny"]
    assert all(good.split()[1] not in json.dumps(line) for line in lines)


@pytest.mark.heavy
def test_a_foreign_key_signed_by_envport_tokens_is_denied(secret: str) -> None:
    other = "Bearer " + tokens.sign(tokens.claims_for(NAMES, subject="eve", ttl_s=60), b"o" * 32)
    assert _effect(handler.lambda_handler(_event(other), None)) == "Deny"
