"""API tokens and idempotency keys: the `tokens` app's models, on the tables the portal app made.

A token is shown once, when it is made; the database keeps its lookup id (the part after the
`envp_` prefix, not secret) and the SHA-256 of the whole token. A token is high-entropy (256
random bits), so a plain SHA-256 is the right hash: no password stretching is needed, and the
lookup is by id, then a constant-time comparison of digests (`portal.tokens.credentials`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .reach import Reach

ROLES = ("viewer", "operator", "admin")


class ApiToken(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer"
        OPERATOR = "operator"
        ADMIN = "admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What it is for (a pipeline's name).")
    lookup = models.CharField(max_length=16, unique=True, editable=False, help_text="Not secret.")
    digest = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the whole token.")
    role = models.CharField(
        max_length=16,
        choices=Role.choices,
        help_text="At most the user's role; the user's rights are the ceiling.",
    )
    read_only = models.BooleanField(default=False)
    stages = models.JSONField(
        default=list,
        help_text="The stages it reaches (dev, staging, prod); prod only when an admin asks for it.",
    )
    patterns = models.JSONField(
        default=list,
        blank=True,
        help_text="Name patterns (anchored globs, pr[0-9]*) inside those stages; none: every name.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "portal_apitoken"  # made by the portal app (its migration 0005)
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"envp_{self.lookup}… ({self.user}, {self.role})"

    @property
    def prefix(self) -> str:
        """What may be shown of a token: enough to recognise it, nothing to use it."""
        return f"envp_{self.lookup}"

    @property
    def scope(self) -> str:
        """Its reach in words: "stages dev,staging; environments pr*" (see `reach.Reach`)."""
        return Reach.of(self).describe()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class IdempotencyKey(models.Model):
    """The run a request with an `Idempotency-Key` header started: a retried request gets it again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request it answered.")
    deployment = models.ForeignKey("portal.Deployment", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "portal_idempotencykey"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user")]
