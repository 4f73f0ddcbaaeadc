"""AWS_IAM authorization: the gateway verifies a request's Signature Version 4 and evaluates
``execute-api:Invoke``, as API Gateway does
(https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).

The signature is taken from the ``Authorization`` header or from a presigned query string
(``X-Amz-Algorithm=AWS4-HMAC-SHA256``, ``X-Amz-Credential``, ``X-Amz-Signature``...), and recomputed
from the request as it arrived: method, path (dot segments removed, each character URI-encoded again,
as for every service but S3), query string, the headers named in ``SignedHeaders``, and the body's
SHA-256 (or ``X-Amz-Content-SHA256``). The credential must be scoped to ``execute-api`` and the API's
Region, and ``X-Amz-Date`` must be within 5 minutes of the gateway's clock (API Gateway answers
"Signature expired: ... (... - 5 min.)"; a presigned URL also expires after ``X-Amz-Expires``).

Whose key it is:

- an access key of an IAM user (moto's IAM): its inline, attached and group policies decide;
- temporary credentials of an assumed role (moto's STS, the functions' own included): the
  ``X-Amz-Security-Token`` must be the session's, the session must not have expired, and the role's
  inline and attached policies decide;
- otherwise a key whose secret is the key id itself (``testing``/``testing``, ``envport-local``/...,
  the local cloud's convention for its administrator credentials; ``iam_enforcement`` likewise never
  evaluates them) is the account's root user: allowed;
- anything else: 403 "The security token included in the request is invalid."

The decision is ``iam_policy``'s for ``execute-api:Invoke`` on
``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH``. Answers: no signature at all, 403
``{"message":"Missing Authentication Token"}``; a wrong signature, 403 InvalidSignatureException with
the canonical request and string to sign it expected; denied, 403 ``{"Message":"User: ARN is not
authorized to perform: execute-api:Invoke on resource: ARN because no identity-based policy allows
the execute-api:Invoke action"}`` (``... with an explicit deny in an identity-based policy`` after a
Deny: IAM's forms, https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
Allowed: ``requestContext.identity`` gets ``accessKey``, ``accountId``, ``caller``, ``user``
and ``userArn``. Not modelled: resource policies of the API, permissions boundaries, session
policies, SigV4a.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from botocore.utils import normalize_url_path
from werkzeug.wrappers import Request

from localcloud.apigateway.auth_results import Denial, Grant
from localcloud.iam import policy as iam_policy

logger = logging.getLogger("localcloud.gateway")

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
CLOCK_SKEW_S = 5 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class Signed:
    """What the request says about its signature."""

    access_key: str
    date: str  # X-Amz-Date, 20261129T030405Z
    scope: list[str]  # date, region, service, aws4_request
    signed_headers: list[str]
    signature: str
    token: str | None
    expires: int | None  # presigned URLs only
    presigned: bool


@dataclass(frozen=True)
class Caller:
    """Who holds an access key: their secret, identity and policies."""

    secret: str
    arn: str
    user: str
    account_id: str
    policies: Callable[[], list[dict[str, Any]]] | None  # None: the account's root, not evaluated
    session_token: str | None = None
    expired: bool = False


def _compact(value: dict[str, str]) -> str:
    return json.dumps(value, separators=(",", ":"))


def authorize(request: Request, api: Any, arn: str, body: bytes) -> Grant | Denial:
    found = _signed(request)
    if found is None:
        return Denial("MISSING_AUTHENTICATION_TOKEN")
    if isinstance(found, str):
        return Denial("INCOMPLETE_SIGNATURE", _compact({"message": found}))
    signed = found
    if signed.scope[2] != SERVICE:
        return _invalid(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if signed.scope[1] != api.region_name:
        return _invalid(f"Credential should be scoped to a valid region, not '{signed.scope[1]}'. ")
    stale = _stale(signed)
    if stale:
        return _invalid(stale)
    caller = find_caller(signed.access_key, api.account_id)
    if caller is None or (caller.session_token is not None and signed.token != caller.session_token):
        return Denial("UNRECOGNIZED_CLIENT")
    if caller.expired:
        return Denial("EXPIRED_TOKEN")
    canonical = canonical_request(request, signed, body)
    to_sign = string_to_sign(signed, canonical)
    expected = signature(caller.secret, signed, to_sign)
    if not hmac.compare_digest(expected, signed.signature):
        if caller.policies is None:
            logger.info(
                "access key %s is no IAM user's or role session's key in the local cloud; as its "
                "administrator key its secret must be the key id itself",
                signed.access_key,
            )
        message = (
            f"{MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{to_sign}'\n"
        )
        return _invalid(message)
    if caller.policies is not None:
        context = {
            "aws:PrincipalArn": caller.arn,
            "aws:PrincipalAccount": caller.account_id,
            "aws:SourceIp": request.remote_addr or "127.0.0.1",
            "aws:SecureTransport": "true",
            "aws:RequestedRegion": api.region_name,
        }
        result = iam_policy.evaluate(caller.policies(), "execute-api:Invoke", arn, context)
        if not result.allowed:
            message = (
                f"User: {caller.arn} is not authorized to perform: execute-api:Invoke on resource: {arn}"
            )
            if result.decision == "explicit_deny":
                message += " with an explicit deny in an identity-based policy"
            else:
                message += " because no identity-based policy allows the execute-api:Invoke action"
            return Denial("ACCESS_DENIED", _compact({"Message": message}))
    identity = {
        "accessKey": signed.access_key,
        "accountId": caller.account_id,
        "caller": caller.user,
        "user": caller.user,
        "userArn": caller.arn,
    }
    return Grant(identity=identity)


def _invalid(message: str) -> Denial:
    return Denial("INVALID_SIGNATURE", _compact({"message": message}))


# -- the request's signature ---------------------------------------------------------------------
def _signed(request: Request) -> Signed | str | None:
    """The signature's parts; None when the request carries none; a message when it is malformed."""
    header = request.headers.get("Authorization")
    if header is not None:
        return _from_header(
            header, request.headers.get("X-Amz-Date"), request.headers.get("X-Amz-Security-Token")
        )
    args = request.args
    if args.get("X-Amz-Algorithm") is None and args.get("X-Amz-Signature") is None:
        return None
    if args.get("X-Amz-Algorithm") != ALGORITHM:
        return f"Unsupported X-Amz-Algorithm: {args.get('X-Amz-Algorithm')!r}. Use {ALGORITHM}."
    missing = [
        p
        for p in ("X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
        if not args.get(p)
    ]
    if missing:
        return " ".join(f"AWS query-string parameters must include '{p}'." for p in missing)
    try:
        expires = int(args.get("X-Amz-Expires") or 0) or None
    except ValueError:
        return "X-Amz-Expires must be a number of seconds."
    return _parts(
        str(args["X-Amz-Credential"]),
        str(args["X-Amz-SignedHeaders"]),
        str(args["X-Amz-Signature"]),
        str(args["X-Amz-Date"]),
        args.get("X-Amz-Security-Token"),
        expires,
        presigned=True,
    )


def _from_header(header: str, date: str | None, token: str | None) -> Signed | str:
    """The signature in an ``Authorization`` header, or API Gateway's IncompleteSignatureException
    message: "Invalid key=value pair (missing equal-sign) ..." for ``Bearer TOKEN``, the parameters
    it lacks for a bare token ("Authorization header requires 'Credential' parameter. ...
    Authorization=TOKEN", as API Gateway answers a JWT sent to an AWS_IAM method)."""
    scheme, _, rest = header.strip().partition(" ")
    fields: dict[str, str] = {}
    for item in rest.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if not sep:
            digest = base64.b64encode(hashlib.sha256(header.encode("utf-8")).digest()).decode("ascii")
            return (
                "Invalid key=value pair (missing equal-sign) in Authorization header "
                f"(hashed with SHA-256 and encoded with Base64): '{digest}'."
            )
        fields[name] = value
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if p not in fields]
    problems = [f"Authorization header requires '{p}' parameter." for p in missing]
    if not date:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        return " ".join(problems) + f" Authorization={header}"
    if scheme != ALGORITHM:
        return f"Unsupported Authorization Type: {scheme!r}. Use {ALGORITHM}."
    return _parts(fields["Credential"], fields["SignedHeaders"], fields["Signature"], str(date), token, None)


def _parts(
    credential: str,
    signed_headers: str,
    signature_value: str,
    date: str,
    token: str | None,
    expires: int | None,
    presigned: bool = False,
) -> Signed | str:
    pieces = credential.split("/")
    if len(pieces) != 5 or pieces[4] != "aws4_request":
        return f"Credential should be of the form key/date/region/service/aws4_request, not '{credential}'."
    if pieces[1] != date[:8]:
        return (
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{pieces[1]}' != '{date[:8]}'."
        )
    return Signed(
        pieces[0],
        date,
        pieces[1:],
        [h.strip().lower() for h in signed_headers.split(";") if h.strip()],
        signature_value.strip(),
        token,
        expires,
        presigned,
    )


def _stale(signed: Signed) -> str | None:
    """AWS's message when the signature's date is too old or in the future; None when it is current."""
    try:
        signed_at = dt.datetime.strptime(signed.date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return f"Date must be in ISO-8601 'basic format'. Got '{signed.date}'. See http://en.wikipedia.org/wiki/ISO_8601"
    now = dt.datetime.fromtimestamp(time.time(), dt.UTC)

    def stamp(moment: dt.datetime) -> str:
        return moment.strftime("%Y%m%dT%H%M%SZ")

    skew = dt.timedelta(seconds=CLOCK_SKEW_S)
    if signed.presigned and signed.expires is not None:
        earliest = now - dt.timedelta(seconds=signed.expires)
        if signed_at < earliest:
            return f"Signature expired: {signed.date} is now earlier than {stamp(earliest)}"
    elif signed_at < now - skew:
        earliest = now - skew
        return (
            f"Signature expired: {signed.date} is now earlier than {stamp(earliest)} ({stamp(now)} - 5 min.)"
        )
    if signed_at > now + skew:
        latest = now + skew
        return (
            f"Signature not yet current: {signed.date} is still later than {stamp(latest)} "
            f"({stamp(now)} + 5 min.)"
        )
    return None


# -- the signature, recomputed -------------------------------------------------------------------
def _raw_target(request: Request) -> tuple[str, str]:
    """The path and query string as the client sent them (still percent-encoded)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        path, _, query = str(raw).partition("?")
        if "://" in path:  # an absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return path, query
    return quote(request.path, safe="/~%"), request.query_string.decode("latin-1")


def canonical_request(request: Request, signed: Signed, body: bytes) -> str:
    path, query = _raw_target(request)
    canonical_path = quote(normalize_url_path(path), safe="/~")
    pairs = []
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        if signed.presigned and key == "X-Amz-Signature":
            continue
        pairs.append((key, value))
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    values: dict[str, list[str]] = {}
    for name, value in _header_fields(request):
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    headers = "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed.signed_headers)
    payload = request.headers.get("X-Amz-Content-SHA256") or (
        hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    )
    return "\n".join(
        [
            request.method.upper(),
            canonical_path,
            canonical_query,
            headers,
            ";".join(signed.signed_headers),
            payload,
        ]
    )


def _header_fields(request: Request) -> list[tuple[str, str]]:
    from localcloud.handler import RAW_HEADERS

    raw = request.environ.get(RAW_HEADERS)
    return list(raw) if raw is not None else list(request.headers.items())


def string_to_sign(signed: Signed, canonical: str) -> str:
    scope = "/".join(signed.scope)
    return "\n".join([ALGORITHM, signed.date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])


def signature(secret: str, signed: Signed, to_sign: str) -> str:
    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()

    key = sign(f"AWS4{secret}".encode(), signed.scope[0])
    for part in signed.scope[1:]:
        key = sign(key, part)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# -- whose key it is -----------------------------------------------------------------------------
def find_caller(access_key: str, account_id: str) -> Caller | None:
    """The holder of ``access_key`` in moto's IAM and STS; the account's root for the local cloud's
    administrator credentials (secret = key id); None when nobody holds it."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account, partitions in list(iam_backends.items()):
        for partition in ("aws",):
            backend = partitions[partition]
            key = backend.access_keys.get(access_key)
            if key is None:
                continue
            if key.status != "Active":
                return None
            if key.user_name:
                return _user_caller(backend, account, partition, key)
            for session in list(sts_backends[account][partition].assumed_roles):
                if session.access_key_id == access_key:
                    return _session_caller(session, partition)
            return None
    for _account, sts_partitions in list(sts_backends.items()):
        for session in list(sts_partitions["aws"].assumed_roles):
            if session.access_key_id == access_key:
                return _session_caller(session, "aws")
    if access_key:
        # The administrator convention: the secret is the key id; whoever signs with it is root.
        return Caller(access_key, f"arn:aws:iam::{account_id}:root", account_id, account_id, None)
    return None


def _user_caller(backend: Any, account: str, partition: str, key: Any) -> Caller | None:
    try:
        user = backend.get_user(key.user_name)
    except Exception:
        return None

    def policies() -> list[dict[str, Any]]:
        raw: list[Any] = list(user.policies.values()) + iam_policy.default_versions(user.managed_policies)
        for group in backend.get_groups_for_user(user.name):
            raw += list(group.policies.values()) + iam_policy.default_versions(group.managed_policies)
        return iam_policy.parse_documents(raw)

    arn = f"arn:{partition}:iam::{account}:user{user.path}{user.name}"
    return Caller(key.secret_access_key, arn, user.id, account, policies)


def _session_caller(session: Any, partition: str) -> Caller:
    from localcloud.iam.enforcement import Session, role_policies

    role = Session(session.account_id, partition, session.role_arn, session.session_name)
    expired = session.expiration.replace(tzinfo=dt.UTC) <= dt.datetime.now(dt.UTC)
    return Caller(
        session.secret_access_key,
        session.arn,
        session.user_id,
        session.account_id,
        lambda: role_policies(role),
        session_token=session.session_token,
        expired=expired,
    )
