"""Notification channels, rules and deliveries become the notifications app's: state only. Their
tables were made by the portal app (its 0005) and keep their names (`db_table`), so no row moves;
portal's 0010 drops them from the portal app's state once this has taken them."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("portal", "0009_cost_events"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="NotificationChannel",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100, unique=True)),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("email", "e-mail"),
                                    ("slack", "Slack-compatible incoming webhook"),
                                    ("webhook", "generic webhook (signed, HMAC-SHA256)"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "target",
                            models.TextField(
                                help_text="E-mail: addresses separated by commas. Webhooks: the URL (http or https)."
                            ),
                        ),
                        (
                            "secret",
                            models.CharField(
                                blank=True,
                                help_text="Generic webhooks: the key that signs each body (HMAC-SHA256).",
                                max_length=200,
                            ),
                        ),
                        ("enabled", models.BooleanField(default=True)),
                        ("consecutive_failures", models.PositiveIntegerField(default=0, editable=False)),
                        ("last_success_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        ("last_failure_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        ("last_error", models.TextField(blank=True, editable=False)),
                    ],
                    options={
                        "db_table": "portal_notificationchannel",
                        "ordering": ["name"],
                    },
                ),
                migrations.CreateModel(
                    name="NotificationRule",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "events",
                            models.JSONField(
                                default=list,
                                help_text="Any of: run.failed, run.succeeded, drift.found, health.changed, release.rolled_back, protection.lifted, cost.budget_80, cost.budget_100, cost.idle",
                            ),
                        ),
                        (
                            "stages",
                            models.JSONField(
                                blank=True, default=list, help_text="dev, staging, prod; empty: every stage."
                            ),
                        ),
                        (
                            "environments",
                            models.CharField(
                                blank=True,
                                help_text="A name pattern such as pr* or prod; empty: every environment.",
                                max_length=64,
                            ),
                        ),
                        ("enabled", models.BooleanField(default=True)),
                        (
                            "channel",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="rules",
                                to="notifications.notificationchannel",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_notificationrule",
                        "ordering": ["channel", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="Delivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("event", models.CharField(max_length=32)),
                        ("environment_suffix", models.CharField(blank=True, max_length=20)),
                        ("payload", models.JSONField(default=dict)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("delivered", "Delivered"),
                                    ("retrying", "Retrying"),
                                    ("failed", "Failed"),
                                ],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("response_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("last_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("delivered_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "deployment",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="portal.deployment",
                            ),
                        ),
                        (
                            "channel",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deliveries",
                                to="notifications.notificationchannel",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "deliveries",
                        "db_table": "portal_delivery",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["channel", "-created_at"], name="delivery_channel_idx")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
