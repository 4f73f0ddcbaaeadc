"""The admin's Costs section: budgets (per environment or cost centre) and the cost notifications
sent. Budgets are edited here; what was sent is a record, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Budget, CostAlert


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("__str__", "environment", "cost_centre", "monthly", "enabled")
    list_filter = ("enabled",)
    search_fields = ("cost_centre", "environment__suffix")
    autocomplete_fields = ("environment",)


@admin.register(CostAlert)
class CostAlertAdmin(admin.ModelAdmin):
    list_display = ("event", "key", "environment", "budget", "sent_at")
    list_filter = ("event",)
    readonly_fields = ("key", "event", "environment", "budget", "sent_at", "detail")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
