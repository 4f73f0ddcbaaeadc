"""The console's custom admin views: the buttons of an environment, and a deployment's live state.

Each view is registered by its ModelAdmin's `get_urls` through `admin_site.admin_view` (staff
login and CSRF), accepts only POST where it changes something, and asks the service's one guard
(`portal.services.authz`) on the server whatever the page showed: before it shows a form, and
again inside every `portal.services` function, which does the work and writes the audit trail.

Plan runs inline, in the request: it is read-only (one observe per resource, in parallel on the
engine's threads: about a second against the local cloud, a few against AWS), and the operator
wants to read it right away. Provision, verify, drift and teardown are sent to a Celery worker
by `dispatch`, and the deployment page follows them live.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from portal import dispatch as dispatcher
from portal import fleet_limits
from portal.access import access_summary
from portal.costs import service as costs
from portal.documents import release_fields
from portal.models import ACTIVE_STATUSES, Artifact, Deployment, Environment
from portal.permissions import allowed_actions
from portal.progress import QUEUED_HINT_S, expected_steps
from portal.services import authz, environments
from portal.services import releases as release_service
from portal.services import runs as run_service
from portal.services.base import ActionError, InvalidInput
from portal.svg import timeline, traffic_chart
from provisioning import release as releases
from provisioning.spec import SpecError

from . import logs as log_pages
from . import plans
from .backups import backups_view
from .hints import hint_for
from .pages import actor, attempt, page_object, refused
from .restore import restore_view

Kind, Status = Deployment.Kind, Deployment.Status


def dispatch(dep: Deployment) -> None:
    """Send a run to a worker once the request commits; tests replace this with a local runner."""
    dispatcher.enqueue(dep)


# --- helpers --------------------------------------------------------------------------------
def _require(request: HttpRequest, action: str, env: Environment) -> None:
    """The guard's answer before a page or a form is shown (the service asks again when it acts)."""
    try:
        authz.authorize(actor(request), action, env)
    except ActionError as exc:
        raise PermissionDenied(exc.message) from None


def _admin_url(obj: Any, view: str = "change") -> str:
    return reverse(f"admin:portal_{obj._meta.model_name}_{view}", args=[obj.pk])


def _request(request: HttpRequest, env: Environment, kind: str, options: dict[str, Any] | None = None) -> Any:
    """A queued deployment, or None with the refusal as a message (e.g. another run holds the env)."""
    return attempt(request, lambda: run_service.request_deployment(actor(request), env, kind, options))


# --- environment buttons --------------------------------------------------------------------
def plan_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    env = page_object(model_admin, request, object_id)
    _require(request, "plan", env)
    dep = _request(request, env, Kind.PLAN)
    if dep is None:
        return HttpResponseRedirect(_admin_url(env))
    dep = run_service.run_deployment(dep.pk)
    run_service.requeue_superseded(dep, dispatch)
    if dep.status == Status.SUCCEEDED:
        counts = plans.summary(dep.steps.all())
        messages.success(
            request,
            f"Plan #{dep.pk} of {env.suffix}: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['unchanged']} unchanged. Nothing has changed yet.",
        )
    else:
        messages.error(request, f"Plan #{dep.pk} of {env.suffix} failed: {dep.error.splitlines()[0]}")
    return HttpResponseRedirect(_admin_url(dep))


RUN_KINDS: dict[str, str] = {Kind.PROVISION: "provision", Kind.VERIFY: "verify", Kind.DRIFT: "drift"}


def run_view(model_admin: Any, request: HttpRequest, object_id: str, kind: str) -> HttpResponse:
    """Provision, verify or drift check: queued, sent to a worker, followed on the deployment page."""
    if kind not in RUN_KINDS:
        raise Http404(f"no such run: {kind}")
    env = page_object(model_admin, request, object_id)
    _require(request, RUN_KINDS[kind], env)
    dep = _request(request, env, kind)
    if dep is None:
        return HttpResponseRedirect(_admin_url(env))
    dispatch(dep)
    messages.success(request, f"{kind.capitalize()} of {env.suffix} started as deployment #{dep.pk}.")
    return HttpResponseRedirect(_admin_url(dep))


def wants_backup(form: Mapping[str, str]) -> bool:
    """A teardown backs up the table unless the form says `backup=no` in so many words: a missing
    field (an unticked checkbox, a hand-written POST, an older page) must never lose data."""
    return form.get("backup", "").strip().lower() != "no"


def teardown_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: what will be deleted, whether the table is backed up, and the protection; POST: do it."""
    from provisioning.inventory import inventory

    env = page_object(model_admin, request, object_id)
    _require(request, "teardown", env)
    if request.method == "POST":
        dep = _request(request, env, Kind.TEARDOWN, {"backup": wants_backup(request.POST)})
        if dep is None:
            return HttpResponseRedirect(_admin_url(env))
        dispatch(dep)
        messages.warning(request, f"Teardown of {env.suffix} started as deployment #{dep.pk}.")
        return HttpResponseRedirect(_admin_url(dep))
    try:
        spec = env.spec()
    except SpecError as exc:
        messages.error(request, f"{env.suffix}'s definition is invalid; fix it first: {exc}")
        return HttpResponseRedirect(_admin_url(env))
    resources = inventory(spec)
    doomed = [{"key": r.key, "kind": r.kind, "name": r.name} for r in resources if not r.shared]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": env,
        "title": f"Tear down {env.suffix}?",
        "resources": sorted(doomed, key=lambda r: r["key"]),
        "kept": [r.key for r in resources if r.shared],
        "table_name": spec.names.table,
        "can_lift": authz.may(actor(request), "lift_protection", env),
    }
    return TemplateResponse(request, "admin/portal/environment/teardown.html", context)


def lift_protection_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    env = page_object(model_admin, request, object_id)
    _require(request, "lift_protection", env)
    try:
        environments.lift_protection(actor(request), env)
    except ActionError as exc:
        refused(request, exc)
    else:
        messages.warning(
            request, f"Deletion protection of {env.suffix} lifted (audited); teardown is possible."
        )
    return HttpResponseRedirect(reverse("admin:portal_environment_teardown", args=[env.pk]))


def reveal_key_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """The key's value, read from AWS now, on a page that no cache keeps; the reveal is audited."""
    env = page_object(model_admin, request, object_id)
    _require(request, "reveal_key", env)
    try:
        value = environments.reveal_api_key(actor(request), env)
    except ActionError as exc:
        refused(request, exc)
        return HttpResponseRedirect(_admin_url(env))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": env,
        "title": f"API key of {env.suffix}",
        "key_id": env.outputs.get("api_key_id"),
        "value": value,
        "revealed_at": timezone.now(),
    }
    response = TemplateResponse(request, "admin/portal/environment/api_key.html", context)
    response.render()
    add_never_cache_headers(response)
    response["Cache-Control"] += ", no-store"
    return response


# --- releases (R-REL) ------------------------------------------------------------------------
RELEASE_FIELDS = ("strategy", "percent", "bake", "interval")
SOURCE_SUGGESTIONS = 30


def release_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: what serves the environment and a release form (an artifact the portal holds, a zip to
    upload, or another environment to promote from, and the strategy); POST: queue the release."""
    env = page_object(model_admin, request, object_id)
    _require(request, "release", env)
    if request.method == "POST":
        dep = _request_release(request, env)
        if dep is None:
            return HttpResponseRedirect(request.path)
        dispatch(dep)
        messages.success(request, f"Release to {env.suffix} started as deployment #{dep.pk}.")
        return HttpResponseRedirect(_admin_url(dep))
    strategy = releases.STAGE_STRATEGIES.get(env.stage, releases.STAGE_STRATEGIES["dev"])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": env,
        "title": f"Release to {env.suffix}",
        "artifacts": Artifact.objects.defer("data")[:30],
        # R-FLEET-1: suggestions, not every environment of a fleet (any suffix may be typed)
        "sources": Environment.objects.exclude(pk=env.pk)
        .exclude(artifact_sha256="")
        .order_by("-updated_at", "suffix")[:SOURCE_SUGGESTIONS],
        "kinds": releases.KINDS,
        "default": strategy,
        "serving_version": (env.outputs or {}).get("serving_version"),
    }
    return TemplateResponse(request, "admin/portal/environment/release.html", context)


def _request_release(request: HttpRequest, env: Environment) -> Deployment | None:
    """The release the form asks for, or None with every refusal as a message."""
    return attempt(request, lambda: _release(request, env))


def _release(request: HttpRequest, env: Environment) -> Deployment:
    form = request.POST
    who = actor(request)
    strategy = {name: (form.get(name) or "").strip() or None for name in RELEASE_FIELDS}
    release_service.check_release_target(who, env)
    artifact, source = None, None
    upload = request.FILES.get("zip")
    if upload is not None:
        handler = (form.get("handler") or "").strip()
        limit = settings.ENVPORT_API_MAX_UPLOAD_BYTES
        if upload.size is not None and upload.size > limit:
            raise InvalidInput(
                f"the zip {upload.name} was refused", [f"zip: larger than {limit} bytes is not allowed"]
            )
        artifact, _ = release_service.build_artifact(
            who, upload.read(), handler=handler, name=upload.name, env=env
        )
    elif form.get("artifact"):
        artifact = release_service.find_artifact(form["artifact"])
    elif form.get("source"):
        source = environments.get_environment(form["source"])
    return release_service.request_release(who, env, artifact=artifact, source=source, **strategy)


def rollback_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    env = page_object(model_admin, request, object_id)
    _require(request, "release", env)
    to_version = (request.POST.get("to_version") or "").strip() or None
    dep = attempt(request, lambda: release_service.request_rollback(actor(request), env, to_version))
    if dep is None:
        return HttpResponseRedirect(_admin_url(env))
    dispatch(dep)
    messages.warning(request, f"Rollback of {env.suffix} started as deployment #{dep.pk}.")
    return HttpResponseRedirect(_admin_url(dep))


def environment_urls(model_admin: Any) -> list[Any]:
    wrap = _wrapper(model_admin)
    return [
        path("<path:object_id>/plan/", wrap(plan_view), name="portal_environment_plan"),
        path("<path:object_id>/run/<str:kind>/", wrap(run_view), name="portal_environment_run"),
        path(
            "<path:object_id>/teardown/",
            wrap(teardown_view, "GET", "POST"),
            name="portal_environment_teardown",
        ),
        path(
            "<path:object_id>/lift-protection/",
            wrap(lift_protection_view),
            name="portal_environment_lift_protection",
        ),
        path("<path:object_id>/reveal-key/", wrap(reveal_key_view), name="portal_environment_reveal_key"),
        path(
            "<path:object_id>/release/",
            wrap(release_view, "GET", "POST"),
            name="portal_environment_release",
        ),
        path("<path:object_id>/rollback/", wrap(rollback_view), name="portal_environment_rollback"),
        path(
            "<path:object_id>/backups/",
            wrap(backups_view, "GET", "POST"),
            name="portal_environment_backups",
        ),
        path("<path:object_id>/restore/", wrap(restore_view), name="portal_environment_restore"),
        path("<path:object_id>/logs/", wrap(logs_view, "GET"), name="portal_environment_logs"),
        path("<path:object_id>/errors/", wrap(errors_view, "GET"), name="portal_environment_errors"),
    ]


def logs_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """The environment's function and access logs (issue 19): every role may read them."""
    env = page_object(model_admin, request, object_id)
    _require(request, "view", env)
    return log_pages.logs_page(model_admin, request, env, actor(request))


def errors_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """The environment's errors grouped by exception and top frame of its code (issue 19)."""
    env = page_object(model_admin, request, object_id)
    _require(request, "view", env)
    return log_pages.errors_page(model_admin, request, env, actor(request))


def environment_context(request: HttpRequest, env: Environment) -> dict[str, Any]:
    """The environment page's console: buttons allowed, runs at a glance, outputs, the stored cost."""
    runs = Deployment.objects.filter(environment=env)
    last_verification = (
        runs.filter(kind__in=(Kind.PROVISION, Kind.VERIFY), status__in=(Status.SUCCEEDED, Status.FAILED))
        .annotate(checks_total=Count("checks"), checks_passed=Count("checks", filter=Q(checks__passed=True)))
        .filter(checks_total__gt=0)
        .order_by("-created_at")
        .first()
    )
    outputs = dict(env.outputs or {})
    return {
        "can": allowed_actions(request.user, env),
        "last_deployment": env.last_deployment,
        "last_verification": last_verification,
        "active_run": runs.filter(status__in=ACTIVE_STATUSES).first(),
        "outputs": sorted((k, v) for k, v in outputs.items() if k != "api_key_id"),
        "api_key_id": outputs.get("api_key_id"),
        "protected": env.protected,
        "capacity_warnings": env.capacity_warnings(),
        "access": access_summary(env),  # R-AUTH-1: the mode and how a client gets a credential
        "serving": {
            "artifact_sha256": env.artifact_sha256,
            "handler": env.handler,
            "version": outputs.get("serving_version"),
        },
        "releases": list(runs.filter(kind__in=RELEASE_KINDS).order_by("-created_at", "-id")[:5]),
        "network": network_summary(env, outputs),
        "cost": cost_summary(request, env),
    }


def cost_summary(request: HttpRequest, env: Environment) -> dict[str, Any]:
    """The stored cost figure the page shows (one query; the hourly schedule computes it, never a
    page view): its totals and the lines of the fixed cost, the storage and the basis window."""
    record = costs.latest(env, actor(request))
    if record is None:
        return {"estimate": None, "idle": None}
    figures = record.figures or {}
    basis: dict[str, Any] = next(
        (w for w in figures.get("windows", []) if w.get("days") == figures.get("basis_days")), {}
    )
    return {
        "estimate": record,
        "figures": figures,
        "idle": costs.idle_finding(record),
        "lines": [
            *(("fixed", line) for line in figures.get("fixed", [])),
            *(("storage", line) for line in figures.get("storage", [])),
            *(("usage", line) for line in basis.get("lines", [])),
        ],
    }


def network_summary(env: Environment, outputs: dict[str, Any]) -> dict[str, Any]:
    """Where the function runs (R-NET-1): public, or a VPC (envport's or adopted) with its subnets
    and DynamoDB endpoint, as provisioned (outputs) or, before that, as asked for (settings)."""
    try:
        settings = env.spec().settings
    except SpecError:
        return {"mode": "invalid"}
    return {
        "mode": settings.network,
        "adopted": bool(settings.vpc_id),
        "vpc_id": outputs.get("vpc_id") or settings.vpc_id,
        "subnet_ids": outputs.get("subnet_ids") or list(settings.subnet_ids),
        "security_group_id": outputs.get("security_group_id"),
        "endpoint_id": outputs.get("dynamodb_endpoint_id"),
    }


# --- deployments ----------------------------------------------------------------------------
def deployment_parts(dep: Deployment, now: Any = None) -> dict[str, Any]:
    """Everything the deployment page and its live endpoint show. Queries: steps, and once the run
    has ended its checks and findings (three at most), whatever their numbers."""
    now = now or timezone.now()
    steps = list(dep.steps.all())
    finished = not dep.active
    checks = list(dep.checks.all()) if finished else []
    findings = list(dep.findings.all()) if finished else []
    total = expected_steps(dep.kind, dep.spec_snapshot)
    elapsed = ((dep.finished_at or now) - (dep.started_at or dep.created_at)).total_seconds()
    done = len(steps)
    percent = 100 if finished else (min(99, round(100 * done / total)) if total else None)
    # R-FLEET-1: a step blocked on an AWS quota says so while it waits, not only once it ends
    waiting = fleet_limits.waiting_of(dep) if dep.status == Status.RUNNING else []
    parts = {
        "dep": dep,
        "steps": steps,
        "checks": checks,
        "checks_passed": sum(1 for c in checks if c.passed),
        "findings": findings,
        "finished": finished,
        "elapsed_s": round(max(elapsed, 0.0), 1),
        "progress": {"done": done, "total": total, "percent": percent},
        "message": _message(dep, done, total, elapsed, checks) + _waiting_note(waiting),
        "waiting": waiting,
        "timeline": timeline(steps),
        "calls": sorted((dep.calls_by_operation or {}).items(), key=lambda kv: (-kv[1], kv[0])),
        "hint": hint_for(dep.error) if dep.error else "",
    }
    if dep.kind in RELEASE_KINDS:
        parts["release"] = release_parts(dep, now)
    if dep.kind == Kind.PLAN and finished:
        parts["plan"] = {
            "rows": plans.with_names(
                sorted(steps, key=lambda s: (s.action == "no-op", s.resource)), dep.spec_snapshot
            ),
            "summary": plans.summary(steps),
            "fingerprint": plans.fingerprint(dep.spec_snapshot, steps),
            "warnings": dep.capacity_warnings(),
        }
    return parts


RELEASE_KINDS = (Kind.RELEASE, Kind.ROLLBACK)


def release_parts(dep: Deployment, now: Any) -> dict[str, Any]:
    """A release's picture and facts: traffic over time (live while it runs), versions, outcome."""
    state = dep.release_state or {}
    started = state.get("started_at") or 0.0
    points = [(float(t["at"]) - started, int(t["percent"])) for t in state.get("traffic", [])]
    if dep.finished_at is not None and dep.started_at is not None and started:
        until = dep.finished_at.timestamp() - started
    else:
        until = now.timestamp() - started if started else 0.0
    fields = release_fields(dep, (dep.options or {}).get("artifact"))
    return {
        **fields,
        # while it runs, the checks so far (the version's journeys, alarm and error watches); the
        # full table comes with the results once it has ended
        "checks_so_far": [] if dep.finished_at is not None else list(dep.checks.all()),
        "phase": state.get("phase"),
        "percent": state.get("percent"),
        "strategy": (dep.options or {}).get("strategy"),
        "source_environment": (dep.options or {}).get("source_environment"),
        "chart": traffic_chart(points, until, rolled_back=dep.outcome == "rolled_back"),
    }


def _waiting_note(waiting: list[dict[str, Any]]) -> str:
    """Per blocked call: " rest_api: waiting for API Gateway's quota (CreateRestApi) since 3.2 s."."""
    return "".join(
        f" {w['resource'] or 'A call'}: waiting for {w['quota']} since {w['seconds']} s." for w in waiting
    )


def _message(dep: Deployment, done: int, total: int | None, elapsed: float, checks: list[Any]) -> str:
    of = f" of {total}" if total else ""
    if dep.status == Status.QUEUED:
        wait = " Is a Celery worker running?" if elapsed > QUEUED_HINT_S else ""
        return f"Queued for {elapsed:.0f} s, waiting for a worker.{wait}"
    if dep.status == Status.RUNNING:
        if total and done >= total and dep.kind == Kind.PROVISION:
            return f"Running: all {total} steps finished; verifying over HTTP… ({elapsed:.1f} s)"
        return f"Running: {done}{of} steps finished ({elapsed:.1f} s)."
    ended: dict[str, str] = {
        Status.SUCCEEDED: "Succeeded",
        Status.FAILED: "Failed",
        Status.CANCELLED: "Cancelled",
    }
    result = f" ({dep.result.replace('_', ' ')})" if dep.result else ""
    noun = "step" if done == 1 else "steps"
    text = f"{ended.get(dep.status, dep.status)}{result} after {elapsed:.1f} s: {done} {noun}"
    if checks:
        text += f", {sum(1 for c in checks if c.passed)} of {len(checks)} checks passed"
    return text + "."


def live_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """The deployment page polls this while the run is going: state, new steps, and the page's
    fragments rendered by the same templates as the page itself."""
    dep = page_object(model_admin, request, object_id)
    parts = deployment_parts(dep)
    context = {**parts, **_log_links(request, dep, parts), "can_apply": _can_apply(request, dep)}
    fragments = {
        "ep-banner": render_to_string("admin/portal/deployment/_banner.html", context, request),
        "ep-steps": render_to_string("admin/portal/deployment/_steps.html", context, request),
        "ep-timeline": str(parts["timeline"]),
    }
    if "release" in parts:
        fragments["ep-release"] = render_to_string("admin/portal/deployment/_release.html", context, request)
    if parts["finished"]:
        fragments["ep-results"] = render_to_string("admin/portal/deployment/_results.html", context, request)
    response = JsonResponse(
        {
            "id": dep.pk,
            "kind": dep.kind,
            "status": dep.status,
            "result": dep.result or None,
            "finished": parts["finished"],
            "elapsed_s": parts["elapsed_s"],
            "progress": parts["progress"],
            "message": parts["message"],
            "waiting": parts["waiting"],
            "steps": [
                {
                    "position": s.position,
                    "resource": s.resource,
                    "action": s.action,
                    "status": s.status,
                    "started_offset_s": s.started_offset_s,
                    "seconds": s.seconds,
                    "error": s.error or None,
                }
                for s in parts["steps"]
            ],
            "checks": {"total": len(parts["checks"]), "passed": parts["checks_passed"]},
            "html": fragments,
        }
    )
    add_never_cache_headers(response)
    return response


def _can_apply(request: HttpRequest, dep: Deployment) -> bool:
    return (
        dep.kind == Kind.PLAN
        and dep.status == Status.SUCCEEDED
        and authz.may(actor(request), "provision", dep.environment)
    )


def apply_plan_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """Provision exactly what a plan showed: a fresh plan must have the same fingerprint (see plans)."""
    planned = page_object(model_admin, request, object_id)
    env = planned.environment
    _require(request, "provision", env)
    if planned.kind != Kind.PLAN or planned.status != Status.SUCCEEDED:
        messages.error(request, f"Deployment #{planned.pk} is not a successful plan: nothing to apply.")
        return HttpResponseRedirect(_admin_url(planned))
    wanted = plans.fingerprint(planned.spec_snapshot, planned.steps.all())
    fresh = _request(request, env, Kind.PLAN, {"recheck_of": planned.pk})
    if fresh is None:
        return HttpResponseRedirect(_admin_url(planned))
    fresh = run_service.run_deployment(fresh.pk)
    found = plans.fingerprint(fresh.spec_snapshot, fresh.steps.all())
    if fresh.status != Status.SUCCEEDED or found != wanted:
        messages.error(
            request,
            f"Nothing was applied: {env.suffix} changed since plan #{planned.pk} (its definition or its "
            f"live resources), so a fresh plan differs. Review fresh plan #{fresh.pk} below and apply it "
            "if it is what you want.",
        )
        run_service.requeue_superseded(fresh, dispatch)
        return HttpResponseRedirect(_admin_url(fresh))
    options = {"plan": planned.pk, "plan_fingerprint": wanted, "rechecked_by": fresh.pk}
    if run_service.REQUEUE_AFTER in fresh.options:  # the check the recheck superseded waits for the apply
        options[run_service.REQUEUE_AFTER] = fresh.options[run_service.REQUEUE_AFTER]
    dep = _request(request, env, Kind.PROVISION, options)
    if dep is None:
        run_service.requeue_superseded(fresh, dispatch)
        return HttpResponseRedirect(_admin_url(planned))
    dispatch(dep)
    messages.success(
        request,
        f"Applying plan #{planned.pk} (fingerprint {wanted[:12]}) to {env.suffix} as deployment #{dep.pk}.",
    )
    return HttpResponseRedirect(_admin_url(dep))


def deployment_urls(model_admin: Any) -> list[Any]:
    wrap = _wrapper(model_admin)
    return [
        path("<path:object_id>/live/", wrap(live_view, "GET"), name="portal_deployment_live"),
        path("<path:object_id>/apply/", wrap(apply_plan_view), name="portal_deployment_apply"),
    ]


def deployment_context(request: HttpRequest, dep: Deployment) -> dict[str, Any]:
    parts = deployment_parts(dep)
    return {
        **parts,
        **_log_links(request, dep, parts),
        "can_apply": _can_apply(request, dep),
        "live_url": reverse("admin:portal_deployment_live", args=[dep.pk]),
    }


def _log_links(request: HttpRequest, dep: Deployment, parts: dict[str, Any]) -> dict[str, Any]:
    """Issue 19: where a check's request's lines are, a failed check's lines (read now, bounded,
    cached briefly), and for a rolled-back release the errors of its window. Adds to `parts`' release."""
    if "release" in parts:
        parts["release"]["errors_url"] = log_pages.release_errors_url(dep)
    return {
        "check_logs": log_pages.check_logs(actor(request), parts["checks"], dep),
        "logs_url": reverse("admin:portal_environment_logs", args=[dep.environment_id]),
    }


def _wrapper(model_admin: Any) -> Callable[..., Callable[..., HttpResponse]]:
    """A view bound to its ModelAdmin, limited to `methods` (POST unless told), behind the admin's
    login, staff check and CSRF protection."""

    def wrap(view: Callable[..., HttpResponse], *methods: str) -> Callable[..., HttpResponse]:
        bound = require_http_methods(list(methods or ["POST"]))(partial(view, model_admin))
        guarded: Callable[..., HttpResponse] = model_admin.admin_site.admin_view(bound)
        return guarded

    return wrap
