"""AWS's published service quotas, as data: one table that the engine's rate limiter
(``provisioning/ratelimit.py``) and the local cloud's enforcement (``localcloud/apigateway/
control_plane_limits.py``) both read, so the two can never disagree.

Each service's quotas are a JSON file beside this module (``apigateway.json``) that cites the AWS
page it copies. This package imports nothing of the project (an import-linter contract says so):
the engine and the local cloud, which must not know each other, may both depend on it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["QuotaTable", "apigateway"]

TOTAL = "*"


@dataclass(frozen=True)
class QuotaTable:
    """One service's published request-rate quotas: operation -> (requests, per seconds, burst).

    ``TOTAL`` ("*") is every operation of the service together. ``source_url`` is the AWS page the
    numbers come from."""

    service: str
    source_title: str
    source_url: str
    quotas: dict[str, tuple[float, float, float]]


def _load(service: str) -> QuotaTable:
    data: dict[str, Any] = json.loads(
        resources.files(__name__).joinpath(f"{service}.json").read_text("utf-8")
    )
    quotas: dict[str, tuple[float, float, float]] = {}
    for operation, value in data["quotas"].items():
        requests, per_seconds, burst = (float(v) for v in value)
        if min(requests, per_seconds, burst) <= 0:
            raise ValueError(f"{service}.json: {operation}: every number must be positive, got {value!r}")
        quotas[operation] = (requests, per_seconds, burst)
    if TOTAL not in quotas:
        raise ValueError(f"{service}.json: no total ({TOTAL!r}) quota")
    return QuotaTable(data["service"], data["source"]["title"], data["source"]["url"], quotas)


@functools.cache
def apigateway() -> QuotaTable:
    """API Gateway's control-plane quotas (creating, deploying and managing an API)."""
    return _load("apigateway")
