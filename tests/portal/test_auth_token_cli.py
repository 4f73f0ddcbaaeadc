"""R-AUTH-1 through the portal: `--set auth=...` like every other setting, and `env token` for a
provisioned environment in token mode (audited, the token itself stored nowhere)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from portal.models import AuditEvent, Environment

pytestmark = pytest.mark.django_db


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def test_auth_is_set_and_refused_like_every_other_setting(cli: Any) -> None:
    made = cli(
        "env", "create", "tok1", "--stage", "dev", "--set", "auth=token", "--set", "auth_ttl_s=60", "--json"
    )
    assert made.code == 0, made.err
    doc = made.json()
    assert doc["settings"]["auth"] == {"value": "token", "default": "api_key", "source": "overridden"}
    assert doc["settings"]["auth_ttl_s"]["value"] == 60
    refused = cli("env", "update", "tok1", "--set", "auth=oauth", "--set", "auth_ttl_s=4000", "--json")
    assert refused.code == 2
    text = refused.out + refused.err
    assert "one of api_key, token, cognito, iam" in text and "an integer from 0 to 3600" in text
    assert Environment.objects.get(suffix="tok1").overrides == {"auth": "token", "auth_ttl_s": 60}
    shown = cli("env", "show", "tok1")
    assert "access: Lambda TOKEN authorizer" in shown.out
    assert "manage.py env token tok1" in shown.out


def test_env_token_refuses_other_modes_and_unprovisioned_environments(cli: Any, make_env: Any) -> None:
    make_env("key1")
    refused = cli("env", "token", "key1", "--json")
    assert refused.code == 2 and "uses auth mode api_key, not token" in refused.out + refused.err
    make_env("iam1", overrides={"auth": "iam"})
    assert "sign requests with SigV4" in (lambda r: r.out + r.err)(cli("env", "token", "iam1"))
    make_env("tok2", overrides={"auth": "token"})
    refused = cli("env", "token", "tok2")
    assert refused.code == 2 and "not provisioned yet" in refused.out + refused.err
    bad = cli("env", "token", "tok2", "--ttl", "soon")
    assert bad.code == 2 and "not a duration" in bad.out + bad.err
    long = cli("env", "token", "tok2", "--ttl", "2d")
    assert long.code == 2 and "from 1 second to 24 hours" in long.out + long.err
    assert not AuditEvent.objects.filter(action="environment.token_issued").exists()


@pytest.mark.heavy
def test_env_token_prints_a_signed_token_for_a_provisioned_environment(
    cli: Any, make_env: Any, moto_target: None
) -> None:
    make_env("tok3", overrides={"auth": "token"})
    provisioned = cli("provision", "tok3", "--inline", "--no-verify", "--json")
    assert provisioned.code == 0, provisioned.err
    result = cli("env", "token", "tok3", "--ttl", "15m", "--subject", "alice@example.com")
    assert result.code == 0, result.err
    token = result.out.strip()
    claims = _claims(token)
    assert claims["sub"] == "alice@example.com" and claims["exp"] - claims["iat"] == 900
    assert claims["iss"] == "https://envport.invalid/tok3" and claims["aud"] == "envport-tok3-api"
    assert "Authorization: Bearer" in result.err
    event = AuditEvent.objects.get(action="environment.token_issued")
    assert event.detail["subject"] == "alice@example.com" and event.detail["ttl_s"] == 900
    stored = json.dumps(list(AuditEvent.objects.values("detail")), default=str)
    assert token not in stored and token.split(".")[2] not in stored
    # the authorizer would accept it: verified with the key in the environment's secret
    import boto3

    from authorizer_bundle.jwt import verify
    from provisioning.tokens import key_from_document

    secret = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(
        SecretId="envport-tok3/token-signing-key"
    )
    verified = verify(
        token,
        key_from_document(secret["SecretString"]),
        issuer="https://envport.invalid/tok3",
        audience="envport-tok3-api",
        now=claims["iat"],
    )
    assert verified.subject == "alice@example.com"
    as_json = cli("env", "token", "tok3", "--json").json()
    assert as_json["environment"] == "tok3" and as_json["subject"].startswith("cli:")
