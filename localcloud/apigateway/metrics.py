"""The AWS/ApiGateway metrics of an execute-api request (Count, 4XXError, 5XXError, Latency,
IntegrationLatency by ApiName and Stage), put into CloudWatch as AWS publishes them."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from localcloud.apigateway.routing import STAGE_PATH, find_api
from localcloud.cloudwatch import metrics

logger = logging.getLogger("localcloud.metrics")


def api_request(environ: Mapping[str, Any], status: int, started: float, started_at: float) -> None:
    """Hook for the gateway: a request to ``/restapis/{api}/{stage}/_user_request_/...`` was answered.

    ``started`` is ``time.perf_counter()`` and ``started_at`` ``time.time()`` when it arrived. Never raises.
    """
    try:
        now = time.perf_counter()
        match = STAGE_PATH.match(environ.get("PATH_INFO", "") or "")
        found = find_api(match.group("api")) if match else None
        if match is None or found is None:
            return
        _backend, api = found
        stage = match.group("stage")
        if stage not in api.stages:
            return
        integration_started = environ.get(metrics.INTEGRATION_STARTED)
        integration_ms = (now - integration_started) * 1000 if integration_started is not None else None
        data = metrics.api_metric_data(
            api.name, stage, status, (now - started) * 1000, integration_ms, started_at
        )
        metrics.put_metric_data(api.account_id, api.region_name, metrics.APIGATEWAY_NAMESPACE, data)
    except Exception:
        logger.warning("could not put the API Gateway metrics of a request", exc_info=True)
