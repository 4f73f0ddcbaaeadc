"""Budgets per environment or cost centre, and the cost notifications sent (issue 21 item 3)."""

from decimal import Decimal

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0001_cost_estimates"),
        ("portal", "0009_cost_events"),
    ]

    operations = [
        migrations.CreateModel(
            name="Budget",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "cost_centre",
                    models.CharField(
                        blank=True,
                        help_text="The cost centre budgeted (every environment tagged with it).",
                        max_length=64,
                    ),
                ),
                (
                    "monthly",
                    models.DecimalField(
                        decimal_places=2,
                        help_text="US dollars a month.",
                        max_digits=12,
                        validators=[
                            django.core.validators.MinValueValidator(Decimal("0.01")),
                            django.core.validators.MaxValueValidator(Decimal("1000000000")),
                        ],
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "environment",
                    models.ForeignKey(
                        blank=True,
                        help_text="The environment budgeted; leave empty to budget a cost centre.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="budgets",
                        to="portal.environment",
                    ),
                ),
            ],
            options={
                "ordering": ["cost_centre", "environment__suffix"],
            },
        ),
        migrations.CreateModel(
            name="CostAlert",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=100, unique=True)),
                ("event", models.CharField(max_length=40)),
                ("sent_at", models.DateTimeField()),
                ("detail", models.JSONField(blank=True, default=dict)),
                (
                    "budget",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alerts",
                        to="costs.budget",
                    ),
                ),
                (
                    "environment",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="cost_alerts",
                        to="portal.environment",
                    ),
                ),
            ],
            options={
                "ordering": ["-sent_at", "-id"],
            },
        ),
        migrations.AddConstraint(
            model_name="budget",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("environment__isnull", False), ("cost_centre", "")),
                    models.Q(("environment__isnull", True), models.Q(("cost_centre", ""), _negated=True)),
                    _connector="OR",
                ),
                name="budget_one_target",
                violation_error_message="a budget is of an environment or of a cost centre: give one of them",
            ),
        ),
        migrations.AddConstraint(
            model_name="budget",
            constraint=models.UniqueConstraint(
                condition=models.Q(("environment__isnull", False)),
                fields=("environment",),
                name="budget_one_per_env",
            ),
        ),
        migrations.AddConstraint(
            model_name="budget",
            constraint=models.UniqueConstraint(
                condition=models.Q(("cost_centre", ""), _negated=True),
                fields=("cost_centre",),
                name="budget_one_per_cost_centre",
            ),
        ),
    ]
