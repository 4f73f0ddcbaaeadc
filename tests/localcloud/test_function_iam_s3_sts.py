"""The function's S3 and STS calls go through the same IAM evaluation as its DynamoDB calls (issue 22,
item 5).

Actions and resource ARNs per operation follow the Service Authorization Reference for S3
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html) and STS
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html);
S3's denial is its 403 XML AccessDenied with the same-account message of
https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html; GetCallerIdentity
needs no permission (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import Kit, build_zip

from localcloud import LocalCloud
from localcloud.iam.enforcement import function_credentials

ACCOUNT = "123456789012"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.fixture(scope="module")
def setup(cloud: LocalCloud, kit: Kit) -> dict[str, Any]:
    """A role with no policy yet, a bucket with two objects, and the function session's clients."""
    role = f"s3sts-{kit.suffix}"
    role_arn = cloud.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    bucket = f"fn-bucket-{kit.suffix}"
    admin = cloud.client("s3")
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="public/a.txt", Body=b"a")
    admin.put_object(Bucket=bucket, Key="private/b.txt", Body=b"b")
    creds = function_credentials(ACCOUNT, cloud.region, role_arn, "fn-s3")

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=cloud.endpoint_url,
            region_name=cloud.region,
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=creds["AWS_SESSION_TOKEN"],
        )

    return {"role": role, "role_arn": role_arn, "bucket": bucket, "s3": client("s3"), "sts": client("sts")}


def _put(cloud: LocalCloud, role: str, *statements: dict[str, Any]) -> None:
    cloud.client("iam").put_role_policy(
        RoleName=role, PolicyName="access", PolicyDocument=_policy(*statements)
    )


def _s3_denied(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    assert error["Error"]["Code"] == "AccessDenied", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    return str(error["Error"].get("Message", ""))


def _principal(setup: dict[str, Any]) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{setup['role']}/fn-s3"


def test_list_buckets_needs_list_all_my_buckets(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """Issue 22 item 5: a function listing buckets without permission gets S3's AccessDenied."""
    _put(cloud, setup["role"], _allow("dynamodb:*", "*"))
    message = _s3_denied(setup["s3"].list_buckets)
    assert message == (
        f"User: {_principal(setup)} is not authorized to perform: s3:ListAllMyBuckets because no "
        "identity-based policy allows the s3:ListAllMyBuckets action"
    )
    _put(cloud, setup["role"], _allow("s3:ListAllMyBuckets", "*"))
    names = [b["Name"] for b in setup["s3"].list_buckets()["Buckets"]]
    assert setup["bucket"] in names


def test_objects_are_authorized_on_their_bucket_key_arn(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """GetObject/HeadObject need s3:GetObject and PutObject s3:PutObject on arn:aws:s3:::BUCKET/KEY."""
    bucket, s3 = setup["bucket"], setup["s3"]
    _put(cloud, setup["role"], _allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{bucket}/public/*"))
    assert s3.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"a"
    s3.put_object(Bucket=bucket, Key="public/new.txt", Body=b"n")
    assert s3.head_object(Bucket=bucket, Key="public/new.txt")["ContentLength"] == 1

    message = _s3_denied(lambda: s3.get_object(Bucket=bucket, Key="private/b.txt"))
    assert message == (
        f'User: {_principal(setup)} is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::'
        f'{bucket}/private/b.txt" because no identity-based policy allows the s3:GetObject action'
    )
    assert 's3:PutObject on resource: "arn:aws:s3:::' in _s3_denied(
        lambda: s3.put_object(Bucket=bucket, Key="private/c.txt", Body=b"c")
    )
    with pytest.raises(ClientError) as head:  # HEAD: the status, no body
        s3.head_object(Bucket=bucket, Key="private/b.txt")
    assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "s3:DeleteObject" in _s3_denied(lambda: s3.delete_object(Bucket=bucket, Key="public/a.txt"))
    keys = [o["Key"] for o in cloud.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert "private/c.txt" not in keys and "public/a.txt" in keys


def test_listing_objects_needs_list_bucket_on_the_bucket_arn(
    cloud: LocalCloud, setup: dict[str, Any]
) -> None:
    """ListObjectsV2 is s3:ListBucket on arn:aws:s3:::BUCKET (not BUCKET/*), with the s3:prefix key."""
    bucket, s3 = setup["bucket"], setup["s3"]
    _put(cloud, setup["role"], _allow("s3:ListBucket", f"arn:aws:s3:::{bucket}/*"))
    message = _s3_denied(lambda: s3.list_objects_v2(Bucket=bucket))
    assert f's3:ListBucket on resource: "arn:aws:s3:::{bucket}"' in message

    prefix_only = {"StringLike": {"s3:prefix": ["public/*"]}}
    _put(cloud, setup["role"], _allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", Condition=prefix_only))
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="public/")
    assert all(o["Key"].startswith("public/") for o in listed["Contents"])
    _s3_denied(lambda: s3.list_objects_v2(Bucket=bucket, Prefix="private/"))
    _s3_denied(lambda: s3.list_objects_v2(Bucket=bucket))


def test_a_missing_key_is_404_only_to_who_may_list_the_bucket(
    cloud: LocalCloud, setup: dict[str, Any]
) -> None:
    """API_GetObject.html, Permissions: with s3:ListBucket a missing key is 404 NoSuchKey; without
    it, 403 AccessDenied."""
    bucket, s3 = setup["bucket"], setup["s3"]
    _put(cloud, setup["role"], _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*"))
    message = _s3_denied(lambda: s3.get_object(Bucket=bucket, Key="public/nothing-here"))
    assert f's3:ListBucket on resource: "arn:aws:s3:::{bucket}"' in message
    assert s3.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"a"
    _put(
        cloud,
        setup["role"],
        _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*"),
        _allow("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    )
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="public/nothing-here")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_copy_object_reads_its_source(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """CopyObject needs s3:PutObject on the destination and s3:GetObject on the source."""
    bucket, s3 = setup["bucket"], setup["s3"]
    _put(cloud, setup["role"], _allow("s3:PutObject", f"arn:aws:s3:::{bucket}/public/*"))
    source = {"Bucket": bucket, "Key": "private/b.txt"}
    message = _s3_denied(lambda: s3.copy_object(Bucket=bucket, Key="public/copy.txt", CopySource=source))
    assert f'"arn:aws:s3:::{bucket}/private/b.txt"' in message
    _put(
        cloud,
        setup["role"],
        _allow("s3:PutObject", f"arn:aws:s3:::{bucket}/public/*"),
        _allow("s3:GetObject", f"arn:aws:s3:::{bucket}/private/*"),
    )
    s3.copy_object(Bucket=bucket, Key="public/copy.txt", CopySource=source)


def test_bucket_configuration_and_explicit_deny(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """Subresources have actions of their own (?policy: s3:GetBucketPolicy); a Deny names itself."""
    bucket, s3 = setup["bucket"], setup["s3"]
    deny = {"Effect": "Deny", "Action": "s3:GetBucketPolicy", "Resource": f"arn:aws:s3:::{bucket}"}
    _put(cloud, setup["role"], _allow("s3:*", "*"), deny)
    assert s3.get_bucket_location(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    message = _s3_denied(lambda: s3.get_bucket_policy(Bucket=bucket))
    assert message.endswith(
        f'perform: s3:GetBucketPolicy on resource: "arn:aws:s3:::{bucket}" with an explicit deny in an '
        "identity-based policy"
    )


def test_get_caller_identity_needs_no_permission(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """API_GetCallerIdentity.html: "No permissions are required to perform this operation"."""
    _put(cloud, setup["role"], {"Effect": "Deny", "Action": "*", "Resource": "*"})
    identity = setup["sts"].get_caller_identity()
    assert identity["Arn"] == _principal(setup)


def test_assume_role_needs_sts_assume_role_on_the_target(
    cloud: LocalCloud, setup: dict[str, Any], kit: Kit
) -> None:
    """sts:AssumeRole on the target role's ARN, from the function's role; STS's 403 AccessDenied."""
    trust = _policy({"Effect": "Allow", "Principal": {"AWS": setup["role_arn"]}, "Action": "sts:AssumeRole"})
    target = cloud.client("iam").create_role(RoleName=f"target-{kit.suffix}", AssumeRolePolicyDocument=trust)
    target_arn = target["Role"]["Arn"]
    _put(cloud, setup["role"], _allow("s3:*", "*"))
    with pytest.raises(ClientError) as caught:
        setup["sts"].assume_role(RoleArn=target_arn, RoleSessionName="hop")
    error = caught.value.response
    assert error["Error"]["Code"] == "AccessDenied"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Message"] == (
        f"User: {_principal(setup)} is not authorized to perform: sts:AssumeRole on resource: {target_arn}"
    )
    _put(cloud, setup["role"], _allow("sts:AssumeRole", target_arn))
    hop = setup["sts"].assume_role(RoleArn=target_arn, RoleSessionName="hop")
    assert hop["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/target-{kit.suffix}/hop")


def test_a_role_session_cannot_get_a_session_token(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """id_credentials_temp_request.html: GetSessionToken cannot be called with role session credentials."""
    _put(cloud, setup["role"], _allow("sts:*", "*"))
    with pytest.raises(ClientError) as caught:
        setup["sts"].get_session_token()
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


FUNCTION_SOURCE = """
import boto3


def list_buckets(event, context):
    try:
        names = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    except Exception as exc:
        return {"error": type(exc).__name__, "code": exc.response["Error"]["Code"],
                "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {"buckets": names}
"""


@pytest.mark.slow
def test_a_running_function_listing_buckets_without_permission_is_denied(cloud: LocalCloud, kit: Kit) -> None:
    """Issue 22 item 5, end to end: the function's own boto3 call, with the credentials the runtime
    gives it, is refused until its role allows s3:ListAllMyBuckets."""
    name = f"lister-{kit.suffix}"
    kit.function("app.list_buckets", code=build_zip(FUNCTION_SOURCE), name=name, permission=False, timeout=10)
    role = kit.role_arn.rsplit("/", 1)[-1]
    lam = kit.client("lambda")

    def invoke() -> dict[str, Any]:
        answer = lam.invoke(FunctionName=name, Payload=b"{}")
        result: dict[str, Any] = json.loads(answer["Payload"].read())
        return result

    assert invoke() == {"error": "ClientError", "code": "AccessDenied", "status": 403}
    _put(cloud, role, _allow("s3:ListAllMyBuckets", "*"))
    assert "buckets" in invoke()
