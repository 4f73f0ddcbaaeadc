"""IAM, enforced for the function (issue 10, section 1): the evaluator, and the request path.

The evaluator tests follow AWS's policy evaluation logic
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html) and
the Action/Resource/Condition element pages; the request-path tests follow the access denied
message forms of https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
and DynamoDB's resource ARNs per operation
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
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
from localcloud.iam.policy import evaluate, wildcard_match

ACCOUNT = "123456789012"  # moto's default account
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/items"
INDEX = f"{TABLE}/index/byCreatedAt"


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _deny(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# -- the evaluator ----------------------------------------------------------------------------------
def test_wildcards_are_star_and_question_mark_only() -> None:
    """reference_policies_elements_action.html / _resource.html: ``*`` and ``?``, no classes."""
    assert wildcard_match("dynamodb:*Item", "dynamodb:GetItem")
    assert wildcard_match("table/item?", "table/items")
    assert not wildcard_match("table/item?", "table/item")
    assert not wildcard_match("table/[ab]", "table/a")
    assert wildcard_match("table/[ab]", "table/[ab]")


def test_actions_match_case_insensitively_resources_exactly() -> None:
    policies = [_policy(_allow("DynamoDB:getitem", TABLE))]
    assert evaluate(policies, "dynamodb:GetItem", TABLE).allowed
    assert not evaluate(policies, "dynamodb:GetItem", TABLE.upper()).allowed


def test_no_statement_is_an_implicit_deny() -> None:
    """reference_policies_evaluation-logic.html: denied by default."""
    result = evaluate([_policy(_allow("dynamodb:GetItem", TABLE))], "dynamodb:Query", INDEX)
    assert result.decision == "implicit_deny"
    assert evaluate([], "dynamodb:GetItem", TABLE).decision == "implicit_deny"


def test_an_explicit_deny_wins_over_any_allow() -> None:
    policies = [_policy(_allow("dynamodb:*", "*")), _policy(_deny("dynamodb:Query", f"{TABLE}/index/*"))]
    assert evaluate(policies, "dynamodb:Query", INDEX).decision == "explicit_deny"
    assert evaluate(policies, "dynamodb:Query", TABLE).allowed


def test_the_table_arn_does_not_cover_its_index() -> None:
    """A Query on an index is authorized on ``table/T/index/I``, which the table ARN does not match."""
    policies = [_policy(_allow("dynamodb:Query", TABLE))]
    assert evaluate(policies, "dynamodb:Query", TABLE).allowed
    assert not evaluate(policies, "dynamodb:Query", INDEX).allowed
    assert evaluate([_policy(_allow("dynamodb:Query", f"{TABLE}/index/*"))], "dynamodb:Query", INDEX).allowed


def test_not_action_and_not_resource() -> None:
    policies = [_policy({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "NotResource": INDEX})]
    assert evaluate(policies, "dynamodb:GetItem", TABLE).allowed
    assert not evaluate(policies, "dynamodb:DeleteItem", TABLE).allowed
    assert not evaluate(policies, "dynamodb:GetItem", INDEX).allowed


def test_string_and_arn_conditions_with_if_exists() -> None:
    """reference_policies_elements_condition_operators.html: a missing key fails a positive
    operator, passes a negated one, and passes anything with IfExists."""
    region = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    policies = [_policy(_allow("dynamodb:GetItem", TABLE, Condition=region))]
    assert evaluate(policies, "dynamodb:GetItem", TABLE, {"aws:RequestedRegion": "eu-west-1"}).allowed
    assert not evaluate(policies, "dynamodb:GetItem", TABLE, {"aws:RequestedRegion": "us-east-1"}).allowed
    assert not evaluate(policies, "dynamodb:GetItem", TABLE, {}).allowed

    arn = {"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:execute-api:*:123456789012:*"}}
    policies = [_policy(_allow("dynamodb:GetItem", TABLE, Condition=arn))]
    assert evaluate(policies, "dynamodb:GetItem", TABLE, {}).allowed
    src = "arn:aws:execute-api:us-east-1:123456789012:abc/dev/GET/items"
    assert evaluate(policies, "dynamodb:GetItem", TABLE, {"aws:SourceArn": src}).allowed
    other = "arn:aws:execute-api:us-east-1:999999999999:abc/dev/GET/items"
    assert not evaluate(policies, "dynamodb:GetItem", TABLE, {"aws:SourceArn": other}).allowed

    like = {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app-*"}}
    policies = [_policy(_allow("dynamodb:GetItem", TABLE, Condition=like))]
    ctx = {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app-fn"}
    assert evaluate(policies, "dynamodb:GetItem", TABLE, ctx).allowed


def test_a_conditional_deny_applies_only_when_its_condition_holds() -> None:
    """moto treats every condition as true (moto-5.2.5-next.md item 4); AWS does not."""
    deny = _deny("dynamodb:PutItem", "*", Condition={"Bool": {"aws:SecureTransport": "false"}})
    policies = [_policy(_allow("dynamodb:PutItem", TABLE), deny)]
    assert evaluate(policies, "dynamodb:PutItem", TABLE, {"aws:SecureTransport": "true"}).allowed
    result = evaluate(policies, "dynamodb:PutItem", TABLE, {"aws:SecureTransport": "false"})
    assert result.decision == "explicit_deny"


def test_an_unmodelled_condition_operator_is_deny_safe() -> None:
    """NumericLessThan is not modelled: an Allow with it does not grant, a Deny with it applies."""
    unknown = {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}
    assert not evaluate(
        [_policy(_allow("dynamodb:GetItem", TABLE, Condition=unknown))], "dynamodb:GetItem", TABLE
    ).allowed
    policies = [
        _policy(_allow("dynamodb:GetItem", TABLE), _deny("dynamodb:GetItem", TABLE, Condition=unknown))
    ]
    assert evaluate(policies, "dynamodb:GetItem", TABLE).decision == "explicit_deny"


# -- the request path -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def setup(cloud: LocalCloud, kit: Kit) -> dict[str, Any]:
    ddb = cloud.client("dynamodb")
    name = f"iam-{kit.suffix}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "k", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byK",
                "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    role = f"iam-role-{kit.suffix}"
    role_arn = cloud.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    creds = function_credentials(ACCOUNT, cloud.region, role_arn, "fn-under-test")
    client = boto3.client(
        "dynamodb",
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )
    return {"table": name, "arn": arn, "role": role, "client": client}


def _put_policy(cloud: LocalCloud, role: str, *statements: dict[str, Any]) -> None:
    cloud.client("iam").put_role_policy(
        RoleName=role, PolicyName="access", PolicyDocument=json.dumps(_policy(*statements))
    )


def _denied(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    assert error["Error"]["Code"] == "AccessDeniedException", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Error"]["Message"])


@pytest.mark.heavy
def test_a_function_session_is_denied_with_aws_error_shape(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    _put_policy(cloud, setup["role"], _allow(["dynamodb:GetItem", "dynamodb:PutItem"], setup["arn"]))
    client, table = setup["client"], setup["table"]
    client.put_item(TableName=table, Item={"id": {"S": "a"}, "k": {"S": "x"}})
    assert client.get_item(TableName=table, Key={"id": {"S": "a"}})["Item"]["k"] == {"S": "x"}

    message = _denied(
        lambda: client.query(
            TableName=table,
            IndexName="byK",
            KeyConditionExpression="k = :k",
            ExpressionAttributeValues={":k": {"S": "x"}},
        )
    )
    assert message == (
        f"User: arn:aws:sts::123456789012:assumed-role/{setup['role']}/fn-under-test is not authorized to "
        f"perform: dynamodb:Query on resource: {setup['arn']}/index/byK because no identity-based policy "
        "allows the dynamodb:Query action"
    )


def test_an_explicit_deny_names_itself(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    _put_policy(cloud, setup["role"], _allow("dynamodb:*", "*"), _deny("dynamodb:DeleteItem", setup["arn"]))
    client, table = setup["client"], setup["table"]
    # The item the refused delete would remove (an earlier test may have written it already).
    client.put_item(TableName=table, Item={"id": {"S": "a"}, "k": {"S": "x"}})
    message = _denied(lambda: client.delete_item(TableName=table, Key={"id": {"S": "a"}}))
    assert message.endswith(
        f"dynamodb:DeleteItem on resource: {setup['arn']} with an explicit deny in an identity-based policy"
    )
    assert client.scan(TableName=table)["Count"] >= 1


def test_batch_and_transact_writes_are_authorized_per_table(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    _put_policy(cloud, setup["role"], _allow(["dynamodb:PutItem"], setup["arn"]))
    client, table = setup["client"], setup["table"]
    item = {"id": {"S": "b"}, "k": {"S": "y"}}
    client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item}}])
    assert "dynamodb:BatchWriteItem" in _denied(
        lambda: client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}]})
    )
    assert "dynamodb:DeleteItem" in _denied(
        lambda: client.transact_write_items(
            TransactItems=[{"Delete": {"TableName": table, "Key": {"id": {"S": "b"}}}}]
        )
    )


def test_a_policy_edit_takes_effect_on_the_next_call(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    client, table = setup["client"], setup["table"]
    _put_policy(cloud, setup["role"], _allow("dynamodb:Scan", setup["arn"]))
    client.scan(TableName=table)
    _put_policy(cloud, setup["role"], _allow("dynamodb:GetItem", setup["arn"]))
    assert "dynamodb:Scan" in _denied(lambda: client.scan(TableName=table))


def test_administrator_calls_are_not_evaluated(cloud: LocalCloud, setup: dict[str, Any]) -> None:
    """The engine's own calls (the local cloud's admin keys) are the account administrator's."""
    _put_policy(cloud, setup["role"], _deny("*", "*"))
    admin = cloud.client("dynamodb")
    assert admin.scan(TableName=setup["table"])["Count"] >= 1
    assert "dynamodb:Scan" in _denied(lambda: setup["client"].scan(TableName=setup["table"]))


# -- KMS: the key inside the ciphertext ----------------------------------------------------------
def test_decrypt_without_key_id_is_authorized_on_the_key_the_ciphertext_names(
    cloud: LocalCloud, setup: dict[str, Any]
) -> None:
    """KMS Decrypt (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html): KeyId is
    optional for a symmetric key, KMS takes the key from the ciphertext, and the caller needs
    kms:Decrypt on *that* key; ReEncrypt needs kms:ReEncryptFrom on the source key and kms:ReEncryptTo
    on the destination (https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html)."""
    admin = cloud.client("kms")
    mine = admin.create_key(Description="allowed")["KeyMetadata"]["Arn"]
    other = admin.create_key(Description="not allowed")["KeyMetadata"]["Arn"]
    blob_mine = admin.encrypt(KeyId=mine, Plaintext=b"mine")["CiphertextBlob"]
    blob_other = admin.encrypt(KeyId=other, Plaintext=b"other")["CiphertextBlob"]
    _put_policy(cloud, setup["role"], _allow("kms:Decrypt", mine))
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{setup['role']}"
    creds = function_credentials(ACCOUNT, cloud.region, role_arn, "fn-kms")
    kms = boto3.client(
        "kms",
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )

    assert kms.decrypt(CiphertextBlob=blob_mine)["Plaintext"] == b"mine"
    message = _denied(lambda: kms.decrypt(CiphertextBlob=blob_other))
    assert message.endswith(
        f"kms:Decrypt on resource: {other} because no identity-based policy allows the kms:Decrypt action"
    )

    assert f"kms:ReEncryptFrom on resource: {mine}" in _denied(
        lambda: kms.re_encrypt(CiphertextBlob=blob_mine, DestinationKeyId=other)
    )
    _put_policy(cloud, setup["role"], _allow("kms:ReEncryptFrom", mine))
    assert f"kms:ReEncryptTo on resource: {other}" in _denied(
        lambda: kms.re_encrypt(CiphertextBlob=blob_mine, DestinationKeyId=other)
    )
    _put_policy(cloud, setup["role"], _allow("kms:ReEncryptFrom", mine), _allow("kms:ReEncryptTo", other))
    moved = kms.re_encrypt(CiphertextBlob=blob_mine, DestinationKeyId=other)["CiphertextBlob"]
    assert admin.decrypt(CiphertextBlob=moved)["Plaintext"] == b"mine"
