"""The REST API's definition as data, and how live API Gateway answers flatten into the same fields.

`rest_api.py` acts; this module only describes. The routes, the CORS answers and the stage
settings are declared once here, and both `desired` (from the spec) and `observe` (from AWS)
produce the same flat keys from them, for example:

    resource:/items/{id}                                    (present)
    method:GET /items.apiKeyRequired                        True
    method:GET /items.integration.uri                       arn:aws:apigateway:...:lambda:path/...
    method:OPTIONS /items.response.Access-Control-Allow-Methods   'GET,OPTIONS,POST'
    gateway_response:DEFAULT_4XX.Access-Control-Allow-Origin      '*'
    stage.methodSettings.throttling.rateLimit               50.0
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .apigw import patch_value
from .base import MISSING, PRESENT

# R-API-1: one function serves every route.
ROUTES: dict[str, tuple[str, ...]] = {
    "/items": ("GET", "POST"),
    "/items/{id}": ("DELETE", "GET", "PUT"),
}
LAMBDA_API_VERSION = "2015-03-31"

# R-API-3: what the preflight and the gateway's own error answers tell the browser.
ALLOW_HEADERS = "Content-Type,X-Amz-Date,Authorization,X-Api-Key"
HDR_HEADERS = "Access-Control-Allow-Headers"
HDR_METHODS = "Access-Control-Allow-Methods"
HDR_ORIGIN = "Access-Control-Allow-Origin"
CORS_HEADER_NAMES = (HDR_HEADERS, HDR_METHODS, HDR_ORIGIN)
# R-AUTH-2: the authorizers' 401 and 403 carry the CORS headers too (a browser can read them).
GATEWAY_RESPONSE_TYPES = ("DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "ACCESS_DENIED")
MOCK_TEMPLATES = {"application/json": '{"statusCode": 200}'}
METHOD_HEADER = "method.response.header."
GATEWAY_HEADER = "gatewayresponse.header."

# R-API-4: one JSON object per request in the stage's access log group.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.identity.user",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "apiKeyId": "$context.identity.apiKeyId",
    "errorMessage": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}
ACCESS_LOG_FORMAT = json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))

# Stage method settings for every method (`*/*`): update_stage patch path -> the field of
# get_stage's methodSettings that reports it.
METHOD_SETTINGS: dict[str, str] = {
    "logging/loglevel": "loggingLevel",
    "logging/dataTrace": "dataTraceEnabled",
    "metrics/enabled": "metricsEnabled",
    "throttling/rateLimit": "throttlingRateLimit",
    "throttling/burstLimit": "throttlingBurstLimit",
}
STAGE_PREFIX = "stage."
DEFINITION_MARKER = "envport definition "


# R-AUTH-1: the header every authorizer reads, and the shape of a bearer token the TOKEN
# authorizer is invoked for (anything else API Gateway answers 401 without invoking it).
IDENTITY_SOURCE = "method.request.header.Authorization"
BEARER_EXPRESSION = "^Bearer [-0-9a-zA-Z._]+$"


@dataclass(frozen=True)
class Access:
    """How the CRUD methods are authorized (R-AUTH-1); OPTIONS preflights are always NONE.

    `authorizer` is the authorizer's name (methods are compared by it, not by its id, which
    changes whenever the authorizer is made again), `definition` its comparable fields.
    """

    authorization_type: str = "NONE"  # NONE | CUSTOM | COGNITO_USER_POOLS | AWS_IAM
    authorizer: str | None = None
    scopes: tuple[str, ...] = ()
    definition: dict[str, Any] = field(default_factory=dict)


def token_access(name: str, authorizer_uri: str, ttl: int) -> Access:
    return Access(
        "CUSTOM",
        name,
        (),
        {
            "type": "TOKEN",
            "authorizerUri": authorizer_uri,
            "identitySource": IDENTITY_SOURCE,
            "identityValidationExpression": BEARER_EXPRESSION,
            "authorizerResultTtlInSeconds": ttl,
        },
    )


def cognito_access(name: str, pool_arn: str, ttl: int, scopes: tuple[str, ...]) -> Access:
    """`scopes` empty: API Gateway accepts the pool's ID tokens; named: access tokens with one of them."""
    return Access(
        "COGNITO_USER_POOLS",
        name,
        scopes,
        {
            "type": "COGNITO_USER_POOLS",
            "providerARNs": [pool_arn],
            "identitySource": IDENTITY_SOURCE,
            "authorizerResultTtlInSeconds": ttl,
        },
    )


@dataclass(frozen=True)
class MethodSpec:
    """One method as envport defines it: everything needed to create it and to compare it."""

    path: str
    verb: str
    api_key_required: bool
    integration: dict[str, Any]  # put_integration arguments (without ids)
    request_parameters: dict[str, bool] = field(default_factory=dict)
    method_responses: dict[str, tuple[str, ...]] = field(default_factory=dict)  # code -> headers
    integration_responses: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> header -> value
    authorization_type: str = "NONE"
    authorizer: str | None = None  # the authorizer's name
    scopes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return method_key(self.verb, self.path)


# --- keys ---
def resource_key(path: str) -> str:
    return f"resource:{path}"


def method_key(verb: str, path: str) -> str:
    return f"method:{verb} {path}"


def authorizer_key(name: str) -> str:
    return f"authorizer:{name}"


def gateway_key(response_type: str, header: str) -> str:
    return f"gateway_response:{response_type}.{header}"


def split_method_key(name: str) -> tuple[str, str]:
    """'method:GET /items/{id}.integration.uri' -> ('method:GET /items/{id}', 'integration.uri').

    Paths hold no dots, so the first dot after the path starts the field ('' for the method itself).
    """
    head, _, rest = name.partition(" ")
    path, dot, fld = rest.partition(".")
    return f"{head} {path}", fld if dot else ""


def parse_method_key(key: str) -> tuple[str, str]:
    """'method:GET /items' -> ('GET', '/items')."""
    verb, _, path = key.removeprefix("method:").partition(" ")
    return verb, path


# --- what envport wants ---
def lambda_integration_uri(partition: str, region: str, function_arn: str) -> str:
    """The AWS_PROXY integration URI that invokes `function_arn` (qualified: `...:live`, R-REL-2)."""
    return (
        f"arn:{partition}:apigateway:{region}:lambda:path/{LAMBDA_API_VERSION}"
        f"/functions/{function_arn}/invocations"
    )


def path_parameters(path: str) -> dict[str, bool]:
    """Every `{name}` segment is a required path parameter."""
    return {
        f"method.request.path.{part[1:-1]}": True
        for part in path.split("/")
        if part.startswith("{") and part.endswith("}")
    }


def cors_values(methods: list[str] | tuple[str, ...], origin: str) -> dict[str, str]:
    """Header values as API Gateway wants static values: single-quoted strings."""
    return {
        HDR_HEADERS: f"'{ALLOW_HEADERS}'",
        HDR_METHODS: "'" + ",".join(sorted(methods)) + "'",
        HDR_ORIGIN: f"'{origin}'",
    }


def allowed_origin(cors_origins: tuple[str, ...]) -> str:
    """The one origin a MOCK preflight can return.

    A MOCK integration answers with static header values: it cannot echo the request's Origin
    back when it is one of several allowed. So the preflight names `*` or the first configured
    origin; the function itself (which sees the request) can answer the others on real requests.
    """
    return cors_origins[0] if cors_origins else "*"


def method_specs(integration_uri: str, origin: str, access: Access | None = None) -> list[MethodSpec]:
    """Every method of the API: the proxied CRUD routes and one OPTIONS preflight per resource."""
    access = access or Access()
    specs: list[MethodSpec] = []
    for path, verbs in ROUTES.items():
        for verb in verbs:
            specs.append(
                MethodSpec(
                    path=path,
                    verb=verb,
                    api_key_required=True,  # R-API-2, beside any authorization mode
                    authorization_type=access.authorization_type,
                    authorizer=access.authorizer,
                    scopes=access.scopes,
                    request_parameters=path_parameters(path),
                    integration={
                        "type": "AWS_PROXY",
                        "integrationHttpMethod": "POST",
                        "uri": integration_uri,
                    },
                )
            )
        specs.append(
            MethodSpec(
                path=path,
                verb="OPTIONS",
                api_key_required=False,  # browsers never send an API key on a preflight
                integration={"type": "MOCK", "requestTemplates": dict(MOCK_TEMPLATES)},
                method_responses={"200": CORS_HEADER_NAMES},
                integration_responses={"200": cors_values([*verbs, "OPTIONS"], origin)},
            )
        )
    return specs


def method_fields(spec: MethodSpec) -> dict[str, Any]:
    """The comparable fields of one method, in the same shape `flatten_method` gives live ones."""
    k = spec.key
    out: dict[str, Any] = {
        k: PRESENT,
        f"{k}.authorizationType": spec.authorization_type,
        f"{k}.apiKeyRequired": spec.api_key_required,
        f"{k}.requestParameters": dict(spec.request_parameters),
        f"{k}.integration.type": spec.integration["type"],
    }
    if spec.authorizer:
        out[f"{k}.authorizer"] = spec.authorizer
    if spec.scopes:
        out[f"{k}.authorizationScopes"] = sorted(spec.scopes)
    if spec.integration["type"] == "MOCK":
        out[f"{k}.integration.requestTemplates"] = dict(spec.integration.get("requestTemplates") or {})
    else:
        out[f"{k}.integration.httpMethod"] = spec.integration["integrationHttpMethod"]
        out[f"{k}.integration.uri"] = spec.integration["uri"]
    for code, headers in spec.method_responses.items():
        out[f"{k}.methodResponse.{code}.headers"] = sorted(headers)
    for header, value in spec.integration_responses.get("200", {}).items():
        out[f"{k}.response.{header}"] = value
    return out


def gateway_fields(origin: str) -> dict[str, Any]:
    all_methods = sorted({v for verbs in ROUTES.values() for v in verbs} | {"OPTIONS"})
    return {
        gateway_key(rtype, header): value
        for rtype in GATEWAY_RESPONSE_TYPES
        for header, value in cors_values(all_methods, origin).items()
    }


def authorizer_fields(access: Access) -> dict[str, Any]:
    if not access.authorizer:
        return {}
    k = authorizer_key(access.authorizer)
    return {k: PRESENT, **{f"{k}.{name}": value for name, value in access.definition.items()}}


def definition_fields(integration_uri: str, origin: str, access: Access | None = None) -> dict[str, Any]:
    """Everything that lives in the API definition (and so needs a deployment to take effect)."""
    access = access or Access()
    out: dict[str, Any] = {resource_key(path): PRESENT for path in ROUTES}
    out.update(authorizer_fields(access))
    for spec in method_specs(integration_uri, origin, access):
        out.update(method_fields(spec))
    out.update(gateway_fields(origin))
    return out


def definition_digest(definition: dict[str, Any]) -> str:
    """A short hash of the definition, recorded on the stage with every deployment.

    It is how a run finds out that the definition was changed but never deployed (a run that
    died between the change and CreateDeployment): no other read shows what a stage serves.
    """
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def stage_description(digest: str) -> str:
    return f"{DEFINITION_MARKER}{digest}"


def stage_fields(
    *, log_group_arn: str, rate: float, burst: int, tags: dict[str, str], digest: str
) -> dict[str, Any]:
    return {
        "stage.tracingEnabled": True,  # R-API-4
        "stage.accessLog.destinationArn": log_group_arn,
        "stage.accessLog.format": ACCESS_LOG_FORMAT,
        "stage.methodSettings.logging.loglevel": "INFO",
        "stage.methodSettings.logging.dataTrace": False,
        "stage.methodSettings.metrics.enabled": True,
        "stage.methodSettings.throttling.rateLimit": float(rate),  # R-API-2, never via a '*' method
        "stage.methodSettings.throttling.burstLimit": int(burst),
        "stage.tags": dict(tags),
        "stage.deployedDefinition": digest,
    }


def setting_key(patch_path: str) -> str:
    return "stage.methodSettings." + patch_path.replace("/", ".")


def stage_patch_ops(desired: dict[str, Any], names: list[str]) -> list[dict[str, str]]:
    """update_stage patch operations for the named stage fields (tags and marker are not patches)."""
    ops: list[dict[str, str]] = []
    for name in names:
        value = desired[name]
        if name == "stage.tracingEnabled":
            ops.append(_replace("/tracingEnabled", value))
        elif name == "stage.accessLog.destinationArn":
            ops.append(_replace("/accessLogSettings/destinationArn", value))
        elif name == "stage.accessLog.format":
            ops.append(_replace("/accessLogSettings/format", value))
        elif name.startswith("stage.methodSettings."):
            patch = name.removeprefix("stage.methodSettings.").replace(".", "/")
            ops.append(_replace(f"/*/*/{patch}", value))
    return ops


def _replace(path: str, value: Any) -> dict[str, str]:
    return {"op": "replace", "path": path, "value": patch_value(value)}


# --- what is live ---


def flatten_authorizers(items: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    """The API's authorizers: the wanted one field by field, any other as one field (to delete)."""
    out: dict[str, Any] = {}
    for item in items:
        k = authorizer_key(str(item.get("name")))
        out[k] = PRESENT
        if item.get("name") != wanted:
            continue
        kind = item.get("type")
        out[f"{k}.type"] = kind
        out[f"{k}.identitySource"] = item.get("identitySource", MISSING)
        out[f"{k}.authorizerResultTtlInSeconds"] = item.get("authorizerResultTtlInSeconds", MISSING)
        if kind == "TOKEN":
            out[f"{k}.authorizerUri"] = item.get("authorizerUri", MISSING)
            out[f"{k}.identityValidationExpression"] = item.get("identityValidationExpression", MISSING)
        else:
            out[f"{k}.providerARNs"] = list(item.get("providerARNs") or [])
    return out


def flatten_resources(
    resources: list[dict[str, Any]], authorizer_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """Fields of get_resources(embed=['methods']): resources, and every method of a wanted resource.

    A resource or method envport does not define shows as one field (wanted MISSING), not as
    a dozen, and its children are not listed: deleting it removes them.
    """
    out: dict[str, Any] = {}
    for resource in resources:
        path = resource["path"]
        wanted_verbs = ROUTES.get(path)
        if path != "/":
            out[resource_key(path)] = PRESENT
            if wanted_verbs is None:
                continue
        allowed = {*wanted_verbs, "OPTIONS"} if wanted_verbs else set()
        for verb, method in (resource.get("resourceMethods") or {}).items():
            if verb in allowed:
                out.update(flatten_method(path, verb, method or {}, authorizer_names or {}))
            else:
                out[method_key(verb, path)] = PRESENT
    return out


def flatten_method(
    path: str, verb: str, method: dict[str, Any], authorizer_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """`authorizer_names` maps the API's authorizer ids to names, which is what methods compare."""
    k = method_key(verb, path)
    out: dict[str, Any] = {
        k: PRESENT,
        f"{k}.authorizationType": method.get("authorizationType", MISSING),
        f"{k}.apiKeyRequired": bool(method.get("apiKeyRequired", False)),
        f"{k}.requestParameters": dict(method.get("requestParameters") or {}),
    }
    authorizer_id = method.get("authorizerId")
    if authorizer_id:
        out[f"{k}.authorizer"] = (authorizer_names or {}).get(authorizer_id, f"(unknown id {authorizer_id})")
    if method.get("authorizationScopes"):
        out[f"{k}.authorizationScopes"] = sorted(method["authorizationScopes"])
    for code, response in (method.get("methodResponses") or {}).items():
        params = (response or {}).get("responseParameters") or {}
        out[f"{k}.methodResponse.{code}.headers"] = sorted(
            p.removeprefix(METHOD_HEADER) for p in params if p.startswith(METHOD_HEADER)
        )
    integration = method.get("methodIntegration")
    if integration:
        out.update(flatten_integration(k, integration))
    return out


def flatten_integration(k: str, integration: dict[str, Any]) -> dict[str, Any]:
    kind = str(integration.get("type") or "").upper()
    out: dict[str, Any] = {f"{k}.integration.type": kind}
    if kind == "MOCK":
        out[f"{k}.integration.requestTemplates"] = dict(integration.get("requestTemplates") or {})
    else:
        out[f"{k}.integration.httpMethod"] = integration.get("httpMethod")
        out[f"{k}.integration.uri"] = integration.get("uri")
    ok = (integration.get("integrationResponses") or {}).get("200") or {}
    for param, value in (ok.get("responseParameters") or {}).items():
        if param.startswith(METHOD_HEADER):
            out[f"{k}.response.{param.removeprefix(METHOD_HEADER)}"] = value
    return out


def flatten_gateway_responses(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The header values of the gateway responses envport customises (the others are AWS's own)."""
    out: dict[str, Any] = {}
    for item in items:
        rtype = item.get("responseType")
        if rtype not in GATEWAY_RESPONSE_TYPES:
            continue
        for param, value in (item.get("responseParameters") or {}).items():
            if param.startswith(GATEWAY_HEADER):
                out[gateway_key(rtype, param.removeprefix(GATEWAY_HEADER))] = value
    return out


def flatten_stage(stage: dict[str, Any] | None) -> dict[str, Any]:
    """Fields of get_stage; an absent stage gives no fields (each then shows as MISSING)."""
    if stage is None:
        return {}
    out: dict[str, Any] = {"stage.tracingEnabled": bool(stage.get("tracingEnabled", False))}
    access = stage.get("accessLogSettings") or {}
    for name in ("destinationArn", "format"):
        if access.get(name):
            out[f"stage.accessLog.{name}"] = access[name]
    settings = (stage.get("methodSettings") or {}).get("*/*") or {}
    for patch_path, attr in METHOD_SETTINGS.items():
        if attr in settings:
            out[setting_key(patch_path)] = settings[attr]
    out["stage.tags"] = dict(stage.get("tags") or {})
    description = stage.get("description") or ""
    if description.startswith(DEFINITION_MARKER):
        out["stage.deployedDefinition"] = description.removeprefix(DEFINITION_MARKER)
    return out


def is_definition_field(name: str) -> bool:
    """Fields whose change needs a new deployment before the stage serves it."""
    return (
        name.startswith(("resource:", "method:", "gateway_response:", "authorizer:"))
        or name == "stage.deployedDefinition"
    )
