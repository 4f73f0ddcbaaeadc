"""HS256 JSON Web Tokens, verified with the standard library (RFC 7519, RFC 7515).

Only what the authorizer needs: a compact JWS whose header says `alg` HS256, an HMAC-SHA256
signature compared in constant time, and the registered claims `iss`, `aud`, `exp`, `nbf`.
Every failure is a `TokenRejected` with a reason fit for a log line (never the token itself);
nothing else can escape `verify`, whatever bytes it is given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

ALGORITHM = "HS256"
# Clock skew tolerated on exp and nbf: the signer (envport) and Lambda both keep NTP time.
LEEWAY_S = 30
MAX_TOKEN_CHARS = 8192


class TokenRejected(Exception):
    """The token is not acceptable; `reason` says why, without repeating the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    subject: str
    scope: str
    expires: int
    raw: dict[str, Any]


def b64url_decode(part: str) -> bytes:
    if not part or any(c not in _B64URL for c in part):
        raise TokenRejected("not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenRejected("not base64url") from exc


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json_object(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(part))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenRejected(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise TokenRejected(f"{what} is not a JSON object")
    return value


def _number(claims: dict[str, Any], name: str, required: bool) -> int | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenRejected(f"{name} is missing or not a number")
    return int(value)


def verify(token: str, key: bytes, *, issuer: str, audience: str, now: float) -> Claims:
    """The token's claims if it is a valid HS256 JWT for `issuer` and `audience` at `now`."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected("not a token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("not a compact JWS (three dot-separated parts)")
    header = _json_object(parts[0], "header")
    # Only HS256: "none" and every asymmetric or other algorithm are refused before any
    # signature check, so a token cannot choose how it is verified (RFC 8725, 3.1).
    if header.get("alg") != ALGORITHM:
        raise TokenRejected(f"algorithm {str(header.get('alg'))[:20]!r} is not {ALGORITHM}")
    if "crit" in header:
        raise TokenRejected("critical header parameters are not supported")
    signature = b64url_decode(parts[2])
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise TokenRejected("signature does not match the environment's key")
    claims = _json_object(parts[1], "payload")
    if claims.get("iss") != issuer:
        raise TokenRejected("issuer is not this environment's")
    audiences = claims.get("aud")
    if not (audiences == audience or (isinstance(audiences, list) and audience in audiences)):
        raise TokenRejected("audience is not this environment's API")
    expires = _number(claims, "exp", required=True)
    assert expires is not None
    if now >= expires + LEEWAY_S:
        raise TokenRejected("expired")
    not_before = _number(claims, "nbf", required=False)
    if not_before is not None and now + LEEWAY_S < not_before:
        raise TokenRejected("not valid yet (nbf)")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 256:
        raise TokenRejected("sub is missing")
    scope = claims.get("scope", "")
    return Claims(subject, scope if isinstance(scope, str) else "", expires, claims)
