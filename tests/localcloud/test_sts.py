"""STS as the portal relies on it (issue 22, item 6): trust policies, external ids, session durations
and sessions that expire, in the local cloud (``localcloud/sts/sessions.py``).

Pages followed:
- trust policies and who may assume a role:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage-assume.html,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html;
- AssumeRole's DurationSeconds, errors and role chaining:
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html;
- expired and invalid session tokens: https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html,
  https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (ExpiredToken, InvalidToken).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from localcloud_helpers import Kit

from localcloud import LocalCloud
from localcloud.sts import sessions as fidelity_sts

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _trust(principal: Any, **extra: Any) -> str:
    return _doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra})


def _client(cloud: LocalCloud, service: str, creds: dict[str, str], account: str | None = None) -> Any:
    client = boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
    )
    if account is not None:  # moto's header for "this call is made in that account"
        client.meta.events.register(
            "before-sign.*.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account)
        )
    return client


def _user(cloud: LocalCloud, name: str, *statements: dict[str, Any]) -> dict[str, str]:
    iam = cloud.client("iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=_doc(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def _role(cloud: LocalCloud, name: str, trust: str, **extra: Any) -> str:
    arn: str = cloud.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust, **extra)[
        "Role"
    ]["Arn"]
    return arn


def _refused(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    error: dict[str, Any] = caught.value.response
    return error


def _access_denied(call: Any, caller: str, role_arn: str) -> None:
    error = _refused(call)
    assert error["Error"]["Code"] == "AccessDenied", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Message"] == (
        f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )


@pytest.fixture
def scale(cloud: LocalCloud) -> Iterator[LocalCloud]:
    """The session time scale, put back to AWS's timing afterwards (it is process-wide)."""
    try:
        yield cloud
    finally:
        cloud.session_time_scale = 1.0


# -- the trust policy ------------------------------------------------------------------------------
def test_a_trust_policy_naming_a_user_lets_that_user_only(cloud: LocalCloud, kit: Kit) -> None:
    """id_roles_manage-assume.html: the trust policy names who may assume the role."""
    alice = _user(cloud, f"alice-{kit.suffix}")
    bob = _user(cloud, f"bob-{kit.suffix}")
    alice_arn = f"arn:aws:iam::{ACCOUNT}:user/alice-{kit.suffix}"
    role_arn = _role(cloud, f"for-alice-{kit.suffix}", _trust({"AWS": alice_arn}))
    got = _client(cloud, "sts", alice).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert got["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/for-alice-{kit.suffix}/s1"
    bob_sts = _client(cloud, "sts", bob)
    _access_denied(
        lambda: bob_sts.assume_role(RoleArn=role_arn, RoleSessionName="s1"),
        f"arn:aws:iam::{ACCOUNT}:user/bob-{kit.suffix}",
        role_arn,
    )


def test_an_account_principal_also_needs_the_callers_identity_policy(cloud: LocalCloud, kit: Kit) -> None:
    """reference_policies_evaluation-logic-cross-account.html / id_roles_manage-assume.html: a trust
    policy naming the account delegates to the account's identity policies."""
    role_name = f"for-account-{kit.suffix}"
    role_arn = _role(cloud, role_name, _trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    allowed = _user(
        cloud, f"carol-{kit.suffix}", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
    )
    plain = _user(cloud, f"dave-{kit.suffix}", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert _client(cloud, "sts", allowed).assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"]
    _access_denied(
        lambda: _client(cloud, "sts", plain).assume_role(RoleArn=role_arn, RoleSessionName="s1"),
        f"arn:aws:iam::{ACCOUNT}:user/dave-{kit.suffix}",
        role_arn,
    )
    # The local cloud's administrator keys are the account's, with every permission.
    assert cloud.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="admin")["Credentials"]


def test_the_external_id_must_match(cloud: LocalCloud, kit: Kit) -> None:
    """id_roles_create_for-user_externalid.html: Condition StringEquals sts:ExternalId."""
    condition = {"StringEquals": {"sts:ExternalId": "ext-7f3a"}}
    role_arn = _role(cloud, f"third-party-{kit.suffix}", _trust({"AWS": ACCOUNT}, Condition=condition))
    sts = cloud.client("sts")
    root = f"arn:aws:iam::{ACCOUNT}:root"
    _access_denied(lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="s1"), root, role_arn)
    _access_denied(
        lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="wrong"), root, role_arn
    )
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="ext-7f3a")["Credentials"]


def test_a_missing_role_or_a_deny_is_access_denied(cloud: LocalCloud, kit: Kit) -> None:
    """API_AssumeRole.html: the caller must be allowed; moto assumed any ARN, existing or not."""
    sts = cloud.client("sts")
    root = f"arn:aws:iam::{ACCOUNT}:root"
    missing = f"arn:aws:iam::{ACCOUNT}:role/no-such-role-{kit.suffix}"
    _access_denied(lambda: sts.assume_role(RoleArn=missing, RoleSessionName="s1"), root, missing)
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    both = _doc({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}, deny)
    denied = _role(cloud, f"denied-{kit.suffix}", both)
    _access_denied(lambda: sts.assume_role(RoleArn=denied, RoleSessionName="s1"), root, denied)
    service_only = _role(cloud, f"lambda-only-{kit.suffix}", _trust({"Service": "lambda.amazonaws.com"}))
    _access_denied(lambda: sts.assume_role(RoleArn=service_only, RoleSessionName="s1"), root, service_only)


def test_a_role_in_another_account_trusting_ours(cloud: LocalCloud, kit: Kit) -> None:
    """Cross-account: the other account's trust policy AND our identity policy must both allow."""
    admin_there = _client(
        cloud, "iam", {"AccessKeyId": "testing", "SecretAccessKey": "testing"}, OTHER_ACCOUNT
    )
    name = f"deployer-{kit.suffix}"
    user = _user(cloud, f"erin-{kit.suffix}")
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/erin-{kit.suffix}"
    trust = _trust({"AWS": [f"arn:aws:iam::{ACCOUNT}:root", user_arn]})
    role_arn = admin_there.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    assert role_arn == f"arn:aws:iam::{OTHER_ACCOUNT}:role/{name}"

    session = cloud.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="portal")
    creds = session["Credentials"]
    identity = _client(cloud, "sts", creds).get_caller_identity()
    assert identity["Account"] == OTHER_ACCOUNT
    assert identity["Arn"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/{name}/portal"
    # Named by the trust policy, but no identity policy of its own account allows it: denied.
    _access_denied(
        lambda: _client(cloud, "sts", user).assume_role(RoleArn=role_arn, RoleSessionName="s1"),
        user_arn,
        role_arn,
    )


# -- durations ---------------------------------------------------------------------------------------
def test_duration_seconds_is_bounded_by_the_role(cloud: LocalCloud, kit: Kit) -> None:
    """API_AssumeRole.html: DurationSeconds 900 to the role's MaxSessionDuration (ValidationError);
    1 hour at most when a role session assumes a role (role chaining)."""
    role_arn = _role(cloud, f"long-{kit.suffix}", _trust({"AWS": ACCOUNT}), MaxSessionDuration=7200)
    sts = cloud.client("sts", config=Config(parameter_validation=False))  # the server must refuse them
    for duration, message in (
        (899, "Member must have value greater than or equal to 900"),
        (7201, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."),
        (43201, "Member must have value less than or equal to 43200"),
    ):
        error = _refused(
            lambda d=duration: sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=d)
        )
        assert error["Error"]["Code"] == "ValidationError"
        assert message in error["Error"]["Message"]
    before = dt.datetime.now(dt.UTC)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=7200)["Credentials"]
    assert abs((creds["Expiration"] - before).total_seconds() - 7200) < 60

    _put_admin_policy(cloud, f"long-{kit.suffix}")  # the session may assume roles: only the duration is wrong
    chained = _client(cloud, "sts", creds)
    error = _refused(
        lambda: chained.assume_role(RoleArn=role_arn, RoleSessionName="c1", DurationSeconds=7200)
    )
    assert "1 hour session limit for roles assumed by role chaining" in error["Error"]["Message"]


@pytest.mark.heavy
def test_a_session_expires_and_every_service_says_so(scale: LocalCloud, kit: Kit) -> None:
    """Issue 22 item 6: sessions expire after DurationSeconds (time-scaled), and a call with expired
    credentials gets the service's ExpiredToken error (CommonErrors.html; S3's ErrorResponses.html)."""
    cloud = scale
    role_arn = _role(cloud, f"short-{kit.suffix}", _trust({"AWS": ACCOUNT}))
    _put_admin_policy(cloud, f"short-{kit.suffix}")
    cloud.session_time_scale = 0.002  # 900 s -> 1.8 s
    before = dt.datetime.now(dt.UTC)
    creds = cloud.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=900)[
        "Credentials"
    ]
    lifetime = (creds["Expiration"] - before).total_seconds()
    assert 0.5 < lifetime < 3.0, lifetime
    sts, s3, ddb, lam = (_client(cloud, s, creds) for s in ("sts", "s3", "dynamodb", "lambda"))
    assert sts.get_caller_identity()["Arn"].endswith(f"assumed-role/short-{kit.suffix}/s1")
    s3.list_buckets()
    time.sleep(max(0.0, (creds["Expiration"] - dt.datetime.now(dt.UTC)).total_seconds()) + 0.3)

    error = _refused(sts.get_caller_identity)
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ExpiredToken", 400)
    assert error["Error"]["Message"] == "The security token included in the request is expired"
    error = _refused(s3.list_buckets)
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ExpiredToken", 400)
    assert error["Error"]["Message"] == "The provided token has expired."
    error = _refused(ddb.list_tables)
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ExpiredTokenException",
        400,
    )
    error = _refused(lam.list_functions)
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ExpiredTokenException",
        403,
    )
    # The plain test credentials are no session: unaffected.
    assert cloud.client("sts").get_caller_identity()["Account"] == ACCOUNT


def _put_admin_policy(cloud: LocalCloud, role: str) -> None:
    cloud.client("iam").put_role_policy(
        RoleName=role,
        PolicyName="all",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    )


def test_a_session_key_needs_its_own_token(cloud: LocalCloud, kit: Kit) -> None:
    """CommonErrors.html: InvalidClientTokenId (403) "The security token included in the request is
    invalid"."""
    role_arn = _role(cloud, f"token-{kit.suffix}", _trust({"AWS": ACCOUNT}))
    creds = dict(cloud.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"])
    creds["SessionToken"] = "FQoGZXIvYXdzEBYaD" + "x" * 40
    error = _refused(_client(cloud, "sts", creds).get_caller_identity)
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "InvalidClientTokenId",
        403,
    )
    assert error["Error"]["Message"] == "The security token included in the request is invalid."
    error = _refused(_client(cloud, "dynamodb", creds).list_tables)
    assert error["Error"]["Code"] == "UnrecognizedClientException"


@pytest.mark.parametrize("bad", [0, -1, 1.5, "fast", float("nan")])
def test_the_session_time_scale_is_checked(bad: Any) -> None:
    """A hostile time scale is refused with what is allowed, before anything runs."""
    with pytest.raises(ValueError, match="greater than 0 and at most 1"):
        fidelity_sts.parse_time_scale(bad)
    with pytest.raises(ValueError, match="session_time_scale"):
        LocalCloud(port=0, session_time_scale=bad)


def test_hostile_assume_role_parameters_are_validation_errors(cloud: LocalCloud, kit: Kit) -> None:
    """API_AssumeRole.html's constraints (RoleSessionName 2-64 of [\\w+=,.@-], ExternalId 2-1224,
    RoleArn 20-2048, DurationSeconds a number) are refused with ValidationError before any policy is
    read; nothing reaches the trust check or moto."""
    role_arn = _role(cloud, f"hostile-{kit.suffix}", _trust({"AWS": ACCOUNT}))
    sts = cloud.client("sts", config=Config(parameter_validation=False))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"RoleSessionName": "x" * 65}, "'roleSessionName'"),
        ({"RoleSessionName": "a b<script>"}, "regular expression pattern"),
        ({"ExternalId": "e" * 5000}, "Member must have length less than or equal to 1224"),
        ({"ExternalId": "x"}, "greater than or equal to 2"),
        ({"RoleArn": "r" * 3000}, "'roleArn'"),
        ({"DurationSeconds": "9" * 40}, "'durationSeconds'"),
    ]
    for override, expected in cases:
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "s1", **override}
        error = _refused(lambda p=params: sts.assume_role(**p))
        assert error["Error"]["Code"] == "ValidationError", (override, error)
        assert expected in error["Error"]["Message"], (override, error["Error"]["Message"])
        assert len(error["Error"]["Message"]) < 400  # the value is cut, not echoed whole
    # A trust policy that is not JSON allows nobody.
    broken = _role(cloud, f"broken-{kit.suffix}", "{not json")
    root = f"arn:aws:iam::{ACCOUNT}:root"
    _access_denied(
        lambda: cloud.client("sts").assume_role(RoleArn=broken, RoleSessionName="s1"), root, broken
    )
