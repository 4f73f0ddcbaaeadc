"""How a client proves who it is to an environment's API, per authorization mode (R-AUTH-1, R-AUTH-3).

Verification obtains a real credential for the mode, as a client would: a token signed with the
environment's key (`token`), a Cognito user it creates and signs in (`cognito`, deleted again
afterwards), or the engine's own credentials signing each request with SigV4 for the service
`execute-api` (`iam`). The same module makes the refused ones the negative checks send: a token
signed with another key, an expired one, a tampered Cognito token, a request signed with a wrong
secret key. A credential is a function from the request (method, URL, headers, body) to the
headers to add, so SigV4 can sign exactly what is sent.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from . import tokens
from .aws import AwsClients, tolerating_absent
from .names import Names
from .spec import EnvironmentSpec

Credential = Callable[[str, str, dict[str, str], str | None], dict[str, str]]
VERIFY_SUBJECT = "envport-verify"
VERIFY_TOKEN_TTL_S = 900


def no_credential(method: str, url: str, headers: dict[str, str], body: str | None) -> dict[str, str]:
    return {}


def bearer(token: str) -> Credential:
    def headers(method: str, url: str, sent: dict[str, str], body: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return headers


def sigv4(credentials: Any, region: str) -> Credential:
    """Signs each request as the AWS CLI would call an `iam`-mode API (service execute-api)."""

    def headers(method: str, url: str, sent: dict[str, str], body: str | None) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(sent))
        SigV4Auth(credentials, "execute-api", region).add_auth(request)
        signed = {"Authorization", "X-Amz-Date", "X-Amz-Security-Token"}
        return {k: str(v) for k, v in request.headers.items() if k in signed}

    return headers


@dataclass
class ModeCredentials:
    """The journey's credential for the mode, the refused ones for its negative checks, and what
    must be undone afterwards (the Cognito user)."""

    mode: str
    valid: Credential = no_credential
    # name -> (credential, the status API Gateway answers it with, why)
    refused: dict[str, tuple[Credential, int]] = field(default_factory=dict)
    cleanup: Callable[[], None] = lambda: None


def for_mode(spec: EnvironmentSpec, clients: AwsClients) -> ModeCredentials:
    """Obtain the mode's credentials; raises (with AWS's reason) if a valid one cannot be had."""
    mode = spec.settings.auth
    if mode == "token":
        return _token(spec.names, clients)
    if mode == "cognito":
        return _cognito(spec, clients)
    if mode == "iam":
        return _iam(clients)
    return ModeCredentials(mode)


# --- token ---------------------------------------------------------------------------------
def _token(names: Names, clients: AwsClients) -> ModeCredentials:
    key = tokens.read_key(clients, names)
    now = time.time()
    good = tokens.sign(tokens.claims_for(names, subject=VERIFY_SUBJECT, ttl_s=VERIFY_TOKEN_TTL_S), key)
    expired = tokens.sign(
        tokens.claims_for(names, subject=VERIFY_SUBJECT, ttl_s=60, now=now - 3600), key
    )  # expired 59 minutes ago, well beyond any clock skew
    foreign = tokens.sign(
        tokens.claims_for(names, subject=VERIFY_SUBJECT, ttl_s=VERIFY_TOKEN_TTL_S), secrets.token_bytes(32)
    )
    return ModeCredentials(
        "token",
        bearer(good),
        {
            # A header API Gateway refuses before invoking the authorizer (identityValidationExpression).
            "no token": (no_credential, 401),
            "malformed token": (_raw_authorization("Bearer not a token!"), 401),
            # Well formed, so the authorizer is invoked and answers Deny.
            "expired token": (bearer(expired), 403),
            "token signed with another key": (bearer(foreign), 403),
        },
    )


def _raw_authorization(value: str) -> Credential:
    def headers(method: str, url: str, sent: dict[str, str], body: str | None) -> dict[str, str]:
        return {"Authorization": value}

    return headers


# --- cognito -------------------------------------------------------------------------------
def _password() -> str:
    """Meets the pool's policy: every class of character, 24 characters."""
    pools = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "^$*.[]{}()?!@#%&")
    chars = [secrets.choice(pool) for pool in pools] + [
        secrets.choice(pools[0] + pools[2]) for _ in range(20)
    ]
    return "".join(chars)


def find_user_pool(clients: AwsClients, spec: EnvironmentSpec) -> tuple[str, str]:
    """(pool id, client id) of the environment's pool, found by name and tags as the engine does."""
    from .resources.base import Context
    from .resources.user_pool import find_client, find_pool

    ctx = Context(spec=spec, aws=clients)
    pool = find_pool(ctx)
    client = find_client(ctx, pool["Id"]) if pool else None
    if pool is None or client is None:
        raise RuntimeError(
            f"no user pool {spec.names.user_pool} with its app client: "
            "the environment is not provisioned in cognito mode"
        )
    return str(pool["Id"]), str(client["ClientId"])


def _cognito(spec: EnvironmentSpec, clients: AwsClients) -> ModeCredentials:
    cognito = clients.client("cognito-idp")
    pool_id, client_id = find_user_pool(clients, spec)
    username = f"envport-verify-{uuid.uuid4().hex[:12]}"
    password = _password()

    def cleanup() -> None:
        with tolerating_absent("UserNotFoundException"):
            cognito.admin_delete_user(UserPoolId=pool_id, Username=username)

    cognito.admin_create_user(
        UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS", TemporaryPassword=_password()
    )
    try:
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=password, Permanent=True
        )
        result = cognito.admin_initiate_auth(
            UserPoolId=pool_id,
            ClientId=client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )["AuthenticationResult"]
    except Exception:
        cleanup()
        raise
    token = result["AccessToken"] if spec.settings.cognito_token_use == "access" else result["IdToken"]
    return ModeCredentials(
        "cognito",
        bearer(token),
        {
            "no token": (no_credential, 401),
            "malformed token": (bearer("not.a.token"), 401),
            # The pool's own token with its expiry moved back: the signature no longer matches.
            "tampered token": (bearer(tamper(token, exp=int(time.time()) - 3600)), 401),
            # Claims the pool would issue, signed with a key that is not the pool's.
            "token signed with another key": (bearer(resign(token)), 401),
        },
        cleanup,
    )


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def tamper(token: str, **changes: Any) -> str:
    head, _, sig = token.split(".")
    return f"{head}.{_segment({**_claims(token), **changes})}.{sig}"


def resign(token: str) -> str:
    """The token's claims under an RS256-looking header, signed with a random HMAC key."""
    return tokens.sign(
        _claims(token), secrets.token_bytes(32), header={"alg": "RS256", "kid": "envport-foreign"}
    )


# --- iam -----------------------------------------------------------------------------------
def _iam(clients: AwsClients) -> ModeCredentials:
    credentials = clients.credentials()
    wrong = ReadOnlyCredentials(
        credentials.access_key, "envport-wrong-" + secrets.token_hex(16), credentials.token
    )
    return ModeCredentials(
        "iam",
        sigv4(credentials, clients.region),
        {
            "unsigned request": (no_credential, 403),
            "request signed with a wrong secret key": (sigv4(wrong, clients.region), 403),
        },
    )
