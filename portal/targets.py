"""The AwsTarget of a run, from settings (where) and the environment (region, role)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from provisioning.aws import AwsClients, AwsTarget

if TYPE_CHECKING:
    from portal.models import Environment


def target_for(region: str, role_arn: str = "", external_id: str = "") -> AwsTarget:
    """Local target: always through an endpoint, never real AWS. aws target: only when set explicitly."""
    kind = settings.ENVPORT_TARGET
    endpoint = settings.ENVPORT_AWS_ENDPOINT_URL or None
    if kind == "local" and not endpoint:
        raise ImproperlyConfigured(
            "ENVPORT_TARGET=local needs an endpoint (AWS_ENDPOINT_URL); real AWS needs ENVPORT_TARGET=aws"
        )
    if kind not in ("local", "aws"):
        raise ImproperlyConfigured(f"ENVPORT_TARGET={kind!r}: use local or aws")
    return AwsTarget(
        region=region,
        endpoint_url=endpoint,
        role_arn=role_arn or None,
        external_id=external_id or None,
        retry_mode=settings.ENVPORT_AWS_RETRY_MODE,
        session_duration_s=settings.ENVPORT_ROLE_SESSION_SECONDS,
        execute_api_url_template=settings.ENVPORT_EXECUTE_API_URL,
    )


def describe() -> str:
    """One line for start-up messages: where runs go."""
    if settings.ENVPORT_TARGET == "local":
        return f"local cloud at {settings.ENVPORT_AWS_ENDPOINT_URL}"
    where = settings.ENVPORT_AWS_ENDPOINT_URL or "real AWS (standard credential chain)"
    return f"aws: {where}"


def clients_for(env: Environment) -> AwsClients:
    """Clients for an environment's account and region (its role, when it names one)."""
    return AwsClients(target_for(env.region, env.role_arn, env.external_id))
