"""COGNITO_USER_POOLS authorizers: the gateway verifies a user pool's JWT as API Gateway does.

https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-integrate-with-cognito.html and
https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html:

- the token is the header named by ``identitySource`` (``method.request.header.Authorization``),
  with or without a ``Bearer `` prefix (clients send it as a bearer token,
  user-pool-accessing-resources-api-gateway-and-lambda.html);
- its ``iss`` is ``https://cognito-idp.{region}.amazonaws.com/{userPoolId}`` of a user pool named in
  the authorizer's ``providerARNs`` that exists, and its RS256 signature verifies with that pool's
  key (each pool has its own: ``localcloud.cognito.fixes``), so a token of another pool is refused;
- it has not expired (``exp``);
- a method without ``authorizationScopes`` takes an ID token (``token_use`` ``id``) whose ``aud`` is an
  app client of the pool; a method with scopes takes an access token (``token_use`` ``access``) whose
  ``client_id`` is an app client of the pool and whose ``scope`` holds one of the method's scopes
  (re:Post "need access token as header in cognito", and API_Method.html ``authorizationScopes``);
- its ``aud`` (an access token's ``client_id``) matches ``identityValidationExpression`` when one is
  set (API_Authorizer.html).

A token that verifies but has expired is 401 ``{"message":"The incoming token has expired"}``, as
API Gateway answers it; anything else is 401 ``{"message":"Unauthorized"}``. A verified token is
cached per authorizer for its ``authorizerResultTtlInSeconds`` (never past ``exp``), as API Gateway
caches authorizer results: within it the token is not verified again; the method's scopes are checked
on every request. The
token's claims reach the function as ``requestContext.authorizer.claims``, each a string, ``exp``
and ``iat`` in the ``Sun Nov 29 03:04:24 UTC 2026`` form API Gateway passes on. Not modelled: revoked tokens
(GlobalSignOut, RevokeToken) are still accepted until they expire.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.wrappers import Request

from localcloud.apigateway.auth_results import Denial, Grant, ResultCache, header_name, token_matches
from localcloud.cognito.fixes import find_pool, pool_key

logger = logging.getLogger("localcloud.gateway")

UNAUTHORIZED = Denial("UNAUTHORIZED")
# A token that is valid but for its ``exp``: still 401 UNAUTHORIZED, with the message client
# token-refresh logic matches on.
EXPIRED = Denial("UNAUTHORIZED", '{"message":"The incoming token has expired"}')
ISSUER_PREFIX = "https://cognito-idp."


def authorize(
    request: Request,
    authorizer: dict[str, Any],
    method: dict[str, Any],
    cache: ResultCache | None = None,
    where: tuple[str, str] = ("", ""),
) -> Grant | Denial:
    """``cache``: verified tokens' claims by API, stage, authorizer and token, kept for the
    authorizer's ``authorizerResultTtlInSeconds`` (and never past the token's ``exp``); the
    method's scopes are checked on every request."""
    name = header_name(authorizer.get("identitySource") or "method.request.header.Authorization")
    value = request.headers.get(name, "") if name else ""
    if not value:
        return UNAUTHORIZED
    token = value[7:].strip() if value[:7].lower() == "bearer " else value.strip()
    scopes = list(method.get("authorizationScopes") or [])
    key = (*where, str(authorizer.get("id")), token)
    ttl = int(authorizer.get("authorizerResultTtlInSeconds") or 0)
    found = cache.get(key) if cache is not None and ttl > 0 else None
    if found is not None and found.get("exp", 0) > time.time():
        claims = found if _scopes_allow(found, scopes) else None
    else:
        verified = verify(token, list(authorizer.get("providerARNs") or []))
        if isinstance(verified, Denial):
            return verified
        if cache is not None and ttl > 0:
            cache.put(key, verified, min(ttl, max(0.0, verified["exp"] - time.time())))
        claims = verified if _scopes_allow(verified, scopes) else None
    if claims is None:
        return UNAUTHORIZED
    # "For COGNITO_USER_POOLS authorizers, API Gateway will match the aud field of the incoming token
    # from the client against the specified regular expression" (API_Authorizer.html); an access
    # token has no aud: its client_id is matched instead.
    audience = str(claims.get("aud") or claims.get("client_id") or "")
    if not token_matches(audience, authorizer.get("identityValidationExpression")):
        _refuse(f"the token's audience {audience!r} does not match identityValidationExpression")
        return UNAUTHORIZED
    return Grant(authorizer={"claims": _as_strings(claims)})


def verify(token: str, provider_arns: list[str]) -> dict[str, Any] | Denial:
    """The claims of a valid token of one of these user pools (signature, issuer, expiry, app client);
    otherwise the refusal, with a log line saying why as API Gateway's execution log does:
    ``EXPIRED`` for a token whose signature verifies but whose ``exp`` has passed ("The incoming token
    has expired", what API Gateway answers and token-refresh logic matches on), ``UNAUTHORIZED`` for
    anything else. The method's scopes are ``_scopes_allow``'s to check."""
    unverified = _payload(token)
    if unverified is None:
        return _refused("the token is not a JWT")
    issuer = str(unverified.get("iss") or "")
    pool_id = _pool_of(issuer, provider_arns)
    if pool_id is None:
        return _refused(
            f"issuer {issuer!r} is not a user pool of the authorizer ({', '.join(provider_arns)})"
        )
    pool = find_pool(pool_id)
    if pool is None:
        return _refused(f"user pool {pool_id} does not exist")
    try:
        claims = dict(jwt.decode(token, pool_key(pool), algorithms=["RS256"]).claims)
    except (JoseError, ValueError) as exc:
        return _refused(f"signature does not verify with the key of {pool_id} ({type(exc).__name__})")
    now = time.time()
    if not isinstance(claims.get("exp"), (int, float)):
        return _refused("the token has no expiry")
    if claims["exp"] <= now:
        _refuse("the token has expired")
        return EXPIRED
    use = claims.get("token_use")
    client = claims.get("client_id") if use == "access" else claims.get("aud") if use == "id" else None
    if client not in pool.clients:
        return _refused(f"a {use} token whose app client {client!r} is not a client of {pool_id}")
    return claims


def _refused(reason: str) -> Denial:
    """UNAUTHORIZED, logged with its reason."""
    _refuse(reason)
    return UNAUTHORIZED


def _scopes_allow(claims: dict[str, Any], scopes: list[str]) -> bool:
    """A method with scopes takes an access token holding one of them; without, an ID token."""
    use = claims.get("token_use")
    if not scopes:
        if use != "id":
            _refuse("the method has no authorization scopes: an ID token is needed")
        return use == "id"
    if use != "access":
        _refuse("the method has authorization scopes: an access token is needed")
        return False
    if not set(str(claims.get("scope") or "").split()) & set(scopes):
        _refuse(f"the token's scopes hold none of {', '.join(scopes)}")
        return False
    return True


def _refuse(reason: str) -> dict[str, Any] | None:
    """None, the refusal, logged with its reason."""
    logger.info("Cognito user pool authorizer: Unauthorized (%s)", reason)
    return None


def _payload(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _pool_of(issuer: str, provider_arns: list[str]) -> str | None:
    """The user pool id when ``issuer`` is the issuer of a pool in ``provider_arns``."""
    for arn in provider_arns:
        parts = str(arn).split(":")
        if len(parts) != 6 or not parts[5].startswith("userpool/"):
            continue
        region, pool_id = parts[3], parts[5][len("userpool/") :]
        if issuer == f"{ISSUER_PREFIX}{region}.amazonaws.com/{pool_id}":
            return pool_id
    return None


def _as_strings(claims: dict[str, Any]) -> dict[str, str]:
    converted: dict[str, str] = {}
    for key, value in claims.items():
        if key in ("exp", "iat") and isinstance(value, (int, float)):
            converted[key] = dt.datetime.fromtimestamp(value, dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        elif isinstance(value, bool):
            converted[key] = "true" if value else "false"
        elif isinstance(value, list):
            converted[key] = ",".join(str(v) for v in value)
        else:
            converted[key] = str(value)
    return converted
