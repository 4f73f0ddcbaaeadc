"""The `token` mode's credentials: the signing key envport keeps in Secrets Manager, and tokens
signed with it (R-AUTH-1, R-AUTH-3).

The key is 256 random bits (HS256's own strength, RFC 7518 3.2), stored as
`{"alg": "HS256", "key": "<base64url>"}`. Tokens carry `iss` and `aud` naming this environment
and its API, `exp` and `nbf`; the authorizer in `authorizer_bundle/` verifies all of them. The
engine reads the key with its own credentials, so verification and `manage.py env token` can
mint a token without anything leaving AWS but the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

from .aws import AwsClients, error_code
from .names import Names

ALGORITHM = "HS256"
KEY_BYTES = 32
MAX_TTL_S = 24 * 3600  # a testing token, not a session: a day at most


class NoSigningKey(RuntimeError):
    """The environment has no signing key: it is not in `token` mode, or not provisioned."""


def new_key_document() -> str:
    """A fresh secret value: what the signing-key resource stores on create."""
    key = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).rstrip(b"=").decode()
    return json.dumps({"alg": ALGORITHM, "key": key})


def key_from_document(document: str) -> bytes:
    value = json.loads(document)["key"]
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def read_key(clients: AwsClients, names: Names) -> bytes:
    try:
        secret = clients.client("secretsmanager").get_secret_value(SecretId=names.signing_secret)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise NoSigningKey(
                f"no signing key {names.signing_secret}: the environment is not provisioned in token mode"
            ) from exc
        raise
    return key_from_document(secret["SecretString"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, Any], key: bytes, *, header: dict[str, Any] | None = None) -> str:
    """A compact HS256 JWS of `claims` (a different `header` makes the bad tokens checks need)."""
    head = _b64(json.dumps(header or {"alg": ALGORITHM, "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def claims_for(
    names: Names, *, subject: str, ttl_s: int, scope: str = "items", now: float | None = None
) -> dict[str, Any]:
    issued = int(time.time() if now is None else now)
    return {
        "iss": names.token_issuer,
        "aud": names.token_audience,
        "sub": subject,
        "scope": scope,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }


def mint(clients: AwsClients, names: Names, *, subject: str, ttl_s: int, scope: str = "items") -> str:
    """A valid token for the environment, signed with its key read from Secrets Manager."""
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl {ttl_s} s: allowed 1 to {MAX_TTL_S} seconds")
    return sign(claims_for(names, subject=subject, ttl_s=ttl_s, scope=scope), read_key(clients, names))
