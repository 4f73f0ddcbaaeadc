"""What API Gateway records about each request to a stage besides its basic metrics.

The gateway (``gateway.py``) answers the request and puts the stage's Count, 4XXError, 5XXError,
Latency and IntegrationLatency (``apigateway/metrics.py``). The server wraps the gateway with
``observe`` here, which adds, from the answer the gateway gave:

- **Access logs** (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html):
  when the stage has ``accessLogSettings`` (``destinationArn`` a log group ARN and a ``format``), one
  log event per request, the format with its ``$context`` variables replaced
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference
  lists them; a variable without a value, or one not modelled, becomes ``-`` as API Gateway writes
  it). ``error.message`` is the message of a gateway error's body; ``identity.apiKeyId`` the id of
  the ``x-api-key`` sent. The event goes to the log group of the ARN, in a stream per stage; a log
  group that does not exist receives nothing (API Gateway does not create it).
- **Detailed metrics** (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html):
  with ``metricsEnabled`` in the stage's method settings (``*/*`` or the method's own), the same
  five metrics by ``ApiName, Method, Resource, Stage``.

Best effort, like every metric: a failure is logged and never changes the answer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localcloud.cloudwatch import metrics

logger = logging.getLogger("localcloud.stage_observer")

_CONTEXT_VARIABLE = re.compile(r"\$context\.([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)")
MAX_FORMAT_LENGTH = 64 * 1024  # our bound on the work per request: a longer format is not rendered (logged)


@dataclass
class RequestFacts:
    """What the access log and the detailed metrics need to know about one answered request."""

    api_id: str
    api_name: str
    stage: str
    account_id: str
    region: str
    http_method: str
    path: str
    protocol: str
    source_ip: str
    user_agent: str
    started_at: float  # time.time() when it arrived
    status: int
    response_length: int
    latency_ms: float
    integration_ms: float | None
    request_id: str = "-"
    extended_request_id: str = "-"
    resource_path: str | None = None
    resource_id: str | None = None
    trace_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def context(self) -> dict[str, str]:
        """The ``$context`` variables this request has a value for."""
        when = dt.datetime.fromtimestamp(self.started_at, dt.UTC)
        values = {
            "requestId": self.request_id,
            "extendedRequestId": self.extended_request_id,
            "apiId": self.api_id,
            "stage": self.stage,
            "accountId": self.account_id,
            "httpMethod": self.http_method,
            "path": f"/{self.stage}{self.path}",
            "protocol": self.protocol,
            "identity.sourceIp": self.source_ip,
            "identity.userAgent": self.user_agent,
            "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": str(int(self.started_at * 1000)),
            "status": str(self.status),
            "responseLength": str(self.response_length),
            "responseLatency": str(round(self.latency_ms)),
        }
        if self.resource_path is not None:
            values["resourcePath"] = self.resource_path
        if self.resource_id is not None:
            values["resourceId"] = self.resource_id
        if self.integration_ms is not None:
            values["integrationLatency"] = str(round(self.integration_ms))
            values["integration.latency"] = values["integrationLatency"]
        if self.trace_id:
            values["xrayTraceId"] = self.trace_id
        values.update(self.extra)
        return {name: value for name, value in values.items() if value != ""}


def render_access_log(template: str, context: Mapping[str, str]) -> str:
    """The format with each ``$context.name`` replaced; ``-`` for a variable without a value."""

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        # The longest known name wins: "$context.status." in a sentence is $context.status then ".".
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in context:
                rest = name[len(candidate) :]
                return context[candidate] + rest
        return "-"

    return _CONTEXT_VARIABLE.sub(replace, template)


def log_group_name(destination_arn: str) -> str | None:
    """``arn:aws:logs:REGION:ACCOUNT:log-group:NAME`` (optionally ``:*``) -> NAME."""
    parts = destination_arn.split(":", 6)
    if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
        return None
    name = parts[6]
    return name[:-2] if name.endswith(":*") else name


def write_access_log(stage: Any, facts: RequestFacts) -> bool:
    """Put the request's access log event into the stage's log group; False when none is configured."""
    settings = getattr(stage, "access_log_settings", None) or {}
    destination, template = settings.get("destinationArn"), settings.get("format")
    if not destination or not template:
        return False
    if len(template) > MAX_FORMAT_LENGTH:
        logger.warning(
            "access log format of stage %s is over %d characters; not written", facts.stage, MAX_FORMAT_LENGTH
        )
        return False
    group = log_group_name(str(destination))
    if group is None:
        return False
    parts = str(destination).split(":")
    account, region = parts[4] or facts.account_id, parts[3] or facts.region
    from moto.logs.models import logs_backends

    backend = logs_backends[account][region]
    log_group = backend.groups.get(group)
    if log_group is None:
        return False  # API Gateway does not create the group: nothing is written
    stream = f"{facts.api_id}_{facts.stage}"
    if stream not in log_group.streams:
        backend.create_log_stream(group, stream)
    message = render_access_log(str(template), facts.context())
    backend.put_log_events(group, stream, [{"timestamp": int(facts.started_at * 1000), "message": message}])
    return True


def detailed_metric_data(facts: RequestFacts) -> list[dict[str, Any]]:
    """The stage's metrics by ``ApiName, Method, Resource, Stage`` for one request."""
    if facts.resource_path is None:
        return []
    values: list[tuple[str, float, str]] = [
        ("Count", 1.0, "Count"),
        ("4XXError", 1.0 if 400 <= facts.status < 500 else 0.0, "Count"),
        ("5XXError", 1.0 if facts.status >= 500 else 0.0, "Count"),
        ("Latency", facts.latency_ms, "Milliseconds"),
    ]
    if facts.integration_ms is not None:
        values.append(("IntegrationLatency", facts.integration_ms, "Milliseconds"))
    dimensions = [
        {"Name": "ApiName", "Value": facts.api_name},
        {"Name": "Method", "Value": facts.http_method},
        {"Name": "Resource", "Value": facts.resource_path},
        {"Name": "Stage", "Value": facts.stage},
    ]
    timestamp = metrics.utc(facts.started_at)
    return [
        {"MetricName": name, "Value": value, "Unit": unit, "Timestamp": timestamp, "Dimensions": dimensions}
        for name, value, unit in values
    ]


def detailed_metrics_enabled(stage: Any, resource_path: str, verb: str) -> bool:
    """``metricsEnabled`` of the method's own settings, else of ``*/*``."""
    settings = getattr(stage, "method_settings", None) or {}
    key = f"{resource_path.replace('~', '~0').replace('/', '~1')}/{verb}"
    specific = settings.get(key) or settings.get(key.removeprefix("~1")) or {}
    general = settings.get("*/*") or {}
    return bool(specific.get("metricsEnabled", general.get("metricsEnabled", False)))


# -- the WSGI wrapper ---------------------------------------------------------------------------------
def observe(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], start_response: Any) -> Any:
    """Call the gateway; after it answered, write the access log and the detailed metrics."""
    started, started_at = time.perf_counter(), time.time()
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    body = app(environ, capture)
    error_message = None
    if any(name.lower() == "x-amzn-errortype" for name, _ in captured.get("headers", [])):
        # A gateway error: its body is small and in memory; its message is $context.error.message.
        body = [b"".join(body)]
        error_message = _error_message(body[0])
    try:
        _record(environ, captured, started, started_at, error_message)
    except Exception:
        logger.warning("could not write the access log or detailed metrics of a request", exc_info=True)
    return body


def _error_message(answer: bytes) -> str | None:
    """The ``message`` (or ``Message``) of a gateway error's JSON body."""
    try:
        parsed = json.loads(answer or b"{}")
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    message = parsed.get("message", parsed.get("Message"))
    return message if isinstance(message, str) else None


def _api_key_id(backend: Any, environ: Mapping[str, Any]) -> str | None:
    """The id of the API key the request sent (``x-api-key``), if it is one of the account's keys."""
    value = str(environ.get("HTTP_X_API_KEY", ""))
    if not value:
        return None
    return next((str(k.id) for k in list(backend.keys.values()) if k.value == value), None)


def _record(
    environ: dict[str, Any], captured: dict[str, Any], started: float, started_at: float, error: str | None
) -> None:
    from localcloud.apigateway.routing import STAGE_PATH, find_api, match_route
    from localcloud.apigateway.snapshots import deployment_snapshot

    if "status" not in captured:
        return
    match = STAGE_PATH.match(environ.get("PATH_INFO", "") or "")
    found = find_api(match.group("api")) if match else None
    if match is None or found is None:
        return
    backend, api = found
    stage = api.stages.get(match.group("stage"))
    if stage is None:
        return
    now = time.perf_counter()
    headers = {name.lower(): value for name, value in captured["headers"]}
    integration_started = environ.get(metrics.INTEGRATION_STARTED)
    path = match.group("path") or "/"
    verb = str(environ.get("REQUEST_METHOD", "GET")).upper()
    snapshot = deployment_snapshot(api, stage.deployment_id)
    route = match_route(snapshot["resources"], path) if snapshot is not None else None
    facts = RequestFacts(
        api_id=api.id,
        api_name=api.name,
        stage=stage.name,
        account_id=api.account_id,
        region=api.region_name,
        http_method=verb,
        path=path if path.startswith("/") else "/" + path,
        protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
        source_ip=str(environ.get("REMOTE_ADDR", "-")),
        user_agent=str(environ.get("HTTP_USER_AGENT", "")),
        started_at=started_at,
        status=int(str(captured["status"]).split()[0]),
        response_length=int(headers.get("content-length") or 0),
        latency_ms=(now - started) * 1000,
        integration_ms=(now - integration_started) * 1000 if integration_started is not None else None,
        request_id=headers.get("x-amzn-requestid", "-"),
        extended_request_id=headers.get("x-amz-apigw-id", "-"),
        resource_path=route.resource["path"] if route is not None else None,
        resource_id=route.resource.get("id") if route is not None else None,
        trace_id=(headers.get("x-amzn-trace-id") or "").removeprefix("Root=").split(";")[0] or None,
    )
    if error:
        facts.extra["error.message"] = error
    key_id = _api_key_id(backend, environ)
    if key_id:
        facts.extra["identity.apiKeyId"] = key_id
    write_access_log(stage, facts)
    if facts.resource_path is not None and detailed_metrics_enabled(stage, facts.resource_path, verb):
        data = detailed_metric_data(facts)
        metrics.put_metric_data(api.account_id, api.region_name, metrics.APIGATEWAY_NAMESPACE, data)
