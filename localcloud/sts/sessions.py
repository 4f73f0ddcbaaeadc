"""STS as AWS answers it: trust policies, external ids, session durations, and sessions that expire.

moto 5.2.5 hands out a session for any ``AssumeRole``: the role's trust policy is never read (nor its
``sts:ExternalId`` condition), a role that does not exist is assumed all the same, ``DurationSeconds``
is not bounded, and a session's credentials work for ever. The environments the portal runs in other
accounts rely on exactly these rules, so the local cloud restores them (fixes registered in
``localcloud.fidelity.FIXES``, plus the request hook :func:`check_session` the server calls):

- ``sts-assume-role-trust-policy``: ``AssumeRole`` is allowed as IAM decides a request that crosses
  a resource-based policy
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage-assume.html): the role's trust
  policy must allow ``sts:AssumeRole`` to the caller, its ``Condition`` holding in the request
  (``sts:ExternalId``, ``sts:RoleSessionName``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``...).
  A Principal naming the caller itself (its user ARN, its role's ARN for a role session, the
  session's ARN, or ``*``) is enough in the role's own account; one naming the caller's account
  (``"123456789012"`` or ``arn:aws:iam::123456789012:root``) also needs the caller's identity
  policies to allow ``sts:AssumeRole`` on the role, and so does every cross-account caller. An
  explicit Deny in either wins. Refused, or a role that does not exist: HTTP 403 ``AccessDenied``
  "User: CALLER is not authorized to perform: sts:AssumeRole on resource: ROLE".
- the same fix bounds ``DurationSeconds`` from 900 to the role's ``MaxSessionDuration``
  (``ValidationError``, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html), and
  at most 1 hour when a role session assumes a role (role chaining). The session expires after it:
  ``Expiration`` is now + duration x the session time scale.
- :func:`check_session` (the server's request hook): a request signed with an assumed role's access
  key must carry the session's token (else 403 ``InvalidClientTokenId`` "The security token included
  in the request is invalid.") and be made before the session expires, else the service's
  ``ExpiredToken`` error "The security token included in the request is expired" (S3: 400
  ``ExpiredToken`` "The provided token has expired.",
  https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html; JSON-protocol services: 400
  ``ExpiredTokenException``; REST-JSON services: 403 ``ExpiredTokenException``; query-protocol
  services: 400 ``ExpiredToken``). The plain test credentials (``testing``, the administrator keys,
  IAM users' keys) are no session and pass; so do the sessions the Lambda runtime gives functions,
  which Lambda renews for the function.

The session time scale (``LOCALCLOUD_SESSION_TIME_SCALE``, ``LocalCloud(session_time_scale=...)``,
``python -m localcloud --session-time-scale``; a number greater than 0 and at most 1, default 1 =
AWS's timing) shortens sessions as ``alarm_time_scale`` shortens alarm periods: 0.01 makes a 900 s
session last 9 s, so that a test can outlive it. The response's ``Expiration`` says the scaled time,
so a client refreshing ahead of ``Expiration`` refreshes in time.

The local cloud's administrator credentials (a key whose secret is the key id, such as ``testing``)
are the account's root as everywhere in the local cloud, with every permission; AWS refuses
``AssumeRole`` to the root user, which the local cloud does not model. Not modelled either: session
policies (``Policy``, ``PolicyArns``), session tags (``sts:TagSession``), ``sts:SourceIdentity``,
``AssumeRoleWithWebIdentity``/``WithSAML`` trust checks, and ``Federated``/``Service`` principals
(which never match an IAM caller).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from moto.core.utils import utcnow
from moto.sts.exceptions import STSValidationError
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from localcloud.iam import policy as iam_policy
from localcloud.query_errors import STS_NAMESPACE, query_error
from localcloud.registry import around, fixer
from localcloud.time_scale import from_env as scale_from_env
from localcloud.time_scale import parse as parse_scale

_fix = fixer(__name__)

__all__ = [
    "SESSION_TIME_SCALE_ENV",
    "check_session",
    "parse_time_scale",
    "session_time_scale",
    "set_session_time_scale",
]

SESSION_TIME_SCALE_ENV = "LOCALCLOUD_SESSION_TIME_SCALE"
MIN_DURATION_S = 900
MAX_DURATION_S = 43200
CHAINED_MAX_S = 3600
EXPIRED = "The security token included in the request is expired"
INVALID = "The security token included in the request is invalid."


# -- the session time scale --------------------------------------------------------------------------
_SCALE_EXAMPLE = "0.01 = a 900 s session lasts 9 s"


def parse_time_scale(value: Any, source: str = SESSION_TIME_SCALE_ENV) -> float:
    """A time scale: a number greater than 0 and at most 1 (1 = AWS's timing)."""
    return parse_scale(value, source, _SCALE_EXAMPLE)


def _scale_from_env() -> float:
    return scale_from_env(SESSION_TIME_SCALE_ENV, _SCALE_EXAMPLE)


_scale_lock = threading.Lock()
_scale: list[float] = []


def session_time_scale() -> float:
    """The process's session time scale (moto's sessions are process-global, so is their clock)."""
    with _scale_lock:
        if not _scale:
            _scale.append(_scale_from_env())
        return _scale[0]


def set_session_time_scale(value: Any) -> float:
    scale = parse_time_scale(value, "session_time_scale")
    with _scale_lock:
        _scale[:] = [scale]
    return scale


# -- who is calling --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """The principal behind a request's access key, as a trust policy sees it."""

    arn: str  # user ARN, assumed-role session ARN, or the account's root
    account_id: str
    role_arn: str | None  # the role of a role session
    policies: Callable[[], list[dict[str, Any]]] | None  # None: the local cloud's administrator

    @property
    def principal_arn(self) -> str:
        """``aws:PrincipalArn``: a session's role ARN, otherwise the caller's own ARN."""
        return self.role_arn or self.arn


def assumed_session(access_key: str) -> Any:
    """moto's AssumedRole holding ``access_key`` (any account), or None: an ``ASIA`` key that STS made."""
    if not access_key.startswith("ASIA"):
        return None
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account, partitions in list(iam_backends.items()):
        for partition, backend in list(partitions.items()):
            if access_key not in backend.access_keys:
                continue
            for session in list(sts_backends[account][partition].assumed_roles):
                if session.access_key_id == access_key:
                    return session
    return None


def caller_of(access_key: str, account_id: str) -> Caller:
    """Who signs with ``access_key``: a role session, an IAM user, or the administrator (root)."""
    session = assumed_session(access_key)
    if session is not None:
        from localcloud.iam.enforcement import Session, role_policies

        role = Session(session.account_id, session.partition, session.role_arn, session.session_name)
        return Caller(session.arn, session.account_id, session.role_arn, lambda: role_policies(role))
    from localcloud.apigateway.sigv4_auth import find_caller

    found = find_caller(access_key, account_id)
    if found is not None and found.policies is not None:
        return Caller(found.arn, found.account_id, None, found.policies)
    return Caller(f"arn:aws:iam::{account_id}:root", account_id, None, None)


# -- the trust policy --------------------------------------------------------------------------------
def _principals(statement: Mapping[str, Any], element: str) -> list[str] | None:
    """The AWS principals a statement's Principal/NotPrincipal names; ["*"] for ``"*"``; None if absent."""
    value = statement.get(element)
    if value is None:
        return None
    if value == "*":
        return ["*"]
    if not isinstance(value, Mapping):
        return []
    aws = value.get("AWS", [])
    return [str(p) for p in (aws if isinstance(aws, list) else [aws])]


def _match(principal: str, caller: Caller) -> str | None:
    """ "caller" when ``principal`` names the caller itself, "account" when it names its account."""
    partition = caller.arn.split(":", 2)[1] if caller.arn.count(":") >= 2 else "aws"
    if principal == "*":
        return "caller"
    if principal in (caller.account_id, f"arn:{partition}:iam::{caller.account_id}:root"):
        return "account"
    if principal == caller.arn or (caller.role_arn is not None and principal == caller.role_arn):
        return "caller"
    return None


def trust_decision(document: Mapping[str, Any], caller: Caller, context: Mapping[str, Any]) -> str:
    """ "deny", "caller" (allowed to the caller itself), "account" (to its account) or "none"."""
    granted = "none"
    for statement in iam_policy.statements([document]):
        effect = str(statement.get("Effect", ""))
        if effect not in ("Allow", "Deny") or not iam_policy.action_applies(statement, "sts:AssumeRole"):
            continue
        named = _principals(statement, "Principal")
        if named is not None:
            matches = [m for m in (_match(p, caller) for p in named) if m is not None]
        else:  # NotPrincipal: everyone not named
            excluded = _principals(statement, "NotPrincipal") or []
            matches = [] if any(_match(p, caller) for p in excluded) else ["caller"]
        if not matches or not iam_policy.conditions_hold(statement, context, effect == "Deny"):
            continue
        if effect == "Deny":
            return "deny"
        granted = "caller" if "caller" in matches else ("account" if granted == "none" else granted)
    return granted


class StsAccessDenied(HTTPException):
    """STS's AccessDenied: HTTP 403 and the query protocol's error document."""

    code = 403

    def __init__(self, message: str) -> None:
        super().__init__(query_error("AccessDenied", message))
        self.message = message

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml"), ("x-amzn-RequestId", str(uuid.uuid4()))]


def _role(role_arn: str) -> Any:
    """moto's IAM role named by ``role_arn`` (in the role's own account), None when there is none."""
    from moto.iam.models import iam_backends

    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[4].isdigit():
        return None
    try:
        return iam_backends[parts[4]][parts[1]].get_role_by_arn(role_arn)
    except Exception:
        return None


def _document(text: Any) -> dict[str, Any]:
    raw = text if isinstance(text, str) else json.dumps(text)
    for candidate in (raw, unquote(raw)):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        return value if isinstance(value, dict) else {}
    return {}


def check_assume_role(caller: Caller, role_arn: str, params: Mapping[str, Any], region: str) -> Any:
    """The role, when ``caller`` may assume it with these parameters; raises AWS's refusal otherwise."""
    denied = StsAccessDenied(
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )
    role = _role(role_arn)
    if role is None:
        raise denied
    context: dict[str, Any] = {
        "aws:PrincipalArn": caller.principal_arn,
        "aws:PrincipalAccount": caller.account_id,
        "aws:RequestedRegion": region,
        "aws:SecureTransport": "true",
    }
    for key, name in (("sts:ExternalId", "ExternalId"), ("sts:RoleSessionName", "RoleSessionName")):
        if params.get(name) is not None:
            context[key] = str(params[name])
    trust = trust_decision(_document(role.assume_role_policy_document), caller, context)
    if trust in ("deny", "none"):
        raise denied
    identity = "allow"
    if caller.policies is not None:
        identity = iam_policy.evaluate(caller.policies(), "sts:AssumeRole", role_arn, context).decision
    same_account = caller.account_id == role_arn.split(":")[4]
    if identity == "explicit_deny":
        raise denied
    if identity != "allow" and not (same_account and trust == "caller"):
        raise denied
    return role


# AssumeRole's parameter constraints (API_AssumeRole.html): name -> (shape name, min, max length, pattern)
_PARAMETERS = {
    "RoleArn": ("roleArn", 20, 2048, None),
    "RoleSessionName": ("roleSessionName", 2, 64, re.compile(r"[\w+=,.@-]*")),
    "ExternalId": ("externalId", 2, 1224, re.compile(r"[\w+=,.@:/-]*")),
}


def check_parameters(params: Mapping[str, Any]) -> None:
    """Refuse AssumeRole's parameters as STS does (ValidationError), before any policy is read."""
    for name, (shape, least, most, pattern) in _PARAMETERS.items():
        value = params.get(name)
        if value is None:
            continue
        text = str(value)
        shown = text[:64] + ("..." if len(text) > 64 else "")
        if not least <= len(text) <= most:
            short = len(text) < least
            bound = f"greater than or equal to {least}" if short else f"less than or equal to {most}"
            raise STSValidationError(
                f"1 validation error detected: Value '{shown}' at '{shape}' failed to satisfy constraint: "
                f"Member must have length {bound}"
            )
        if pattern is not None and not pattern.fullmatch(text):
            raise STSValidationError(
                f"1 validation error detected: Value '{shown}' at '{shape}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern.pattern}"
            )


def parse_duration(raw: Any) -> int | None:
    """DurationSeconds as a whole number of seconds; None when absent."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not (text.isascii() and text.lstrip("-").isdigit() and len(text) <= 12):
        raise STSValidationError(
            f"1 validation error detected: Value '{text[:64]}' at 'durationSeconds' failed to satisfy "
            "constraint: Member must be a whole number of seconds"
        )
    return int(text)


def check_duration(duration: int | None, role: Any, chained: bool) -> int:
    """``DurationSeconds`` as AssumeRole bounds it; the default is 1 hour."""
    if duration is None:
        return CHAINED_MAX_S
    if duration < MIN_DURATION_S or duration > MAX_DURATION_S:
        bound = (
            f"greater than or equal to {MIN_DURATION_S}"
            if duration < MIN_DURATION_S
            else f"less than or equal to {MAX_DURATION_S}"
        )
        raise STSValidationError(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy "
            f"constraint: Member must have value {bound}"
        )
    if chained and duration > CHAINED_MAX_S:
        raise STSValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role "
            "chaining."
        )
    if duration > int(getattr(role, "max_session_duration", None) or CHAINED_MAX_S):
        raise STSValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return duration


@_fix(
    "sts-assume-role-trust-policy",
    "AssumeRole returns a session for any caller and any role, existing or not: the trust policy and "
    "its sts:ExternalId condition are never read; DurationSeconds is unbounded.",
    "AssumeRole needs the role's trust policy to allow the caller (its ARN, its role, its account with "
    "an identity policy allowing sts:AssumeRole) with its conditions holding; otherwise 403 "
    "AccessDenied 'User: ARN is not authorized to perform: sts:AssumeRole on resource: ROLE'. "
    "DurationSeconds is 900 to MaxSessionDuration (1 hour when chaining roles), else ValidationError; "
    "the session expires after it (times LOCALCLOUD_SESSION_TIME_SCALE).",
)
def _fix_assume_role() -> None:
    """moto's ``TokenResponse.assume_role`` asks nothing; the runtime's in-process sessions for
    functions (``iam_enforcement.function_credentials``) go to the backend directly and stay as they are."""

    @around(TokenResponse, "assume_role")
    def assume_role(orig: Callable[..., Any], self: Any) -> Any:
        role_arn = str(self._get_param("RoleArn") or "")
        params = {name: self._get_param(name) for name in ("RoleArn", "ExternalId", "RoleSessionName")}
        check_parameters(params)
        requested = parse_duration(self._get_param("DurationSeconds"))
        caller = caller_of(self.get_access_key(), self.current_account)
        role = check_assume_role(caller, role_arn, params, self.region)
        duration = check_duration(requested, role, caller.role_arn is not None)
        result = orig(self)
        session = result.result["Credentials"]
        session.expiration = utcnow() + dt.timedelta(seconds=duration * session_time_scale())
        return result


# -- the request hook ------------------------------------------------------------------------------
def _signed_key(environ: Mapping[str, Any]) -> tuple[str, str, str | None] | None:
    """(access key, service, session token) of a SigV4 request: header or presigned query string."""
    header = str(environ.get("HTTP_AUTHORIZATION", ""))
    marker = "Credential="
    start = header.find(marker)
    if start >= 0:
        scope = header[start + len(marker) :].split(",", 1)[0].strip().split("/")
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    else:
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        credential = (query.get("X-Amz-Credential") or [""])[-1]
        if not credential:
            return None
        scope = credential.split("/")
        tokens = query.get("X-Amz-Security-Token")
        token = tokens[-1] if tokens else None
    if len(scope) < 5:
        return None
    return scope[0], scope[3], str(token) if token is not None else None


def check_session(environ: Mapping[str, Any]) -> Response | None:
    """None when the request may go on; the service's InvalidClientTokenId / ExpiredToken answer for
    a role session's key used without its token or after it expired."""
    signed = _signed_key(environ)
    if signed is None:
        return None
    access_key, service, token = signed
    if not access_key.startswith("ASIA"):
        return None  # the plain test credentials, IAM users' keys
    from localcloud.iam.enforcement import session_for

    if session_for(access_key) is not None:
        return None  # a function's session: Lambda renews it for the function
    session = assumed_session(access_key)
    if session is None:
        return None
    if token != session.session_token:
        return token_error(environ, service, expired=False)
    if session.expiration <= utcnow():  # both naive UTC, as moto keeps them
        return token_error(environ, service, expired=True)
    return None


def token_error(environ: Mapping[str, Any], service: str, *, expired: bool) -> Response:
    """The error each protocol answers to an expired (or unknown) session token."""
    request_id = str(uuid.uuid4())
    if service == "s3":
        code, message = (
            ("ExpiredToken", "The provided token has expired.")
            if expired
            else (
                "InvalidToken",
                "The provided token is malformed or otherwise invalid.",
            )
        )
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
        return Response(body, status=400, content_type="application/xml")
    json_code = "ExpiredTokenException" if expired else "UnrecognizedClientException"
    message = EXPIRED if expired else INVALID
    if environ.get("HTTP_X_AMZ_TARGET"):  # JSON protocol (DynamoDB, Logs, KMS, Secrets Manager...)
        body = json.dumps({"__type": f"com.amazon.coral.service#{json_code}", "message": message})
        response = Response(body, status=400, content_type="application/x-amz-json-1.0")
    elif _query_protocol(environ):
        code = "ExpiredToken" if expired else "InvalidClientTokenId"
        namespace = STS_NAMESPACE if service == "sts" else f"https://{service}.amazonaws.com/doc/"
        response = Response(query_error(code, message, namespace), status=400 if expired else 403)
        response.content_type = "text/xml"
    else:  # REST-JSON (Lambda, API Gateway...)
        response = Response(json.dumps({"message": message}), status=403, content_type="application/json")
        response.headers["x-amzn-ErrorType"] = json_code
    response.headers["x-amzn-RequestId"] = request_id
    return response


def _query_protocol(environ: Mapping[str, Any]) -> bool:
    """A query-protocol request: a form body (or query string) naming its ``Action``."""
    if "Action=" in str(environ.get("QUERY_STRING", "")):
        return True
    return "x-www-form-urlencoded" in str(environ.get("CONTENT_TYPE", ""))
