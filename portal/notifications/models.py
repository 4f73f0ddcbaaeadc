"""Notification channels, the rules that route events to them, and each delivery's record."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models

from .addresses import Refused, check_url

EVENTS = {
    "run.failed": "a run failed",
    "run.succeeded": "a run succeeded",
    "drift.found": "drift found",
    "health.changed": "health changed",
    "release.rolled_back": "a release was rolled back",
    "protection.lifted": "deletion protection lifted",
    "cost.budget_80": "a budget's monthly projection reached 80 %",
    "cost.budget_100": "a budget's monthly projection reached 100 %",
    "cost.idle": "an environment costs money while serving no request",
}
# A channel is shown as failing after this many deliveries in a row gave up.
FAILING_AFTER = 3
MAX_RECIPIENTS = 20
MAX_EMAIL_TARGET = 2000


def target_error(kind: str, target: str) -> str | None:
    """What is wrong with a channel's target for its kind (and what is allowed), or None."""
    if kind == NotificationChannel.Kind.EMAIL:
        addresses = [a.strip() for a in target.split(",") if a.strip()]
        allowed = f"e-mail addresses separated by commas, at most {MAX_RECIPIENTS}"
        if not addresses or len(addresses) > MAX_RECIPIENTS or len(target) > MAX_EMAIL_TARGET:
            return allowed
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                return f"{address[:100]!r} is not an e-mail address; {allowed}"
        return None
    try:
        check_url(target)
    except Refused as exc:
        return str(exc)
    return None


class NotificationChannel(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "e-mail"
        SLACK = "slack", "Slack-compatible incoming webhook"
        WEBHOOK = "webhook", "generic webhook (signed, HMAC-SHA256)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.TextField(
        help_text="E-mail: addresses separated by commas. Webhooks: the URL (http or https)."
    )
    secret = models.CharField(
        max_length=200, blank=True, help_text="Generic webhooks: the key that signs each body (HMAC-SHA256)."
    )
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)

    class Meta:
        db_table = "portal_notificationchannel"  # made by the portal app (its migration 0005)
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def failing(self) -> bool:
        return self.consecutive_failures >= FAILING_AFTER

    def clean(self) -> None:
        """The target fits the kind: a webhook's URL is checked for form and, when its host is an
        IP address, for being public (a name is checked on what it resolves to, at send time)."""
        if self.kind not in self.Kind.values:
            raise ValidationError({"kind": f"one of {', '.join(self.Kind.values)}"})
        error = target_error(self.kind, self.target or "")
        if error:
            raise ValidationError({"target": error})

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Every path that stores a channel (admin, shell, code) passes `clean`: a channel cannot
        be aimed at a refused URL by skipping the form."""
        self.clean()
        super().save(*args, **kwargs)


class NotificationRule(models.Model):
    """Which events of which environments go to a channel: every event listed, and an environment
    of one of the stages (none listed: any) whose name matches the pattern (empty: any)."""

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="rules")
    events = models.JSONField(default=list, help_text="Any of: " + ", ".join(EVENTS))
    stages = models.JSONField(default=list, blank=True, help_text="dev, staging, prod; empty: every stage.")
    environments = models.CharField(
        max_length=64, blank=True, help_text="A name pattern such as pr* or prod; empty: every environment."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        db_table = "portal_notificationrule"
        ordering = ["channel", "id"]

    def __str__(self) -> str:
        return f"{self.channel.name}: {', '.join(self.events)}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        RETRYING = "retrying"
        FAILED = "failed"

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    environment_suffix = models.CharField(max_length=20, blank=True)
    deployment = models.ForeignKey(
        "portal.Deployment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "portal_delivery"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["channel", "-created_at"], name="delivery_channel_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event} {self.environment_suffix} -> {self.channel.name} ({self.status})"
