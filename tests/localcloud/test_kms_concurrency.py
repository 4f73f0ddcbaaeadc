"""KMS answers requests that overlap (fix ``kms-concurrent-requests``).

A service makes its AWS managed key on first use
(https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-cmk): DynamoDB's
CreateTable with server-side encryption and no key of its own adds ``alias/aws/dynamodb``. In moto a
request walking the key table meanwhile (ListAliases, a lookup by alias) failed with
"dictionary changed size during iteration"; the engine met it converging an environment's KMS key and
its table at once. AWS answers both; a read may not see a key made meanwhile
(https://docs.aws.amazon.com/kms/latest/developerguide/accessing-kms.html, "Eventual consistency").
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.kms.models import kms_backends

from localcloud import fidelity

REGION = "us-east-1"


@pytest.fixture
def kms() -> Iterator[object]:
    fidelity.apply()
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


def test_a_key_made_while_the_aliases_are_walked_ends_neither_request(kms: object) -> None:
    client = boto3.client("kms", region_name=REGION)
    for name in ("alias/envport-one", "alias/envport-two"):
        client.create_alias(AliasName=name, TargetKeyId=client.create_key()["KeyMetadata"]["KeyId"])
    backend = kms_backends[DEFAULT_ACCOUNT_ID][REGION]
    walk = backend.list_aliases()  # moto's ListAliases, paused after the first key's alias
    first = next(walk)
    # Another request meanwhile: DynamoDB makes the AWS managed key alias/aws/dynamodb.
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="sse",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS"},
    )
    rest = list(walk)  # moto raised RuntimeError here
    assert {first.alias_name, *(alias.alias_name for alias in rest)} >= {
        "alias/envport-one",
        "alias/envport-two",
    }
    names = {a["AliasName"] for a in client.list_aliases()["Aliases"]}
    assert {"alias/envport-one", "alias/envport-two", "alias/aws/dynamodb"} <= names


def test_the_key_table_is_still_a_table(kms: object) -> None:
    """Every other use of it is unchanged: lookups, deletion, listing, a reset."""
    client = boto3.client("kms", region_name=REGION)
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName="alias/envport-kept", TargetKeyId=key_id)
    assert client.describe_key(KeyId="alias/envport-kept")["KeyMetadata"]["KeyId"] == key_id
    client.delete_alias(AliasName="alias/envport-kept")
    assert "alias/envport-kept" not in {a["AliasName"] for a in client.list_aliases()["Aliases"]}
    assert [k["KeyId"] for k in client.list_keys()["Keys"]] == [key_id]
    backend = kms_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.reset()
    assert type(backend.keys).__name__ == "SnapshotDict" and not backend.keys
