"""IAM, enforced for the function: its calls are authorized against its execution role's policies.

On AWS a function runs with temporary credentials of its execution role and every call it makes is
authorized against that role's policies. Here the runtime asks :func:`function_credentials` for a
role session (moto's STS AssumeRole, in process, session name = the function's name as Lambda
does) and puts it in the worker's environment. The server passes every request to
:func:`authorize` before moto sees it:

- a request signed with an access key of such a session is evaluated by ``iam_policy`` against the
  role's inline and attached policies as moto's IAM holds them *now* (a policy edit takes effect on
  the next call);
- any other request (the engine's, a test's: the local cloud's administrator credentials) is not
  evaluated: the engine is the account's administrator.

moto's own enforcement (``/moto-api/reset-auth``) is not used: it would need every caller to hold
real IAM keys, passes ``*`` as the DynamoDB resource and ignores conditions (moto-5.2.5-next.md
item 4).

Modelled (action and resource ARN computed from the request):

- DynamoDB (JSON protocol): every operation with ``TableName`` on the table ARN; ``Query`` and
  ``Scan`` with ``IndexName`` on ``table/T/index/I``; ``BatchGetItem``/``BatchWriteItem`` on each
  table; ``TransactWriteItems`` as ``PutItem``/``UpdateItem``/``DeleteItem``/``ConditionCheckItem``
  and ``TransactGetItems`` as ``GetItem`` per table; stream operations on ``StreamArn``;
  ``ListTables`` on ``*``.
- SQS (JSON protocol): operations with ``QueueUrl`` on the queue ARN.
- CloudWatch Logs (JSON protocol): operations with ``logGroupName`` on the log group ARN
  (``:log-stream:S`` when ``logStreamName`` is given).
- KMS: ``Encrypt``/``Decrypt``/``GenerateDataKey*``/``DescribeKey``/``Sign``/``Verify`` on the ARN of
  the key ``KeyId`` names (an alias is resolved through moto's KMS); a ``Decrypt`` without ``KeyId``
  on the key the ciphertext names, as KMS reads it from the ciphertext; ``ReEncrypt`` as
  ``kms:ReEncryptFrom`` on the source key and ``kms:ReEncryptTo`` on the destination key.
- Secrets Manager (JSON protocol): operations with ``SecretId`` (``GetSecretValue``,
  ``DescribeSecret``, ...) on the secret's full ARN; ``BatchGetSecretValue`` as ``GetSecretValue`` on
  each secret.

- S3 (REST-XML) and STS (query protocol): read by ``iam_s3_sts`` (``s3:ListAllMyBuckets`` for
  ListBuckets, ``s3:GetObject`` on ``arn:aws:s3:::B/K``, ``s3:ListBucket`` on the bucket for
  ListObjectsV2, ``sts:AssumeRole`` on the role, nothing for GetCallerIdentity, ...), denied in those
  services' own error formats (S3: 403 XML ``AccessDenied``; STS: 403 query-protocol ``AccessDenied``).

Not modelled (passed through unevaluated): other services and protocols (Lambda, API Gateway, ...),
signature checks of the session credentials (expiry and token: ``fidelity_sts.check_session``),
resource-based policies (an SQS queue
policy, a KMS key policy), and the DynamoDB condition keys (``dynamodb:LeadingKeys``,
``dynamodb:Attributes``). Condition keys supplied: ``aws:RequestedRegion``, ``aws:PrincipalArn``,
``aws:PrincipalAccount``, ``aws:SecureTransport`` (true: Lambda calls AWS over HTTPS).

A denial is answered as AWS answers a JSON-protocol service: HTTP 400, ``__type``
``com.amazon.coral.service#AccessDeniedException`` and the message forms of
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
(``... because no identity-based policy allows the A action`` or ``... with an explicit deny in an
identity-based policy``).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from werkzeug.wrappers import Response

from localcloud.iam import policy as iam_policy
from localcloud.iam import s3_sts as iam_s3_sts
from localcloud.iam import vpc_reach

_log = logging.getLogger("localcloud.vpc")
ACCESS_DENIED_TYPE = "com.amazon.coral.service#AccessDeniedException"


@dataclass(frozen=True)
class Session:
    account_id: str
    partition: str
    role_arn: str
    session_name: str

    @property
    def principal_arn(self) -> str:
        role_name = self.role_arn.rsplit("/", 1)[-1]
        return f"arn:{self.partition}:sts::{self.account_id}:assumed-role/{role_name}/{self.session_name}"


_sessions: dict[str, Session] = {}
_lock = threading.Lock()


def function_credentials(account_id: str, region: str, role_arn: str, session_name: str) -> dict[str, str]:
    """Temporary credentials of ``role_arn`` for a function (moto's STS AssumeRole, in process),
    as the environment variables Lambda sets."""
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    partition = get_partition(region)
    assumed = sts_backends[account_id][partition].assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy="",
        duration=43200,
        external_id="",
    )
    with _lock:
        _sessions[assumed.access_key_id] = Session(account_id, partition, role_arn, session_name[:64])
    return {
        "AWS_ACCESS_KEY_ID": assumed.access_key_id,
        "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
        "AWS_SESSION_TOKEN": assumed.session_token,
    }


def session_for(access_key_id: str) -> Session | None:
    with _lock:
        return _sessions.get(access_key_id)


def role_policies(session: Session) -> list[dict[str, Any]]:
    """The role's inline and attached (default version) policy documents, as moto holds them now;
    none when the role does not exist (everything is then implicitly denied)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[session.account_id][session.partition]
    try:
        role = backend.get_role_by_arn(session.role_arn)
    except Exception:
        return []
    documents: list[Any] = list(role.policies.values()) + iam_policy.default_versions(role.managed_policies)
    return iam_policy.parse_documents(documents)


# -- the request ------------------------------------------------------------------------------------
def _credential(environ: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(access key id, region, service) from a SigV4 Authorization header."""
    header = str(environ.get("HTTP_AUTHORIZATION", ""))
    marker = "Credential="
    start = header.find(marker)
    if start < 0:
        return None
    scope = header[start + len(marker) :].split(",", 1)[0].strip().split("/")
    if len(scope) < 5:
        return None
    return scope[0], scope[2], scope[3]


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON body, read by ``iam_s3_sts.request_body`` (moto reads the same bytes)."""
    body = iam_s3_sts.request_body(environ)
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _operation(environ: Mapping[str, Any]) -> str:
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    return target.rsplit(".", 1)[-1] if "." in target else ""


def _dynamodb(op: str, body: Mapping[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    def table(name: Any) -> str:
        text = str(name)
        return text if text.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{text}"

    if op in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{op}", table(name)) for name in body.get("RequestItems") or {}]
    if op in ("TransactWriteItems", "TransactGetItems"):
        kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
        kinds.update({"ConditionCheck": "ConditionCheckItem", "Get": "GetItem"})
        pairs = []
        for entry in body.get("TransactItems") or []:
            for kind, part in (entry or {}).items():
                if kind in kinds and isinstance(part, Mapping) and "TableName" in part:
                    pairs.append((f"dynamodb:{kinds[kind]}", table(part["TableName"])))
        return pairs
    if "StreamArn" in body:
        return [(f"dynamodb:{op}", str(body["StreamArn"]))]
    if "TableName" in body:
        arn = table(body["TableName"])
        if op in ("Query", "Scan") and body.get("IndexName"):
            arn = f"{arn}/index/{body['IndexName']}"
        return [(f"dynamodb:{op}", arn)]
    if "ResourceArn" in body:
        return [(f"dynamodb:{op}", str(body["ResourceArn"]))]
    return [(f"dynamodb:{op}", "*")] if op in ("ListTables", "DescribeLimits", "ListStreams") else []


def _sqs(op: str, body: Mapping[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    url = body.get("QueueUrl")
    if not url:
        return []
    parts = urlparse(str(url)).path.strip("/").split("/")
    if len(parts) < 2:
        return []
    return [(f"sqs:{op}", f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}")]


def _logs(op: str, body: Mapping[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    group = body.get("logGroupName")
    if not group:
        return []
    arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    if body.get("logStreamName"):
        arn += f":log-stream:{body['logStreamName']}"
    return [(f"logs:{op}", arn)]


_KMS_KEYED = ("Encrypt", "Decrypt", "DescribeKey", "Sign", "Verify")


def _kms_key_arn(key: Any, region: str, account: str) -> str | None:
    """The ARN of the key a KeyId (id, ARN, alias) names, None for an unknown key."""
    try:
        from moto.kms.models import kms_backends

        key_id = kms_backends[account][region].any_id_to_key_id(str(key))
    except Exception:
        return None  # an unknown key: KMS itself answers NotFoundException
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def _ciphertext_key(blob: Any) -> str | None:
    """The key id a ciphertext names: for a symmetric key, Decrypt's KeyId is optional because KMS
    reads the key from metadata it adds to the ciphertext blob
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html); moto's blob starts with
    the key id (moto.kms.utils)."""
    try:
        from moto.kms.utils import KEY_ID_LEN

        raw = base64.b64decode(str(blob), validate=True)
        key_id = raw[:KEY_ID_LEN].decode("ascii")
    except Exception:
        return None  # not a ciphertext: KMS answers InvalidCiphertextException
    return key_id if len(key_id) == KEY_ID_LEN else None


def _kms(op: str, body: Mapping[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    if op == "ReEncrypt":  # kms:ReEncryptFrom on the source key, kms:ReEncryptTo on the destination
        source = body.get("SourceKeyId") or _ciphertext_key(body.get("CiphertextBlob"))
        pairs = []
        for action, key in (("kms:ReEncryptFrom", source), ("kms:ReEncryptTo", body.get("DestinationKeyId"))):
            arn = _kms_key_arn(key, region, account) if key else None
            if arn is not None:
                pairs.append((action, arn))
        return pairs
    key = body.get("KeyId")
    if not key and op == "Decrypt":
        key = _ciphertext_key(body.get("CiphertextBlob"))
    if not key or not (op in _KMS_KEYED or op.startswith("GenerateDataKey")):
        return []
    arn = _kms_key_arn(key, region, account)
    return [(f"kms:{op}", arn)] if arn is not None else []


_SERVICES = {"dynamodb": _dynamodb, "sqs": _sqs, "logs": _logs, "kms": _kms}


_SECRET_LISTS = ("ListSecrets", "GetRandomPassword", "BatchGetSecretValue")


def _secretsmanager(op: str, body: Mapping[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    """Secrets Manager (JSON protocol): an operation with ``SecretId`` on the secret's full ARN (a name
    or a partial ARN is resolved through moto's Secrets Manager, as AWS resolves it); ``ListSecrets``,
    ``GetRandomPassword`` on ``*``; ``BatchGetSecretValue`` needs ``GetSecretValue`` on each secret
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html)."""
    if op == "BatchGetSecretValue" and body.get("SecretIdList"):
        pairs = [(f"secretsmanager:{op}", "*")]
        for secret_id in body.get("SecretIdList") or []:
            arns = _secret_arns(secret_id, region, account)
            pairs += [("secretsmanager:GetSecretValue", arn) for arn in arns]
        return pairs
    if op in _SECRET_LISTS:
        return [(f"secretsmanager:{op}", "*")]
    if "SecretId" not in body:
        return []
    return [(f"secretsmanager:{op}", arn) for arn in _secret_arns(body["SecretId"], region, account)]


def _secret_arns(secret_id: Any, region: str, account: str) -> list[str]:
    """The full ARN of the secret; none for an unknown secret (Secrets Manager itself answers
    ResourceNotFoundException)."""
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[account][region].secrets.get(str(secret_id))
    except Exception:
        return []
    return [str(secret.arn)] if secret is not None else []


_SERVICES["secretsmanager"] = _secretsmanager


def requested(environ: dict[str, Any], service: str, region: str, account: str) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs a JSON-protocol request needs, per ``_SERVICES``."""
    compute = _SERVICES.get(service)
    op = _operation(environ)
    if compute is None or not op:
        return []
    return compute(op, _json_body(environ), region, account)


def denial_message(session: Session, action: str, resource: str, decision: str) -> str:
    head = f"User: {session.principal_arn} is not authorized to perform: {action} on resource: {resource}"
    if decision == "explicit_deny":
        return f"{head} with an explicit deny in an identity-based policy"
    return f"{head} because no identity-based policy allows the {action} action"


def authorize(environ: dict[str, Any]) -> Response | None:
    """None when the request may go on to moto; the service's AccessDenied answer otherwise."""
    credential = _credential(environ)
    if credential is None:
        return None
    access_key, region, service = credential
    session = session_for(access_key)
    if session is None:
        return None
    context = {
        "aws:RequestedRegion": region,
        "aws:PrincipalArn": session.role_arn,
        "aws:PrincipalAccount": session.account_id,
        "aws:SecureTransport": "true",
    }
    operation = ""
    if service == "s3":
        pairs, extra = iam_s3_sts.s3_requested(environ, session.partition)
        context.update(extra)
    elif service == "sts":
        operation, pairs = iam_s3_sts.sts_requested(environ)
    else:
        pairs = requested(environ, service, region, session.account_id) if service in _SERVICES else []
    # The network comes first: a call that cannot leave the function's VPC never reaches IAM.
    unreachable = vpc_reach.blocked(
        session.account_id, region, session.session_name, session.role_arn, service, pairs, context
    )
    if unreachable is not None:
        return _held(session, region, service, unreachable)
    if operation in iam_s3_sts.NO_SESSION_CALLS:
        return iam_s3_sts.sts_denied(iam_s3_sts.sts_message(session.principal_arn, "", "", operation))
    if not pairs:
        return None
    policies = role_policies(session)
    for action, resource in pairs:
        result = iam_policy.evaluate(policies, action, resource, context)
        if not result.allowed:
            return _denied(session, service, operation, action, resource, result.decision)
    if service == "s3":  # a missing key is a 404 only to who may list the bucket
        bucket = iam_s3_sts.missing_object(environ, session.account_id, session.partition)
        listing = iam_policy.evaluate(policies, "s3:ListBucket", bucket, context) if bucket else None
        if bucket and listing is not None and not listing.allowed:
            return _denied(session, service, operation, "s3:ListBucket", bucket, listing.decision)
    return None


def _denied(
    session: Session, service: str, operation: str, action: str, resource: str, decision: str
) -> Response:
    """The denial in the service's own protocol: S3's XML, STS's query error, or the JSON one."""
    if service == "s3":
        return iam_s3_sts.s3_denied(session.principal_arn, action, resource, decision)
    if service == "sts":
        message = iam_s3_sts.sts_message(session.principal_arn, action, resource, operation)
        return iam_s3_sts.sts_denied(message)
    return access_denied(denial_message(session, action, resource, decision))


def _held(session: Session, region: str, service: str, reason: str) -> Response:
    """A call with no network path: held until the function has timed out (``vpc_reach.hold``)."""
    _log.warning(
        "function %s cannot reach %s from its VPC (%s): the call hangs until the function times out",
        session.session_name,
        service,
        reason,
    )
    vpc_reach.hold(session.account_id, region, session.session_name)
    body = json.dumps({"message": f"connect timeout: {reason}"})
    return Response(body, status=504, content_type="application/json")


def access_denied(message: str) -> Response:
    body = json.dumps({"__type": ACCESS_DENIED_TYPE, "message": message})
    response = Response(body, status=400, content_type="application/x-amz-json-1.0")
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response
