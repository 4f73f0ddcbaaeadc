"""One stored cost estimate of one environment (issue 21 item 2).

The figures the console and roll-ups read come from here, never from AWS per page view: the
scheduled task (`portal.tasks.scheduled_cost_all`) computes them with the sweeps. The totals are
columns (to sum and sort in the database); the lines, windows, free tiers and what is not counted
are the estimate's JSON (`provisioning.cost.CostEstimate.to_dict`). A failed attempt is stored
too, with its error and no figures, so "why is the figure old" has an answer.
"""

from __future__ import annotations

from django.db import models


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
