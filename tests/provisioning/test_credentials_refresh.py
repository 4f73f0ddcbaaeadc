"""The portal renews a target account's session ahead of its expiry in runs longer than a session
(issue 22, item 6), against the local cloud, whose sessions expire as STS's do
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html: DurationSeconds, and
ExpiredToken after it) and whose trust policy checks the external id
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html).

The local cloud's session time scale makes the shortest session STS allows (900 s) last 9 s, so a run
of a dozen seconds outlives it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import LocalCloud
from localcloud.sts import sessions as fidelity_sts
from provisioning.aws import ADVISORY_MAX_S, MANDATORY_MAX_S, AwsClients, AwsTarget, RoleSession
from provisioning.engine import Engine
from provisioning.spec import EnvironmentSpec, build_spec

SCALE = 0.01  # 900 s -> 9 s
EXTERNAL_ID = "envport-7c1d"
ROLE = "envport-target-deployer"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, session_time_scale=SCALE) as running:
        try:
            yield running
        finally:
            fidelity_sts.set_session_time_scale(1.0)


@pytest.fixture(scope="module")
def role_arn(cloud: LocalCloud) -> str:
    """The target account's role: trusts the portal's account with its external id; may do anything."""
    iam = cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
            }
        ],
    }
    arn: str = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=ROLE, PolicyName="deploy", PolicyDocument=json.dumps(admin))
    return arn


@pytest.fixture
def spec() -> EnvironmentSpec:
    return build_spec(suffix="sess1", stage="dev", region="us-east-1", owner="team-a", cost_centre="cc-42")


def _target(cloud: LocalCloud, role_arn: str, external_id: str = EXTERNAL_ID) -> AwsTarget:
    return AwsTarget(
        region=cloud.region,
        endpoint_url=cloud.endpoint_url,
        role_arn=role_arn,
        external_id=external_id,
        session_duration_s=900,
        max_attempts=1,  # an ExpiredToken must surface, not be retried away
        execute_api_url_template=cloud.stage_url_template,
    )


def _slow_calls(seconds: float) -> tuple[str, Any, bool]:
    """A hook that makes every request take `seconds` longer: a long run, as a fleet's is."""

    def wait(**_: Any) -> None:
        time.sleep(seconds)

    return ("before-send.*.*", wait, False)


@pytest.mark.slow
def test_a_run_longer_than_its_session_succeeds_because_the_session_is_renewed(
    cloud: LocalCloud, role_arn: str, spec: EnvironmentSpec
) -> None:
    """Issue 22 item 6: plans, one after another, for longer than the 900 s (here 9 s) session."""
    clients = AwsClients(_target(cloud, role_arn), hooks=(_slow_calls(0.1),))
    identity = clients.client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{ROLE}/envport"
    session = clients._role_session
    assert session is not None
    expires = session.credentials._expiry_time
    lifetime = (expires - dt.datetime.now(dt.UTC)).total_seconds()
    assert 3 < lifetime <= 9.5, lifetime

    started = time.monotonic()
    runs = 0
    while time.monotonic() - started < lifetime + 4:  # well past the first session's end
        result = Engine(spec, clients=clients, workers=2).plan()
        assert result.ok, result.error
        runs += 1
    assert dt.datetime.now(dt.UTC) > expires  # the first session is over, the run went on
    assert session.refreshes >= 1
    assert clients.client("sts").get_caller_identity()["Arn"] == identity["Arn"]
    assert clients.identity() == {
        "account": "123456789012",
        "role_arn": role_arn,
        "session_arn": f"arn:aws:sts::123456789012:assumed-role/{ROLE}/envport",
    }
    assert runs >= 1


@pytest.mark.slow
def test_without_the_refresh_the_same_call_gets_expired_token(
    cloud: LocalCloud, role_arn: str, spec: EnvironmentSpec
) -> None:
    """Issue 22 item 6: the session taken once and kept (the portal before the refresh) is refused
    with ExpiredToken as soon as it is over."""
    sts = boto3.client("sts", endpoint_url=cloud.endpoint_url, region_name=cloud.region)
    creds = sts.assume_role(
        RoleArn=role_arn, RoleSessionName="envport", ExternalId=EXTERNAL_ID, DurationSeconds=900
    )["Credentials"]
    static = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=cloud.region,
    )
    clients = AwsClients(_target(cloud, role_arn), session=static)
    assert Engine(spec, clients=clients, workers=2).plan().ok
    time.sleep(max(0.0, (creds["Expiration"] - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
    with pytest.raises(ClientError) as caught:
        clients.client("dynamodb").describe_table(TableName=spec.names.table)
    assert caught.value.response["Error"]["Code"] == "ExpiredTokenException"
    result = Engine(spec, clients=clients, workers=2).plan()
    assert not result.ok and "expired" in (result.error or "").lower()


@pytest.mark.slow
def test_the_external_id_is_what_the_trust_policy_asks(cloud: LocalCloud, role_arn: str) -> None:
    """A target with another external id is refused at its first AssumeRole, with STS's message."""
    clients = AwsClients(_target(cloud, role_arn, external_id="not-it"))
    with pytest.raises(ClientError) as caught:
        clients.client("s3")
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert f"sts:AssumeRole on resource: {role_arn}" in caught.value.response["Error"]["Message"]


class _FakeSts:
    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self.calls: list[dict[str, Any]] = []

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.lifetime_s)
        creds = {"AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expiry}
        return {"Credentials": creds, "AssumedRoleUser": {"Arn": "arn:aws:sts::1:assumed-role/r/envport"}}


@pytest.mark.parametrize(
    ("lifetime", "advisory", "mandatory"),
    [(3600, ADVISORY_MAX_S, 540), (43200, ADVISORY_MAX_S, MANDATORY_MAX_S), (900, 225, 135)],
)
def test_the_refresh_margins_are_shares_of_the_session(
    lifetime: int, advisory: float, mandatory: float
) -> None:
    """A 1-hour session renews 15 minutes ahead (botocore's margin); a 15-minute one about 4 minutes
    ahead, not before every call as botocore's fixed margins would."""
    sts = _FakeSts(lifetime)
    target = AwsTarget(role_arn="arn:aws:iam::1:role/r", external_id="x", session_duration_s=lifetime)
    session = RoleSession(sts, target)
    assert session.credentials._advisory_refresh_timeout == pytest.approx(advisory, abs=2)
    assert session.credentials._mandatory_refresh_timeout == pytest.approx(mandatory, abs=2)
    assert sts.calls == [
        {
            "RoleArn": "arn:aws:iam::1:role/r",
            "RoleSessionName": "envport",
            "DurationSeconds": lifetime,
            "ExternalId": "x",
        }
    ]
    session.credentials.get_frozen_credentials()
    assert len(sts.calls) == 1  # far from its expiry: no refresh
