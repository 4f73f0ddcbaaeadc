"""What a function's S3 and STS calls need from its role: actions and resource ARNs, and the denials.

``iam_enforcement.authorize`` evaluates the JSON-protocol services from the request body; S3 speaks
REST-XML (the operation is the method, the path and the query string's subresource) and STS the
query protocol (a form body naming ``Action``), so their requests are read here.

S3, per the Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html) and "Required
permissions for Amazon S3 API operations"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html):

- ``ListBuckets`` (``GET /``): ``s3:ListAllMyBuckets`` on ``*``;
- bucket operations on ``arn:aws:s3:::BUCKET``: ``ListObjects``/``ListObjectsV2``/``HeadBucket`` need
  ``s3:ListBucket`` (with the ``s3:prefix``, ``s3:delimiter`` condition keys of the request),
  ``?versions`` ``s3:ListBucketVersions``, ``?uploads`` ``s3:ListBucketMultipartUploads``, ``PUT``
  ``s3:CreateBucket``, ``DELETE`` ``s3:DeleteBucket``, and each configuration subresource its own
  action (``?policy``: ``s3:GetBucketPolicy``/``s3:PutBucketPolicy``/``s3:DeleteBucketPolicy``;
  ``?tagging``: ``s3:GetBucketTagging``, ``s3:PutBucketTagging`` for PUT and DELETE; ``?lifecycle``,
  ``?encryption``, ``?cors``, ``?publicAccessBlock``, ... likewise);
- object operations on ``arn:aws:s3:::BUCKET/KEY``: ``GetObject``/``HeadObject`` ``s3:GetObject``
  (``s3:GetObjectVersion`` with ``versionId``), ``PutObject``/``CreateMultipartUpload``/``UploadPart``/
  ``CompleteMultipartUpload`` ``s3:PutObject``, ``CopyObject`` also ``s3:GetObject`` on the source,
  ``DeleteObject`` ``s3:DeleteObject`` (``s3:DeleteObjectVersion``), ``ListParts``
  ``s3:ListMultipartUploadParts``, ``AbortMultipartUpload`` ``s3:AbortMultipartUpload``, and the object
  subresources (``?tagging``, ``?acl``, ``?retention``, ``?legal-hold``, ``?attributes``).

A denial is S3's: HTTP 403, ``<Error><Code>AccessDenied</Code>`` and the same-account message of
https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html, ``User: ARN is not
authorized to perform: s3:GetObject on resource: "arn:aws:s3:::b/k" because no identity-based policy
allows the s3:GetObject action`` (the resource clause is left out for ``s3:ListAllMyBuckets``, which
has no resource). A GetObject/HeadObject of a key the bucket does not hold is refused the same way
for ``s3:ListBucket`` on the bucket when the role may not list it (S3 answers 404 NoSuchKey only to
a caller who may, https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).

STS (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html):
``AssumeRole`` needs ``sts:AssumeRole`` on the role ARN; ``GetCallerIdentity`` needs no permission
("No permissions are required to perform this operation",
https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html);
``GetAccessKeyInfo`` and ``DecodeAuthorizationMessage`` their own action on ``*``; ``GetSessionToken``
and ``GetFederationToken`` are refused to a role session whatever its policies
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_request.html). A denial is
STS's: HTTP 403 ``AccessDenied`` "User: ARN is not authorized to perform: sts:AssumeRole on resource:
ROLE".

Not modelled: ``DeleteObjects`` (AWS answers per key inside a 200; passed through unevaluated),
presigned URLs made by the function (evaluated only when signed in the ``Authorization`` header),
browser ``POST`` uploads, S3 access points and S3 Express, S3 condition keys other than
``s3:prefix``/``s3:delimiter``, STS session tags.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from localcloud.query_errors import query_error

Pairs = list[tuple[str, str]]

# subresource -> (GET, PUT, DELETE) action of a bucket
_BUCKET_SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None]] = {
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "PutBucketTagging"),
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", None),
    "lifecycle": ("GetLifecycleConfiguration", "PutLifecycleConfiguration", "PutLifecycleConfiguration"),
    "encryption": ("GetEncryptionConfiguration", "PutEncryptionConfiguration", "PutEncryptionConfiguration"),
    "acl": ("GetBucketAcl", "PutBucketAcl", None),
    "cors": ("GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
    "notification": ("GetBucketNotification", "PutBucketNotification", None),
    "publicAccessBlock": ("GetBucketPublicAccessBlock",) + ("PutBucketPublicAccessBlock",) * 2,
    "ownershipControls": ("GetBucketOwnershipControls",) + ("PutBucketOwnershipControls",) * 2,
    "logging": ("GetBucketLogging", "PutBucketLogging", None),
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "replication": ("GetReplicationConfiguration",) + ("PutReplicationConfiguration",) * 2,
    "object-lock": ("GetBucketObjectLockConfiguration", "PutBucketObjectLockConfiguration", None),
    "requestPayment": ("GetBucketRequestPayment", "PutBucketRequestPayment", None),
    "accelerate": ("GetAccelerateConfiguration", "PutAccelerateConfiguration", None),
    "policyStatus": ("GetBucketPolicyStatus", None, None),
    "location": ("GetBucketLocation", None, None),
    "versions": ("ListBucketVersions", None, None),
    "uploads": ("ListBucketMultipartUploads", None, None),
}

# subresource -> (GET, PUT, DELETE) action of an object
_OBJECT_SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None]] = {
    "tagging": ("GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"),
    "acl": ("GetObjectAcl", "PutObjectAcl", None),
    "retention": ("GetObjectRetention", "PutObjectRetention", None),
    "legal-hold": ("GetObjectLegalHold", "PutObjectLegalHold", None),
    "attributes": ("GetObjectAttributes", None, None),
}

_VERSIONED = {"GetObject", "GetObjectTagging", "GetObjectAcl", "DeleteObject", "PutObjectTagging"}


def _versioned(action: str, query: Mapping[str, list[str]]) -> str:
    """``s3:GetObjectVersion`` and friends when the request names a version."""
    if "versionId" not in query or action not in _VERSIONED:
        return action
    return action.replace("Object", "ObjectVersion", 1)


def _bucket_and_key(environ: Mapping[str, Any]) -> tuple[str, str]:
    """(bucket, key) of a path-style or virtual-hosted-style request; '' when absent."""
    path = str(environ.get("PATH_INFO", "") or "/")
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        path = path.encode("latin-1").decode("utf-8")
    host = str(environ.get("HTTP_HOST", "")).rsplit(":", 1)[0].lower()
    labels = host.split(".")
    virtual = len(labels) > 1 and (labels[-1] == "localhost" or "s3" in labels[1:]) and labels[0] != "s3"
    if virtual and not host.replace(".", "").isdigit():
        return labels[0], path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def s3_requested(environ: Mapping[str, Any], partition: str = "aws") -> tuple[Pairs, dict[str, str]]:
    """The (action, resource) pairs an S3 request needs, and its S3 condition keys."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    bucket, key = _bucket_and_key(environ)
    if not bucket:
        return ([("s3:ListAllMyBuckets", "*")] if method == "GET" else []), {}
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    if not key:
        return _bucket_operation(method, query, bucket_arn)
    object_arn = f"{bucket_arn}/{key}"
    pairs = [(f"s3:{action}", object_arn) for action in _object_actions(method, query)]
    source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if source and method == "PUT":  # CopyObject, UploadPartCopy: read the source
        text = unquote(str(source)).lstrip("/")
        source_path, _, source_query = text.partition("?")
        read = "GetObjectVersion" if "versionId=" in source_query else "GetObject"
        pairs.append((f"s3:{read}", f"arn:{partition}:s3:::{source_path}"))
    return pairs, {}


def _bucket_operation(method: str, query: Mapping[str, list[str]], arn: str) -> tuple[Pairs, dict[str, str]]:
    index = {"GET": 0, "HEAD": 0, "PUT": 1, "DELETE": 2}.get(method)
    for name, actions in _BUCKET_SUBRESOURCES.items():
        if name in query:
            action = actions[index] if index is not None else None
            return ([(f"s3:{action}", arn)] if action else []), {}
    if method in ("GET", "HEAD"):  # ListObjects(V2), HeadBucket
        context = {f"s3:{k}": query[k][-1] for k in ("prefix", "delimiter") if k in query}
        return [("s3:ListBucket", arn)], context
    if method == "PUT":
        return [("s3:CreateBucket", arn)], {}
    if method == "DELETE":
        return [("s3:DeleteBucket", arn)], {}
    return [], {}  # POST ?delete (DeleteObjects), browser uploads: not modelled


def _object_actions(method: str, query: Mapping[str, list[str]]) -> list[str]:
    if "uploadId" in query:
        multipart = {"GET": "ListMultipartUploadParts", "PUT": "PutObject", "POST": "PutObject"}
        multipart["DELETE"] = "AbortMultipartUpload"
        return [multipart[method]] if method in multipart else []
    if method == "POST":
        if "uploads" in query:
            return ["PutObject"]
        if "restore" in query:
            return ["RestoreObject"]
        return ["GetObject"] if "select" in query else []
    index = {"GET": 0, "HEAD": 0, "PUT": 1, "DELETE": 2}.get(method)
    if index is None:
        return []
    for name, actions in _OBJECT_SUBRESOURCES.items():
        if name in query:
            action = actions[index]
            return [_versioned(action, query)] if action else []
    return [_versioned(("GetObject", "PutObject", "DeleteObject")[index], query)]


def missing_object(environ: Mapping[str, Any], account: str, partition: str = "aws") -> str | None:
    """The bucket ARN when a GetObject/HeadObject names a key the bucket does not hold (S3 then answers
    404 only to a caller with ``s3:ListBucket`` on the bucket, 403 to anyone else:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"); None otherwise
    (another operation, a versioned read, a missing bucket: S3's own NoSuchBucket)."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if method not in ("GET", "HEAD") or set(query) & (set(_OBJECT_SUBRESOURCES) | {"uploadId", "versionId"}):
        return None
    bucket_name, key = _bucket_and_key(environ)
    if not bucket_name or not key:
        return None
    try:
        from moto.s3.models import FakeDeleteMarker, s3_backends

        bucket = s3_backends[account][partition].buckets.get(bucket_name)
        found = bucket.keys.get(key) if bucket is not None else None
    except Exception:
        return None
    if bucket is None or (found is not None and not isinstance(found, FakeDeleteMarker)):
        return None
    return f"arn:{partition}:s3:::{bucket_name}"


def s3_denied(principal: str, action: str, resource: str, decision: str) -> Response:
    """S3's AccessDenied: 403 and its XML error document with the same-account message."""
    where = "" if resource == "*" else f' on resource: "{resource}"'
    head = f"User: {principal} is not authorized to perform: {action}{where}"
    if decision == "explicit_deny":
        message = f"{head} with an explicit deny in an identity-based policy"
    else:
        message = f"{head} because no identity-based policy allows the {action} action"
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId>"
        f"<HostId>{request_id}</HostId></Error>"
    )
    response = Response(body, status=403, content_type="application/xml")
    response.headers["x-amz-request-id"] = request_id
    return response


# -- STS ---------------------------------------------------------------------------------------------
_STS_STAR = ("GetAccessKeyInfo", "DecodeAuthorizationMessage")
NO_SESSION_CALLS = ("GetSessionToken", "GetFederationToken")


def request_body(environ: dict[str, Any]) -> bytes:
    """The request's body (none for a missing or bad Content-Length); ``wsgi.input`` is replaced so
    that moto reads the same bytes."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _form(environ: dict[str, Any]) -> dict[str, str]:
    """The query-protocol parameters (query string and form body), read by :func:`request_body`."""
    params = {k: v[-1] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
    body = request_body(environ)
    params.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
    return params


def sts_requested(environ: dict[str, Any]) -> tuple[str, Pairs]:
    """(the operation, the pairs it needs) of an STS request."""
    params = _form(environ)
    operation = params.get("Action", "")
    if operation == "AssumeRole":
        return operation, [("sts:AssumeRole", params.get("RoleArn", ""))]
    if operation in _STS_STAR:
        return operation, [(f"sts:{operation}", "*")]
    return operation, []


def sts_denied(message: str) -> Response:
    response = Response(query_error("AccessDenied", message), status=403, content_type="text/xml")
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def sts_message(principal: str, action: str, resource: str, operation: str) -> str:
    if operation in NO_SESSION_CALLS:
        return f"Cannot call {operation} with session credentials"
    where = "" if resource == "*" else f" on resource: {resource}"
    return f"User: {principal} is not authorized to perform: {action}{where}"
