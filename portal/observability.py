"""HTTP endpoints that watch the portal itself: ``/healthz``, ``/readyz`` and ``/metrics``.

None needs a session: probes and Prometheus do not log in. ``/metrics`` is guarded instead by
``ENVPORT_METRICS_TOKEN`` (a bearer token) and ``ENVPORT_METRICS_ALLOWED_ADDRESSES`` (addresses or
networks allowed without it; loopback by default): see docs/operations.md.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from . import health, prometheus

log = logging.getLogger("portal.observability")

MAX_AUTHORIZATION_LENGTH = 1024


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: this process answers. No dependency is consulted."""
    return JsonResponse({"status": "alive"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: database, broker and a recent worker, each with its latency; 503 when not ready."""
    ready, checks = health.readiness()
    body = {"status": "ready" if ready else "not ready", "checks": {c.name: c.to_dict() for c in checks}}
    return JsonResponse(body, status=200 if ready else 503)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The portal's metrics in Prometheus's text format 0.0.4 (every Prometheus reads it; our names
    need none of 1.0.0's escaping), for an allowed scraper only."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(prometheus.registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the scrape is allowed: the right bearer token, or an allowed address."""
    token = settings.ENVPORT_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header:
        sent = header[len("Bearer ") :].strip() if header[:7].lower() == "bearer " else ""
        if (
            len(header) <= MAX_AUTHORIZATION_LENGTH
            and sent
            and hmac.compare_digest(sent.encode(), token.encode())
        ):
            return None
        return _denied(401, "the bearer token is not the metrics token (ENVPORT_METRICS_TOKEN)", bearer=True)
    if address_allowed(request.META.get("REMOTE_ADDR", ""), settings.ENVPORT_METRICS_ALLOWED_ADDRESSES):
        return None
    if token:
        return _denied(401, "send Authorization: Bearer <ENVPORT_METRICS_TOKEN>", bearer=True)
    return _denied(403, "this address may not read /metrics (ENVPORT_METRICS_ALLOWED_ADDRESSES)")


def address_allowed(address: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``address`` (REMOTE_ADDR, never a forwarded header) is in one of ``allowed``."""
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _denied(status: int, message: str, *, bearer: bool = False) -> HttpResponse:
    response = HttpResponse(f"{message}\n", status=status, content_type="text/plain; charset=utf-8")
    if bearer:
        response["WWW-Authenticate"] = 'Bearer realm="envport metrics"'
    return response
