"""The portal's records: environments, the deployments run on them, and what each run found.

Validation of an environment is the engine's (`provisioning.spec.build_spec`): `Environment.clean`
calls it and maps its problems onto fields, so the portal holds no second copy of the rules.
Run records (Deployment, Step, CheckResult, DriftFinding, AuditEvent) are written by
`portal.services` only, and are read-only everywhere else.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from provisioning.spec import (
    OVERRIDABLE,
    PROFILES,
    ROLE_ARN_RE,
    STAGES,
    CapacityWarning,
    EnvironmentSpec,
    SpecError,
    build_spec,
    capacity_warnings,
    describe_allowed,
    spec_from_dict,
)

# The Environment fields that build_spec validates; an override key maps to "overrides".
SPEC_FIELDS = ("suffix", "stage", "region", "owner", "cost_centre", "alarm_emails", "overrides")


class Environment(models.Model):
    class DesiredState(models.TextChoices):
        PRESENT = "present"
        ABSENT = "absent"

    class Status(models.TextChoices):
        NEW = "new"
        PROVISIONING = "provisioning"
        READY = "ready"
        FAILED = "failed"
        TEARING_DOWN = "tearing_down", "tearing down"
        TORN_DOWN = "torn_down", "torn down"

    class Health(models.TextChoices):
        UNKNOWN = "unknown"
        HEALTHY = "healthy"
        DEGRADED = "degraded"
        DOWN = "down"

    class Drift(models.TextChoices):
        UNKNOWN = "unknown"
        CLEAN = "clean"
        DRIFTED = "drifted"

    suffix = models.CharField(max_length=20, unique=True, help_text="Names every resource.")
    stage = models.CharField(max_length=16, choices=[(s, s) for s in STAGES], default="dev")
    region = models.CharField(max_length=32, default="us-east-1")
    owner = models.CharField(max_length=256, blank=True)
    cost_centre = models.CharField(max_length=256, blank=True)
    alarm_emails = models.JSONField(default=list, blank=True, help_text="A list of e-mail addresses.")
    overrides = models.JSONField(
        default=dict, blank=True, help_text="Stage-profile settings this environment overrides."
    )
    role_arn = models.CharField(max_length=2048, blank=True, help_text="Assumed for every run, if set.")
    external_id = models.CharField(max_length=1224, blank=True)
    desired_state = models.CharField(
        max_length=16, choices=DesiredState.choices, default=DesiredState.PRESENT
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Previews: torn down after this.")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    outputs = models.JSONField(
        default=dict,
        blank=True,
        help_text="What provisioning made (endpoint, names); the API key's id, never its value.",
    )
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_detail = models.TextField(blank=True)
    drift_state = models.CharField(max_length=16, choices=Drift.choices, default=Drift.UNKNOWN)
    drift_checked_at = models.DateTimeField(null=True, blank=True)
    last_deployment = models.ForeignKey(
        "Deployment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # The code that serves 100% of traffic, set by a promoted release or a rollback (R-REL-1/6);
    # empty: the portal's own lambda_bundle/. Kept by value (the spec needs it on every read)
    # rather than through a foreign key; `Artifact` holds each address's record.
    artifact_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    handler = models.CharField(max_length=256, blank=True, editable=False)
    # The physical DynamoDB table serving now, set by a restore's cut-over (or its undo); empty:
    # the environment's first table. Plan, drift and teardown follow it (`EnvironmentSpec.table_name`).
    table_name = models.CharField(max_length=255, blank=True, editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["suffix"]
        indexes = [
            models.Index(fields=["stage"], name="env_stage_idx"),
            models.Index(fields=["status"], name="env_status_idx"),
            models.Index(fields=["health"], name="env_health_idx"),
            models.Index(fields=["drift_state"], name="env_drift_idx"),
            models.Index(fields=["expires_at"], name="env_expires_idx"),
        ]
        # What the console's buttons need (granted to the viewer/operator/admin groups by
        # migration 0003; portal.permissions maps each console action to one of these).
        permissions = [
            ("plan_environment", "Can plan an environment (read-only)"),
            ("provision_environment", "Can provision an environment"),
            ("verify_environment", "Can verify an environment"),
            ("drift_environment", "Can check an environment for drift"),
            ("teardown_environment", "Can tear down a non-prod environment"),
            ("teardown_prod_environment", "Can tear down a prod environment"),
            ("lift_protection_environment", "Can lift an environment's deletion protection"),
            ("reveal_key_environment", "Can reveal an environment's API key"),
            ("release_environment", "Can release code to or roll back a non-prod environment"),
            ("release_prod_environment", "Can release code to or roll back a prod environment"),
        ]

    def __str__(self) -> str:
        return f"{self.suffix} ({self.stage})"

    # --- the engine's view ----------------------------------------------------------------
    def spec(self) -> EnvironmentSpec:
        """The resolved spec; raises SpecError listing every problem."""
        return build_spec(
            suffix=self.suffix,
            stage=self.stage,
            region=self.region,
            owner=self.owner,
            cost_centre=self.cost_centre,
            alarm_emails=self.alarm_emails or (),
            overrides=self.overrides or {},
            artifact_sha256=self.artifact_sha256 or None,
            handler=self.handler or None,
            table_name=self.table_name or None,
        )

    def clean_fields(self, exclude: Any = None) -> None:
        # build_spec (in clean) is the one validator of these fields: no duplicate messages.
        super().clean_fields(exclude=set(exclude or ()) | set(SPEC_FIELDS))

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if not isinstance(self.alarm_emails, list):
            errors.setdefault("alarm_emails", []).append("a list of e-mail addresses")
        if not isinstance(self.overrides, dict):
            errors.setdefault("overrides", []).append("an object of setting: value")
        if not errors:
            try:
                spec = self.spec()
            except SpecError as exc:
                for problem in exc.problems:
                    target = problem.field if problem.field in SPEC_FIELDS else "overrides"
                    label = "" if target == problem.field else f"{problem.field}: "
                    errors.setdefault(target, []).append(
                        f"{label}{problem.value!r} is not allowed; {problem.allowed}"
                    )
            else:
                self.overrides = dict(spec.overrides)  # typed: "512" -> 512, "yes" -> True
        if len(self.region or "") > 32 and "region" not in errors:
            errors["region"] = ["at most 32 characters"]
        if self.role_arn and not ROLE_ARN_RE.fullmatch(self.role_arn):
            errors.setdefault("role_arn", []).append(
                "an IAM role ARN such as arn:aws:iam::123456789012:role/x"
            )
        if self.external_id and not self.role_arn:
            errors.setdefault("external_id", []).append("only with a role ARN")
        if errors:
            raise ValidationError(errors)

    def effective_settings(self) -> list[dict[str, Any]]:
        """Each stage-profile setting: its value here, the stage default, and whether it is overridden."""
        profile = PROFILES.get(self.stage, PROFILES["dev"])
        try:
            resolved = self.spec().settings
        except SpecError:
            resolved = profile
        overrides = self.overrides if isinstance(self.overrides, dict) else {}
        return [
            {
                "key": key,
                "value": getattr(resolved, key),
                "default": getattr(profile, key),
                "source": "overridden" if key in overrides else "inherited",
                "allowed": describe_allowed(key),
            }
            for key in OVERRIDABLE
        ]

    @property
    def protected(self) -> bool:
        try:
            return self.spec().protected
        except SpecError:
            return PROFILES.get(self.stage, PROFILES["dev"]).deletion_protection

    def capacity_warnings(self) -> list[CapacityWarning]:
        """Settings that provision fine but fail clients under load (none while the definition is
        invalid: its problems come first)."""
        try:
            return capacity_warnings(self.spec())
        except SpecError:
            return []


ACTIVE_STATUSES = ("queued", "running")
# A run's result, by kind (Deployment.result); kinds not named here have none.
RESULTS: dict[str, tuple[str, ...]] = {
    "release": ("promoted", "rolled_back", "unchanged"),
    "rollback": ("rolled_back", "unchanged"),
    "drift": ("drift_found", "clean"),
    "restore": ("cut_over", "undone"),
}


class Deployment(models.Model):
    class Kind(models.TextChoices):
        PLAN = "plan"
        PROVISION = "provision"
        VERIFY = "verify"
        DRIFT = "drift"
        HEALTH = "health"
        TEARDOWN = "teardown"
        RELEASE = "release"
        ROLLBACK = "rollback"
        RESTORE = "restore"  # a restore, an undo of one, or a clone of another environment's data

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Trigger(models.TextChoices):
        USER = "user"
        CLI = "cli"
        SCHEDULE = "schedule"
        API = "api"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="deployments")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.USER)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    options = models.JSONField(
        default=dict, blank=True, help_text='For example {"verify": false}, {"backup": true}.'
    )
    spec_snapshot = models.JSONField(default=dict, blank=True, help_text="The spec as it was requested.")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker started (or resumed) it."
    )
    requeued_at = models.DateTimeField(null=True, blank=True, help_text="When the reaper re-queued it.")

    calls_total = models.PositiveIntegerField(default=0)
    calls_mutating = models.PositiveIntegerField(default=0)
    calls_by_operation = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    # Releases and rollbacks (R-REL-2..6): the artifact shipped, how it ended, and the engine's
    # ReleaseState (versions, traffic changes, phase): what a resumed run picks up from.
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(
        max_length=16, blank=True, help_text="promoted, rolled_back, unchanged or failed (releases)."
    )
    # What a finished run found or did, where its kind has one (RESULTS); the status says only
    # whether the run itself worked: a drift check that finds differences succeeded, with
    # result drift_found (issue 23: one vocabulary in the console, CLI, API and notifications).
    result = models.CharField(
        max_length=16,
        blank=True,
        help_text="promoted, rolled_back or unchanged (release, rollback); drift_found or clean (drift).",
    )
    release_state = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="one_active_deployment_per_environment",
                violation_error_message="This environment already has a queued or running deployment.",
            )
        ]
        indexes = [
            models.Index(fields=["environment", "-created_at"], name="dep_env_created_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="dep_status_heartbeat_idx"),
            models.Index(fields=["kind", "-created_at"], name="dep_kind_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.environment.suffix} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def capacity_warnings(self) -> list[CapacityWarning]:
        """What a plan or provision warns of: the spec as it was requested, not as it is now."""
        if self.kind not in (self.Kind.PLAN, self.Kind.PROVISION) or not self.spec_snapshot:
            return []
        return capacity_warnings(spec_from_dict(self.spec_snapshot))


class Step(models.Model):
    """One resource's pass in a run, written as it finishes."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(help_text="Order in which the steps finished.")
    resource = models.CharField(max_length=64)
    kind = models.CharField(max_length=64)
    action = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    started_offset_s = models.FloatField(help_text="Seconds after the run started.")
    seconds = models.FloatField()
    calls = models.PositiveIntegerField(default=0)
    diffs = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    detail = models.TextField(blank=True, help_text="What a release step did (a traffic change, a check).")

    class Meta:
        ordering = ["deployment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "position"], name="step_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.resource}: {self.action} {self.status}"


class CheckResult(models.Model):
    """One verification check (R-VER-4) or health probe."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="checks")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200)
    requirement = models.CharField(max_length=32, blank=True)
    passed = models.BooleanField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    expected = models.TextField(blank=True)
    found = models.TextField(blank=True)
    # the request id the check's answer carried: links the check to its log lines (issue 19)
    request_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["deployment", "position"]
        indexes = [models.Index(fields=["deployment", "passed"], name="check_dep_passed_idx")]

    def __str__(self) -> str:
        return f"{self.name}: {'pass' if self.passed else 'FAIL'}"


class DriftFinding(models.Model):
    """A field that differs from the definition, or a missing resource (R-OPS-2)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="findings")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="drift_findings")
    resource = models.CharField(max_length=64)
    field = models.CharField(max_length=256)
    wanted = models.JSONField(null=True, blank=True)
    found = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "resource", "field", "id"]
        indexes = [models.Index(fields=["environment", "deployment"], name="finding_env_dep_idx")]

    def __str__(self) -> str:
        return f"{self.resource}.{self.field}"


class AuditEvent(models.Model):
    """Who did what to which environment, when, and from where."""

    class Source(models.TextChoices):
        UI = "ui"
        CLI = "cli"
        SCHEDULE = "schedule"
        API = "api"

    who = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    actor = models.CharField(max_length=150, help_text="User name, or the CLI/schedule that acted.")
    source = models.CharField(max_length=16, choices=Source.choices)
    action = models.CharField(max_length=64)
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    environment_suffix = models.CharField(max_length=20, blank=True)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["environment_suffix", "-at"], name="audit_env_at_idx"),
            models.Index(fields=["action", "-at"], name="audit_action_at_idx"),
        ]

    def __str__(self) -> str:
        target = f" {self.environment_suffix}" if self.environment_suffix else ""
        return f"{self.actor} {self.action}{target} ({self.source})"


class Artifact(models.Model):
    """Function code the portal can release: a deterministic zip addressed by its SHA-256 (R-REL-1).

    The zip's bytes are kept in the database (`data`: every web and worker process reaches it
    without a shared disk) until a release uploads them to the target account's artifact bucket;
    querysets that list artifacts defer them. The record says where the code came from.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.PositiveBigIntegerField()
    source = models.CharField(
        max_length=1024, help_text="A folder, a zip file, or the environment it was promoted from."
    )
    handler = models.CharField(max_length=256)
    runtime = models.CharField(max_length=32)
    architecture = models.CharField(max_length=16)
    data = models.BinaryField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.source})"


# API tokens and notifications are apps of their own; their models are named here too for callers.
from .notifications.models import Delivery, NotificationChannel, NotificationRule  # noqa: E402, F401
from .tokens.models import ApiToken, IdempotencyKey  # noqa: E402, F401
