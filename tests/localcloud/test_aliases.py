"""Lambda versions and aliases in the local cloud: each published version runs its own code, an alias
with a routing configuration splits requests between two versions in the configured proportion
(through API Gateway and through Invoke), and Invoke names the version that ran."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from localcloud_helpers import APP_SOURCE, Kit, build_zip, http

pytestmark = pytest.mark.slow  # every test here runs functions in worker processes

REQUESTS = 300


def _code(word: str) -> bytes:
    return build_zip(APP_SOURCE.replace('VERSION = "v1"', f'VERSION = "{word}"'))


def _two_versions(kit: Kit) -> dict:
    """A function whose version 1 answers "one" and version 2 answers "two" ($LATEST: "three")."""
    lam = kit.client("lambda")
    fn = kit.function("app.version", code=_code("one"))
    assert lam.publish_version(FunctionName=fn["FunctionName"])["Version"] == "1"
    lam.update_function_code(FunctionName=fn["FunctionName"], ZipFile=_code("two"))
    assert lam.publish_version(FunctionName=fn["FunctionName"])["Version"] == "2"
    lam.update_function_code(FunctionName=fn["FunctionName"], ZipFile=_code("three"))
    return fn


def _alias_api(kit: Kit, fn: dict, alias: str = "live"):
    kit.permission(fn["FunctionName"], alias)  # a permission on the alias: API Gateway invokes the alias
    api = kit.api(f"alias-{alias}")
    api.proxy("/f", "GET", f"{fn['FunctionArn']}:{alias}")
    api.deploy("test")
    return api


def _invoke(kit: Kit, **kwargs) -> tuple[str, dict]:
    response = kit.client("lambda").invoke(Payload=b"{}", **kwargs)
    return response["ExecutedVersion"], json.loads(json.loads(response["Payload"].read())["body"])


def test_each_published_version_runs_its_own_code(cloud, kit):
    """Published versions are immutable snapshots of code and configuration
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html); Invoke's
    ExecutedVersion names the version that ran (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
    """
    # R-REL-2
    fn = _two_versions(kit)
    name = fn["FunctionName"]

    executed, body = _invoke(kit, FunctionName=name, Qualifier="1")
    assert (executed, body["version"]) == ("1", "one")
    executed, body = _invoke(kit, FunctionName=f"{name}:2")
    assert (executed, body["version"]) == ("2", "two")
    executed, body = _invoke(kit, FunctionName=name)
    assert (executed, body["version"]) == ("$LATEST", "three")

    # Both versions are warm side by side: one pool of workers per version.
    versions = {w["version"] for w in cloud.workers() if w["function_name"] == name}
    assert {"1", "2", "$LATEST"} <= versions
    records = cloud.invocations(name)
    assert {r["executed_version"] for r in records} == {"1", "2", "$LATEST"}
    assert all(r["alias"] is None for r in records)


def test_invoke_through_an_alias_reports_the_executed_version(cloud, kit):
    """Invoking an alias runs its version and answers ExecutedVersion with that version's number
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html)."""
    # R-REL-2
    fn = _two_versions(kit)
    name = fn["FunctionName"]
    lam = kit.client("lambda")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")

    assert _invoke(kit, FunctionName=name, Qualifier="live")[0] == "2"
    executed, body = _invoke(kit, FunctionName=f"{fn['FunctionArn']}:live")
    assert (executed, body["version"]) == ("2", "two")

    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1")  # a rollback: the alias only
    assert _invoke(kit, FunctionName=f"{name}:live")[1]["version"] == "one"
    last = cloud.invocations(name)[-1]
    assert (last["alias"], last["executed_version"]) == ("live", "1")
    assert last["function_arn"].endswith(f"{name}:live")


def test_weighted_alias_splits_gateway_traffic_in_the_configured_proportion(cloud, kit):
    """An alias with AdditionalVersionWeights {"2": 0.3} sends about 30% of the requests that API
    Gateway makes to version 2, chosen per request
    (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html).

    With 300 requests the count on version 2 is Binomial(300, 0.3): mean 90, standard deviation 7.9.
    The band 45..135 (15%..45%) is more than 5.6 standard deviations wide on each side, so a correct
    router fails it with a probability below 1e-7, while a router that ignores the weights (0% or
    100%) or inverts them (70%) always fails it."""
    # R-REL-2
    fn = _two_versions(kit)
    name = fn["FunctionName"]
    kit.client("lambda").create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    api = _alias_api(kit, fn)
    cloud.clear_invocations()

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _i: http(api.url("/f")), range(REQUESTS)))

    assert {r.status for r in responses} == {200}
    answered = Counter(r.json()["version"] for r in responses)
    assert set(answered) == {"one", "two"}
    assert 45 <= answered["two"] <= 135, answered
    records = [r for r in cloud.invocations(name) if r["source"] == "apigateway"]
    assert len(records) == REQUESTS
    served = Counter(r["executed_version"] for r in records)
    assert served == Counter({"1": answered["one"], "2": answered["two"]})
    assert {r["alias"] for r in records} == {"live"}


def test_alias_weights_move_traffic_without_touching_api_gateway(cloud, kit):
    """update_alias alone moves the traffic: weight 1.0 sends every request to the additional version,
    removing the routing configuration sends every request back to the primary one
    (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateAlias.html)."""
    # R-REL-2
    fn = _two_versions(kit)
    name = fn["FunctionName"]
    lam = kit.client("lambda")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    api = _alias_api(kit, fn)

    assert {http(api.url("/f")).json()["version"] for _ in range(10)} == {"one"}
    lam.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 1.0}})
    assert {http(api.url("/f")).json()["version"] for _ in range(10)} == {"two"}
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={})
    assert {http(api.url("/f")).json()["version"] for _ in range(10)} == {"two"}
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert {http(api.url("/f")).json()["version"] for _ in range(10)} == {"one"}


def test_weighted_alias_splits_direct_invocations(cloud, kit):
    """Invoke with an alias qualifier follows the routing configuration too, and ExecutedVersion says
    which version ran each call (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html)."""
    # R-REL-2
    fn = _two_versions(kit)
    name = fn["FunctionName"]
    kit.client("lambda").create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )

    calls = [_invoke(kit, FunctionName=name, Qualifier="canary") for _ in range(60)]

    assert {executed for executed, _ in calls} == {"1", "2"}  # P(one side only) = 2 * 0.5**60
    assert all(body["version"] == {"1": "one", "2": "two"}[executed] for executed, body in calls)
