"""The key of a function's environment variables: Lambda must be able to decrypt them to run it.

Securing Lambda environment variables
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html, "Managing
permissions to your server-side encryption KMS key"): with a customer managed key (``KMSKeyArn``)
Lambda encrypts the variables at rest and decrypts them through a grant it creates on the key *with
the permissions of whoever configures the function* (``kms:CreateGrant``, ``kms:Encrypt``); the
function's execution role needs no KMS permission for it (only for client-side "encryption helpers",
where the function calls ``kms:Decrypt`` itself, which ``iam_enforcement`` evaluates). When Lambda
cannot decrypt them, Invoke fails before the function runs, with HTTP 502 and one of the errors of
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html (their messages are the API
reference's descriptions):

- the key does not exist: ``KMSNotFoundException``;
- the key is disabled: ``KMSDisabledException``;
- the key is pending deletion (or pending import): ``KMSInvalidStateException``.

Modelled from moto's KMS as it holds the key *now*, on every invocation of a function that has
environment variables and a ``KMSKeyArn`` (AWS decrypts when it starts an execution environment, so
there a warm environment may keep serving for a while after the key is disabled).

Not modelled: ``KMSAccessDeniedException`` (a grant revoked or retired after configuration: the local
Lambda creates no grant), and the configuring caller's ``kms:CreateGrant``/``kms:Encrypt``/
``kms:Decrypt`` permissions (callers other than a function's role session are the account's
administrator here, see ``iam_enforcement``).
"""

from __future__ import annotations

from typing import Any

_MESSAGES = {
    "KMSNotFoundException": "Lambda couldn't decrypt the environment variables because the KMS key was not "
    "found. Check the function's KMS key settings.",
    "KMSDisabledException": "Lambda couldn't decrypt the environment variables because the KMS key used is "
    "disabled. Check the Lambda function's KMS key settings.",
    "KMSInvalidStateException": "Lambda couldn't decrypt the environment variables because the state of the "
    "KMS key used is not valid for Decrypt. Check the function's KMS key settings.",
}


class EnvironmentKeyUnusable(Exception):
    """Lambda cannot decrypt the function's environment variables (Invoke answers 502)."""

    status = 502

    def __init__(self, error_type: str) -> None:
        super().__init__(_MESSAGES[error_type])
        self.error_type = error_type


def key_state(key_arn: str, account_id: str, region: str) -> str | None:
    """The state of the key ``key_arn`` names in moto's KMS ("Enabled", "Disabled", ...), None when
    there is no such key. A key id or alias without an ARN is looked up in the function's region."""
    from moto.kms.models import kms_backends

    parts = key_arn.split(":")
    if key_arn.startswith("arn:") and len(parts) >= 6:
        region, account_id = parts[3] or region, parts[4] or account_id
    try:
        backend = kms_backends[account_id][region]
        key = backend.describe_key(key_arn)
    except Exception:
        return None
    return str(getattr(key, "key_state", "Enabled"))


def check_environment_key(fn: Any) -> None:
    """Raise EnvironmentKeyUnusable when ``fn`` (a moto function) has environment variables encrypted
    with a customer managed key that Lambda could not use to decrypt them."""
    key_arn = getattr(fn, "kms_key_arn", None)
    if not key_arn or not (getattr(fn, "environment_vars", None) or {}):
        return
    state = key_state(str(key_arn), fn.account_id, fn.region)
    if state is None:
        raise EnvironmentKeyUnusable("KMSNotFoundException")
    if state == "Disabled":
        raise EnvironmentKeyUnusable("KMSDisabledException")
    if state != "Enabled":
        raise EnvironmentKeyUnusable("KMSInvalidStateException")
