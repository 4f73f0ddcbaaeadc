"""The admin's Costs section: budgets (per environment or cost centre) and the cost notifications
sent. Budgets are edited here; what was sent is a record, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from portal.models import Environment
from portal.services.base import ActionError, Actor

from . import service
from .models import Budget, CostAlert


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("__str__", "environment", "cost_centre", "monthly", "enabled")
    list_filter = ("enabled",)
    search_fields = ("cost_centre", "environment__suffix")
    autocomplete_fields = ("environment",)

    def get_urls(self) -> list[URLPattern]:
        rollup = path("rollup/", self.admin_site.admin_view(self.rollup_view), name="costs_budget_rollup")
        return [rollup, *super().get_urls()]

    def rollup_view(self, request: HttpRequest) -> HttpResponse:
        """What the fleet costs a month by cost centre (or owner, or stage), from the stored figures
        (no AWS call), each group beside its budget: the cost-centre page of issue 21 item 5."""
        actor = Actor("ui", request.user)
        by = request.GET.get("by", "cost-centre")
        if by not in service.GROUPINGS:
            by = "cost-centre"
        envs = Environment.objects.exclude(status=Environment.Status.TORN_DOWN).order_by("suffix")
        try:
            groups, _found = service.rollup(envs, by, actor)
        except ActionError as exc:
            return TemplateResponse(
                request,
                "admin/costs/rollup.html",
                {**self.admin_site.each_context(request), "refused": exc.message},
                status=403,
            )
        budgets = {b.cost_centre: b for b in Budget.objects.filter(enabled=True, environment=None)}
        rows = [
            {
                "group": group,
                "budget": budgets.get(group.key) if by == "cost-centre" else None,
                "share": (
                    round(100 * group.monthly / budgets[group.key].monthly)
                    if by == "cost-centre" and group.key in budgets and budgets[group.key].monthly
                    else None
                ),
            }
            for group in groups
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Cost a month by {by.replace('-', ' ')}",
            "by": by,
            "groupings": list(service.GROUPINGS),
            "rows": rows,
            "total": sum((g.monthly for g in groups), 0),
        }
        return TemplateResponse(request, "admin/costs/rollup.html", context)


@admin.register(CostAlert)
class CostAlertAdmin(admin.ModelAdmin):
    list_display = ("event", "key", "environment", "budget", "sent_at")
    list_filter = ("event",)
    readonly_fields = ("key", "event", "environment", "budget", "sent_at", "detail")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
