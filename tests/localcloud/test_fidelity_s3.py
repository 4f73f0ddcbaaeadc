"""S3 bucket policies answer like AWS (localcloud/s3/policy.py), in decorator mode and in server mode: a
conditional Deny applies only when its condition holds, and a malformed policy is refused when it is put.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import fidelity
from localcloud.s3 import policy as s3_policy

REGION = "us-east-1"
NO_RETRY = Config(retries={"total_max_attempts": 1})
ClientFactory = Callable[[str], object]


@pytest.fixture(params=["decorator", "server"])
def client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    fidelity.apply()
    monkeypatch.delenv(s3_policy.SECURE_TRANSPORT_ENV, raising=False)
    if request.param == "server":
        url = request.getfixturevalue("moto_server")
        yield lambda service: boto3.client(service, region_name=REGION, endpoint_url=url, config=NO_RETRY)
    else:
        with mock_aws():
            yield lambda service: boto3.client(service, region_name=REGION, config=NO_RETRY)


_buckets = iter(range(10**6))


def bucket(s3) -> str:
    name = f"policy-r2-{next(_buckets)}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="pre", Body=b"x")
    return name


def tls_only(name: str) -> str:
    """The TLS-only statement of envport's artifact bucket, as S3's documentation writes it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def denied(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_fixes_are_registered() -> None:
    assert {"s3-bucket-policy-conditions", "s3-put-bucket-policy-malformed"} <= {
        f.name for f in fidelity.FIXES
    }


def test_tls_only_policy_allows_secure_requests(client: ClientFactory) -> None:
    """The TLS-only policy ("Deny s3:* if aws:SecureTransport is false",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit) leaves
    HTTPS requests alone. The local cloud stands in for S3's HTTPS endpoint, so aws:SecureTransport is
    true by default and every object call works."""
    # R-REL-1
    s3 = client("s3")
    name = bucket(s3)
    s3.put_bucket_policy(Bucket=name, Policy=tls_only(name))

    s3.put_object(Bucket=name, Key="artifact.zip", Body=b"zip")
    assert s3.get_object(Bucket=name, Key="artifact.zip")["Body"].read() == b"zip"
    assert s3.head_object(Bucket=name, Key="pre")["ContentLength"] == 1
    s3.copy_object(Bucket=name, Key="copy", CopySource={"Bucket": name, "Key": "pre"})
    assert s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "copy"}]}).get("Errors", []) == []
    s3.delete_object(Bucket=name, Key="pre")
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) == json.loads(tls_only(name))


def test_tls_only_policy_denies_plain_http_requests(
    client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With LOCALCLOUD_S3_SECURE_TRANSPORT=false requests count as plain HTTP, and the same policy denies
    every object call with 403 AccessDenied, as S3 does (https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-bucket-policies.html)."""
    s3 = client("s3")
    name = bucket(s3)
    s3.put_bucket_policy(Bucket=name, Policy=tls_only(name))
    monkeypatch.setenv(s3_policy.SECURE_TRANSPORT_ENV, "false")

    assert denied(lambda: s3.put_object(Bucket=name, Key="new", Body=b"y")) == ("AccessDenied", 403)
    assert denied(lambda: s3.get_object(Bucket=name, Key="pre")) == ("AccessDenied", 403)
    assert denied(lambda: s3.head_object(Bucket=name, Key="pre"))[1] == 403  # HEAD has no error body
    errors = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "pre"}]})["Errors"]
    assert [(e["Key"], e["Code"]) for e in errors] == [("pre", "AccessDenied")]

    monkeypatch.setenv(s3_policy.SECURE_TRANSPORT_ENV, "true")
    assert s3.get_object(Bucket=name, Key="pre")["Body"].read() == b"x"


def test_unconditional_and_absent_key_statements(client: ClientFactory) -> None:
    """A statement without Condition always applies. A condition on a key absent from the request context
    does not match, except negated operators and ...IfExists, which then match
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)."""
    s3 = client("s3")
    name = bucket(s3)
    for key in ("secret/a", "vpce/a", "notvpce/a", "mfa/a"):
        s3.put_object(Bucket=name, Key=key, Body=b"z")

    def deny(prefix: str, condition: dict | None = None) -> dict:
        statement = {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{name}/{prefix}/*",
        }
        return {**statement, "Condition": condition} if condition else statement

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            deny("secret"),
            deny("vpce", {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
            deny("notvpce", {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
            deny("mfa", {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
        ],
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))

    assert denied(lambda: s3.get_object(Bucket=name, Key="secret/a")) == ("AccessDenied", 403)
    assert s3.get_object(Bucket=name, Key="vpce/a")["Body"].read() == b"z"
    assert denied(lambda: s3.get_object(Bucket=name, Key="notvpce/a")) == ("AccessDenied", 403)
    assert denied(lambda: s3.get_object(Bucket=name, Key="mfa/a")) == ("AccessDenied", 403)
    assert s3.get_object(Bucket=name, Key="pre")["Body"].read() == b"x"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "Policies must be valid JSON and the first byte must be '{'"),
        ('[{"Effect": "Deny"}]', "Policies must be valid JSON and the first byte must be '{'"),
        ('{"Version": "2012-10-17"}', "Missing required field Statement"),
        ('{"Version": "2012-10-17", "Statement": []}', "Could not parse the policy: Statement is empty!"),
    ],
)
def test_malformed_policy_is_refused_when_put(client: ClientFactory, document: str, message: str) -> None:
    """PutBucketPolicy refuses a document S3 cannot parse with 400 MalformedPolicy
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketPolicy.html,
    https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html); the bucket keeps working."""
    s3 = client("s3")
    name = bucket(s3)

    with pytest.raises(ClientError) as raised:
        s3.put_bucket_policy(Bucket=name, Policy=document)

    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("MalformedPolicy", 400)
    assert error["Error"]["Message"] == message
    assert denied(lambda: s3.get_bucket_policy(Bucket=name)) == ("NoSuchBucketPolicy", 404)
    assert s3.get_object(Bucket=name, Key="pre")["Body"].read() == b"x"


def test_condition_evaluation_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Operators AND, keys AND, values OR; the rules of the IAM condition operators page
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)."""
    holds = s3_policy.condition_holds
    secure = {"aws:securetransport": "true"}
    assert holds({"Bool": {"aws:SecureTransport": "true"}}, secure)
    assert holds({"Bool": {"aws:SecureTransport": True}}, secure)
    assert not holds({"Bool": {"aws:SecureTransport": "false"}}, secure)
    assert holds({"Bool": {"aws:SecureTransport": ["false", "true"]}}, secure)
    assert not holds({"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceIp": "x"}}, secure)
    assert holds({"Null": {"aws:SourceIp": "true"}}, secure)
    assert not holds({"Null": {"aws:SecureTransport": "true"}}, secure)
    assert holds({"StringNotLike": {"aws:SecureTransport": ["f*"]}}, secure)
    assert not holds({"StringNotLike": {"aws:SecureTransport": ["f*", "t*"]}}, secure)
    assert holds({"ForAnyValue:StringLike": {"aws:SecureTransport": "tr?e"}}, secure)
    monkeypatch.delenv(s3_policy.SECURE_TRANSPORT_ENV, raising=False)
    assert s3_policy.request_context() == {"aws:securetransport": "true"}
    monkeypatch.setenv(s3_policy.SECURE_TRANSPORT_ENV, "false")
    assert s3_policy.request_context() == {"aws:securetransport": "false"}
