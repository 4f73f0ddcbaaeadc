"""Several environments provisioned at once against the local cloud's enforced API Gateway quotas
(`--quotas aws`, its clock 20 times faster): with the shared rate limiter every run succeeds, the
local cloud's records show the quotas' spacing, and (nearly) no call is refused (R-FLEET-1).

Quotas: "Amazon API Gateway quotas", https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud import LocalCloud
from provisioning.aws import AwsClients, AwsTarget
from provisioning.engine import Engine, RunResult
from provisioning.ratelimit import LocalBuckets, QuotaTable, RateLimiter
from provisioning.spec import build_spec

SCALE = 20.0
N = 4

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quota_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, quotas="aws", quota_time_scale=SCALE) as cloud:
        yield cloud


def _target(cloud: LocalCloud) -> AwsTarget:
    # adaptive retries (the default) stay the last line for the odd call that reaches the local
    # cloud a few milliseconds before its slot (scheduling jitter on a busy machine).
    return AwsTarget(
        region=cloud.region,
        endpoint_url=cloud.endpoint_url,
        execute_api_url_template=cloud.stage_url_template,
    )


# R-FLEET-1
def test_parallel_provisions_within_the_quotas_all_succeed_unthrottled(quota_cloud: LocalCloud) -> None:
    # without the limiter, the same account's calls at once are refused (the rule is live)
    quota_cloud.quotas.reset()
    once = Config(retries={"mode": "standard", "total_max_attempts": 1})
    raw = quota_cloud.client("apigateway", aws_access_key_id="999999999999", config=once)
    codes: list[str] = []

    def create(i: int) -> None:
        try:
            raw.create_rest_api(name=f"unlimited-{i}")
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])

    unlimited = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for t in unlimited:
        t.start()
    for t in unlimited:
        t.join()
    assert "TooManyRequestsException" in codes, codes

    quota_cloud.quotas.reset()
    limiter = RateLimiter(QuotaTable(time_scale=SCALE), LocalBuckets())
    target = _target(quota_cloud)
    results: dict[str, RunResult] = {}

    def provision(i: int) -> None:
        spec = build_spec(suffix=f"fq{i}", stage="dev", region=quota_cloud.region, owner="t", cost_centre="c")
        clients = AwsClients(target, limiter=limiter)
        results[spec.suffix] = Engine(spec, clients=clients, workers=4).apply()

    threads = [threading.Thread(target=provision, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = {k: r.error for k, r in results.items() if not r.ok}
    assert len(results) == N and not failed, failed
    # the limiter, not retries, paced them: a refusal is the rare call that reached the local
    # cloud a few milliseconds early (this process also runs the cloud: its threads contend)
    refused = [c for c in quota_cloud.quotas.calls() if not c.admitted]
    admitted = [c for c in quota_cloud.quotas.calls() if c.admitted]
    assert len(refused) <= max(2, len(admitted) // 50), (len(admitted), refused)
    # the local cloud's own record: CreateRestApi and CreateDeployment at most one per period
    calls = admitted
    for operation, period in (("CreateRestApi", 3.0), ("CreateDeployment", 5.0)):
        stamps = sorted(c.at for c in calls if c.operation == operation)
        assert len(stamps) == N, operation
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert min(gaps) >= period / SCALE * 0.9, (operation, gaps)
    waited = [s for r in results.values() for s in r.steps if s.quota_wait_s > 0]
    assert waited and all("API Gateway's quota" in (s.detail or "") for s in waited)
