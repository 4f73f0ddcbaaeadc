"""The operator console, built from Django admin's own parts.

Every model is registered: environments are added, changed and deleted through `portal.services.environments`
(the same checks and audit record as the CLI; a refusal shows on the form), run records are
read-only. On top of that (see `portal.console`): the environment list shows state by symbol and
word, the environment page has the Plan / Provision / Verify / Drift check / Teardown buttons as
object tools (POST forms, checked on the server by role, `portal.permissions`), the deployment
page follows a run live with a timeline picture, and the index is an overview.

List pages select their related rows in the same query, so they cost a constant number of
queries however many rows there are.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.services import environments as environment_service
from portal.services import runs as run_service
from portal.services.base import ActionError, Actor
from provisioning.spec import OVERRIDABLE

from .console import login, traffic, views
from .console.badges import ago, badge, run_badge
from .documents import redacted
from .models import Artifact, AuditEvent, CheckResult, Deployment, DriftFinding, Environment, Step
from .permissions import allowed

admin.site.site_header = "envport console"
admin.site.site_title = "envport"
admin.site.index_title = "Overview"
admin.site.index_template = "admin/portal/console_index.html"
admin.site.login_form = login.LimitedLoginForm  # failed sign-ins limited per address (portal.lockout)
# The lists get the whole width (issue 23: at 1366-1440 px the app sidebar left the audit,
# deliveries and deployments lists 717 px and clipped them); the overview and breadcrumbs navigate.
admin.site.enable_nav_sidebar = False


class ConsoleMedia:
    """The console's stylesheet (badges, panels) and its script (copy buttons, live polling)."""

    css = {"all": ("portal/console.css",)}
    js = ("portal/console.js",)


# R-FLEET-1: a list page shows a page of rows and counts only what its filters match, so that with a
# thousand environments (and tens of thousands of steps) it answers as fast as with ten.
LIST_PER_PAGE = 30
OVERRIDES = ("overrides",)  # the environment form's sections after its first
AWS_TARGET = ("role_arn", "external_id")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Run records are written by runs only: viewable, never added, changed or deleted here."""

    Media = ConsoleMedia

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConsolePageAdmin(admin.ModelAdmin):
    """A model whose page has console views (`portal.console.views`): their URLs come before the
    admin's own, and the change page gets their context."""

    def console_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def console_urls(self) -> list[Any]:
        raise NotImplementedError

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        if obj is not None:
            context.update(self.console_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[Any]:
        return self.console_urls() + super().get_urls()


# --- environments ---------------------------------------------------------------------------
class ExpiryFilter(admin.SimpleListFilter):
    """Previews about to be torn down by the expiry schedule (R-OPS-5)."""

    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("24h", "expiring within 24 hours"),
            ("7d", "expiring within 7 days"),
            ("expired", "expired"),
            ("never", "no expiry"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Environment]) -> QuerySet[Environment]:
        now = timezone.now()
        windows = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}
        value = self.value()
        if value in windows:
            return queryset.filter(expires_at__gt=now, expires_at__lte=now + windows[value])
        if value == "expired":
            return queryset.filter(expires_at__lte=now)
        if value == "never":
            return queryset.filter(expires_at__isnull=True)
        return queryset


def overrides_patch(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The form holds the whole overrides object; the service takes a patch (None: back to the
    stage default). This is the patch that turns `before` into `after`."""
    return {**{key: None for key in before if key not in after}, **after}


class EnvironmentForm(forms.ModelForm):
    """The environment's form. What it may save is the service's to say: after the model's own
    validation it asks `portal.services.environments` (the `check_*` twins of create and update, as `actor`),
    and shows a refusal on the fields the problems name. The admin then saves through the
    service, never through the form."""

    actor: Actor | None = None  # set per request by EnvironmentAdmin.get_form

    class Meta:
        model = Environment
        fields = "__all__"

    def service_fields(self) -> dict[str, Any]:
        """The form's values as the service's keyword arguments (for an update, overrides as a patch)."""
        data = {name: self.cleaned_data[name] for name in self.fields if name in self.cleaned_data}
        if self.instance.pk is None:
            return data
        stored = Environment.objects.filter(pk=self.instance.pk).values_list("overrides", flat=True).get()
        data["overrides"] = overrides_patch(stored or {}, data.get("overrides") or {})
        return data

    def full_clean(self) -> None:
        """The form's and the model's validation, then the service's check if those passed (it
        would only repeat their problems)."""
        super().full_clean()
        if not self.is_bound or self.errors:
            return
        if self.actor is None:
            raise ImproperlyConfigured("EnvironmentForm needs an actor: EnvironmentAdmin.get_form sets it")
        try:
            if self.instance.pk is None:
                environment_service.check_create_environment(self.actor, **self.service_fields())
            else:
                environment_service.check_update_environment(
                    self.actor, self.instance, **self.service_fields()
                )
        except ActionError as exc:
            self.add_problems(exc)

    def add_problems(self, exc: ActionError) -> None:
        """Each "field: message" problem on its field; any other as an error of the whole form."""
        for problem in exc.problems:
            name, sep, message = problem.partition(": ")
            if sep and name in self.fields:
                self.add_error(name, message)
            else:
                self.add_error(None, problem)


class ServiceRefused(Exception):
    """The service refused at save time a change that the form's check had accepted."""

    def __init__(self, error: ActionError) -> None:
        super().__init__(error.message)
        self.error = error


def _refusal_text(exc: ActionError) -> str:
    extra = [p for p in exc.problems if p != exc.message]
    return exc.message + (": " + "; ".join(extra) if extra else "")


PROFILE_GROUPS = (
    ("Compute (Lambda)", ("memory_mb", "timeout_s", "reserved_concurrency", "log_level")),
    ("API throttling and quota", ("throttle_rate", "throttle_burst", "quota_per_day")),
    (
        "Data (DynamoDB)",
        (
            "billing_mode",
            "read_capacity",
            "write_capacity",
            "max_read_capacity",
            "max_write_capacity",
            "pitr",
            "deletion_protection",
        ),
    ),
    ("Logs", ("log_retention_days",)),
    ("Alarm thresholds", tuple(k for k in OVERRIDABLE if k.startswith("alarm_"))),
    ("Access (authorization)", ("auth", "auth_ttl_s", "cognito_token_use")),
    ("Network", ("network", "vpc_id", "subnet_ids")),
)
# EnvironmentAdmin's read-only fields showing PROFILE_GROUPS, in the same order.
PROFILE_FIELDS = (
    "profile_compute",
    "profile_api",
    "profile_data",
    "profile_logs",
    "profile_alarms",
    "profile_access",
    "profile_network",
)


def _without(fieldset: Any, name: str) -> Any:
    """A fieldset less one field (the add form has no desired_state: a new environment is wanted)."""
    title, options = fieldset
    return title, {**options, "fields": tuple(f for f in options["fields"] if f != name)}


def _profile_table(keys: tuple[str, ...]) -> Any:
    """A read-only field: these settings' stage default and value here side by side, and the source."""

    @admin.display(description="settings")
    def show(self: Any, obj: Environment) -> SafeString:
        rows = [row for row in obj.effective_settings() if row["key"] in keys]
        body = format_html_join(
            "",
            '<tr class="ep-{}"><th scope="row">{}</th><td>{}</td><td><strong>{}</strong></td>'
            '<td>{}</td><td class="ep-muted">{}</td></tr>',
            ((r["source"], r["key"], r["default"], r["value"], r["source"], r["allowed"]) for r in rows),
        )
        return format_html(
            '<table class="ep-profile"><thead><tr><th>setting</th><th>stage default ({})</th>'
            "<th>this environment</th><th>source</th><th>allowed</th></tr></thead><tbody>{}</tbody></table>",
            obj.stage,
            body,
        )

    return show


@admin.register(Environment)
class EnvironmentAdmin(ConsolePageAdmin):
    Media = ConsoleMedia
    form = EnvironmentForm
    change_form_template = "admin/portal/environment/change_form.html"
    list_display = (
        "suffix",
        "stage",
        "region",
        "status_badge",
        "health_badge",
        "drift_badge",
        "last_deployment_summary",
        "endpoint_link",
        "owner",
        "expires_at",
    )
    list_filter = (
        "stage",
        "status",
        "health",
        "drift_state",
        "owner",
        ExpiryFilter,
        "desired_state",
        "region",
    )
    search_fields = ("suffix", "owner", "cost_centre", "region")
    list_select_related = ("last_deployment",)
    list_per_page = LIST_PER_PAGE
    show_full_result_count = False
    actions = ("verify_selected", "drift_selected")
    profile_compute = _profile_table(PROFILE_GROUPS[0][1])
    profile_api = _profile_table(PROFILE_GROUPS[1][1])
    profile_data = _profile_table(PROFILE_GROUPS[2][1])
    profile_logs = _profile_table(PROFILE_GROUPS[3][1])
    profile_alarms = _profile_table(PROFILE_GROUPS[4][1])
    profile_access = _profile_table(PROFILE_GROUPS[5][1])
    profile_network = _profile_table(PROFILE_GROUPS[6][1])
    state = (
        "status",
        "health",
        "health_checked_at",
        "health_detail",
        "drift_state",
        "drift_checked_at",
        "last_deployment",
    )
    record = ("created_by", "created_at", "updated_by", "updated_at")
    readonly_fields = (*state, "outputs", *record, *PROFILE_FIELDS)
    fieldsets = (
        (
            None,
            # every audited field but those of the sections below, in the audit trail's order
            {"fields": tuple(f for f in environment_service.AUDITED if f not in (*OVERRIDES, *AWS_TARGET))},
        ),
        (
            "Stage-profile overrides",
            {
                "fields": OVERRIDES,
                "description": 'A JSON object of setting: value, e.g. {"memory_mb": 512}; the tables '
                "below show each setting's stage default next to its value here.",
            },
        ),
        ("AWS target", {"fields": AWS_TARGET, "classes": ("collapse",)}),
        ("State", {"fields": state}),
        ("Record", {"fields": record, "classes": ("collapse",)}),
    )

    # --- list columns -------------------------------------------------------------------------
    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Environment) -> SafeString:
        return badge(obj.status)

    @admin.display(description="health", ordering="health")
    def health_badge(self, obj: Environment) -> SafeString:
        return badge(obj.health)

    @admin.display(description="drift", ordering="drift_state")
    def drift_badge(self, obj: Environment) -> SafeString:
        return badge(obj.drift_state)

    @admin.display(description="last deployment", ordering="last_deployment__created_at")
    def last_deployment_summary(self, obj: Environment) -> SafeString | str:
        dep = obj.last_deployment
        if dep is None:
            return "-"
        seconds = dep.duration_s
        return format_html(
            '<a href="{}">#{} {}</a> {} <span class="ep-muted">{}{}</span>',
            reverse("admin:portal_deployment_change", args=[dep.pk]),
            dep.pk,
            dep.kind,
            run_badge(dep.status, dep.result),
            ago(dep.finished_at or dep.created_at),
            "" if seconds is None else f" · {seconds:.1f} s",
        )

    @admin.display(description="endpoint")
    def endpoint_link(self, obj: Environment) -> SafeString | str:
        url = (obj.outputs or {}).get("api_endpoint")
        if not url:
            return "-"
        label = (obj.outputs or {}).get("api_id") or "endpoint"
        return format_html('<a href="{}" title="{}" rel="noopener noreferrer">{} ↗</a>', url, url, label)

    # --- the page -----------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Environment]:
        return super().get_queryset(request).select_related("last_deployment", "created_by", "updated_by")

    def get_fieldsets(self, request: HttpRequest, obj: Environment | None = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:  # a new environment: nothing to show of its state, and it is wanted present
            return [_without(fs, "desired_state") for fs in fieldsets if fs[0] not in ("State", "Record")]
        profile = [
            (f"Stage profile: {title}", {"fields": (name,)})
            for (title, _), name in zip(PROFILE_GROUPS, PROFILE_FIELDS, strict=True)
        ]
        return fieldsets[:2] + profile + fieldsets[2:]

    def get_readonly_fields(self, request: HttpRequest, obj: Environment | None = None) -> tuple[str, ...]:
        fields = tuple(self.readonly_fields)
        if obj is not None:
            fields += ("suffix",)  # it names every resource
        return fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = cast(type[EnvironmentForm], super().get_form(request, obj, change=change, **kwargs))
        form.actor = views.actor(request)
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Environment | None = None) -> bool:
        """The service's refusal (resources or a run would be orphaned) hides the button and answers 403."""
        if obj is not None and environment_service.deletion_problems(obj):
            return False
        return super().has_delete_permission(request, obj)

    def console_context(self, request: HttpRequest, obj: Environment) -> dict[str, Any]:
        return {**views.environment_context(request, obj), **traffic.panel(request, obj)}

    def console_urls(self) -> list[Any]:
        return views.environment_urls(self) + traffic.urls(self)

    # --- saving and deleting: through the service, like the CLI --------------------------------
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        """If the service refuses at save time what the form's check accepted (the environment
        changed in between: a run started, say), nothing was written (the view's transaction rolls
        back); the form is shown again, checked against the new state, with the refusal."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            messages.error(request, _refusal_text(refused.error))
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:  # refused again though checked again: give up cleanly
            messages.error(request, _refusal_text(refused.error))
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Environment, form: Any, change: bool) -> None:
        actor = views.actor(request)
        try:
            if change:
                environment_service.update_environment(actor, obj, **form.service_fields())
            else:
                saved = environment_service.create_environment(actor, **form.service_fields())
                obj.pk = saved.pk
                obj.refresh_from_db()
                obj._state.adding = False
        except ActionError as exc:
            raise ServiceRefused(exc) from exc
        for warning in obj.capacity_warnings():
            self.message_user(request, f"Capacity warning: {warning.message}", messages.WARNING)

    def delete_model(self, request: HttpRequest, obj: Environment) -> None:
        try:
            environment_service.delete_environment(views.actor(request), obj)
        except ActionError as exc:
            raise PermissionDenied(_refusal_text(exc)) from exc

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Environment]) -> None:
        actor = views.actor(request)
        for env in queryset:
            try:
                environment_service.delete_environment(actor, env)
            except ActionError as exc:
                self.message_user(request, _refusal_text(exc), messages.ERROR)

    # --- admin actions: the same runs for many environments at once ---------------------------
    def _run_selected(self, request: HttpRequest, queryset: QuerySet[Environment], kind: str) -> None:
        started, refused = [], []
        for env in queryset:
            try:
                dep = run_service.request_deployment(views.actor(request), env, kind)
            except ActionError as exc:
                refused.append(exc.message)
                continue
            views.dispatch(dep)
            started.append(f"{env.suffix} (#{dep.pk})")
        if started:
            self.message_user(request, f"{kind} started: " + ", ".join(started), messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)

    @admin.action(description="Verify selected environments", permissions=["verify"])
    def verify_selected(self, request: HttpRequest, queryset: QuerySet[Environment]) -> None:
        self._run_selected(request, queryset, Deployment.Kind.VERIFY)

    @admin.action(description="Check selected environments for drift", permissions=["drift"])
    def drift_selected(self, request: HttpRequest, queryset: QuerySet[Environment]) -> None:
        self._run_selected(request, queryset, Deployment.Kind.DRIFT)

    def has_verify_permission(self, request: HttpRequest) -> bool:
        return allowed(request.user, "verify")

    def has_drift_permission(self, request: HttpRequest) -> bool:
        return allowed(request.user, "drift")


# --- runs -----------------------------------------------------------------------------------
@admin.register(Deployment)
class DeploymentAdmin(ConsolePageAdmin, ReadOnlyAdmin):
    change_form_template = "admin/portal/deployment/change_form.html"
    list_display = (
        "id",
        "environment",
        "kind",
        "status_badge",
        "requested",
        "created_at",
        "duration",
        "calls",
    )
    list_filter = ("status", "kind", "trigger", "environment__stage")
    search_fields = ("environment__suffix", "error", "celery_task_id")
    list_select_related = ("environment", "requested_by")
    list_per_page = LIST_PER_PAGE
    show_full_result_count = False
    date_hierarchy = "created_at"
    actions = ("cancel_queued",)
    record = (
        "environment",
        "kind",
        "status",
        "trigger",
        "requested_by",
        "options",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "attempts",
        "requeued_at",
        "calls_total",
        "calls_mutating",
        "calls_by_operation",
        "outputs",
        "error",
        "celery_task_id",
        "artifact_sha256",
        "outcome",
        "result",
        "release_state",
        "spec_snapshot",
    )
    readonly_fields = record
    fieldsets = (("Record", {"fields": record, "classes": ("collapse",)}),)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("environment", "requested_by")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Deployment) -> SafeString:
        return run_badge(obj.status, obj.result)

    @admin.display(description="by")
    def requested(self, obj: Deployment) -> str:
        """Who asked (a user) or what did (cli, schedule, api): one column, so the list fits 1366 px."""
        return obj.requested_by.get_username() if obj.requested_by else obj.trigger

    @admin.display(description="AWS calls", ordering="calls_total")
    def calls(self, obj: Deployment) -> str:
        return f"{obj.calls_total} ({obj.calls_mutating} mutating)" if obj.calls_total else "-"

    @admin.display(description="duration")
    def duration(self, obj: Deployment) -> str:
        seconds = obj.duration_s
        return "-" if seconds is None else f"{seconds:.1f} s"

    def console_context(self, request: HttpRequest, obj: Deployment) -> dict[str, Any]:
        subtitle = f"#{obj.pk} {obj.kind} of {obj.environment.suffix}"  # the status is live
        return {**views.deployment_context(request, obj), "subtitle": subtitle}

    def console_urls(self) -> list[Any]:
        return views.deployment_urls(self)

    @admin.action(description="Cancel selected queued deployments", permissions=["cancel"])
    def cancel_queued(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        for dep in queryset.select_related("environment"):
            try:
                run_service.cancel_deployment(views.actor(request), dep)
            except ActionError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"#{dep.pk} cancelled", messages.SUCCESS)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return allowed(request.user, "provision")


@admin.register(Artifact)
class ArtifactAdmin(ReadOnlyAdmin):
    """Function code the portal can release (R-REL-1): recorded by the CLI's or the console's
    release; the zip itself is never loaded on these pages."""

    list_display = ("short_sha", "handler", "size_bytes", "source", "created_by", "created_at")
    search_fields = ("sha256", "source", "handler")
    list_select_related = ("created_by",)
    fields = (
        "sha256",
        "size_bytes",
        "source",
        "handler",
        "runtime",
        "architecture",
        "created_by",
        "created_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Artifact]:
        return super().get_queryset(request).defer("data")

    @admin.display(description="SHA-256", ordering="sha256")
    def short_sha(self, obj: Artifact) -> str:
        return obj.sha256[:12]


class RunPartAdmin(ReadOnlyAdmin):
    """A run's steps or checks: listed by run, newest first, each with its environment."""

    list_select_related = ("deployment__environment",)
    ordering = ("-deployment_id", "position")  # newest runs first, by the index (not a join's sort)
    list_per_page = LIST_PER_PAGE
    show_full_result_count = False


@admin.register(Step)
class StepAdmin(RunPartAdmin):
    list_display = ("deployment", "position", "resource", "kind", "action", "status", "seconds", "calls")
    list_filter = ("status", "action", "kind")
    search_fields = ("resource", "deployment__environment__suffix", "error")


@admin.register(CheckResult)
class CheckResultAdmin(RunPartAdmin):
    list_display = ("deployment", "name", "requirement", "passed", "http_status", "latency_ms")
    list_filter = ("passed", "requirement")
    search_fields = ("name", "deployment__environment__suffix")


@admin.register(DriftFinding)
class DriftFindingAdmin(ReadOnlyAdmin):
    list_display = ("environment", "deployment", "resource", "field", "wanted", "found")
    list_filter = ("resource",)
    search_fields = ("environment__suffix", "resource", "field")
    list_select_related = ("environment", "deployment__environment")
    ordering = ("-deployment_id", "resource", "field")
    list_per_page = LIST_PER_PAGE
    show_full_result_count = False


class RecentEnvironmentFilter(admin.SimpleListFilter):
    """The audit trail by environment: the RECENT environments with the newest events as links (not
    every environment ever made: a thousand links), any other with `?environment_suffix=` or the
    search box."""

    title = "environment"
    parameter_name = "environment_suffix"
    RECENT = 15

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        newest = (
            AuditEvent.objects.exclude(environment_suffix="")
            .order_by("-id")
            .values_list("environment_suffix", flat=True)[: self.RECENT * 20]
        )
        seen: dict[str, None] = dict.fromkeys(newest)
        recent = sorted(list(seen)[: self.RECENT])
        chosen = self.value()
        if chosen and chosen not in recent:
            recent.append(chosen)
        return [(suffix, suffix) for suffix in recent]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        return queryset.filter(environment_suffix=value) if value else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail: who did what to which environment, when, and from where (UI, CLI, schedule)."""

    list_display = (
        "at",
        "actor",
        "source",
        "action",
        "environment_link",
        "deployment_link",
        "summary",
        "remote_addr",
    )
    list_filter = ("source", "action", RecentEnvironmentFilter, ("who", admin.RelatedOnlyFieldListFilter))
    search_fields = ("actor", "environment_suffix", "action")
    list_per_page = LIST_PER_PAGE
    show_full_result_count = False
    date_hierarchy = "at"
    # the detail as every reader of the trail sees it: what the environment document hides, masked
    fields = (
        "at",
        "who",
        "actor",
        "source",
        "action",
        "environment_suffix",
        "deployment",
        "detail_shown",
        "remote_addr",
    )
    readonly_fields = fields

    @admin.display(description="detail")
    def detail_shown(self, obj: AuditEvent) -> str:
        return json.dumps(redacted(obj.detail or {}), indent=2, sort_keys=True, default=str)

    @admin.display(description="environment", ordering="environment_suffix")
    def environment_link(self, obj: AuditEvent) -> SafeString | str:
        if obj.environment_id is None:
            return obj.environment_suffix or "-"
        url = reverse("admin:portal_environment_change", args=[obj.environment_id])
        return format_html('<a href="{}">{}</a>', url, obj.environment_suffix)

    @admin.display(description="deployment", ordering="deployment_id")
    def deployment_link(self, obj: AuditEvent) -> SafeString | str:
        if obj.deployment_id is None:
            return "-"
        url = reverse("admin:portal_deployment_change", args=[obj.deployment_id])
        return format_html('<a href="{}">#{}</a>', url, obj.deployment_id)

    @admin.display(description="detail")
    def summary(self, obj: AuditEvent) -> SafeString | str:
        """Key and value, nested keys dotted ("options.verify false"), never a Python dict."""
        pairs = key_values(redacted(obj.detail or {}))[:8]
        if not pairs:
            return "-"
        return format_html_join(" ", '<span class="ep-kv"><span class="ep-muted">{}</span> {}</span>', pairs)


def key_values(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A JSON detail as (key, value) rows as people write them: dotted keys, true/false, lists."""
    if isinstance(detail, dict):
        rows: list[tuple[str, str]] = []
        for key, value in detail.items():
            rows.extend(key_values(value, f"{prefix}{key}."))
        return rows
    if detail in (None, "", [], {}):
        return []
    if isinstance(detail, bool):
        text = "true" if detail else "false"
    elif isinstance(detail, list):
        text = ", ".join(str(v) for v in detail)
    else:
        text = str(detail)
    return [(prefix.rstrip("."), text[:120] + ("…" if len(text) > 120 else ""))]


# API tokens and notifications register their own pages.
from .console import tokens as tokens_admin  # noqa: E402, F401
from .notifications import admin as notifications_admin  # noqa: E402, F401
