"""S3 bucket policies as AWS evaluates them: conditions honoured, malformed JSON refused at the door.

moto 5.2.5 enforces a bucket policy's Deny statements on object calls even with IAM enforcement off,
but ignores their ``Condition``: the standard TLS-only statement (``Deny s3:* if
aws:SecureTransport=false``, https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html)
then blocks every object call. And ``PutBucketPolicy`` stores any text, so a policy that is not JSON
makes every later object call fail with a JSONDecodeError (HTTP 500).

Two fixes, registered in ``localcloud.fidelity.FIXES``:

- ``s3-bucket-policy-conditions``: a statement applies only when its ``Condition`` holds in the request
  context, evaluated with the rules of
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  (operators String*, Bool, Null, Numeric*, Arn*, IpAddress; the ``...IfExists`` suffix; ``ForAnyValue:`` /
  ``ForAllValues:`` over a single value). A key absent from the request context does not match, so its
  condition is false, except for negated operators (``StringNotEquals``, ``ArnNotLike``...), which are
  then true, ``...IfExists`` (true) and ``Null`` (true when it asks for absence).
- ``s3-put-bucket-policy-malformed``: ``PutBucketPolicy`` with a document that is not a JSON object
  answers ``MalformedPolicy`` 'Policies must be valid JSON and the first byte must be '{''; without
  ``Statement``, 'Missing required field Statement'; with an empty one, 'Could not parse the policy:
  Statement is empty!'.

The request context of the local cloud holds one key, ``aws:SecureTransport``. Clients reach the local
cloud over plain HTTP on loopback, but it stands in for AWS's HTTPS endpoints (which clients always use:
boto3 speaks HTTPS to AWS), so it is **true** by default. Set the environment variable
``LOCALCLOUD_S3_SECURE_TRANSPORT=false`` (read on every request) to evaluate requests as plain-HTTP ones:
the TLS-only policy then answers 403 AccessDenied, as AWS does to a plain-HTTP request. Every other
key (aws:SourceIp, aws:PrincipalArn...) is absent from the context.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from moto.s3 import models as s3_models
from moto.s3.exceptions import S3ClientError
from moto.s3.responses import S3Response

from localcloud.registry import around, fixer

_fix = fixer(__name__)

__all__ = ["SECURE_TRANSPORT_ENV", "condition_holds", "request_context"]

logger = logging.getLogger("localcloud.s3_policy")

SECURE_TRANSPORT_ENV = "LOCALCLOUD_S3_SECURE_TRANSPORT"

_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "NumericNotEquals",
    "DateNotEquals",
    "ArnNotEquals",
    "ArnNotLike",
    "NotIpAddress",
}


class AccessDenied(S3ClientError):
    code = "AccessDenied"

    def __init__(self) -> None:
        super().__init__("AccessDenied", "Access Denied")


class MalformedPolicy(S3ClientError):
    code = "MalformedPolicy"

    def __init__(self, message: str) -> None:
        super().__init__("MalformedPolicy", message)


def request_context() -> dict[str, str]:
    """The condition keys the local cloud knows about a request, as strings."""
    secure = os.environ.get(SECURE_TRANSPORT_ENV, "true").strip().lower()
    return {"aws:securetransport": "false" if secure in ("0", "false", "no", "off") else "true"}


def _as_list(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in values]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _matches(base: str, actual: str, expected: str) -> bool:
    """One comparison of a request value with one policy value (the operator without Not/IfExists)."""
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return fnmatch.fnmatchcase(actual, expected.replace("[", "[[]"))
    if base == "Bool":
        return actual.lower() == expected.lower()
    if base.startswith("Numeric"):
        a, e = _number(actual), _number(expected)
        if a is None or e is None:
            return False
        compare: dict[str, Callable[[float, float], bool]] = {
            "NumericEquals": lambda x, y: x == y,
            "NumericLessThan": lambda x, y: x < y,
            "NumericLessThanEquals": lambda x, y: x <= y,
            "NumericGreaterThan": lambda x, y: x > y,
            "NumericGreaterThanEquals": lambda x, y: x >= y,
        }
        return base in compare and compare[base](a, e)
    if base == "IpAddress":
        try:
            return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
        except ValueError:
            return False
    raise ValueError(f"unsupported condition operator {base}")


def _positive(operator: str) -> str:
    """The operator that a negated one negates (StringNotLike -> StringLike)."""
    if operator == "NotIpAddress":
        return "IpAddress"
    return operator.replace("Not", "", 1)


def condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """Does a statement's ``Condition`` block hold? Operators AND, keys AND, values OR (NOR if negated)."""
    for raw_operator, tests in (condition or {}).items():
        operator = raw_operator.split(":", 1)[1] if ":" in raw_operator else raw_operator
        if_exists = operator.endswith("IfExists")
        operator = operator[: -len("IfExists")] if if_exists else operator
        for key, expected in (tests or {}).items():
            actual = context.get(str(key).lower())
            values = _as_list(expected)
            if operator == "Null":
                absent = actual is None
                if not any(absent == (v.lower() == "true") for v in values):
                    return False
                continue
            if actual is None:
                if if_exists or operator in _NEGATED:
                    continue
                return False
            negated = operator in _NEGATED
            hit = any(_matches(_positive(operator) if negated else operator, actual, v) for v in values)
            if hit == negated:
                return False
    return True


def _effective_policy(policy: bytes) -> str:
    """The statements whose conditions hold now, without their conditions (moto's evaluator ignores
    conditions, and would apply all of them)."""
    document = json.loads(policy)
    statements = document.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    context = request_context()
    kept = []
    for statement in statements:
        condition = statement.get("Condition")
        try:
            holds = condition_holds(condition, context) if condition else True
        except ValueError as exc:
            logger.warning("bucket policy statement %s not applied: %s", statement.get("Sid", ""), exc)
            holds = False
        if holds:
            kept.append({k: v for k, v in statement.items() if k != "Condition"})
    return json.dumps({**document, "Statement": kept})


@_fix(
    "s3-bucket-policy-conditions",
    "Object calls evaluate a bucket policy's Deny statements without their Condition: the TLS-only "
    "statement (Deny s3:* if aws:SecureTransport=false) blocks every put, get, head, copy and delete.",
    "A statement applies only when its Condition holds for the request (IAM condition operators); "
    "aws:SecureTransport is true unless LOCALCLOUD_S3_SECURE_TRANSPORT=false, and other keys are absent. "
    "A denied object call answers 403 AccessDenied 'Access Denied' (moto: an empty 403).",
)
def _fix_policy_conditions() -> None:
    """moto's ``FakeBucket.get_permission`` hands the whole policy to an evaluator without conditions."""

    @around(s3_models.FakeBucket, "get_permission")
    def get_permission(orig: Callable[..., Any], self: Any, action: str, resource: str) -> Any:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if self.policy is None:
            return PermissionResult.NEUTRAL
        return IAMPolicy(_effective_policy(self.policy)).is_action_permitted(action, resource)

    @around(S3Response, "_key_response")
    def _key_response(orig: Callable[..., Any], self: Any, request: Any, full_url: str) -> Any:
        response = orig(self, request, full_url)
        if isinstance(response, tuple) and response[0] == 403 and not response[2]:
            raise AccessDenied()  # S3's error document, not moto's empty 403
        return response


def check_policy(policy: bytes | str) -> None:
    """Refuse a bucket policy document as S3 does (MalformedPolicy), before it is stored."""
    text = policy.decode("utf-8", "replace") if isinstance(policy, bytes) else policy
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not text.lstrip().startswith("{"):
        raise MalformedPolicy("Policies must be valid JSON and the first byte must be '{'")
    if "Statement" not in document:
        raise MalformedPolicy("Missing required field Statement")
    if not document["Statement"]:
        raise MalformedPolicy("Could not parse the policy: Statement is empty!")


@_fix(
    "s3-put-bucket-policy-malformed",
    "PutBucketPolicy stores any text; a policy that is not JSON makes every later object call of the "
    "bucket fail with JSONDecodeError (HTTP 500).",
    "PutBucketPolicy refuses it with 400 MalformedPolicy ('Policies must be valid JSON and the first byte "
    "must be '{'', 'Missing required field Statement', 'Could not parse the policy: Statement is empty!') "
    "and the bucket keeps its previous policy.",
)
def _fix_malformed_policy() -> None:
    """moto's ``put_bucket_policy`` stores the body unchecked."""

    @around(s3_models.S3Backend, "put_bucket_policy")
    def put_bucket_policy(orig: Callable[..., Any], self: Any, bucket_name: str, policy: bytes) -> None:
        self.get_bucket(bucket_name)  # NoSuchBucket first, as before
        check_policy(policy)
        orig(self, bucket_name, policy)
