"""The TOKEN authorizer's handler: a bearer token in, an IAM policy out.

API Gateway calls it with `{"type": "TOKEN", "authorizationToken": "Bearer ...", "methodArn":
"arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH"}` and caches the answer per token for
the authorizer's TTL (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html).
Because of that cache, the policy must cover every method the token may call, not only the one
in `methodArn`: it names the stage's whole execution ARN (`API/STAGE/*/*`), never `*`.

Bad input never raises: a missing, malformed, expired, not-yet-valid, foreign-signed or
wrong-audience token gets a Deny policy (API Gateway answers 403), and the reason goes to the
log, never the token. `verify` bounds its decoding and turns every failure into a reason; should
anything else still escape it, `decide` denies too: a 500 feeds the 5XX alarm (and, during a
bake, a rollback), so no token may cause one. Only a failure to read the signing key raises (API
Gateway answers 500): that is an outage of the environment, not a caller's fault, and must not
look like one.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from typing import Any

import boto3

from .jwt import Claims, TokenRejected, verify

BEARER = "bearer "
KEY_CACHE_S = 300  # a rotated key reaches every warm authorizer within five minutes
_key: tuple[float, bytes] | None = None


def signing_key() -> bytes:
    """The HS256 key from Secrets Manager, read once per KEY_CACHE_S per execution environment."""
    global _key
    now = time.monotonic()
    if _key is not None and now - _key[0] < KEY_CACHE_S:
        return _key[1]
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SIGNING_SECRET_ARN"])
    document = json.loads(secret["SecretString"])
    key = base64.urlsafe_b64decode(document["key"] + "=" * (-len(document["key"]) % 4))
    _key = (now, key)
    return key


def reset_key_cache() -> None:
    global _key
    _key = None


def stage_scope(method_arn: Any) -> str:
    """`arn:aws:execute-api:R:A:API/STAGE/*/*` from any method ARN of that stage."""
    if not isinstance(method_arn, str) or not method_arn.startswith("arn:"):
        return "*"  # nothing to scope to: a Deny for everything is still a Deny
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    return f"{prefix}/{stage}/*/*" if stage else f"{prefix}/*"


def policy(
    principal: str, effect: str, resource: str, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        answer["context"] = context
    return answer


def bearer_token(event: Any) -> str:
    raw = event.get("authorizationToken") if isinstance(event, dict) else None
    if not isinstance(raw, str) or not raw[: len(BEARER)].lower() == BEARER:
        raise TokenRejected("no bearer token")
    return raw[len(BEARER) :].strip()


def decide(event: Any, key: bytes, now: float) -> tuple[dict[str, Any], str]:
    """The answer for one event and why; pure, so tests need neither AWS nor a clock."""
    scope = stage_scope(event.get("methodArn") if isinstance(event, dict) else None)
    try:
        claims: Claims = verify(
            bearer_token(event),
            key,
            issuer=os.environ["TOKEN_ISSUER"],
            audience=os.environ["TOKEN_AUDIENCE"],
            now=now,
        )
    except TokenRejected as exc:
        return policy("anonymous", "Deny", scope), exc.reason
    except Exception as exc:  # fail closed: a token must never cause a 500
        return policy("anonymous", "Deny", scope), f"malformed token ({type(exc).__name__})"
    context = {"sub": claims.subject, "scope": claims.scope, "expires": claims.expires}
    return policy(claims.subject, "Allow", scope, context), "allowed"


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    key = signing_key()
    answer, reason = decide(event, key, time.time())
    effect = answer["policyDocument"]["Statement"][0]["Effect"]
    line = {"level": "INFO", "message": "authorization decided", "effect": effect, "reason": reason}
    line["principal"] = answer["principalId"]
    line["requestId"] = getattr(context, "aws_request_id", None)
    print(json.dumps(line), file=sys.stdout, flush=True)
    return answer
