"""Environments: create, change and delete their records, lift deletion protection, reveal the API
key, issue a bearer token (token mode).

Each change is validated by the engine's build_spec (through the model's `full_clean`), then by
the service's own rules: placement (stage, region, role and external id do not change while
resources are live), expiry (previews only, never in the past), and who may lift deletion
protection (an admin, by every path). `create_environment`, `update_environment` and
`delete_environment` each have a `check_*` twin that writes nothing, so the admin's form shows a
refusal on its fields. Every public function asks `authz.authorize` first.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, Unpack

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import ACTIVE_STATUSES, Deployment, Environment
from portal.notifications import events as notifications
from portal.services import authz
from portal.services.audit import audit, field_changes
from portal.services.authz import PROD
from portal.services.base import ActionError, Actor, Forbidden, InvalidInput, unknown_environment
from provisioning.spec import PROFILES, SpecError

# The fields an environment is defined by: what the audit trail records of every change.
AUDITED = (
    "suffix",
    "stage",
    "region",
    "owner",
    "cost_centre",
    "alarm_emails",
    "overrides",
    "expires_at",
    "role_arn",
    "external_id",
    "desired_state",
)


UPDATABLE = tuple(name for name in AUDITED if name not in ("suffix", "overrides"))


# Changing these renames resources or moves them to another region or account: only while nothing
# is provisioned (a move would orphan the old resources and create a second copy).
PLACEMENT = ("stage", "region", "role_arn", "external_id")


# The statuses in which an environment has no resources (placement may change, the record may go).
UNPROVISIONED = (Environment.Status.NEW, Environment.Status.TORN_DOWN)


# A problem line ("field: value is not allowed; what is"): no other ";" before the allowed part,
# so that the API's problem splits it where it should.
ADMIN_ONLY_LIFT = (
    "lifting deletion protection is not allowed; only an admin can lift deletion protection "
    "(the Teardown page's Lift protection, audited)"
)


def get_environment(suffix: str, actor: Actor | None = None) -> Environment:
    """The environment `suffix`; given an actor, only if it may see it (else NotFound, the same).
    A name no environment can have (a NUL byte, which PostgreSQL refuses in a query, or one far
    over R-ENV-1's 20 characters) is absent without asking the database."""
    if "\x00" in suffix or len(suffix) > 64:
        raise unknown_environment(suffix.replace("\x00", "")[:40])
    try:
        env = Environment.objects.select_related("last_deployment").get(suffix=suffix)
    except Environment.DoesNotExist:
        raise unknown_environment(suffix) from None
    if actor is not None:
        authz.authorize(actor, "view", env)
    return env


def problems_of(exc: ValidationError) -> list[str]:
    if not hasattr(exc, "error_dict"):
        return list(exc.messages)
    lines = []
    for field, messages in exc.message_dict.items():
        for message in messages:
            lines.append(message if field == NON_FIELD_ERRORS else f"{field}: {message}")
    return lines


def _validation_problems(env: Environment) -> list[str]:
    try:
        env.full_clean()
    except ValidationError as exc:
        return problems_of(exc)
    return []


def snapshot(env: Environment) -> dict[str, Any]:
    """The audited fields' values, as the audit trail records them."""
    return {name: getattr(env, name) for name in AUDITED}


def may_lift_protection(actor: Actor, env: Environment | None = None) -> bool:
    """Lifting deletion protection is the admin role's, by every path (R-OPS-4): `authz` decides
    (the CLI without a user acts with admin rights; a schedule never lifts it)."""
    return authz.may(actor, "lift_protection", env)


def _lifting(before: Environment | None, env: Environment) -> bool:
    """Would saving `env` turn its deletion protection off? A new one starts from its stage's default."""
    if before is not None:
        was = before.protected
    else:
        was = PROFILES.get(env.stage, PROFILES["dev"]).deletion_protection
    return was and not env.protected


def _lifted_by(before: Environment | None, env: Environment) -> str:
    """The field to blame for lifting protection: the stage, if it changed and the override did not."""
    key = "deletion_protection"
    if (
        before is not None
        and before.stage != env.stage
        and (before.overrides or {}).get(key) == (env.overrides or {}).get(key)
    ):
        return "stage"
    return "overrides"


def _rules(actor: Actor, before: Environment | None, env: Environment) -> list[str]:
    """The service's rules beyond a record's own validity: placement, expiry, who may unprotect."""
    problems = []
    if before is not None and before.status not in UNPROVISIONED:
        for name in PLACEMENT:
            if getattr(env, name) != getattr(before, name):
                problems.append(
                    f"{name}: cannot change while the environment has live resources "
                    f"(status {before.status}); tear it down first, then change it"
                )
    if before is None and env.expires_at is not None and env.expires_at <= timezone.now():
        problems.append(
            f"expires_at: {env.expires_at:%Y-%m-%d %H:%M %Z} is in the past; a new environment's "
            "expiry must be in the future (or none)"
        )
    if env.stage == PROD and env.expires_at is not None:
        problems.append(
            "expires_at: an expiry is for previews; a prod environment never expires "
            "(remove the expiry, or use stage dev or staging)"
        )
    if _lifting(before, env) and not _may_lift(actor, before, env):
        problems.append(f"{_lifted_by(before, env)}: {ADMIN_ONLY_LIFT}")
    return problems


def _may_lift(actor: Actor, before: Environment | None, env: Environment) -> bool:
    if before is not None:
        return may_lift_protection(actor, before)
    return authz.may(actor, "lift_protection", stage=env.stage, name=env.suffix)


def _refuse(
    actor: Actor, before: Environment | None, env: Environment, message: str, problems: list[str]
) -> None:
    """Raise every problem at once: Forbidden (403) if the role is one of them, else InvalidInput."""
    if not problems:
        return
    if _lifting(before, env) and not _may_lift(actor, before, env):
        raise Forbidden(message, problems)
    raise InvalidInput(message, problems)


@dataclass(frozen=True)
class EnvironmentChange:
    """A change the service accepted: the environment as it will be saved, and what is audited."""

    env: Environment
    before: dict[str, Any] | None
    lifts_protection: bool

    @property
    def changes(self) -> dict[str, dict[str, Any]]:
        return field_changes(self.before, snapshot(self.env))


class NewEnvironment(TypedDict):
    """What a new environment is made of: `check_create_environment`'s fields, its defaults."""

    suffix: str
    stage: str
    region: NotRequired[str]
    owner: NotRequired[str]
    cost_centre: NotRequired[str]
    alarm_emails: NotRequired[Iterable[str]]
    overrides: NotRequired[Mapping[str, Any] | None]
    expires_at: NotRequired[dt.datetime | None]
    role_arn: NotRequired[str]
    external_id: NotRequired[str]


def check_create_environment(
    actor: Actor,
    *,
    suffix: str,
    stage: str,
    region: str = "us-east-1",
    owner: str = "",
    cost_centre: str = "",
    alarm_emails: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
    expires_at: dt.datetime | None = None,
    role_arn: str = "",
    external_id: str = "",
) -> EnvironmentChange:
    """What `create_environment` would save, or InvalidInput with every problem; writes nothing.

    The admin's form calls it to show a refusal on its fields before it saves (through
    `create_environment`, which checks again).
    """
    authz.authorize(actor, "create", stage=stage, name=suffix)
    env = Environment(
        suffix=suffix,
        stage=stage,
        region=region,
        owner=owner,
        cost_centre=cost_centre,
        alarm_emails=list(alarm_emails),
        overrides=dict(overrides or {}),
        expires_at=expires_at,
        role_arn=role_arn,
        external_id=external_id,
        created_by=actor.user,
        updated_by=actor.user,
    )
    problems = _validation_problems(env) + _rules(actor, None, env)
    _refuse(actor, None, env, f"invalid environment {suffix!r}", problems)
    return EnvironmentChange(env, None, _lifting(None, env))


def create_environment(actor: Actor, **fields: Unpack[NewEnvironment]) -> Environment:
    """A new environment, audited with its initial values."""
    change = check_create_environment(actor, **fields)
    try:
        with transaction.atomic():
            change.env.save()
            _audit_change(actor, "environment.created", change)
    except IntegrityError:
        raise InvalidInput(f"environment {change.env.suffix!r} already exists") from None
    return change.env


def _merged_overrides(current: Mapping[str, Any], overrides: Any) -> dict[str, Any]:
    """The overrides after a patch; a key set to None or "" goes back to the stage default."""
    if not isinstance(overrides, Mapping):
        raise InvalidInput("overrides must be an object", ["overrides: an object of setting: value"])
    merged = dict(current or {})
    for key, value in overrides.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _prepare_update(
    actor: Actor, current: Environment, overrides: Any, fields: Mapping[str, Any]
) -> EnvironmentChange:
    """`current` (as stored) changed by `fields` and the overrides patch, checked; every problem at once."""
    authz.authorize(actor, "update", current)
    if "stage" in fields and fields["stage"] != current.stage and isinstance(fields["stage"], str):
        authz.authorize(actor, "update", stage=fields["stage"], name=current.suffix)  # where it moves to
    unknown = sorted(set(fields) - set(UPDATABLE))
    if unknown:
        raise InvalidInput(
            "cannot update " + ", ".join(unknown), [f"{name}: cannot be changed" for name in unknown]
        )
    env = copy.deepcopy(current)  # the changed copy; `current` stays as stored
    for name, value in fields.items():
        setattr(env, name, value)
    env.overrides = _merged_overrides(current.overrides, overrides or {})
    env.updated_by = actor.user
    problems = _validation_problems(env) + _rules(actor, current, env)
    _refuse(actor, current, env, f"cannot update environment {current.suffix}", problems)
    return EnvironmentChange(env, snapshot(current), _lifting(current, env))


def check_update_environment(
    actor: Actor, env: Environment, *, overrides: Mapping[str, Any] | None = None, **fields: Any
) -> EnvironmentChange:
    """What `update_environment` would save, or InvalidInput with every problem; writes nothing.

    It compares with the environment as stored, not with `env` (a ModelForm edits its instance in
    place before it is saved).
    """
    return _prepare_update(actor, Environment.objects.get(pk=env.pk), overrides, fields)


def update_environment(
    actor: Actor,
    env: Environment,
    *,
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Environment:
    """Change fields and overrides; an override set to None or "" goes back to the stage default.

    The stored row is locked while it is checked and saved, so a run that starts meanwhile cannot
    slip a move past the placement rule. A change that lifts deletion protection is audited twice:
    as the change it is, and as `environment.protection_lifted`. Nothing changed, nothing written.
    `env` is updated in place and returned.
    """
    with transaction.atomic():
        current = Environment.objects.select_for_update().get(pk=env.pk)
        change = _prepare_update(actor, current, overrides, fields)
        if change.changes:
            change.env.save()
            _audit_change(actor, "environment.updated", change)
    for field in Environment._meta.concrete_fields:
        setattr(env, field.attname, getattr(change.env, field.attname))
    return env


def _audit_change(actor: Actor, action: str, change: EnvironmentChange) -> None:
    audit(actor, action, change.env, detail={"changes": change.changes})
    if change.lifts_protection:
        audit(actor, "environment.protection_lifted", change.env, detail={"stage": change.env.stage})
        notifications.emit(
            "protection.lifted",
            change.env,
            summary=f"deletion protection of {change.env.suffix} lifted by {actor.name}",
            detail={"by": actor.name, "source": actor.source},
        )


def deletion_problems(env: Environment) -> list[str]:
    """Why the record of `env` may not be deleted now: it would orphan resources, or a run's."""
    problems = []
    if env.status not in UNPROVISIONED:
        problems.append(
            f"status: environment {env.suffix} has live resources ({env.status}); tear it down "
            "first (deleting its record would orphan them)"
        )
    if Deployment.objects.filter(environment=env, status__in=ACTIVE_STATUSES).exists():
        problems.append(
            f"deployments: a queued or running deployment holds {env.suffix}; wait for it to "
            "finish (or cancel it if it is still queued)"
        )
    return problems


def check_delete_environment(actor: Actor, env: Environment) -> None:
    """InvalidInput if `delete_environment` would refuse; writes nothing."""
    authz.authorize(actor, "delete", env)
    problems = deletion_problems(env)
    if problems:
        raise InvalidInput(f"environment {env.suffix} cannot be deleted", problems)


def delete_environment(actor: Actor, env: Environment) -> None:
    """Delete the record of an environment that has no resources, audited with its last values
    (the event keeps the suffix once the environment is gone)."""
    with transaction.atomic():
        current = Environment.objects.select_for_update().get(pk=env.pk)
        check_delete_environment(actor, current)
        audit(
            actor,
            "environment.deleted",
            current,
            detail={"changes": field_changes(snapshot(current), None)},
        )
        current.delete()


def lift_protection(actor: Actor, env: Environment) -> Environment:
    """Turn deletion protection off (an override), so that a teardown is accepted; admin-only and
    audited twice (see `update_environment`)."""
    authz.authorize(actor, "lift_protection", env)
    if not env.protected:
        raise InvalidInput(f"environment {env.suffix} has no deletion protection to lift")
    return update_environment(actor, env, overrides={"deletion_protection": False})


def reveal_api_key(actor: Actor, env: Environment) -> str:
    """The API key's value, read from AWS now (R-ENV-4: it is never stored); every reveal is audited."""
    from portal.targets import clients_for

    authz.authorize(actor, "reveal_key", env)
    key_id = (env.outputs or {}).get("api_key_id")
    if not key_id:
        raise InvalidInput(f"environment {env.suffix} has no API key yet; provision it first")
    try:
        clients = clients_for(env)
        value = clients.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    except Exception as exc:
        raise ActionError(f"could not read API key {key_id} from AWS: {type(exc).__name__}: {exc}") from None
    audit(actor, "environment.api_key_revealed", env, detail={"api_key_id": key_id})
    return str(value)


TOKEN_SUBJECT_RE = r"[A-Za-z0-9._@:+-]{1,128}"


TOKEN_TTL_MAX_S = 24 * 3600


def issue_token(actor: Actor, env: Environment, *, ttl_s: int = 3600, subject: str = "") -> str:
    """A bearer token for an environment in `token` mode (R-AUTH-1), signed with its key read from
    Secrets Manager now; for testing a client. Audited with its subject and expiry, never itself."""
    import re

    from portal.targets import clients_for
    from provisioning.tokens import NoSigningKey, mint

    authz.authorize(actor, "issue_token", env)
    subject = subject or actor.name
    problems = []
    if not re.fullmatch(TOKEN_SUBJECT_RE, subject):
        problems.append(f"subject: {subject[:40]!r} is not allowed; 1 to 128 letters, digits and . _ @ : + -")
    if isinstance(ttl_s, bool) or not 1 <= ttl_s <= TOKEN_TTL_MAX_S:
        problems.append(f"ttl: {ttl_s!r} s is not allowed; from 1 second to {TOKEN_TTL_MAX_S // 3600} hours")
    if problems:
        raise InvalidInput(f"cannot issue a token for {env.suffix}", problems)
    try:
        mode = env.spec().settings.auth
    except SpecError as exc:
        raise InvalidInput(f"environment {env.suffix} has an invalid definition", [str(exc)]) from None
    if mode != "token":
        instead = {
            "iam": "sign requests with SigV4 instead",
            "cognito": "get a token from its user pool instead (see env show)",
        }.get(mode, "it takes its API key alone")
        raise InvalidInput(
            f"environment {env.suffix} uses auth mode {mode}, not token: {instead} "
            "(or set auth=token and provision it)"
        )
    if not (env.outputs or {}).get("api_endpoint"):
        raise InvalidInput(f"environment {env.suffix} is not provisioned yet; provision it first")
    try:
        clients = clients_for(env)
        token = mint(clients, env.spec().names, subject=subject, ttl_s=ttl_s)
    except NoSigningKey as exc:
        raise InvalidInput(f"{exc} (provision it after switching to auth=token)") from None
    except Exception as exc:
        raise ActionError(f"could not sign a token for {env.suffix}: {type(exc).__name__}: {exc}") from None
    expires = timezone.now() + dt.timedelta(seconds=ttl_s)
    audit(
        actor,
        "environment.token_issued",
        env,
        detail={"subject": subject, "ttl_s": ttl_s, "expires_at": expires.isoformat(timespec="seconds")},
    )
    return token
