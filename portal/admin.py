"""Every model in the admin: environments editable (validated by build_spec), run records read-only.

List pages select their related rows in the same query, so they cost a constant number of
queries however many rows there are; a deployment page shows its steps, checks and findings
inline.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import actions
from .models import AuditEvent, CheckResult, Deployment, DriftFinding, Environment, Step


class ReadOnlyAdmin(admin.ModelAdmin):
    """Run records are written by runs only: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _actor(request: HttpRequest) -> actions.Actor:
    return actions.Actor("ui", request.user, remote_addr=request.META.get("REMOTE_ADDR"))


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = (
        "suffix",
        "stage",
        "region",
        "status",
        "health",
        "drift_state",
        "owner",
        "expires_at",
        "last_deployment_summary",
    )
    list_filter = ("stage", "status", "health", "drift_state", "desired_state", "region")
    search_fields = ("suffix", "owner", "cost_centre")
    list_select_related = ("last_deployment",)
    readonly_fields = (
        "status",
        "outputs",
        "health",
        "health_checked_at",
        "health_detail",
        "drift_state",
        "drift_checked_at",
        "last_deployment",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "suffix",
                    "stage",
                    "region",
                    "owner",
                    "cost_centre",
                    "alarm_emails",
                    "expires_at",
                    "desired_state",
                )
            },
        ),
        ("Stage-profile overrides", {"fields": ("overrides",)}),
        ("AWS target", {"fields": ("role_arn", "external_id"), "classes": ("collapse",)}),
        (
            "State",
            {
                "fields": (
                    "status",
                    "outputs",
                    "health",
                    "health_checked_at",
                    "health_detail",
                    "drift_state",
                    "drift_checked_at",
                    "last_deployment",
                )
            },
        ),
        ("Record", {"fields": ("created_by", "created_at", "updated_by", "updated_at")}),
    )

    @admin.display(description="last deployment", ordering="last_deployment__created_at")
    def last_deployment_summary(self, obj: Environment) -> str:
        dep = obj.last_deployment
        if dep is None:
            return "-"
        return f"#{dep.pk} {dep.kind} {dep.status}"

    def get_readonly_fields(self, request: HttpRequest, obj: Environment | None = None) -> tuple[str, ...]:
        fields = tuple(self.readonly_fields)
        if obj is not None:
            fields += ("suffix",)  # it names every resource
        return fields

    def save_model(self, request: HttpRequest, obj: Environment, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
        action = "environment.updated" if change else "environment.created"
        changed = list(form.changed_data) if change else []
        actions.audit(_actor(request), action, obj, detail={"changed": changed} if change else {})


class StepInline(ReadOnlyInline):
    model = Step
    fields = (
        "position",
        "resource",
        "kind",
        "action",
        "status",
        "started_offset_s",
        "seconds",
        "calls",
        "diffs",
        "error",
    )
    readonly_fields = fields


class CheckResultInline(ReadOnlyInline):
    model = CheckResult
    fields = ("name", "requirement", "passed", "http_status", "latency_ms", "expected", "found")
    readonly_fields = fields


class DriftFindingInline(ReadOnlyInline):
    model = DriftFinding
    fields = ("resource", "field", "wanted", "found")
    readonly_fields = fields


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "environment",
        "kind",
        "status",
        "trigger",
        "requested_by",
        "created_at",
        "duration",
        "calls_total",
        "calls_mutating",
    )
    list_filter = ("status", "kind", "trigger", "environment__stage")
    search_fields = ("environment__suffix", "error", "celery_task_id")
    list_select_related = ("environment", "requested_by")
    date_hierarchy = "created_at"
    inlines = (StepInline, CheckResultInline, DriftFindingInline)
    fields = (
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
        "spec_snapshot",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("environment", "requested_by")

    @admin.display(description="duration")
    def duration(self, obj: Deployment) -> str:
        seconds = obj.duration_s
        return "-" if seconds is None else f"{seconds:.1f} s"


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ("deployment", "position", "resource", "kind", "action", "status", "seconds", "calls")
    list_filter = ("status", "action", "kind")
    search_fields = ("resource", "deployment__environment__suffix", "error")
    list_select_related = ("deployment__environment",)


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ("deployment", "name", "requirement", "passed", "http_status", "latency_ms")
    list_filter = ("passed", "requirement")
    search_fields = ("name", "deployment__environment__suffix")
    list_select_related = ("deployment__environment",)


@admin.register(DriftFinding)
class DriftFindingAdmin(ReadOnlyAdmin):
    list_display = ("environment", "deployment", "resource", "field", "wanted", "found")
    list_filter = ("resource",)
    search_fields = ("environment__suffix", "resource", "field")
    list_select_related = ("environment", "deployment__environment")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "source", "action", "environment_suffix", "deployment_id", "remote_addr")
    list_filter = ("source", "action")
    search_fields = ("actor", "environment_suffix", "action")
    date_hierarchy = "at"
