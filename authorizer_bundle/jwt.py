"""HS256 JSON Web Tokens, verified with the standard library (RFC 7519, RFC 7515).

Only what the authorizer needs: a compact JWS whose header says `alg` HS256, an HMAC-SHA256
signature compared in constant time, and the registered claims `iss`, `aud`, `exp`, `nbf`.
Every failure is a `TokenRejected` with a reason fit for a log line (never the token itself);
nothing else can escape `verify`, whatever bytes it is given. Decoding is bounded before it starts:
the token's length, each part's alphabet, and the nesting depth of its JSON (the standard library's
parser recurses, so `[[[[...` a few thousand deep would raise RecursionError, an API Gateway 500).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from typing import Any

ALGORITHM = "HS256"
# Clock skew tolerated on exp and nbf: the signer (envport) and Lambda both keep NTP time.
LEEWAY_S = 30
MAX_TOKEN_CHARS = 8192
# A JWT's header and claims are flat objects; the registered claims nest one level (an `aud` list).
MAX_JSON_DEPTH = 16
# `exp` and `nbf` are seconds since the epoch: anything beyond 2**53 is not a time (and inf, NaN or
# a 4,000-digit integer would break the arithmetic or the context API Gateway passes on).
MAX_TIMESTAMP = 2**53


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


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, read without recursion (brackets inside
    strings do not count); linear in the text, which MAX_TOKEN_CHARS bounds."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")  # NaN, Infinity: Python's extension, not JSON


def _json_object(part: str, what: str) -> dict[str, Any]:
    try:
        text = b64url_decode(part).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenRejected(f"{what} is not JSON (not UTF-8)") from exc
    if json_depth(text) > MAX_JSON_DEPTH:
        raise TokenRejected(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
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
    if not (abs(value) <= MAX_TIMESTAMP and (isinstance(value, int) or math.isfinite(value))):
        raise TokenRejected(f"{name} is out of range")
    return int(value)


def verify(token: str, key: bytes, *, issuer: str, audience: str, now: float) -> Claims:
    """The token's claims if it is a valid HS256 JWT for `issuer` and `audience` at `now`."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected("not a token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("not a compact JWS (three dot-separated parts)")
    if any(c not in _B64URL for part in parts for c in part):
        raise TokenRejected("not base64url")  # before the MAC: it encodes the first two as ASCII
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
