"""Fidelity fixes for a REST API's binaryMediaTypes, which the gateway uses to encode request bodies
and decode base64 answers (``localcloud.apigateway.gateway``).

Registered in ``localcloud.fidelity.FIXES`` (imported by ``fidelity/install.py``) and installed by
``fidelity.apply()``. AWS's behaviour: https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html
(``binaryMediaTypes`` in the request) and
https://docs.aws.amazon.com/apigateway/latest/api/patch-operations.html#UpdateRestApi-Patch (a media type
is added or removed by ``/binaryMediaTypes/{type}``, the ``/`` in the type escaped as ``~1``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from moto.apigateway import models as apigw_models
from moto.apigateway.exceptions import BadRequestException
from moto.apigateway.responses import APIGatewayResponse

from localcloud.apigateway.rest_api_fixes import PatchOps
from localcloud.registry import around, fixer

_fix = fixer(__name__)

BINARY_PREFIX = "/binaryMediaTypes/"


def _media_type(path: str) -> str:
    return path[len(BINARY_PREFIX) :].replace("~1", "/").replace("~0", "~")


@_fix(
    "apigateway-binary-media-types",
    "CreateRestApi ignores binaryMediaTypes; UpdateRestApi add/remove /binaryMediaTypes/{type} reads the "
    "op's value (absent on AWS) instead of the type in the path, so nothing is added.",
    "CreateRestApi stores binaryMediaTypes; add and remove take the media type from the path "
    "(image~1png is image/png); replace swaps the type in the path for the value.",
)
def _fix_binary_media_types() -> None:
    """Wrap CreateRestApi's response handler and RestAPI.apply_patch_operations for binaryMediaTypes."""

    @around(APIGatewayResponse, "create_rest_api")
    def create_rest_api(orig: Callable[..., Any], self: Any) -> Any:
        status, headers, body = orig(self)
        wanted = self._get_param("binaryMediaTypes")
        if status == 200 and isinstance(wanted, list) and wanted:
            created = json.loads(body)
            api = self.backend.apis[created["id"]]
            api.binaryMediaTypes = [str(t) for t in wanted]
            body = json.dumps(api.to_dict())
        return status, headers, body

    @around(apigw_models.RestAPI, "apply_patch_operations")
    def apply_patch_operations(orig: Callable[..., Any], self: Any, patch_operations: PatchOps) -> None:
        rest = []
        types = list(self.binaryMediaTypes or [])
        for op in patch_operations or []:
            path, kind = str(op.get("path") or ""), op.get("op")
            if not path.startswith(BINARY_PREFIX) or kind not in ("add", "remove", "replace"):
                rest.append(op)
                continue
            media = _media_type(path)
            if kind == "add" and media not in types:
                types.append(media)
            elif kind == "remove" and media in types:
                types.remove(media)
            elif kind == "replace":
                value = str(op.get("value") or "")
                types = [value if t == media else t for t in types]
        self.binaryMediaTypes = types
        orig(self, rest)


# --------------------------------------------------------------------------------------------
# Authorizers and the methods that use them (localcloud.apigateway.authorizers enforces them)
# --------------------------------------------------------------------------------------------

AUTHORIZER_TTL_MAX = 3600
AUTHORIZATION_TYPES = ("NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS")
LAMBDA_AUTHORIZER_URI = re.compile(
    r"^arn:aws[\w-]*:apigateway:[\w-]+:lambda:path/2015-03-31/functions/arn:aws[\w-]*:lambda:[\w-]+:\d{12}:"
    r"function:[^/]+/invocations$"
)
USER_POOL_ARN = re.compile(r"^arn:aws[\w-]*:cognito-idp:[\w-]+:\d{12}:userpool/[\w-]+$")
# The marker of the wrappers below: they wrap methods other fixes replaced already (put_method,
# update_method), which carry registry.MARK, so they are installed under a marker of their own.
_WRAPPED = ("__localcloud_authorizer_fix__",)


def check_authorizer(authorizer: Any) -> None:
    """AWS's checks of an authorizer's settings (API_CreateAuthorizer.html, API_Authorizer.html):
    BadRequestException when they do not hold."""
    kind = authorizer.type
    ttl = authorizer.authorizer_result_ttl
    if ttl is not None:
        try:
            seconds = int(ttl)
        except (TypeError, ValueError):
            raise BadRequestException(
                f"Invalid authorizerResultTtlInSeconds: {ttl!r}. It must be an integer."
            ) from None
        if not 0 <= seconds <= AUTHORIZER_TTL_MAX:
            raise BadRequestException(
                f"Invalid authorizerResultTtlInSeconds: {seconds}. "
                f"It must be between 0 and {AUTHORIZER_TTL_MAX}."
            )
        authorizer.authorizer_result_ttl = seconds
    if kind in ("TOKEN", "REQUEST"):
        uri = authorizer.authorizer_uri
        if not uri:
            raise BadRequestException(f"Authorizer URI is required for an authorizer of type {kind}.")
        if "${stageVariables." not in uri and not LAMBDA_AUTHORIZER_URI.match(uri):
            raise BadRequestException(
                f"Invalid Authorizer URI specified: {uri}. It must be "
                "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function ARN}/invocations."
            )
    if kind in ("TOKEN", "COGNITO_USER_POOLS"):
        # "For a TOKEN or COGNITO_USER_POOLS authorizer, this is required and specifies the request
        # header mapping expression" (identitySource, API_CreateAuthorizer.html).
        source = authorizer.identity_source or ""
        if not source.startswith("method.request.header.") or "," in source:
            raise BadRequestException(
                f"Invalid identity source specified: {source or 'none'}. "
                f"A {kind} authorizer reads one header: method.request.header.{{name}}."
            )
    if kind == "REQUEST" and (authorizer.authorizer_result_ttl or 0) > 0 and not authorizer.identity_source:
        raise BadRequestException(
            "An identity source is required for a REQUEST authorizer with caching enabled."
        )
    if kind == "COGNITO_USER_POOLS":
        arns = list(authorizer.provider_arns or [])
        if not arns:
            raise BadRequestException(
                "providerARNs are required for an authorizer of type COGNITO_USER_POOLS."
            )
        for arn in arns:
            if "${stageVariables." not in arn and not USER_POOL_ARN.match(str(arn)):
                raise BadRequestException(
                    f"Invalid provider ARN specified: {arn}. It must be "
                    "arn:aws:cognito-idp:{region}:{account}:userpool/{user pool id}."
                )


@_fix(
    "apigateway-authorizer-validation",
    "CreateAuthorizer and UpdateAuthorizer store anything: a TOKEN authorizer without authorizerUri or "
    "identitySource, a COGNITO_USER_POOLS one without providerARNs, a TTL of 4000; "
    "identityValidationExpression is dropped at creation (a misspelt argument); patching /providerARNs "
    "raises (HTTP 500).",
    "BadRequestException for a missing or malformed authorizerUri (TOKEN, REQUEST), an identitySource that "
    "is not one header (TOKEN, COGNITO_USER_POOLS), missing or malformed providerARNs (COGNITO_USER_POOLS), "
    "a TTL outside 0..3600; identityValidationExpression is kept; add/remove/replace /providerARNs work.",
)
def _fix_authorizers() -> None:
    """Validate at CreateAuthorizer and UpdateAuthorizer; keep identityValidationExpression; patch
    /providerARNs (https://docs.aws.amazon.com/apigateway/latest/api/API_CreateAuthorizer.html)."""

    @around(apigw_models.Authorizer, "__init__", markers=_WRAPPED)
    def __init__(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        if self.identity_validation_expression is None:
            self.identity_validation_expression = kwargs.get("identiy_validation_expression")

    @around(apigw_models.APIGatewayBackend, "create_authorizer", markers=_WRAPPED)
    def create_authorizer(
        orig: Callable[..., Any], self: Any, restapi_id: str, name: str, authorizer_type: str, **kwargs: Any
    ) -> Any:
        authorizer = apigw_models.Authorizer(
            None,
            name,
            authorizer_type,
            provider_arns=kwargs.get("provider_arns"),
            authorizer_uri=kwargs.get("authorizer_uri"),
            identity_source=kwargs.get("identity_source"),
            authorizer_result_ttl=kwargs.get("authorizer_result_ttl"),
        )
        check_authorizer(authorizer)  # before anything is stored
        return orig(self, restapi_id, name, authorizer_type, **kwargs)

    @around(apigw_models.Authorizer, "apply_operations", markers=_WRAPPED)
    def apply_operations(orig: Callable[..., Any], self: Any, patch_operations: PatchOps) -> Any:
        before = dict(vars(self))
        rest = []
        arns = list(self.provider_arns or [])
        for op in patch_operations or []:
            path, kind = str(op.get("path") or ""), op.get("op")
            if not path.startswith("/providerARNs"):
                rest.append(op)
                continue
            member = path[len("/providerARNs/") :].replace("~1", "/").replace("~0", "~") or None
            value = op.get("value")
            if kind == "add":
                arns.append(str(value or member))
            elif kind == "remove":
                arns = [a for a in arns if a != (member or value)]
            elif kind == "replace":
                arns = [str(value) if a == member else a for a in arns] if member else [str(value)]
            else:
                raise BadRequestException(
                    f"Invalid patch operation specified. Must be add|remove|replace: {kind}"
                )
        self.provider_arns = arns
        try:
            result = orig(self, rest)
            check_authorizer(self)
        except Exception:
            vars(self).clear()
            vars(self).update(before)  # nothing half-made
            raise
        return result


def check_method_authorization(api: Any, method: Any) -> None:
    """A method's authorizationType and authorizerId, as PutMethod and UpdateMethod check them."""
    kind = method.authorization_type
    if kind not in AUTHORIZATION_TYPES:
        raise BadRequestException(
            f"Invalid authorization type specified: {kind}. Must be one of {', '.join(AUTHORIZATION_TYPES)}"
        )
    if kind in ("CUSTOM", "COGNITO_USER_POOLS"):
        authorizer = api.authorizers.get(method.authorizer_id or "")
        wanted = ("COGNITO_USER_POOLS",) if kind == "COGNITO_USER_POOLS" else ("TOKEN", "REQUEST")
        if authorizer is None or authorizer.type not in wanted:
            raise BadRequestException(
                "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
                "COGNITO_USER_POOLS requires a valid authorizer."
            )


@_fix(
    "apigateway-method-authorization",
    'PutMethod and UpdateMethod accept any authorizationType ("BOGUS") and an authorizerId that is not an '
    "authorizer of the API.",
    "BadRequestException for an authorizationType other than NONE, AWS_IAM, CUSTOM, COGNITO_USER_POOLS, and "
    "'Invalid authorizer ID specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS "
    "requires a valid authorizer.' when the authorizer is missing or of the other kind; the method is left "
    "as it was.",
)
def _fix_method_authorization() -> None:
    """Check the method's authorization after PutMethod/UpdateMethod built it, undoing the change
    when it fails (https://docs.aws.amazon.com/apigateway/latest/api/API_PutMethod.html)."""

    @around(apigw_models.APIGatewayBackend, "put_method", markers=_WRAPPED)
    def put_method(
        orig: Callable[..., Any],
        self: Any,
        function_id: str,
        resource_id: str,
        method_type: str,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        resource = self.get_resource(function_id, resource_id)
        previous = resource.resource_methods.get(method_type)
        method = orig(self, function_id, resource_id, method_type, *args, **kwargs)
        try:
            check_method_authorization(self.get_rest_api(function_id), method)
        except BadRequestException:
            if previous is None:
                resource.resource_methods.pop(method_type, None)
            else:
                resource.resource_methods[method_type] = previous
            raise
        return method

    @around(apigw_models.APIGatewayBackend, "update_method", markers=_WRAPPED)
    def update_method(
        orig: Callable[..., Any], self: Any, api_id: str, resource_id: str, method_type: str, ops: PatchOps
    ) -> Any:
        method = self.get_method(api_id, resource_id, method_type)
        before = dict(vars(method))
        updated = orig(self, api_id, resource_id, method_type, ops)
        try:
            check_method_authorization(self.get_rest_api(api_id), updated)
        except BadRequestException:
            vars(method).clear()
            vars(method).update(before)
            raise
        return updated


# --------------------------------------------------------------------------------------------
# Integration timeout: 50 ms to 29 s
# --------------------------------------------------------------------------------------------

INTEGRATION_TIMEOUT_MIN_MS = 50
INTEGRATION_TIMEOUT_MAX_MS = 29000
INTEGRATION_TIMEOUT_MESSAGE = (
    f"Timeout should be between {INTEGRATION_TIMEOUT_MIN_MS} ms and {INTEGRATION_TIMEOUT_MAX_MS} ms"
)


def check_integration_timeout(value: Any) -> None:
    """BadRequestException unless ``value`` (timeoutInMillis, None for the default) is 50..29000."""
    if value is None:
        return
    try:
        millis = int(value)
    except (TypeError, ValueError):
        raise BadRequestException(INTEGRATION_TIMEOUT_MESSAGE) from None
    if not INTEGRATION_TIMEOUT_MIN_MS <= millis <= INTEGRATION_TIMEOUT_MAX_MS:
        raise BadRequestException(INTEGRATION_TIMEOUT_MESSAGE)


@_fix(
    "apigateway-integration-timeout",
    "PutIntegration and UpdateIntegration accept any timeoutInMillis (10, 60000, -1); the gateway then "
    "waits that long.",
    "BadRequestException 'Timeout should be between 50 ms and 29000 ms' and the integration is left as it "
    "was (https://docs.aws.amazon.com/apigateway/latest/api/API_PutIntegration.html, timeoutInMillis: "
    "'between 50 and 29,000 milliseconds'; the raise above 29 s that AWS grants regional APIs on request "
    "is not modelled).",
)
def _fix_integration_timeout() -> None:
    """Check timeoutInMillis before moto stores it, on both calls that set it."""

    @around(apigw_models.APIGatewayBackend, "put_integration", markers=_WRAPPED)
    def put_integration(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        check_integration_timeout(kwargs.get("timeout_in_millis"))
        return orig(self, *args, **kwargs)

    @around(apigw_models.APIGatewayBackend, "update_integration", markers=_WRAPPED)
    def update_integration(
        orig: Callable[..., Any], self: Any, api_id: str, resource_id: str, method_type: str, ops: PatchOps
    ) -> Any:
        for op in ops or []:
            if op.get("path") == "/timeoutInMillis" and op.get("op") in ("replace", "add"):
                check_integration_timeout(op.get("value"))
        return orig(self, api_id, resource_id, method_type, ops)
