"""IAM for the function's Secrets Manager calls: evaluated against its role, on the secret's ARN.

A TOKEN authorizer reads its signing key from Secrets Manager; on AWS that call needs
``secretsmanager:GetSecretValue`` on the secret's full ARN (with its random six-character suffix)
in the function's role (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html,
https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import Kit

from localcloud import LocalCloud
from localcloud.iam.enforcement import function_credentials

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def setup(cloud: LocalCloud, kit: Kit) -> dict[str, Any]:
    name = f"signing-key-{kit.suffix}"
    arn = cloud.client("secretsmanager").create_secret(Name=name, SecretString="s3cret")["ARN"]
    role = f"secrets-role-{kit.suffix}"
    role_arn = cloud.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    creds = function_credentials(ACCOUNT, cloud.region, role_arn, "authorizer-fn")
    client = boto3.client(
        "secretsmanager",
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )
    return {"name": name, "arn": arn, "role": role, "client": client}


def _policy(cloud: LocalCloud, role: str, *statements: dict[str, Any]) -> None:
    cloud.client("iam").put_role_policy(
        RoleName=role,
        PolicyName="secrets",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    )


def _denied(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "AccessDeniedException",
        400,
    )
    return str(error["Error"]["Message"])


# R-AUTH-1
def test_get_secret_value_needs_the_secrets_arn_in_the_role(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """GetSecretValue by name is authorized on the secret's full ARN; DescribeSecret is its own action."""
    client, name, arn = setup["client"], setup["name"], setup["arn"]
    _policy(
        cloud, setup["role"], {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}
    )
    assert client.get_secret_value(SecretId=name)["SecretString"] == "s3cret"
    assert client.get_secret_value(SecretId=arn)["SecretString"] == "s3cret"
    message = _denied(lambda: client.describe_secret(SecretId=name))
    assert message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{setup['role']}/authorizer-fn is not authorized to "
        f"perform: secretsmanager:DescribeSecret on resource: {arn} because no identity-based policy "
        "allows the secretsmanager:DescribeSecret action"
    )


def test_a_policy_on_the_name_without_its_suffix_does_not_match(
    cloud: LocalCloud, setup: dict[str, Any]
) -> None:
    """The ARN ends in a random suffix: ``secret:NAME`` alone matches nothing, ``secret:NAME-??????``
    does (auth-and-access_examples.html)."""
    client, name = setup["client"], setup["name"]
    bare = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}"
    _policy(
        cloud, setup["role"], {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": bare}
    )
    assert "secretsmanager:GetSecretValue" in _denied(lambda: client.get_secret_value(SecretId=name))
    _policy(
        cloud,
        setup["role"],
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": f"{bare}-??????"},
    )
    assert client.get_secret_value(SecretId=name)["SecretString"] == "s3cret"


def test_an_explicit_deny_and_the_administrator(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """An explicit Deny wins; the local cloud's administrator credentials are not evaluated."""
    client, name, arn = setup["client"], setup["name"], setup["arn"]
    _policy(
        cloud,
        setup["role"],
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": arn},
    )
    assert _denied(lambda: client.get_secret_value(SecretId=name)).endswith(
        "with an explicit deny in an identity-based policy"
    )
    assert client.describe_secret(SecretId=name)["ARN"] == arn
    assert cloud.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == "s3cret"
