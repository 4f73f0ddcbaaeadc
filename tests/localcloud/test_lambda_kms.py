"""A function's environment variables under a customer managed key (KMSKeyArn): Lambda must be able
to decrypt them, or Invoke fails before the function runs.

Securing Lambda environment variables
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html): Lambda decrypts
them through a grant made with the configuring user's permissions, not with the execution role; the
Invoke API (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html) lists the 502 errors when it
cannot: KMSNotFoundException, KMSDisabledException, KMSInvalidStateException."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import build_zip

pytestmark = pytest.mark.slow  # the function runs in a worker

SOURCE = """
import os


def read(event, context):
    return {"secret": os.environ["SECRET"]}
"""


def _invoke_error(lam, name: str) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, Payload=b"{}")
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def test_invoke_fails_with_lambdas_kms_errors_when_the_environment_key_is_unusable(kit):
    lam, kms = kit.client("lambda"), kit.client("kms")
    meta = kms.create_key(Description="function environment")["KeyMetadata"]
    key, key_id = meta["Arn"], meta["KeyId"]  # moto 5.2.5's DisableKey/EnableKey take the id, not the ARN
    fn = kit.function("app.read", code=build_zip(SOURCE), env={"SECRET": "s3cr3t"})
    name = fn["FunctionName"]
    # The execution role has no KMS permission at all: Lambda, not the role, decrypts the variables.
    lam.update_function_configuration(FunctionName=name, KMSKeyArn=key)
    assert lam.get_function_configuration(FunctionName=name)["KMSKeyArn"] == key
    ok = lam.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(ok["Payload"].read()) == {"secret": "s3cr3t"}

    kms.disable_key(KeyId=key_id)
    code, status, message = _invoke_error(lam, name)
    assert (code, status) == ("KMSDisabledException", 502)
    assert "because the KMS key used is disabled" in message

    kms.enable_key(KeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    code, status, message = _invoke_error(lam, name)
    assert (code, status) == ("KMSInvalidStateException", 502)
    assert "not valid for Decrypt" in message

    missing = key.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    lam.update_function_configuration(FunctionName=name, KMSKeyArn=missing)
    code, status, _ = _invoke_error(lam, name)
    assert (code, status) == ("KMSNotFoundException", 502)

    lam.update_function_configuration(FunctionName=name, KMSKeyArn="")  # back to Lambda's own key
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()) == {"secret": "s3cr3t"}
