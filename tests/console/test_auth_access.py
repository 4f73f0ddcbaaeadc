"""R-AUTH-1 in the console: the environment page says the mode and how a client gets a credential,
and the admin form takes the auth settings through the same validation as every other one."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from portal.models import Environment

pytestmark = pytest.mark.django_db


def _page(login, env) -> str:
    return html.unescape(
        login("viewer").get(reverse("admin:portal_environment_change", args=[env.pk])).content.decode()
    )


def test_page_shows_each_mode_and_how_to_get_a_credential(login, make_env):
    # R-AUTH-1
    key = make_env("acc-key", "dev")
    page = _page(login, key)
    assert "Authorization: <strong>API key only</strong>" in page and "auth=api_key" in page
    assert "Stage profile: Access (authorization)" in page

    token = make_env("acc-tok", "dev", overrides={"auth": "token", "auth_ttl_s": 60})
    page = _page(login, token)
    assert "Lambda TOKEN authorizer" in page and "cached for 60 s per token" in page
    assert "manage.py env token acc-tok --ttl 1h" in page

    cognito = make_env("acc-cog", "dev", overrides={"auth": "cognito", "cognito_token_use": "access"})
    Environment.objects.filter(pk=cognito.pk).update(
        outputs={
            "user_pool_id": "us-east-1_AbC123",
            "user_pool_client_id": "client42",
            "api_endpoint": "https://x/dev",
        }
    )
    cognito.refresh_from_db()
    page = _page(login, cognito)
    assert "AccessToken of a user of pool us-east-1_AbC123 (app client client42)" in page
    assert "aws cognito-idp initiate-auth --region us-east-1 --client-id client42" in page
    assert "--query AuthenticationResult.AccessToken" in page
    assert 'curl -H "x-api-key: $API_KEY" -H "Authorization: Bearer $TOKEN" https://x/dev/items' in page

    iam = make_env("acc-iam", "dev", overrides={"auth": "iam"})
    page = _page(login, iam)
    assert "AWS_IAM (SigV4)" in page and "execute-api:Invoke" in page


def test_admin_form_refuses_a_bad_mode_on_its_field(login):
    client = login("admin")
    response = client.post(
        reverse("admin:portal_environment_add"),
        {
            "suffix": "acc-bad",
            "stage": "dev",
            "region": "us-east-1",
            "overrides": '{"auth": "oauth", "auth_ttl_s": 9999}',
            "alarm_emails": "[]",
            "desired_state": "present",
        },
    )
    body = html.unescape(response.content.decode())
    assert "one of api_key, token, cognito, iam" in body and "an integer from 0 to 3600" in body
    assert not Environment.objects.filter(suffix="acc-bad").exists()
