"""API tokens and idempotency keys become the tokens app's: state only. Their tables were made by
the portal app (its 0005 and 0006) and keep their names (`db_table`), so no row moves; portal's
0010 drops them from the portal app's state once this has taken them."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("portal", "0009_cost_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "name",
                            models.CharField(
                                blank=True, help_text="What it is for (a pipeline's name).", max_length=100
                            ),
                        ),
                        (
                            "lookup",
                            models.CharField(
                                editable=False, help_text="Not secret.", max_length=16, unique=True
                            ),
                        ),
                        (
                            "digest",
                            models.CharField(
                                editable=False, help_text="SHA-256 of the whole token.", max_length=64
                            ),
                        ),
                        (
                            "role",
                            models.CharField(
                                choices=[("viewer", "Viewer"), ("operator", "Operator"), ("admin", "Admin")],
                                help_text="At most the user's role; the user's rights are the ceiling.",
                                max_length=16,
                            ),
                        ),
                        ("read_only", models.BooleanField(default=False)),
                        (
                            "stages",
                            models.JSONField(
                                default=list,
                                help_text="The stages it reaches (dev, staging, prod); prod only when an admin asks for it.",
                            ),
                        ),
                        (
                            "patterns",
                            models.JSONField(
                                blank=True,
                                default=list,
                                help_text="Name patterns (anchored globs, pr[0-9]*) inside those stages; none: every name.",
                            ),
                        ),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="api_tokens",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "API token",
                        "db_table": "portal_apitoken",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="IdempotencyKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("key", models.CharField(max_length=255)),
                        (
                            "fingerprint",
                            models.CharField(help_text="SHA-256 of the request it answered.", max_length=64),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "deployment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="portal.deployment",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_idempotencykey",
                        "constraints": [
                            models.UniqueConstraint(fields=("user", "key"), name="idempotency_key_per_user")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
