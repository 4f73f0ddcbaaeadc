"""One stored cost estimate of one environment (issue 21 item 2).

The figures the console and roll-ups read come from here, never from AWS per page view: the
scheduled task (`portal.tasks.scheduled_cost_all`) computes them with the sweeps. The totals are
columns (to sum and sort in the database); the lines, windows, free tiers and what is not counted
are the estimate's JSON (`provisioning.cost.CostEstimate.to_dict`). A failed attempt is stored
too, with its error and no figures, so "why is the figure old" has an answer.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class CostEstimate(models.Model):
    environment = models.ForeignKey(
        "portal.Environment", on_delete=models.CASCADE, related_name="cost_estimates"
    )
    computed_at = models.DateTimeField()
    currency = models.CharField(max_length=8, default="USD")
    monthly = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    fixed_monthly = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    storage_monthly = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    usage_monthly = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    so_far = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    at_expiry = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    calls = models.PositiveIntegerField(default=0, help_text="AWS calls the estimate made.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["environment", "-computed_at"], name="cost_env_computed_idx")]

    def __str__(self) -> str:
        figure = f"${self.monthly:.2f}/month" if self.monthly is not None else f"failed: {self.error[:60]}"
        return f"{self.environment_id} at {self.computed_at:%Y-%m-%d %H:%M}: {figure}"

    @property
    def ok(self) -> bool:
        return not self.error and self.monthly is not None

    def requests(self, days: int) -> int | None:
        """API requests of the last `days` days (1, 7 or 30) as measured, not extrapolated; None
        when the figure has no such window (a failed attempt). What an idle finding reads."""
        for window in (self.figures or {}).get("windows", []):
            if window.get("days") == days:
                return int(window.get("totals", {}).get("api_count", 0))
        return None

    @property
    def fixed_share(self) -> float | None:
        """The part of the monthly figure that is fixed cost (1.0: it costs the same idle)."""
        if not self.monthly or self.fixed_monthly is None:
            return None
        return float(self.fixed_monthly / self.monthly)


class Budget(models.Model):
    """A monthly budget of one environment or of one cost centre (issue 21 item 3).

    Evaluated each time a figure is stored (`portal.costs.service.compute`): when the month's
    projection (the environment's monthly figure, or the sum of the cost centre's environments'
    newest figures) reaches 80 % and then 100 % of the budget, `cost.budget_80` and
    `cost.budget_100` go through the notification rules, each once per budget per month
    (`CostAlert` records what was sent)."""

    environment = models.ForeignKey(
        "portal.Environment",
        on_delete=models.CASCADE,
        related_name="budgets",
        null=True,
        blank=True,
        help_text="The environment budgeted; leave empty to budget a cost centre.",
    )
    cost_centre = models.CharField(
        max_length=64, blank=True, help_text="The cost centre budgeted (every environment tagged with it)."
    )
    monthly = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("1000000000"))],
        help_text="US dollars a month.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cost_centre", "environment__suffix"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(environment__isnull=False) & Q(cost_centre=""))
                | (Q(environment__isnull=True) & ~Q(cost_centre="")),
                name="budget_one_target",
                violation_error_message="a budget is of an environment or of a cost centre: give one of them",
            ),
            models.UniqueConstraint(
                fields=["environment"], condition=Q(environment__isnull=False), name="budget_one_per_env"
            ),
            models.UniqueConstraint(
                fields=["cost_centre"], condition=~Q(cost_centre=""), name="budget_one_per_cost_centre"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target}: ${self.monthly:.2f} a month"

    @property
    def target(self) -> str:
        if self.environment is not None:
            return f"environment {self.environment.suffix}"
        return f"cost centre {self.cost_centre}"


class CostAlert(models.Model):
    """A cost notification sent, so it is sent once: `budget:<id>:<YYYY-MM>:<80|100>` once per
    budget per month, `idle:<environment id>` once per idle spell (removed when the environment
    serves requests again, so a later spell notifies again)."""

    key = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=40)
    environment = models.ForeignKey(
        "portal.Environment", on_delete=models.CASCADE, related_name="cost_alerts", null=True
    )
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts", null=True)
    sent_at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} ({self.key}) at {self.sent_at:%Y-%m-%d %H:%M}"
