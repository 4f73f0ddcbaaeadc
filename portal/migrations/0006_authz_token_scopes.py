"""API tokens reach a set of stages plus name patterns, instead of one glob over every stage.

Before: a token had one optional glob (`environments`, `pr*`) matched against the name alone, in
every stage: `pr*` matched `prod`. After: `stages` (dev, staging, prod) and `patterns` (anchored
globs that match names only inside those stages; see `portal.tokens.reach`).

Each existing token gets the narrowest equivalent scope, never a wider one:
- patterns: its old pattern, unchanged (an empty one stays empty: every name). The new pattern
  language reads an old pattern the same way (a-z, 0-9, -, * and ?, over the whole name), so a
  name the old token reached is reached by the same pattern now, and no other;
- stages: dev and staging. prod is left out of every migrated token, whatever its role or pattern:
  under the new rule prod is in a token's stages only when an admin asked for it when making the
  token, and no old token was made with that question asked. Leaving prod out narrows the reach
  of an old token that covered prod (the `pr*` tokens that `docs/pipelines.md` described as
  unable to reach prod, but which did); nothing is widened. An admin who wants a pipeline to
  reach prod makes a new token with `--stages ...,prod`.
So "equivalent" means: the same environments in dev and staging, by the same name rule; "narrowest"
means prod is out until someone with the right says otherwise.

Every migrated token leaves an audit event (`api_token.scope_migrated`) with its scope before and
after, so an admin can see which tokens lost prod. Going back restores the single pattern; a token
whose scope the old field cannot express without widening it (two patterns) is revoked rather than
widened.
"""

import django.utils.timezone
from django.db import migrations, models

MIGRATED_STAGES = ["dev", "staging"]


def to_scopes(apps, schema_editor):
    ApiToken = apps.get_model("portal", "ApiToken")
    AuditEvent = apps.get_model("portal", "AuditEvent")
    for token in ApiToken.objects.select_related("user").order_by("pk"):
        old = token.environments or ""
        token.stages = list(MIGRATED_STAGES)
        token.patterns = [old] if old else []
        token.save(update_fields=["stages", "patterns"])
        AuditEvent.objects.create(
            actor="migration 0006_authz_token_scopes",
            source="cli",
            action="api_token.scope_migrated",
            detail={
                "token": token.pk,
                "prefix": f"envp_{token.lookup}",
                "user": token.user.username,
                "before": {"environments": old or "*", "stages": "every stage"},
                "after": {"stages": ",".join(token.stages), "environments": " ".join(token.patterns) or "*"},
            },
        )


def to_single_pattern(apps, schema_editor):
    ApiToken = apps.get_model("portal", "ApiToken")
    for token in ApiToken.objects.order_by("pk"):
        patterns = list(token.patterns or [])
        token.environments = patterns[0] if len(patterns) == 1 else ""
        fields = ["environments"]
        if len(patterns) > 1 or set(token.stages or []) != {"dev", "staging", "prod"}:
            # the old field reaches every stage: a narrower token would be widened; stop it instead
            if token.revoked_at is None:
                token.revoked_at = django.utils.timezone.now()
                fields.append("revoked_at")
        token.save(update_fields=fields)


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0005_api_tokens_notifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="stages",
            field=models.JSONField(
                default=list,
                help_text="The stages it reaches (dev, staging, prod); prod only when an admin asks for it.",
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="patterns",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Name patterns (anchored globs, pr[0-9]*) inside those stages; none: every name.",
            ),
        ),
        migrations.RunPython(to_scopes, to_single_pattern),
        migrations.RemoveField(model_name="apitoken", name="environments"),
    ]
