"""Fidelity fixes for API Gateway's REST API calls (update_method, update_integration, put_method,
create_deployment, missing children, gateway responses, usage plans): moto 5.2.5 answers these
unlike AWS; each fix names what moto does and what AWS does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.apigateway import models as apigw_models
from moto.apigateway.exceptions import BadRequestException, ConflictException, NotFoundException
from moto.apigateway.responses import APIGatewayResponse

from localcloud.registry import around, fixer, replace

_fix = fixer(__name__)


# --------------------------------------------------------------------------------------------
# JSON-patch helpers (API Gateway update_* calls)
# --------------------------------------------------------------------------------------------

PatchOps = list[dict[str, Any]]
# A patch path (or path prefix) -> (attribute of the moto object, converter of the patch value).
PatchFields = dict[str, tuple[str, Callable[[Any], Any]]]


def _as_bool(value: Any) -> bool:
    return str(value).lower() == "true"


def _as_is(value: Any) -> Any:
    return value


def _as_template(value: Any) -> Any:
    # API Gateway stores an empty mapping template as null (see get-integration-response in the
    # AWS CLI reference: "application/json": null).
    return value or None


class _NotFound(NotFoundException):
    """NotFoundException with AWS's HTTP status (moto's base class answers 400)."""

    code = 404


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _path_key(path: str, prefix: str) -> str | None:
    """The member named by ``path`` under ``prefix`` (``/a/b~1c`` under ``/a`` is ``b/c``), or None."""
    if path.startswith(prefix + "/") and len(path) > len(prefix) + 1:
        return _unescape(path[len(prefix) + 1 :])
    return None


def _apply_patch(
    obj: Any,
    ops: PatchOps | None,
    scalars: PatchFields,
    maps: PatchFields | None = None,
    lists: dict[str, str] | None = None,
) -> None:
    """Apply API Gateway patch operations to a moto model object.

    ``scalars`` maps a path (``/uri``) to (attribute, converter). ``maps`` maps a prefix
    (``/requestTemplates``) to (dict attribute, value converter); the key is the rest of the path,
    ``~1`` standing for ``/``. ``lists`` maps a prefix to a list attribute; the member is the rest of
    the path (``/cacheKeyParameters/{name}``) or the value (``/authorizationScopes``).
    """
    for op in ops or []:
        kind, path, value = op.get("op"), op.get("path", ""), op.get("value")
        if kind not in ("add", "remove", "replace"):
            raise BadRequestException(
                f"Invalid patch operation specified. Must be add|remove|replace: {kind}"
            )
        if path in scalars:
            attr, convert = scalars[path]
            setattr(obj, attr, None if kind == "remove" else convert(value))
            continue
        if _patch_map(obj, kind, path, value, maps or {}) or _patch_list(obj, kind, path, value, lists or {}):
            continue
        raise BadRequestException(f"Invalid patch path '{path}' specified for op '{kind}'")


def _patch_map(obj: Any, kind: str, path: str, value: Any, maps: dict) -> bool:
    for prefix, (attr, convert) in maps.items():
        key = _path_key(path, prefix)
        if key is None:
            continue
        updated = dict(getattr(obj, attr) or {})  # a new dict: never edit moto's in place
        if kind == "remove":
            updated.pop(key, None)
        else:
            updated[key] = convert(value)
        setattr(obj, attr, updated or None)
        return True
    return False


def _patch_list(obj: Any, kind: str, path: str, value: Any, lists: dict[str, str]) -> bool:
    for prefix, attr in lists.items():
        member = value if path == prefix else _path_key(path, prefix)
        if member is None:
            continue
        members = [m for m in (getattr(obj, attr) or []) if m != member]
        if kind != "remove":
            members.append(member)
        setattr(obj, attr, members)
        return True
    return False


def _method_parts(path: str) -> tuple[str, str, str]:
    # /restapis/{api}/resources/{resource}/methods/{method}[/...]
    parts = path.split("/")
    return parts[2], parts[4], parts[6]


def _integration_of(method: Any) -> Any:
    """The method's integration; NotFoundException when it has none, as API Gateway answers."""
    integration = method.method_integration
    if integration is None:
        raise _NotFound("Invalid Integration identifier specified")
    return integration


def _add_update(
    name: str,
    target: Callable[[Any], Any],
    fields: tuple[PatchFields, PatchFields, dict[str, str]],
) -> None:
    """Add ``name`` (``update_method``, ``update_integration``) to moto's backend and response class:
    the patch operations on ``target(method)`` (the fields: scalars, maps, lists of
    :func:`_apply_patch`), answered with the updated object."""

    @replace(apigw_models.APIGatewayBackend, name)
    def backend_update(
        self: Any, function_id: str, resource_id: str, method_type: str, patch_operations: PatchOps
    ) -> Any:
        updated = target(self.get_method(function_id, resource_id, method_type))
        _apply_patch(updated, patch_operations, *fields)
        return updated

    @replace(APIGatewayResponse, name)
    def respond(self: Any) -> Any:
        api_id, resource_id, method_type = _method_parts(self.path)
        patch_operations = self._get_param("patchOperations")
        updated = getattr(self.backend, name)(api_id, resource_id, method_type, patch_operations)
        return 200, {}, json.dumps(updated.to_json())


# --------------------------------------------------------------------------------------------
# 1. API Gateway update_method
# --------------------------------------------------------------------------------------------

_METHOD_SCALARS: PatchFields = {
    "/apiKeyRequired": ("api_key_required", _as_bool),
    "/authorizationType": ("authorization_type", _as_is),
    "/authorizerId": ("authorizer_id", _as_is),
    "/operationName": ("operation_name", _as_is),
    "/requestValidatorId": ("request_validator_id", _as_is),
}
_METHOD_MAPS: PatchFields = {
    "/requestParameters": ("request_parameters", _as_bool),
    "/requestModels": ("request_models", _as_is),
}


@_fix(
    "apigateway-update-method",
    "UpdateMethod (PATCH /restapis/{id}/resources/{rid}/methods/{m}) raises NotImplementedError "
    "(HTTP 500 in server mode).",
    "Applies the patch operations (replace /apiKeyRequired, /authorizationType, /authorizerId, "
    "/operationName, /requestValidatorId; add/replace/remove /requestParameters/{name}, "
    "/requestModels/{type}; add/remove /authorizationScopes) and returns the updated Method.",
)
def _fix_update_method() -> None:
    """moto 5.2.5 has no ``update_method``: add it to the backend and to the response class."""

    _add_update(
        "update_method",
        _as_is,
        (_METHOD_SCALARS, _METHOD_MAPS, {"/authorizationScopes": "authorization_scopes"}),
    )


# --------------------------------------------------------------------------------------------
# 2. API Gateway update_integration
# --------------------------------------------------------------------------------------------

_INTEGRATION_SCALARS: PatchFields = {
    "/uri": ("uri", _as_is),
    "/httpMethod": ("http_method", _as_is),
    "/passthroughBehavior": ("passthrough_behaviour", _as_is),
    "/timeoutInMillis": ("timeout_in_millis", int),
    "/credentials": ("credentials", _as_is),
    "/contentHandling": ("content_handling", _as_is),
    "/connectionType": ("connection_type", _as_is),
    "/cacheNamespace": ("cache_namespace", _as_is),
}
_INTEGRATION_MAPS: PatchFields = {
    "/requestTemplates": ("request_templates", _as_template),
    "/requestParameters": ("request_parameters", _as_is),
}


@_fix(
    "apigateway-update-integration",
    "UpdateIntegration (PATCH .../methods/{m}/integration) raises NotImplementedError (HTTP 500 in "
    "server mode).",
    "Applies the patch operations (replace /uri, /httpMethod, /passthroughBehavior, /timeoutInMillis, "
    "/credentials, /contentHandling, /connectionType, /cacheNamespace; add/replace/remove "
    "/requestTemplates/{type}, /requestParameters/{name}; add/remove /cacheKeyParameters/{name}) and "
    "returns the updated Integration.",
)
def _fix_update_integration() -> None:
    """moto 5.2.5 has no ``update_integration``: add it to the backend and to the response class."""

    _add_update(
        "update_integration",
        _integration_of,
        (_INTEGRATION_SCALARS, _INTEGRATION_MAPS, {"/cacheKeyParameters": "cache_key_parameters"}),
    )


# --------------------------------------------------------------------------------------------
# 3. API Gateway put_method on an existing method
# --------------------------------------------------------------------------------------------


@_fix(
    "apigateway-put-method-conflict",
    "PutMethod on an existing method silently replaces it and drops its integration and responses.",
    "PutMethod on an existing method answers 409 ConflictException 'Method already exists for this "
    "resource'; the method is left as it was.",
)
def _fix_put_method_conflict() -> None:
    """moto's ``put_method`` overwrites an existing method; AWS refuses with ConflictException.

    Patched on the response class only: moto's own OpenAPI import (put_rest_api merge/overwrite)
    re-puts methods through the backend on purpose.
    """

    @around(APIGatewayResponse, "put_method")
    def put_method(orig: Callable[..., Any], self: Any) -> Any:
        api_id, resource_id, method_type = _method_parts(self.path)
        resource = self.backend.get_resource(api_id, resource_id)
        if method_type in resource.resource_methods:
            raise ConflictException("Method already exists for this resource")
        return orig(self)


# --------------------------------------------------------------------------------------------
# 9. Further API Gateway gaps found while reading moto
# --------------------------------------------------------------------------------------------


@_fix(
    "apigateway-create-deployment-stage",
    "CreateDeployment with stageName replaces an existing stage by a blank one (methodSettings, "
    "accessLogSettings, tracingEnabled, variables, tags lost) and ignores tracingEnabled and "
    "stageDescription for a new stage.",
    "CreateDeployment with the name of an existing stage points that stage at the new deployment and "
    "keeps its settings (given variables are set on it); a stage it creates gets tracingEnabled and "
    "stageDescription.",
)
def _fix_create_deployment_stage() -> None:
    """moto's ``RestAPI.create_deployment`` rebuilds the stage and drops tracingEnabled."""

    @around(apigw_models.RestAPI, "create_deployment")
    def create_deployment(
        orig: Callable[..., Any], self: Any, name: str, description: str = "", stage_variables: Any = None
    ) -> Any:
        existing = self.stages.get(name) if name else None
        deployment = orig(self, name, description, stage_variables)
        if existing is not None:
            existing.deployment_id = deployment.id
            existing.variables = {**(existing.variables or {}), **(stage_variables or {})}
            self.stages[name] = existing
        return deployment

    @around(APIGatewayResponse, "create_deployment")
    def create_deployment_response(orig: Callable[..., Any], self: Any) -> Any:
        api = self.backend.get_rest_api(self.path.replace("/restapis/", "", 1).split("/")[0])
        name = self._get_param("stageName")
        is_new_stage = bool(name) and name not in api.stages
        result = orig(self)
        if name:
            stage = api.stages[name]
            tracing = self._get_param("tracingEnabled")
            if tracing is not None:
                stage.tracing_enabled = _as_bool(tracing)
            if is_new_stage and self._get_param("stageDescription"):
                stage.description = self._get_param("stageDescription")
        return result


@_fix(
    "apigateway-missing-child-not-found",
    "GetIntegration on a method without integration answers 200 '{}'; GetMethodResponse, "
    "DeleteMethodResponse of a missing status code and Get/DeleteIntegrationResponse on a method "
    "without integration fail with AttributeError (HTTP 500 in server mode).",
    "They answer 404 NotFoundException ('Invalid Integration identifier specified', 'Invalid Response "
    "status code specified'), which an idempotent engine relies on to decide to create.",
)
def _fix_missing_children() -> None:
    """moto returns None (then crashes or answers '{}') where AWS answers NotFoundException."""

    @replace(apigw_models.APIGatewayBackend, "get_integration")
    def get_integration(self: Any, function_id: str, resource_id: str, method_type: str) -> Any:
        return _integration_of(self.get_method(function_id, resource_id, method_type))

    @around(apigw_models.APIGatewayBackend, "get_method_response", "delete_method_response")
    def method_response(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        result = orig(self, *args, **kwargs)
        if result is None:
            raise _NotFound("Invalid Response status code specified")
        return result


@_fix(
    "apigateway-update-responses",
    "UpdateMethodResponse, UpdateIntegrationResponse and UpdateGatewayResponse raise "
    "NotImplementedError (HTTP 500 in server mode).",
    "They apply the patch operations (responseParameters/{name}, responseModels/{type}, "
    "responseTemplates/{type}, /selectionPattern, /contentHandling, /statusCode) and return the "
    "updated object; UpdateGatewayResponse on a type not yet customised creates it.",
)
def _fix_update_responses() -> None:
    """moto 5.2.5 implements none of update_method_response, update_integration_response,
    update_gateway_response: add them to the response class."""

    @replace(APIGatewayResponse, "update_method_response")
    def update_method_response(self: Any) -> Any:
        api_id, resource_id, method_type = _method_parts(self.path)
        response = self.backend.get_method_response(api_id, resource_id, method_type, self.path.split("/")[8])
        _apply_patch(
            response,
            self._get_param("patchOperations"),
            {},
            {
                "/responseParameters": ("response_parameters", _as_bool),
                "/responseModels": ("response_models", _as_is),
            },
        )
        return 200, {}, json.dumps(response.to_json())

    @replace(APIGatewayResponse, "update_integration_response")
    def update_integration_response(self: Any) -> Any:
        api_id, resource_id, method_type = _method_parts(self.path)
        response = self.backend.get_integration_response(
            api_id, resource_id, method_type, self.path.split("/")[9]
        )
        _apply_patch(
            response,
            self._get_param("patchOperations"),
            {
                "/selectionPattern": ("selection_pattern", _as_is),
                "/contentHandling": ("content_handling", _as_is),
            },
            {
                "/responseParameters": ("response_parameters", _as_is),
                "/responseTemplates": ("response_templates", _as_template),
            },
        )
        response.response_templates = response.response_templates or {}
        return 200, {}, json.dumps(response.to_json())

    @replace(APIGatewayResponse, "update_gateway_response")
    def update_gateway_response(self: Any) -> Any:
        parts = self.path.rstrip("/").split("/")
        api = self.backend.get_rest_api(parts[-3])
        response = api.gateway_responses.get(parts[-1])
        if response is None:
            response = api.put_gateway_response(parts[-1], None, None, None)
        _apply_patch(
            response,
            self._get_param("patchOperations"),
            {"/statusCode": ("status_code", _as_is)},
            {
                "/responseParameters": ("response_parameters", _as_is),
                "/responseTemplates": ("response_templates", _as_is),
            },
        )
        return 200, {}, json.dumps(response.to_json())


@_fix(
    "apigateway-usage-plan-rate-limit",
    "UpdateUsagePlan replace /throttle/rateLimit converts the value with int(): '10.5' fails with "
    "ValueError (HTTP 500 in server mode), and '10' is stored as an integer.",
    "throttle.rateLimit is a double: '10.5' is stored and returned as 10.5.",
)
def _fix_usage_plan_rate_limit() -> None:
    """moto's ``UsagePlan.apply_patch_operations`` parses rateLimit with int()."""

    @around(apigw_models.UsagePlan, "apply_patch_operations")
    def apply_patch_operations(orig: Callable[..., Any], self: Any, patch_operations: PatchOps) -> None:
        rest = []
        for op in patch_operations or []:
            if op.get("path") == "/throttle/rateLimit" and op.get("op") in ("add", "replace"):
                self.throttle["rateLimit"] = float(op["value"])
            else:
                rest.append(op)
        orig(self, rest)
