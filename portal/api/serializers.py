"""The API's request and response shapes.

Requests are only parsed here (types: a string, a list, an object); what a value may be is the
service's to say (`portal.services`, the engine's build_spec), so there is one set of rules.
Responses are the CLI's `--json` documents (`portal.documents`) with links added; the fields
declared here describe them for the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from portal.documents import deployment_document, deployment_summary, environment_document, redacted
from portal.models import Artifact, AuditEvent, Deployment, Environment

RUN_KINDS = ("plan", "provision", "verify", "drift", "teardown", "release", "rollback")


def absolute(context: dict[str, Any], path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


# --- requests ---------------------------------------------------------------------------------
class EnvironmentFields(serializers.Serializer):
    owner = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    cost_centre = serializers.CharField(required=False, allow_blank=True)
    alarm_emails = serializers.ListField(child=serializers.CharField(), required=False)
    overrides = serializers.DictField(
        required=False, help_text='Stage-profile settings to override; null or "" goes back to the default.'
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    role_arn = serializers.CharField(required=False, allow_blank=True)
    external_id = serializers.CharField(required=False, allow_blank=True)


class EnvironmentCreate(EnvironmentFields):
    name = serializers.CharField(help_text="The suffix that names every resource (pr4966).")
    stage = serializers.CharField(help_text="dev, staging or prod.")
    region = serializers.CharField(required=False)


class EnvironmentUpdate(EnvironmentFields):
    stage = serializers.CharField(required=False)
    region = serializers.CharField(required=False)
    desired_state = serializers.CharField(required=False)


class RunCreate(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RUN_KINDS)
    verify = serializers.BooleanField(required=False, default=True, help_text="provision: verify afterwards")
    backup = serializers.BooleanField(
        required=False, default=True, help_text="teardown: back up a table holding items first"
    )
    artifact = serializers.CharField(
        required=False, help_text="release: an artifact's SHA-256 (or 8+ digits)"
    )
    source = serializers.CharField(required=False, help_text="release: promote what this environment serves")
    strategy = serializers.CharField(required=False, help_text="release: all-at-once, canary or linear")
    percent = serializers.CharField(required=False)
    bake = serializers.CharField(required=False, help_text="release: 5m, 30s...")
    interval = serializers.CharField(required=False)
    to_version = serializers.CharField(required=False, help_text="rollback: a published version number")


class ArtifactUpload(serializers.Serializer):
    zip = serializers.FileField(help_text="A .zip of the function's code (Lambda's layout).")
    handler = serializers.CharField(help_text="module.function, e.g. my_api.handler.handle")


# --- responses --------------------------------------------------------------------------------
class CallsOut(serializers.Serializer):
    total = serializers.IntegerField()
    mutating = serializers.IntegerField()
    by_operation = serializers.DictField(child=serializers.IntegerField(), required=False)


class StepOut(serializers.Serializer):
    resource = serializers.CharField()
    kind = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField()
    started_offset_s = serializers.FloatField()
    seconds = serializers.FloatField()
    calls = serializers.IntegerField()
    diffs = serializers.ListField(child=serializers.DictField())
    error = serializers.CharField(allow_null=True)


class CheckOut(serializers.Serializer):
    name = serializers.CharField()
    requirement = serializers.CharField()
    passed = serializers.BooleanField()
    status = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.FloatField(allow_null=True)
    expected = serializers.CharField()
    found = serializers.CharField()
    request_id = serializers.CharField(
        allow_null=True,
        help_text="the request id its answer carried: GET .../logs/?request_id= finds its lines",
    )


class FindingOut(serializers.Serializer):
    resource = serializers.CharField()
    field = serializers.CharField()
    wanted = serializers.JSONField(allow_null=True)
    found = serializers.JSONField(allow_null=True)


class WarningOut(serializers.Serializer):
    """A capacity warning (provisioning.spec.CapacityWarning): settings that fail clients under load."""

    code = serializers.CharField()
    message = serializers.CharField()
    settings = serializers.ListField(child=serializers.CharField())


class DeploymentSummaryOut(serializers.Serializer):
    """An environment's last run, as `portal.documents.deployment_summary` writes it."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    result = serializers.CharField(allow_null=True, help_text="as a run's `result`")
    trigger = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class RunSummaryOut(serializers.Serializer):
    """One run in a list (read-only)."""

    id = serializers.IntegerField()
    url = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    result = serializers.CharField(allow_null=True)
    finished = serializers.BooleanField()
    trigger = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)

    def to_representation(self, instance: Deployment) -> dict[str, Any]:
        summary = deployment_summary(instance) or {}
        summary["url"] = absolute(self.context, reverse("api:run", args=[instance.pk]))
        summary["finished"] = not instance.active
        return summary


class ArtifactRefOut(serializers.Serializer):
    """The artifact a release deploys, as it was when the release was asked for."""

    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    source = serializers.CharField()
    handler = serializers.CharField()


class TrafficOut(serializers.Serializer):
    at_s = serializers.FloatField(help_text="Seconds from the release's start")
    percent = serializers.IntegerField(help_text="The new version's share of the live alias's traffic")


class IdentityOut(serializers.Serializer):
    """The account and role a run worked as (the role session's, or the portal's own credentials)."""

    account = serializers.CharField(allow_null=True)
    role_arn = serializers.CharField(allow_null=True, help_text="null: the portal's own credentials")
    session_arn = serializers.CharField(allow_null=True)


class RunOut(serializers.Serializer):
    """One run: the CLI's `--json` document, with `finished`, its URL and the console's page.

    Releases and rollbacks add `artifact`, `from_version`, `to_version`, `traffic` and
    `rollback_reason` (`portal.documents.release_fields`); other runs leave them out."""

    id = serializers.IntegerField()
    url = serializers.CharField()
    console_url = serializers.CharField()
    environment = serializers.CharField()
    deployment = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField(help_text="queued, running, succeeded, failed or cancelled")
    result = serializers.CharField(
        allow_null=True,
        help_text="Where the kind has one, once ended: promoted, rolled_back or unchanged (release, "
        "rollback); drift_found or clean (drift). A drift check that finds differences succeeded.",
    )
    finished = serializers.BooleanField(help_text="False while queued or running: poll with ?wait=SECONDS")
    trigger = serializers.CharField()
    options = serializers.DictField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    outputs = serializers.DictField()
    identity = IdentityOut(allow_null=True, help_text="null for runs recorded before it was kept")
    calls = CallsOut()
    steps = StepOut(many=True)
    checks = CheckOut(many=True)
    findings = FindingOut(many=True)
    warnings = WarningOut(many=True)
    error = serializers.CharField(allow_null=True)
    artifact = ArtifactRefOut(
        required=False, allow_null=True, help_text="release: the artifact deployed; rollback: null"
    )
    from_version = serializers.CharField(
        required=False, allow_null=True, help_text="release, rollback: the version served before"
    )
    to_version = serializers.CharField(
        required=False, allow_null=True, help_text="release, rollback: the version served after, once known"
    )
    traffic = TrafficOut(
        many=True, required=False, help_text="release, rollback: every change of the new version's share"
    )
    rollback_reason = serializers.CharField(
        required=False, allow_null=True, help_text="release: why traffic went back, if it did"
    )

    def to_representation(self, instance: Deployment) -> dict[str, Any]:
        document = deployment_document(instance)
        return {
            "id": instance.pk,
            "url": absolute(self.context, reverse("api:run", args=[instance.pk])),
            "console_url": absolute(
                self.context, reverse("admin:portal_deployment_change", args=[instance.pk])
            ),
            "finished": not instance.active,
            **document,
        }


class SettingOut(serializers.Serializer):
    value = serializers.JSONField(allow_null=True)
    default = serializers.JSONField(allow_null=True)
    source = serializers.CharField(help_text="stage default or override")


class EnvironmentArtifactOut(serializers.Serializer):
    sha256 = serializers.CharField(allow_null=True, help_text="null: the portal's own lambda_bundle/")
    handler = serializers.CharField(allow_null=True)
    source = serializers.CharField(required=False, help_text="only without a released artifact")


class HealthOut(serializers.Serializer):
    status = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)
    detail = serializers.CharField()


class DriftOut(serializers.Serializer):
    state = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)


class EnvironmentOut(serializers.Serializer):
    """An environment as `manage.py env show --json` prints it, with its links."""

    environment = serializers.CharField()
    url = serializers.CharField()
    runs_url = serializers.CharField()
    stage = serializers.CharField()
    region = serializers.CharField()
    owner = serializers.CharField()
    cost_centre = serializers.CharField()
    alarm_emails = serializers.ListField(child=serializers.CharField())
    desired_state = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField()
    overrides = serializers.DictField()
    settings = serializers.DictField(child=SettingOut())
    warnings = WarningOut(many=True)
    artifact = EnvironmentArtifactOut()
    outputs = serializers.DictField()
    health = HealthOut()
    drift = DriftOut()
    last_deployment = DeploymentSummaryOut(allow_null=True)
    role_arn = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance: Environment) -> dict[str, Any]:
        document = environment_document(instance)
        return {
            "environment": instance.suffix,
            "url": absolute(self.context, reverse("api:environment", args=[instance.suffix])),
            "runs_url": absolute(self.context, reverse("api:runs", args=[instance.suffix])),
            **document,
        }


class ArtifactOut(serializers.Serializer):
    sha256 = serializers.CharField()
    url = serializers.CharField()
    size_bytes = serializers.IntegerField()
    source = serializers.CharField()
    handler = serializers.CharField()
    runtime = serializers.CharField()
    architecture = serializers.CharField()
    created_at = serializers.DateTimeField()

    def to_representation(self, instance: Artifact) -> dict[str, Any]:
        return {
            "sha256": instance.sha256,
            "url": absolute(self.context, reverse("api:artifact", args=[instance.sha256])),
            "size_bytes": instance.size_bytes,
            "source": instance.source,
            "handler": instance.handler,
            "runtime": instance.runtime,
            "architecture": instance.architecture,
            "created_at": instance.created_at.isoformat(),
        }


class AuditEventOut(serializers.ModelSerializer):
    environment = serializers.CharField(source="environment_suffix")
    deployment = serializers.IntegerField(source="deployment_id", allow_null=True)

    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "at",
            "actor",
            "source",
            "action",
            "environment",
            "deployment",
            "detail",
            "remote_addr",
        )

    def to_representation(self, instance: AuditEvent) -> dict[str, Any]:
        """The event, with what the environment document hides masked (rows older than the rule too)."""
        data = dict(super().to_representation(instance))
        data["detail"] = redacted(data.get("detail"))
        return data


class ProblemOut(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    value = serializers.CharField(allow_null=True)
    allowed = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class RunningOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    url = serializers.CharField()


class ErrorOut(serializers.Serializer):
    """Every refusal: one sentence and each problem (the CLI's exit-2 list)."""

    error = serializers.CharField()
    problems = ProblemOut(many=True)
    running = RunningOut(required=False, help_text="409: the run that holds the environment")
    request_id = serializers.CharField(
        required=False, help_text="500: the id the portal's log holds the failure under (X-Request-Id)"
    )


# --- logs and errors (issue 19) ----------------------------------------------------------------
class LogRowOut(serializers.Serializer):
    """One log event as a row; every text redacted of key values and tokens."""

    timestamp = serializers.IntegerField(help_text="epoch milliseconds")
    kind = serializers.ChoiceField(["json", "runtime", "error", "access", "metric", "text"])
    level = serializers.CharField()
    request_id = serializers.CharField(help_text="API Gateway's request id (x-amzn-RequestId)")
    lambda_request_id = serializers.CharField(help_text="the invocation's id (START/END/REPORT)")
    message = serializers.CharField()
    stream = serializers.CharField()
    version = serializers.CharField(help_text="$LATEST or the version number, from the stream's name")
    status = serializers.IntegerField(allow_null=True)
    exception_name = serializers.CharField()
    exception = serializers.CharField()
    fields = serializers.DictField()
    raw = serializers.CharField()
    event_id = serializers.CharField()


class LogViewOut(serializers.Serializer):
    environment = serializers.CharField()
    source = serializers.ChoiceField(["function", "access"])
    since = serializers.CharField()
    group = serializers.CharField()
    start_ms = serializers.IntegerField()
    end_ms = serializers.IntegerField()
    pattern = serializers.CharField(help_text="the filter pattern sent to FilterLogEvents")
    rows = LogRowOut(many=True)
    calls = serializers.IntegerField(help_text="FilterLogEvents calls this view made")
    truncated = serializers.BooleanField(help_text="a bound (events, pages, time) cut the view short")
    reason = serializers.CharField()
    cached = serializers.BooleanField()


class ErrorGroupOut(serializers.Serializer):
    key = serializers.CharField()
    exception = serializers.CharField()
    frame = serializers.CharField(help_text="the top frame of the function's own code")
    count = serializers.IntegerField()
    first_seen = serializers.IntegerField()
    last_seen = serializers.IntegerField()
    versions = serializers.ListField(child=serializers.CharField())
    request_ids = serializers.ListField(child=serializers.CharField())
    sample = LogRowOut(allow_null=True)


class ErrorsOut(serializers.Serializer):
    environment = serializers.CharField()
    since = serializers.CharField()
    group = serializers.CharField()
    start_ms = serializers.IntegerField()
    end_ms = serializers.IntegerField()
    pattern = serializers.CharField()
    groups = ErrorGroupOut(many=True)
    calls = serializers.IntegerField()
    truncated = serializers.BooleanField()
    reason = serializers.CharField()
    cached = serializers.BooleanField()
