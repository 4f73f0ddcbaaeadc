"""Fidelity fix for Cognito user pools' token signing keys, which the gateway's COGNITO_USER_POOLS
authorizers verify (``localcloud.apigateway.cognito_auth``).

moto 5.2.5 signs the tokens of every user pool with one static key pair bundled with moto (``kid``
"dummy"), and serves that key as every pool's JWKS, even for a pool that does not exist
(``../shared/notes/moto-5.2.5-next.md`` item 5). On AWS each user pool has its own signing keys,
published at ``https://cognito-idp.{region}.amazonaws.com/{userPoolId}/.well-known/jwks.json``
(https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html),
so a token of one pool never verifies with another pool's keys.

Registered in ``localcloud.fidelity.FIXES`` (imported by ``fidelity/install.py``) and installed by
``fidelity.apply()``.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from joserfc import jwk, jwt
from moto.cognitoidp import models as cognito_models
from moto.cognitoidp import urls as cognito_urls
from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

from localcloud.registry import around, fixer

_fix = fixer(__name__)

KEY_BITS = 2048


def pool_key(pool: Any) -> jwk.RSAKey:
    """The pool's own signing key (made with the pool; a pool made before the fix gets one now)."""
    key = getattr(pool, "_localcloud_signing_key", None)
    if key is None:
        key = jwk.RSAKey.generate_key(
            KEY_BITS, parameters={"kid": uuid.uuid4().hex, "alg": "RS256", "use": "sig"}
        )
        pool._localcloud_signing_key = key
        pool.json_web_key = key
    return key


def find_pool(pool_id: str) -> Any | None:
    """The moto user pool with this id, in any account (a pool id names its region)."""
    region = pool_id.split("_", 1)[0]
    for _account, regions in list(cognito_models.cognitoidp_backends.items()):
        backend = regions.get(region) if hasattr(regions, "get") else None
        pool = backend.user_pools.get(pool_id) if backend is not None else None
        if pool is not None:
            return pool
    return None


@_fix(
    "cognito-pool-signing-keys",
    "Every user pool signs its tokens with one static key pair bundled with moto (kid 'dummy'), and every "
    "pool id, even one that does not exist, serves that key as its JWKS.",
    "Each user pool has its own RS256 key pair (its own kid); its tokens are signed with it and "
    "/{userPoolId}/.well-known/jwks.json serves its public key, so a token from another pool does not "
    "verify.",
)
def _fix_pool_keys() -> None:
    """A key per pool: made with the pool, used by create_jwt, served by the JWKS endpoint."""

    @around(cognito_models.CognitoIdpUserPool, "__init__")
    def __init__(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        pool_key(self)

    @around(cognito_models.CognitoIdpUserPool, "create_jwt")
    def create_jwt(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> tuple[str, int]:
        key = pool_key(self)
        token, expires_in = orig(self, *args, **kwargs)  # signed by json_web_key, kid "dummy"
        claims = jwt.decode(token, key).claims
        return jwt.encode({"kid": key.kid, "alg": "RS256"}, claims, key), expires_in

    def make_jwks(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def serve_json_web_key(*args: Any) -> Any:
            # Called with (request, full_url, headers); the path is /{pool_id}/.well-known/jwks.json.
            pool_id = urlparse(str(args[1])).path.strip("/").split("/")[0] if len(args) > 1 else ""
            pool = find_pool(pool_id)
            if pool is None:
                return orig(*args)
            public = pool_key(pool).as_dict(private=False)
            return 200, {"Content-Type": "application/json"}, json.dumps({"keys": [public]}).encode("utf-8")

        return staticmethod(serve_json_web_key)

    _patch_static(CognitoIdpJsonWebKeyResponse, "serve_json_web_key", make_jwks)
    # moto's URL table holds the function itself (taken at import): point it at the new one.
    for pattern, handler in list(cognito_urls.url_paths.items()):
        if pattern.endswith("/.well-known/jwks.json$") and handler is not _jwks_handler():
            cognito_urls.url_paths[pattern] = _jwks_handler()


def _jwks_handler() -> Callable[..., Any]:
    handler: Callable[..., Any] = CognitoIdpJsonWebKeyResponse.serve_json_web_key
    return handler


def _patch_static(owner: type, attr: str, make: Callable[[Any], Any]) -> None:
    """``registry.patch`` for a staticmethod: the marker goes on the function inside it."""
    current = owner.__dict__[attr]
    function = current.__func__ if isinstance(current, staticmethod) else current
    if getattr(function, "__localcloud_fidelity__", False):
        return
    new = make(function)
    new.__func__.__localcloud_fidelity__ = True
    setattr(owner, attr, new)
