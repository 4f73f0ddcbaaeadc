"""AWS_IAM methods on the gateway: SigV4 signatures and execute-api:Invoke.

Requests are signed with botocore's own signers (header and presigned query string), as a client of
the API signs them; users, keys, roles and policies are made with boto3 against the local cloud.
MOCK integrations answer, except where the identity must reach a function.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from localcloud_helpers import http

MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
ADMIN = Credentials("testing", "testing")


def _send(
    url,
    credentials=None,
    *,
    method="GET",
    body=None,
    service="execute-api",
    region="us-east-1",
    presign=False,
    tamper=None,
):
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    if credentials is not None:
        signer_class = SigV4QueryAuth if presign else SigV4Auth
        signer_class(credentials, service, region).add_auth(request)
    if tamper:
        tamper(request)
    headers = {k: v for k, v in request.headers.items()}
    return http(request.url, method, headers=headers, body=request.body or None)


def _iam_method(api, path, verb):
    api.mock(path, verb, {})
    api.apigw.update_method(
        restApiId=api.id,
        resourceId=api.resource(path),
        httpMethod=verb,
        patchOperations=[{"op": "replace", "path": "/authorizationType", "value": "AWS_IAM"}],
    )


def _user(kit, name, statements):
    iam = kit.client("iam")
    user = f"{name}-{kit.suffix}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="invoke",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return SimpleNamespace(name=user, key=key, creds=Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


@pytest.fixture(scope="module")
def env(kit):
    api = kit.api("iam-auth")
    _iam_method(api, "/items", "GET")
    _iam_method(api, "/items", "POST")
    api.proxy("/whoami", "GET", kit.function("app.echo")["FunctionArn"])
    api.apigw.update_method(
        restApiId=api.id,
        resourceId=api.resource("/whoami"),
        httpMethod="GET",
        patchOperations=[{"op": "replace", "path": "/authorizationType", "value": "AWS_IAM"}],
    )
    api.gateway_response("DEFAULT_4XX", {"Access-Control-Allow-Origin": "*"})
    api.deploy("test")
    base = f"arn:aws:execute-api:us-east-1:123456789012:{api.id}/test"
    reader = _user(
        kit,
        "reader",
        [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{base}/GET/*"},
            {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": f"{base}/GET/whoami"},
        ],
    )
    writer = _user(kit, "writer", [{"Effect": "Allow", "Action": "execute-api:*", "Resource": f"{base}/*"}])
    inactive = _user(kit, "inactive", [{"Effect": "Allow", "Action": "*", "Resource": "*"}])
    kit.client("iam").update_access_key(
        UserName=inactive.name, AccessKeyId=inactive.key["AccessKeyId"], Status="Inactive"
    )
    iam = kit.client("iam")
    role = iam.create_role(
        RoleName=f"caller-{kit.suffix}",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
            }
        ),
    )["Role"]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="invoke",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{base}/POST/items"}
                ],
            }
        ),
    )
    session = kit.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="tester")["Credentials"]
    return SimpleNamespace(
        api=api, base=base, reader=reader, writer=writer, inactive=inactive, role=role, session=session
    )


# R-AUTH-3
def test_an_unsigned_request_is_missing_authentication_token(env):
    """No signature on an AWS_IAM method: 403 Missing Authentication Token (DEFAULT_4XX headers).
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html"""
    response = _send(env.api.url("/items"))
    assert (response.status, response.body) == (403, MISSING_TOKEN)
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# R-AUTH-1
def test_a_signed_request_of_an_allowed_user_passes_header_or_presigned(env):
    """A SigV4-signed request (Authorization header or presigned query string) of a user whose
    policy allows execute-api:Invoke on the method ARN passes.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html"""
    assert _send(env.api.url("/items"), env.reader.creds).status == 200
    assert _send(env.api.url("/items?b=2&a=1"), env.reader.creds, presign=True).status == 200
    assert _send(env.api.url("/items"), env.writer.creds, method="POST", body=b'{"x": 1}').status == 200
    # The administrator credentials of the local cloud (secret = key id) are the account's root.
    assert _send(env.api.url("/items"), ADMIN, method="POST", body=b"{}").status == 200


# R-AUTH-3
def test_a_wrong_signature_is_refused_with_what_was_expected(env):
    """A wrong secret, a body changed after signing, another service's or Region's scope, or a date
    more than 5 minutes off: 403 InvalidSignatureException; the mismatch message gives the canonical
    request and string to sign.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html"""
    wrong_secret = Credentials(env.reader.key["AccessKeyId"], "not-the-secret")
    mismatch = _send(env.api.url("/items"), wrong_secret)
    assert mismatch.status == 403
    assert mismatch.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    message = mismatch.json()["message"]
    assert message.startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    assert "The Canonical String for this request should have been\n'GET\n" in message

    def change_body(request):
        request.data = b'{"x": 2}'

    changed = _send(
        env.api.url("/items"), env.writer.creds, method="POST", body=b'{"x": 1}', tamper=change_body
    )
    assert changed.status == 403
    scoped = _send(env.api.url("/items"), env.reader.creds, service="lambda")
    assert scoped.json()["message"] == "Credential should be scoped to correct service: 'execute-api'. "
    region = _send(env.api.url("/items"), env.reader.creds, region="eu-west-1")
    assert region.status == 403


def test_a_signature_older_than_5_minutes_has_expired(env, monkeypatch):
    """API Gateway refuses a signature dated more than 5 minutes from its clock.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html (and the observed
    "Signature expired: ... (... - 5 min.)", aws-amplify/aws-sdk-android#253)"""
    import botocore.auth

    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() - dt.timedelta(minutes=6))
    stale = _send(env.api.url("/items"), env.reader.creds)
    assert stale.status == 403
    assert stale.json()["message"].startswith("Signature expired: ")
    assert stale.json()["message"].endswith(" - 5 min.)")


# R-AUTH-1
def test_policies_decide_execute_api_invoke(env):
    """The caller's identity policies are evaluated for execute-api:Invoke on the method ARN: no Allow,
    or an explicit Deny, is 403 with the caller's and the resource's ARN.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-iam-policy-examples-for-api-execution.html"""
    user_arn = f"arn:aws:iam::123456789012:user/{env.reader.name}"
    no_allow = _send(env.api.url("/items"), env.reader.creds, method="POST", body=b"{}")
    assert no_allow.status == 403
    assert no_allow.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert no_allow.json() == {
        "Message": f"User: {user_arn} is not authorized to perform: execute-api:Invoke on resource: "
        f"{env.base}/POST/items because no identity-based policy allows the execute-api:Invoke action"
    }
    deny = _send(env.api.url("/whoami"), env.reader.creds)
    assert deny.json()["Message"].endswith(
        f"on resource: {env.base}/GET/whoami with an explicit deny in an identity-based policy"
    )


def test_keys_must_be_active_and_sessions_need_their_token(env):
    """An inactive access key, or a role session's key without its security token: 403 "The security
    token included in the request is invalid."; with the token, the role's policies decide.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_use-resources.html"""
    inactive = _send(env.api.url("/items"), env.inactive.creds)
    assert (inactive.status, inactive.headers["x-amzn-ErrorType"]) == (403, "UnrecognizedClientException")
    session = env.session
    without_token = Credentials(session["AccessKeyId"], session["SecretAccessKey"])
    assert _send(env.api.url("/items"), without_token, method="POST", body=b"{}").status == 403
    with_token = Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
    assert _send(env.api.url("/items"), with_token, method="POST", body=b"{}").status == 200
    assert _send(env.api.url("/items"), with_token).status == 403  # the role allows POST only


@pytest.mark.slow  # runs the function in a worker process
def test_the_caller_identity_reaches_the_function(env):
    """requestContext.identity carries the caller: accessKey, accountId, caller, user, userArn.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html"""
    identity = _send(env.api.url("/whoami"), env.writer.creds).json()["event"]["requestContext"]["identity"]
    assert identity["accessKey"] == env.writer.key["AccessKeyId"]
    assert identity["userArn"] == f"arn:aws:iam::123456789012:user/{env.writer.name}"
    assert identity["accountId"] == "123456789012"
    assert identity["caller"] == identity["user"] and identity["caller"]


# R-AUTH-3
def test_a_bearer_token_on_an_iam_method_is_an_incomplete_signature(env):
    """A token where a signature belongs: 403 IncompleteSignatureException, with the parameters the
    header lacks (a bare token) or the key=value complaint (``Bearer TOKEN``), as API Gateway answers.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html"""
    bare = http(env.api.url("/items"), headers={"Authorization": "eyJhbGciOiJSUzI1NiJ9.e30.sig"})
    assert bare.status == 403
    assert bare.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert bare.json()["message"] == (
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
        "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires "
        "existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=eyJhbGciOiJSUzI1NiJ9.e30.sig"
    )
    bearer = http(env.api.url("/items"), headers={"Authorization": "Bearer abc.def.ghi"})
    assert bearer.status == 403
    assert bearer.json()["message"].startswith(
        "Invalid key=value pair (missing equal-sign) in Authorization header"
    )
