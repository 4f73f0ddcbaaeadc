"""An environment's traffic for the console, the CLI and the API: the engine's view, cached briefly,
with the portal's own runs on the same time axis.

`traffic(actor, env, since)` asks the one guard first (`authz.authorize(actor, "view", env)`:
any role may read, a read-only token too, out of a token's reach is NotFound), checks the range
before any AWS call (InvalidInput listing the allowed ones), and answers from the cache when the
same environment and range were read less than ENVPORT_TRAFFIC_CACHE_SECONDS ago: a page that
several operators keep open costs two AWS calls per environment and range per interval, not two
per viewer (R-FLEET-1). The cache holds the engine's view only; whose view it is was decided before.

Markers are the environment's provisions, releases, rollbacks and drift repairs (a provision
after a drift check that found drift) in the range, from its Deployment records, each naming its
run: two queries whatever the range.

The versions charted by `ExecutedVersion` are those the portal knows served in the range: the
from and to versions of its releases and rollbacks there, and the version serving now.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count

from portal.models import Deployment, Environment
from portal.services import authz
from portal.services.base import ActionError, Actor, InvalidInput
from portal.targets import target_for
from provisioning import traffic as engine
from provisioning.aws import AwsClients, AwsTarget, epoch_timestamp_session
from provisioning.spec import SpecError

Kind, Status = Deployment.Kind, Deployment.Status
MARKER_KINDS = (Kind.PROVISION, Kind.RELEASE, Kind.ROLLBACK)
DRIFT_REPAIR = "drift repair"
MAX_MARKERS = 200  # the newest in the range; a 30-day range of a busy preview stays readable


class MetricsUnavailable(ActionError):
    """AWS did not answer the view's calls (the API answers 502; the console shows the message)."""


@dataclass(frozen=True)
class Marker:
    """One of the portal's runs on the time axis."""

    deployment: int
    kind: str  # provision, release, rollback or "drift repair"
    status: str
    outcome: str
    at: float  # epoch seconds: when it started (or was requested, if it never started)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.deployment,
            "kind": self.kind,
            "status": self.status,
            "outcome": self.outcome or None,
            "at": dt.datetime.fromtimestamp(self.at, dt.UTC).isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class Traffic:
    """What the traffic page shows: the view, the markers, and whether the cache answered."""

    environment: str
    view: engine.TrafficView
    markers: tuple[Marker, ...]
    cached: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            **self.view.to_dict(),
            "markers": [m.to_dict() for m in self.markers],
            "cached": self.cached,
        }


def cache_seconds() -> int:
    return int(getattr(settings, "ENVPORT_TRAFFIC_CACHE_SECONDS", 30))


def cache_key(env: Environment, window: engine.Range) -> str:
    return f"envport:traffic:{env.pk}:{env.suffix}:{window.name}"


def parse_since(since: str | None) -> engine.Range:
    """The range `since` names, or InvalidInput listing the allowed ones (before any AWS call)."""
    try:
        return engine.parse_range(since)
    except engine.RangeError as exc:
        raise InvalidInput(f"no such range {exc.given[:20]!r}", [str(exc)]) from None


def traffic(actor: Actor, env: Environment, since: str | None = None) -> Traffic:
    """The environment's traffic over the range `since` (1h, 6h, 24h, 7d or 30d; default 1h)."""
    authz.authorize(actor, "view", env)
    window = parse_since(since)
    key = cache_key(env, window)
    view = cache.get(key)
    cached = isinstance(view, engine.TrafficView)
    if not cached:
        view = _read(env, window)
        cache.set(key, view, cache_seconds())
    assert isinstance(view, engine.TrafficView)
    return Traffic(env.suffix, view, tuple(markers(env, view.start, view.end)), cached)


def cached_traffic(actor: Actor, env: Environment, since: str = engine.DEFAULT_RANGE) -> Traffic | None:
    """The view if the cache holds it, else None: for the environment page's panel, which must
    not call AWS each time it is shown."""
    authz.authorize(actor, "view", env)
    window = parse_since(since)
    view = cache.get(cache_key(env, window))
    if not isinstance(view, engine.TrafficView):
        return None
    return Traffic(env.suffix, view, tuple(markers(env, view.start, view.end)), True)


def _read(env: Environment, window: engine.Range) -> engine.TrafficView:
    try:
        names = env.spec().names
    except SpecError as exc:
        raise InvalidInput(f"{env.suffix}'s definition is invalid; fix it first", [str(exc)]) from None
    clients = _clients(target_for(env.region, env.role_arn, env.external_id))
    now = dt.datetime.now(dt.UTC).timestamp()
    start, _end = engine.bounds(window, now)
    try:
        return engine.traffic_view(clients, names, window, versions=versions(env, start), now=now)
    except Exception as exc:
        why = f"{type(exc).__name__}: {str(exc)[:300]}"
        raise MetricsUnavailable(
            f"could not read the metrics of {env.suffix} from CloudWatch: {why}"
        ) from None


CLIENTS_TTL_S = 600.0  # within an assumed role's credentials (an hour at least)
_local = threading.local()


def _clients(target: AwsTarget) -> AwsClients:
    """This thread's clients for `target`, made at most every CLIENTS_TTL_S: making a boto3 session
    and client loads botocore's service models (a third of a second), more than the view's own
    calls. One per thread, as a view counts its calls on the recorder (never shared by two views
    at once)."""
    held: dict[AwsTarget, tuple[float, AwsClients]] = getattr(_local, "clients", None) or {}
    _local.clients = held
    now = time.monotonic()
    found = held.get(target)
    if found is None or now - found[0] > CLIENTS_TTL_S:
        found = (
            now,
            AwsClients(target, session=None if target.role_arn else epoch_timestamp_session(target.region)),
        )
        held[target] = found
    return found[1]


def versions(env: Environment, since: float) -> list[str]:
    """The function versions that served in the range: its releases' and rollbacks' from and to
    versions since `since`, and the version serving now. One query."""
    found = {str((env.outputs or {}).get("serving_version") or "")}
    runs = Deployment.objects.filter(
        environment=env,
        kind__in=(Kind.RELEASE, Kind.ROLLBACK),
        created_at__gte=dt.datetime.fromtimestamp(since, dt.UTC) - dt.timedelta(days=1),
    ).values_list("outputs", "release_state")
    for outputs, state in runs[:100]:
        for source in (outputs or {}, state or {}):
            for field in ("from_version", "to_version"):
                if source.get(field) is not None:
                    found.add(str(source[field]))
    return sorted(v for v in found if v)


def markers(env: Environment, start: float, end: float) -> list[Marker]:
    """The environment's provisions, releases, rollbacks and drift repairs in [start, end), oldest
    first. A provision is a drift repair when the latest drift check before it (and after the
    provision before it) found drift. Two queries."""
    lo = dt.datetime.fromtimestamp(start, dt.UTC)
    hi = dt.datetime.fromtimestamp(end, dt.UTC)
    runs = list(
        Deployment.objects.filter(environment=env, kind__in=MARKER_KINDS, created_at__lt=hi)
        .exclude(status__in=(Status.QUEUED, Status.CANCELLED))
        .filter(created_at__gte=lo - dt.timedelta(days=1))
        .only("id", "kind", "status", "outcome", "created_at", "started_at")
        .order_by("-created_at", "-id")[:MAX_MARKERS]
    )
    runs.reverse()
    first = runs[0].created_at if runs else hi
    drifts = list(
        Deployment.objects.filter(environment=env, kind=Kind.DRIFT, created_at__lt=hi)
        .filter(created_at__gte=first - dt.timedelta(days=30))
        .annotate(found=Count("findings"))
        .order_by("created_at")
        .values_list("created_at", "found")
    )
    out: list[Marker] = []
    previous_provision = None
    for run in runs:
        kind = str(run.kind)
        if run.kind == Kind.PROVISION:
            checks = [
                found
                for at, found in drifts
                if at < run.created_at and (previous_provision is None or at > previous_provision)
            ]
            if checks and checks[-1]:
                kind = DRIFT_REPAIR
            previous_provision = run.created_at
        at = (run.started_at or run.created_at).timestamp()
        if start <= at < end:
            out.append(Marker(run.pk, kind, str(run.status), run.outcome, at))
    return out
