"""Lambda versions and aliases answer like AWS (localcloud/lambda_/fixes.py), in decorator mode and in
server mode; and a package with compiled extensions built for another Python fails in the local cloud
with a message that says so (localcloud/lambda_/worker.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from localcloud_helpers import APP_SOURCE, Kit, build_zip, http
from moto import mock_aws

from localcloud import fidelity

REGION = "us-east-1"
NO_RETRY = Config(retries={"total_max_attempts": 1})
ClientFactory = Callable[[str], object]
REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


@pytest.fixture(params=["decorator", "server"])
def client(request: pytest.FixtureRequest) -> Iterator[ClientFactory]:
    fidelity.apply()
    if request.param == "server":
        url = request.getfixturevalue("moto_server")
        yield lambda service: boto3.client(service, region_name=REGION, endpoint_url=url, config=NO_RETRY)
    else:
        with mock_aws():
            yield lambda service: boto3.client(service, region_name=REGION, config=NO_RETRY)


def error(call: Callable[[], object]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def code(text: str = "def handler(event, context):\n    return 1\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", text)
    return buffer.getvalue()


_names = iter(range(10**6))


def function(client: ClientFactory, versions: int = 0) -> str:
    """A new function (a unique name: the server mode keeps state between tests) with N versions."""
    lam = client("lambda")
    iam = client("iam")
    name = f"fid-{next(_names)}"
    role = iam.create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            }
        ),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": code()}
    )
    for n in range(versions):
        lam.update_function_code(FunctionName=name, ZipFile=code(f"def handler(e, c):\n    return {n + 2}\n"))
        lam.publish_version(FunctionName=name)
    return name


def test_fixes_are_registered_and_documented() -> None:
    names = {fix.name for fix in fidelity.FIXES}
    assert {
        "lambda-alias-routing-config",
        "lambda-revision-ids",
        "lambda-delete-version-in-use",
        "lambda-code-from-s3",
    } <= names


# ---------------------------------------------------------------------------------------------
# Alias routing configuration
# ---------------------------------------------------------------------------------------------


def test_alias_routing_config_is_validated_like_aws(client: ClientFactory) -> None:
    """AdditionalVersionWeights: one entry at most, a weight from 0.0 to 1.0, a published version that
    exists and is not the primary, never on an alias of $LATEST
    (https://docs.aws.amazon.com/lambda/latest/api/API_AliasRoutingConfiguration.html,
    https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html)."""
    # R-REL-2
    lam = client("lambda")
    name = function(client, versions=2)

    def create(primary: str, weights: dict) -> object:
        return lam.create_alias(
            FunctionName=name,
            Name="live",
            FunctionVersion=primary,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )

    assert error(lambda: create("1", {"2": 1.5})) == (
        "ValidationException",
        400,
        "1 validation error detected: Value '{2=1.5}' at 'routingConfig.additionalVersionWeights' failed "
        "to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or "
        "equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
    )
    assert error(lambda: create("1", {"2": 0.1, "3": 0.1})) == (
        "InvalidParameterValueException",
        400,
        "Number of items in AdditionalVersionWeights cannot be greater than 1",
    )
    code_, status, message = error(lambda: create("1", {"99": 0.1}))
    assert (code_, status) == ("ResourceNotFoundException", 404)
    assert message == f"Function not found: arn:aws:lambda:{REGION}:123456789012:function:{name}:99"
    assert error(lambda: create("1", {"1": 0.1})) == (
        "InvalidParameterValueException",
        400,
        "Invalid function version 1. Function version 1 is already included in routing configuration.",
    )
    assert error(lambda: create("$LATEST", {"1": 0.1})) == (
        "InvalidParameterValueException",
        400,
        "$LATEST is not supported for an alias pointing to more than 1 version",
    )
    assert error(lambda: create("1", {"$LATEST": 0.1}))[0] == "ValidationException"
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []  # nothing refused was stored

    created = create("1", {"2": 0.3})
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}
    # UpdateAlias is checked against the alias it would leave: primary 2 with 2 as additional.
    assert error(lambda: lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2"))[0] == (
        "InvalidParameterValueException"
    )
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    edges = [0.0, 1.0]
    for weight in edges:
        lam.update_alias(
            FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": weight}}
        )


def test_create_alias_of_an_existing_alias_conflicts(client: ClientFactory) -> None:
    """CreateAlias of a name already in use: 409 ResourceConflictException
    (https://docs.aws.amazon.com/lambda/latest/api/API_CreateAlias.html#API_CreateAlias_Errors)."""
    # R-REL-2
    lam = client("lambda")
    name = function(client, versions=2)
    arn = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["AliasArn"]

    assert error(lambda: lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")) == (
        "ResourceConflictException",
        409,
        f"Alias already exists: {arn}",
    )
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"


def test_alias_revision_id_changes_and_a_stale_one_is_refused(client: ClientFactory) -> None:
    """UpdateAlias: "RevisionId - Only update the alias if the revision ID matches the ID that's
    specified" (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateAlias.html)."""
    # R-REL-2
    lam = client("lambda")
    name = function(client, versions=2)
    first = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["RevisionId"]

    second = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId=first)[
        "RevisionId"
    ]

    assert second != first
    assert lam.get_alias(FunctionName=name, Name="live")["RevisionId"] == second
    assert error(
        lambda: lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1", RevisionId=first)
    ) == (
        "PreconditionFailedException",
        412,
        REVISION_MISMATCH,
    )
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2"


# ---------------------------------------------------------------------------------------------
# RevisionIds, PublishVersion preconditions, immutable versions
# ---------------------------------------------------------------------------------------------


def test_functions_have_revision_ids_that_change_on_update(client: ClientFactory) -> None:
    """FunctionConfiguration.RevisionId: "The latest updated revision of the function or alias"
    (https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html); UpdateFunctionCode and
    UpdateFunctionConfiguration refuse a RevisionId that is not the current one with
    PreconditionFailedException (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionCode.html)."""
    lam = client("lambda")
    name = function(client)
    first = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    assert first and lam.get_function_configuration(FunctionName=name)["RevisionId"] == first

    second = lam.update_function_code(FunctionName=name, ZipFile=code("x = 2\n"), RevisionId=first)[
        "RevisionId"
    ]
    third = lam.update_function_configuration(FunctionName=name, Timeout=9, RevisionId=second)["RevisionId"]

    assert len({first, second, third}) == 3
    assert lam.get_function(FunctionName=name)["Configuration"]["RevisionId"] == third
    assert error(
        lambda: lam.update_function_configuration(FunctionName=name, Timeout=5, RevisionId=first)
    ) == (
        "PreconditionFailedException",
        412,
        REVISION_MISMATCH,
    )
    assert error(lambda: lam.update_function_code(FunctionName=name, ZipFile=code(), RevisionId=second))[
        0
    ] == ("PreconditionFailedException")
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 9


def test_publish_version_honours_code_sha256_and_revision_id(client: ClientFactory) -> None:
    """PublishVersion: "CodeSha256 - Only publish a version if the hash value matches the value that's
    specified" and "RevisionId - Only update the function if the revision ID matches the ID that's
    specified" (https://docs.aws.amazon.com/lambda/latest/api/API_PublishVersion.html)."""
    # R-REL-1
    lam = client("lambda")
    name = function(client)
    latest = lam.get_function(FunctionName=name)["Configuration"]
    sha = latest["CodeSha256"]

    assert error(lambda: lam.publish_version(FunctionName=name, CodeSha256="wrong")) == (
        "InvalidParameterValueException",
        400,
        f"CodeSHA256 (wrong) is different from current CodeSHA256 in $LATEST ({sha}). "
        "Please try again with the CodeSHA256 in $LATEST.",
    )
    assert error(lambda: lam.publish_version(FunctionName=name, RevisionId="stale")) == (
        "PreconditionFailedException",
        412,
        REVISION_MISMATCH,
    )
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST"]

    published = lam.publish_version(FunctionName=name, CodeSha256=sha, RevisionId=latest["RevisionId"])

    assert published["Version"] == "1" and published["CodeSha256"] == sha
    assert published["RevisionId"] and published["RevisionId"] != latest["RevisionId"]
    assert (
        lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["RevisionId"]
        == published["RevisionId"]
    )


def test_a_published_version_cannot_be_updated(client: ClientFactory) -> None:
    """A published version is immutable: "you can't change the code or configuration of a published version"
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html); AWS answers the update of a
    qualified ARN with InvalidParameterValueException."""
    # R-REL-1
    lam = client("lambda")
    name = function(client, versions=1)
    arn = lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["FunctionArn"]
    message = (
        "Current operation does not support versions other than $LATEST. "
        "Please set the version to $LATEST or do not set a version in your request."
    )

    assert error(lambda: lam.update_function_configuration(FunctionName=arn, Timeout=9)) == (
        "InvalidParameterValueException",
        400,
        message,
    )
    assert (
        error(lambda: lam.update_function_code(FunctionName=f"{name}:1", ZipFile=code("x = 9\n")))[2]
        == message
    )
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3
    lam.update_function_configuration(FunctionName=name, Timeout=8)  # $LATEST changes, version 1 does not
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 8
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3


# ---------------------------------------------------------------------------------------------
# DeleteFunction with a Qualifier
# ---------------------------------------------------------------------------------------------


def test_delete_of_a_version_an_alias_uses_is_refused(client: ClientFactory) -> None:
    """DeleteFunction: "You can't delete a version that an alias references", as primary or additional
    version; and Qualifier "can't be $LATEST" (https://docs.aws.amazon.com/lambda/latest/api/API_DeleteFunction.html)."""
    # R-REL-5
    lam = client("lambda")
    name = function(client, versions=3)
    lam.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    lam.create_alias(FunctionName=name, Name="blue", FunctionVersion="1")

    assert error(lambda: lam.delete_function(FunctionName=name, Qualifier="1")) == (
        "ResourceConflictException",
        409,
        "Unable to delete version because the following aliases reference it: [blue, live]",
    )
    assert error(lambda: lam.delete_function(FunctionName=f"{name}:2"))[2] == (
        "Unable to delete version because the following aliases reference it: [live]"
    )
    assert error(lambda: lam.delete_function(FunctionName=name, Qualifier="$LATEST")) == (
        "InvalidParameterValueException",
        400,
        "$LATEST version cannot be deleted without deleting the function.",
    )
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert versions == ["$LATEST", "1", "2", "3"]

    lam.delete_function(FunctionName=name, Qualifier="3")  # no alias uses it
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == [
        "$LATEST",
        "1",
        "2",
    ]
    assert error(lambda: lam.delete_function(FunctionName=name, Qualifier="3"))[:2] == (
        "ResourceNotFoundException",
        404,
    )


# ---------------------------------------------------------------------------------------------
# Function code from S3
# ---------------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_code_from_a_missing_s3_object_is_refused(client: ClientFactory) -> None:
    """FunctionCode S3Bucket/S3Key name an object that must exist; S3ObjectVersion picks a version of it
    (https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCode.html)."""
    # R-REL-1
    lam, s3 = client("lambda"), client("s3")
    name = function(client)
    bucket = f"{name}-artifacts"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    no_key = (
        "InvalidParameterValueException",
        400,
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. "
        "S3 Error Message: The specified key does not exist.",
    )
    before = lam.get_function_configuration(FunctionName=name)

    assert (
        error(lambda: lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="nope.zip"))
        == no_key
    )
    assert error(
        lambda: lam.update_function_code(FunctionName=name, S3Bucket="no-such-bucket-r2", S3Key="a.zip")
    )[2] == (
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. "
        "S3 Error Message: The specified bucket does not exist"
    )
    role = before["Role"]
    create = {"Runtime": "python3.12", "Role": role, "Handler": "app.handler"}
    assert (
        error(
            lambda: lam.create_function(
                FunctionName=f"{name}-s3", Code={"S3Bucket": bucket, "S3Key": "nope.zip"}, **create
            )
        )
        == no_key
    )
    after = lam.get_function_configuration(FunctionName=name)
    assert (after["CodeSha256"], after["CodeSize"]) == (before["CodeSha256"], before["CodeSize"])

    first_zip = code("x = 'first'\n")  # built once: a zip's entry times move every two seconds
    first = s3.put_object(Bucket=bucket, Key="fn.zip", Body=first_zip)["VersionId"]
    s3.put_object(Bucket=bucket, Key="fn.zip", Body=code("x = 'second'\n"))
    newest = lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="fn.zip")
    pinned = lam.update_function_code(
        FunctionName=name, S3Bucket=bucket, S3Key="fn.zip", S3ObjectVersion=first
    )
    assert newest["CodeSize"] > 0 and pinned["CodeSize"] > 0
    assert pinned["CodeSha256"] != newest["CodeSha256"]
    assert pinned["CodeSha256"] == base64.b64encode(hashlib.sha256(first_zip).digest()).decode()


# ---------------------------------------------------------------------------------------------
# Compiled extensions built for another Python (runs functions: slow)
# ---------------------------------------------------------------------------------------------


def _zip_with(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


FOREIGN_SO = "fastthing/_speedups.cpython-312-aarch64-linux-gnu.so"
USES_EXTENSION = """
import fastthing._speedups

def handler(event, context):
    return {"statusCode": 200, "body": "never"}
"""
LAZY_EXTENSION = """
import json

def handler(event, context):
    if event.get("fast"):
        import fastthing._speedups
    return {"statusCode": 200, "body": json.dumps({"pure": True})}
"""


@pytest.mark.slow
def test_extension_built_for_another_python_fails_with_a_message_that_says_so(cloud, kit: Kit) -> None:
    """On AWS a package must hold extensions built for the function's runtime and architecture
    (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-native-libraries).
    The local cloud runs functions on the host's Python, so it cannot load an extension built for
    another one: the import fails as Runtime.ImportModuleError naming the file and the reason, while the
    upload itself is accepted (AWS would accept and run it)."""
    # R-REL-1
    package = {
        "app.py": USES_EXTENSION.encode(),
        "fastthing/__init__.py": b"",
        FOREIGN_SO: b"\x7fELF not for us",
    }
    fn = kit.function("app.handler", code=_zip_with(package))

    response = kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    failure = json.loads(response["Payload"].read())
    assert failure["errorType"] == "Runtime.ImportModuleError"
    message = failure["errorMessage"]
    assert message.startswith("Unable to import module 'app': No module named 'fastthing._speedups'")
    assert FOREIGN_SO in message and "cpython-312-aarch64-linux-gnu" in message
    assert "cannot load extensions built for another Python" in message
    assert cloud.invocations(fn["FunctionName"])[-1]["error_type"] == "Runtime.ImportModuleError"


@pytest.mark.slow
def test_pure_python_code_beside_a_foreign_extension_still_runs(cloud, kit: Kit) -> None:
    """Only an import that needs the foreign extension fails, where it happens (here inside the handler,
    through API Gateway: 502); the rest of the package runs as on AWS."""
    package = {"app.py": LAZY_EXTENSION.encode(), "fastthing/__init__.py": b"", FOREIGN_SO: b"\x7fELF"}
    fn = kit.function("app.handler", code=_zip_with(package))
    lam = kit.client("lambda")

    ok = lam.invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert "FunctionError" not in ok and json.loads(json.loads(ok["Payload"].read())["body"]) == {
        "pure": True
    }

    failed = lam.invoke(FunctionName=fn["FunctionName"], Payload=json.dumps({"fast": True}).encode())
    failure = json.loads(failed["Payload"].read())
    assert failed["FunctionError"] == "Unhandled"
    assert failure["errorType"] == "ModuleNotFoundError"
    assert FOREIGN_SO in failure["errorMessage"]

    api = kit.api("foreign-ext")
    api.proxy("/f", "GET", fn["FunctionArn"])
    api.deploy("test")
    assert http(api.url("/f")).status == 200
    # The ordinary app of the other tests is unaffected by the finder (nothing foreign in it).
    plain = kit.function("app.version", code=build_zip(APP_SOURCE))
    assert "FunctionError" not in lam.invoke(FunctionName=plain["FunctionName"], Payload=b"{}")


def test_version_numbers_are_never_reused(client: ClientFactory) -> None:
    """ "Lambda increments the version number" for each new version; a deleted version's number is not
    given again (https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html)."""
    # R-REL-5
    lam = client("lambda")
    name = function(client, versions=3)
    lam.delete_function(FunctionName=name, Qualifier="3")
    lam.delete_function(FunctionName=name, Qualifier="1")

    lam.update_function_code(FunctionName=name, ZipFile=code("x = 'four'\n"))
    assert lam.publish_version(FunctionName=name)["Version"] == "4"
    lam.update_function_code(FunctionName=name, ZipFile=code("x = 'five'\n"))
    assert lam.publish_version(FunctionName=name)["Version"] == "5"

    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "2", "4", "5"]
    assert len({v["CodeSha256"] for v in versions[1:]}) == 3


# ---------------------------------------------------------------------------------------------
# Environment variables: 4 KB in aggregate
# ---------------------------------------------------------------------------------------------

ENV_TOO_LARGE = (
    "Lambda was unable to configure your environment variables because the environment variables you have "
    "provided exceeded the 4KB limit. String measured: "
)


@pytest.mark.heavy
def test_environment_variables_over_4_kb_are_refused(client: ClientFactory) -> None:
    """Issue 22 case: environment variables over 4 KB in total were accepted. Lambda quotas
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): "Function environment
    variables: 4 KB, for all environment variables associated with the function, in aggregate";
    CreateFunction and UpdateFunctionConfiguration answer InvalidParameterValueException with the string
    measured (the variables' JSON) and change nothing."""
    lam = client("lambda")
    name = function(client)
    fits = {"A": "x" * (4096 - len('{"A":""}'))}  # exactly 4,096 bytes measured
    over = {"A": "x" * (4096 - len('{"A":""}')), "B": ""}
    over_json = json.dumps(over, separators=(",", ":"))
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": fits})

    assert error(
        lambda: lam.update_function_configuration(FunctionName=name, Environment={"Variables": over})
    ) == (
        "InvalidParameterValueException",
        400,
        ENV_TOO_LARGE + over_json,
    )
    assert lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == fits

    # Multi-byte characters count in bytes: 2,049 two-byte characters are over the limit.
    wide = {"W": "é" * 2049}
    role = lam.get_function_configuration(FunctionName=name)["Role"]
    created = {"Runtime": "python3.12", "Role": role, "Handler": "app.handler", "Code": {"ZipFile": code()}}
    code_, status, message = error(
        lambda: lam.create_function(FunctionName=f"{name}-wide", Environment={"Variables": wide}, **created)
    )
    assert (code_, status) == ("InvalidParameterValueException", 400)
    assert message.startswith(ENV_TOO_LARGE)
    assert error(lambda: lam.get_function(FunctionName=f"{name}-wide"))[0] == "ResourceNotFoundException"
