"""How a client authenticates to an environment's API, in words and commands (R-AUTH-1).

The environment page and `env show` say it the same way: the mode, and for `token` and
`cognito` how to get a credential. Values come from the stored outputs (user pool and client
ids, endpoint); nothing here calls AWS.
"""

from __future__ import annotations

from typing import Any

from provisioning.spec import SpecError

from .models import Environment

LABELS = {
    "api_key": "API key only",
    "token": "Lambda TOKEN authorizer (envport-signed JWT) and API key",
    "cognito": "Cognito user pool authorizer and API key",
    "iam": "AWS_IAM (SigV4) and API key",
}


def access_summary(env: Environment) -> dict[str, Any]:
    """{"mode", "label", "how": [sentences], "commands": [shell lines]}."""
    try:
        settings = env.spec().settings
    except SpecError:
        return {"mode": "?", "label": "the definition is invalid", "how": [], "commands": []}
    mode = settings.auth
    outputs = env.outputs or {}
    endpoint = str(outputs.get("api_endpoint") or "https://API.execute-api.REGION.amazonaws.com/STAGE")
    items = endpoint.rstrip("/") + "/items"
    how = ["Every request sends the API key in the x-api-key header (usage plan throttle and quota)."]
    commands: list[str] = []
    if mode == "token":
        how.append(
            "Send Authorization: Bearer TOKEN. Tokens are HS256 JWTs signed with the environment's key "
            f"(Secrets Manager); the authorizer's answer is cached for {settings.auth_ttl_s} s per token."
        )
        commands += [
            f"TOKEN=$(python manage.py env token {env.suffix} --ttl 1h --subject alice)",
            f'curl -H "x-api-key: $API_KEY" -H "Authorization: Bearer $TOKEN" {items}',
        ]
    elif mode == "cognito":
        pool = outputs.get("user_pool_id") or "POOL_ID (after a provision)"
        client = outputs.get("user_pool_client_id") or "CLIENT_ID (after a provision)"
        kind = "AccessToken" if settings.cognito_token_use == "access" else "IdToken"
        how.append(
            f"Send Authorization: Bearer TOKEN with the {kind} of a user of pool {pool} (app client "
            f"{client}). Users are made by an administrator (no self sign-up)."
        )
        commands += [
            f"aws cognito-idp admin-create-user --region {env.region} --user-pool-id {pool} "
            "--username alice --message-action SUPPRESS",
            f"aws cognito-idp admin-set-user-password --region {env.region} --user-pool-id {pool} "
            "--username alice --password 'A-long-Passw0rd!' --permanent",
            f"TOKEN=$(aws cognito-idp initiate-auth --region {env.region} --client-id {client} "
            "--auth-flow USER_PASSWORD_AUTH --auth-parameters 'USERNAME=alice,PASSWORD=A-long-Passw0rd!' "
            f"--query AuthenticationResult.{kind} --output text)",
            f'curl -H "x-api-key: $API_KEY" -H "Authorization: Bearer $TOKEN" {items}',
        ]
    elif mode == "iam":
        how.append(
            "Sign every request with SigV4 for the service execute-api, as a principal allowed "
            "execute-api:Invoke on the API's methods; unsigned requests get 403."
        )
        commands.append(
            f'awscurl --service execute-api --region {env.region} -H "x-api-key: $API_KEY" {items}'
        )
    return {"mode": mode, "label": LABELS.get(mode, mode), "how": how, "commands": commands}
