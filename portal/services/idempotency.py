"""A run requested at most once per Idempotency-Key (the API's header): a retried request gets the
run its first attempt started, never a second; the same key with another request is refused.

`request_once` is the whole rule: the one guard first, then the key checked whole before anything
is written, then in one transaction an earlier run replayed, or else the run requested
(`request_run`), tied to its key and sent; two requests racing with one key end with one run (the
loser's insert fails on the unique key and it replays the winner's run). A key lives
ENVPORT_API_IDEMPOTENCY_HOURS, then is forgotten, so a pipeline may reuse it a day later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import Deployment, Environment
from portal.services import authz, environments, releases, runs
from portal.services.base import Actor, InvalidInput
from portal.tokens.models import IdempotencyKey

IDEMPOTENCY_KEY_MAX = 255  # IdempotencyKey.key's column


def check_idempotency_key(key: str) -> None:
    """A key is kept whole or refused: cut to fit its column, two long keys that share their first
    255 characters would be one key, and the second request would get the first one's run."""
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise InvalidInput(
            "Idempotency-Key is too long",
            [
                f"Idempotency-Key: a key of {len(key)} characters is not allowed; at most "
                f"{IDEMPOTENCY_KEY_MAX} characters"
            ],
        )


def replay_run(user_id: int, key: str, fingerprint: str) -> Deployment | None:
    """The run an earlier request with this Idempotency-Key started, if any (the same request, or
    refused). A key lives ENVPORT_API_IDEMPOTENCY_HOURS (a day by default); an older one is
    forgotten here, so a pipeline may reuse a key a day later."""
    check_idempotency_key(key)
    keys = IdempotencyKey.objects.filter(user_id=user_id, key=key)
    cutoff = timezone.now() - dt.timedelta(hours=settings.ENVPORT_API_IDEMPOTENCY_HOURS)
    keys.filter(created_at__lt=cutoff).delete()
    seen = keys.select_related("deployment").first()
    if seen is None:
        return None
    if seen.fingerprint != fingerprint:
        raise InvalidInput(
            "Idempotency-Key already used",
            [
                f"Idempotency-Key: {key!r} is not allowed; it started run #{seen.deployment_id} with "
                "another request: use a new key for a new request"
            ],
        )
    return seen.deployment


def remember_run(user_id: int, key: str, fingerprint: str, deployment: Deployment) -> None:
    """Tie a new run to its request's Idempotency-Key; the same key at the same moment in another
    request fails here with IntegrityError, and that request replays this run."""
    check_idempotency_key(key)
    IdempotencyKey.objects.create(user_id=user_id, key=key, fingerprint=fingerprint, deployment=deployment)


def fingerprint(env: Environment, data: Mapping[str, Any]) -> str:
    """What makes two requests the same request: the environment and the request's fields."""
    return hashlib.sha256(json.dumps([env.suffix, data], sort_keys=True, default=str).encode()).hexdigest()


def request_run(actor: Actor, env: Environment, data: Mapping[str, Any]) -> Deployment:
    """The run `data` asks for (`kind` and its options, as the API's RunCreate reads them), through
    the same service calls as the console's buttons; the guard first, before the artifact or the
    source is looked up."""
    kind = data["kind"]
    authz.authorize(actor, kind, env)
    if kind == "provision":
        return runs.request_deployment(actor, env, kind, {"verify": data["verify"]})
    if kind == "teardown":
        return runs.request_deployment(actor, env, kind, {"backup": data["backup"]})
    if kind == "release":
        artifact, source = None, None
        if data.get("artifact"):
            artifact = releases.find_artifact(data["artifact"])
        if data.get("source"):
            source = environments.get_environment(data["source"], actor)
        strategy = {k: data.get(k) for k in ("strategy", "percent", "bake", "interval")}
        return releases.request_release(actor, env, artifact=artifact, source=source, **strategy)
    if kind == "rollback":
        return releases.request_rollback(actor, env, data.get("to_version"))
    return runs.request_deployment(actor, env, kind, {})


def request_once(
    actor: Actor, env: Environment, data: Mapping[str, Any], key: str, dispatch: runs.Dispatch
) -> tuple[Deployment, bool]:
    """The run `data` asks for, requested and sent with `dispatch` at most once per `key` (no key:
    every time); with whether it was replayed (an earlier request with this key started it)."""
    authz.authorize(actor, data["kind"], env)
    check_idempotency_key(key)  # before anything is written: whole, or refused
    if key and actor.user is None:
        raise InvalidInput(
            "an Idempotency-Key is kept per user", ["Idempotency-Key: not allowed without a user"]
        )
    user_id = actor.user.pk if actor.user is not None else 0  # no user, no key (refused above)
    same = fingerprint(env, data)
    try:
        with transaction.atomic():
            dep = replay_run(user_id, key, same) if key else None
            if dep is not None:
                return dep, True
            dep = request_run(actor, env, data)
            if key:
                remember_run(user_id, key, same, dep)
            dispatch(dep)
            return dep, False
    except IntegrityError:  # the same key, at the same moment, in another request: its run
        dep = replay_run(user_id, key, same) if key else None
        if dep is None:
            raise
        return dep, True
