"""Is an environment healthy, degraded or down? (R-OPS-3)

Cheap enough to run every five minutes for every environment: one DescribeAlarms call, the
reads that find the endpoint and key, and one light authenticated request. Down: the API does
not answer with a 2xx. Degraded: it answers, but an alarm is firing or the answer is slower
than the stage's latency threshold. Healthy otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import http
from .aws import AwsClients, AwsTarget, CallCounts, paged_items
from .checks import Check
from .credentials import for_mode
from .http import request_id_of
from .resources.alarms import ALARMS, alarm_name
from .resources.base import Context
from .resources.rest_api import find_api
from .resources.usage_plan import find_api_key
from .spec import EnvironmentSpec


@dataclass
class HealthReport:
    environment: str
    status: str  # healthy / degraded / down
    alarms_in_alarm: list[str] = field(default_factory=list)
    probe_status: int | None = None
    probe_latency_ms: float | None = None
    detail: str = ""
    calls: CallCounts = field(default_factory=CallCounts)
    probe_request_id: str | None = None  # what the probe's answer carried: links it to its lines

    @property
    def checks(self) -> list[Check]:
        """The probe and each firing alarm as checks, in the shape verification records them.

        Derived from the fields rather than stored beside them, so the two can never disagree.
        The probe passes on any answer below 500: a 4xx still proves the API is up.
        """
        probe = Check(
            "API probe",
            "R-OPS-3",
            self.probe_status is not None and self.probe_status < 500,
            self.probe_status,
            self.probe_latency_ms,
            "an answer below 500",
            "no answer" if self.probe_status is None else str(self.probe_status),
            self.probe_request_id,
        )
        alarms = [
            Check(f"alarm {name}", "R-OPS-3", False, None, None, "OK", "ALARM")
            for name in self.alarms_in_alarm
        ]
        return [probe, *alarms]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def endpoint_and_key(ctx: Context) -> tuple[str | None, str | None]:
    """The stage URL and API key id, read live (never from a database that may be stale).

    Found exactly as the rest_api and usage_plan resources find them (name and tags), with one
    list read each: their full observe (the API's resources and methods, gateway responses,
    stage, the plan and its keys) says nothing about where the API answers, and GetResources
    is one of API Gateway's smallest account-wide quotas.
    """
    api, _ = find_api(ctx)
    key, _ = find_api_key(ctx)
    endpoint = ctx.aws.target.stage_url(api["id"], ctx.names.api_stage) if api is not None else None
    return endpoint, key["id"] if key is not None else None


def check_health(
    spec: EnvironmentSpec,
    target: AwsTarget | None = None,
    *,
    clients: AwsClients | None = None,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> HealthReport:
    """One health check; its AWS calls are counted on the report like every other run's."""
    clients = clients or AwsClients(target or AwsTarget(region=spec.region))
    before = clients.recorder.snapshot()
    report = _check(spec, clients, timeout, sleep)
    report.calls = clients.recorder.since(before)
    return report


def _check(
    spec: EnvironmentSpec, clients: AwsClients, timeout: float, sleep: Callable[[float], None]
) -> HealthReport:
    ctx = Context(spec=spec, aws=clients, sleep=sleep)
    report = HealthReport(spec.suffix, "down")
    # Exact names, not the prefix: environment "dev1"'s prefix also matches "dev1-x"'s alarms.
    alarms = paged_items(
        clients.client("cloudwatch"),
        "describe_alarms",
        "MetricAlarms",
        AlarmNames=[alarm_name(spec.names, a.short) for a in ALARMS],
    )
    report.alarms_in_alarm = sorted(a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM")
    endpoint, key_id = endpoint_and_key(ctx)
    if not endpoint or not key_id:
        report.detail = "no API endpoint or key: the environment is not provisioned"
        return report
    key = clients.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    url = endpoint.rstrip("/") + "/items?limit=1"
    try:
        # R-AUTH-1: the probe authenticates as the mode asks (in cognito mode with a user made
        # for the probe and deleted after it, as verification does)
        creds = for_mode(spec, clients)
    except Exception as exc:
        report.detail = f"could not obtain a credential for auth mode {spec.settings.auth}: {exc}"
        return report
    try:
        headers = {"x-api-key": key}
        headers.update(creds.valid("GET", url, headers, None))
        resp = http.request("GET", url, headers=headers, timeout=timeout)
    finally:
        creds.cleanup()
    report.probe_status, report.probe_latency_ms = resp.status, round(resp.latency_ms, 2)
    report.probe_request_id = request_id_of(resp)
    report.status, report.detail = _judge(resp, report.alarms_in_alarm, spec.settings.alarm_api_p90_ms)
    return report


def _judge(resp: http.Response, alarms: list[str], slow_ms: int) -> tuple[str, str]:
    """Down without a 2xx; degraded when an alarm fires or the probe is slow; healthy otherwise."""
    if resp.status is None or not 200 <= resp.status < 300:
        return "down", f"GET /items answered {resp.status or resp.error}"
    if alarms or resp.latency_ms > slow_ms:
        reasons = [f"alarms firing: {', '.join(alarms)}"] if alarms else []
        if resp.latency_ms > slow_ms:
            reasons.append(f"probe took {resp.latency_ms:.0f} ms (threshold {slow_ms} ms)")
        return "degraded", "; ".join(reasons)
    return "healthy", f"GET /items answered {resp.status} in {resp.latency_ms:.0f} ms; no alarm firing"
