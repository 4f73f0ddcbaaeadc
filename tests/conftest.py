"""Shared test set-up: no test may ever reach a real AWS account."""

import os

# Dummy credentials and a fixed region, set before boto3 is imported anywhere, so that a
# test that forgot its moto fixture fails against an unreachable endpoint rather than
# touching a real account with credentials from the developer's environment.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_key] = _value
for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_key, None)
