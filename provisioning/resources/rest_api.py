"""The environment's REST API: routes, CORS, gateway responses, deployment and stage (R-API-1/3/4).

API Gateway's control-plane quotas are per account, tiny and shared by every environment
(CreateDeployment 1 per 5 s, DeleteRestApi 1 per 30 s, GetResources 5 per 2 s), so:

- `observe` makes five reads: get_rest_apis, get_resources(embed=methods) (methods with their
  integrations and responses), get_gateway_responses, get_stage and get_authorizers; in a sweep
  get_rest_apis is shared by the account and get_authorizers is skipped when nothing can have
  changed there (`_reads_authorizers`);
- `update` patches only the fields that differ, never re-puts an existing method (AWS answers
  ConflictException), and deploys at most once, and only when the definition changed: stage
  settings (logging, tracing, throttling) apply without a deployment.

REST API names are not unique in AWS. The API is the one with this environment's name AND tags
(`Environment` = suffix, `ManagedBy` = envport); an untagged namesake belongs to someone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..aws import tolerating_absent, unless_absent
from ..names import qualified_arn
from .apigw import NOT_FOUND, all_items, apigateway_arn, escape_patch, patch_value, repair_apigw_tags
from .authorizer import authorizer_arn
from .base import (
    MISSING,
    UNKNOWN,
    Context,
    FieldDiff,
    Observed,
    Resource,
    compare,
    oldest_of_mine,
    user_tags,
)
from .rest_api_parts import (
    GATEWAY_HEADER,
    GATEWAY_RESPONSE_TYPES,
    METHOD_HEADER,
    STAGE_PREFIX,
    Access,
    MethodSpec,
    allowed_origin,
    authorizer_key,
    cognito_access,
    definition_digest,
    definition_fields,
    flatten_authorizers,
    flatten_gateway_responses,
    flatten_resources,
    flatten_stage,
    is_definition_field,
    lambda_integration_uri,
    method_key,
    method_specs,
    parse_method_key,
    split_method_key,
    stage_description,
    stage_fields,
    stage_patch_ops,
    token_access,
)
from .user_pool import ACCESS_SCOPE


@dataclass
class LiveApi:
    """What `update` needs to know about the live API beyond the compared fields: ids, and which
    children exist (AWS refuses to put what exists and to patch what does not)."""

    api_id: str
    root_id: str
    resource_ids: dict[str, str] = field(default_factory=dict)
    integration_responses: set[str] = field(default_factory=set)  # method keys with a 200 response
    authorizer_ids: dict[str, str] = field(default_factory=dict)  # name -> id
    retired_authorizers: list[str] = field(default_factory=list)  # ids to delete after the methods
    stage_exists: bool = False
    duplicates: list[str] = field(default_factory=list)


@dataclass
class ObservedApi(Observed):
    live: LiveApi | None = None


class RestApi(Resource):
    """One REGIONAL REST API with `/items` and `/items/{id}` proxied to the function."""

    key = "rest_api"
    kind = "apigateway-rest-api"
    # The user pool only in `cognito` mode (its ARN is random); the token authorizer's ARN follows
    # from its name, so the API need not wait for that function.
    depends_on = ("apigw_account", "access_log_group", "user_pool")

    # --- reading ---
    def name(self, ctx: Context) -> str:
        return ctx.names.rest_api

    def observe(self, ctx: Context) -> Observed | None:
        found, duplicates = find_api(ctx)
        if found is None:
            return None
        apigw = ctx.client("apigateway")
        api_id = found["id"]
        resources = all_items(apigw, "get_resources", restApiId=api_id, embed=["methods"])
        gateway = all_items(apigw, "get_gateway_responses", restApiId=api_id)
        stage = self._stage(ctx, api_id)
        authorizers = (
            all_items(apigw, "get_authorizers", restApiId=api_id)
            if self._reads_authorizers(ctx, resources, stage)
            else []
        )
        ids_to_names = {a["id"]: a["name"] for a in authorizers}
        live = LiveApi(
            api_id=api_id,
            root_id=found.get("rootResourceId") or next(r["id"] for r in resources if r["path"] == "/"),
            resource_ids={r["path"]: r["id"] for r in resources},
            integration_responses=_with_ok_integration_response(resources),
            authorizer_ids={a["name"]: a["id"] for a in authorizers},
            stage_exists=stage is not None,
            duplicates=duplicates,
        )
        state: dict[str, Any] = {
            "endpointConfiguration.types": sorted(
                (found.get("endpointConfiguration") or {}).get("types", [])
            ),
            "tags": user_tags(found.get("tags")),
            "duplicates": duplicates,
            **flatten_authorizers(authorizers, self.authorizer_name(ctx)),
            **flatten_resources(resources, ids_to_names),
            **flatten_gateway_responses(gateway),
            **flatten_stage(stage),
        }
        return ObservedApi(state=state, attrs=self._attrs(ctx, live), live=live)

    def _reads_authorizers(
        self, ctx: Context, resources: list[dict[str, Any]], stage: dict[str, Any] | None
    ) -> bool:
        """Whether GetAuthorizers can tell anything the other reads have not (R-FLEET-2).

        Always outside a sweep: plan, apply and a single environment's drift see every authorizer.
        A sweep's check reads them only when the mode wants one (its fields are compared), when a
        method names one (`authorizerId`, from GetResources with embedded methods), or when the
        stage does not serve the wanted definition (a run that stopped half-way through a mode
        switch: it deletes the old authorizer after the methods let go of it and deploys after
        that, so until the deployment the digest on the stage differs). Otherwise an authorizer can
        only be one that nobody uses, made by hand: API Gateway never invokes it, so the API
        behaves as wanted; the next plan, apply or single drift of the environment reports and
        deletes it. This keeps a sweep at four API Gateway reads per environment in the api_key
        and iam modes (docs/performance.md).
        """
        if not ctx.in_sweep or self.authorizer_name(ctx) is not None or stage is None:
            return True
        if any(
            (method or {}).get("authorizerId")
            for resource in resources
            for method in (resource.get("resourceMethods") or {}).values()
        ):
            return True
        deployed = flatten_stage(stage).get("stage.deployedDefinition")
        return bool(deployed != definition_digest(self.definition(ctx)))

    def _stage(self, ctx: Context, api_id: str) -> dict[str, Any] | None:
        return unless_absent(
            lambda: dict(ctx.client("apigateway").get_stage(restApiId=api_id, stageName=ctx.names.api_stage)),
            NOT_FOUND,
        )

    # --- wanting ---
    def integration_uri(self, ctx: Context) -> str:
        """The function's `live` alias (R-REL-2), derived from its deterministic ARN: the API need
        not wait for the function, and a release or rollback moves the alias, never the API.

        An API that still targets the unqualified function (made before aliases) moves in one
        provision: a `/uri` patch per method and one deployment, like any definition change.
        """
        return lambda_integration_uri(ctx.aws.partition, ctx.region, qualified_arn(ctx.function_arn))

    def origin(self, ctx: Context) -> str:
        return allowed_origin(ctx.spec.cors_origins)

    def authorizer_name(self, ctx: Context) -> str | None:
        mode = ctx.spec.settings.auth
        return ctx.names.api_authorizer(mode) if mode in ("token", "cognito") else None

    def access(self, ctx: Context) -> Access:
        """R-AUTH-1: the mode's authorizer and the CRUD methods' authorization."""
        settings, name = ctx.spec.settings, self.authorizer_name(ctx)
        if settings.auth == "token" and name:
            uri = lambda_integration_uri(ctx.aws.partition, ctx.region, authorizer_arn(ctx))
            return token_access(name, uri, settings.auth_ttl_s)
        if settings.auth == "cognito" and name:
            scopes = (ACCESS_SCOPE,) if settings.cognito_token_use == "access" else ()
            return cognito_access(name, ctx.attr("user_pool", "arn"), settings.auth_ttl_s, scopes)
        if settings.auth == "iam":
            return Access("AWS_IAM")
        return Access()

    def definition(self, ctx: Context) -> dict[str, Any]:
        return definition_fields(self.integration_uri(ctx), self.origin(ctx), self.access(ctx))

    def desired(self, ctx: Context) -> dict[str, Any]:
        definition = self.definition(ctx)
        settings = ctx.spec.settings
        return {
            "endpointConfiguration.types": ["REGIONAL"],
            "tags": ctx.tag_dict,
            "duplicates": [],
            **definition,
            **stage_fields(
                # Access logs want the log group ARN without the trailing ':*'.
                log_group_arn=ctx.log_group_arn(ctx.names.access_log_group),
                rate=settings.throttle_rate,
                burst=settings.throttle_burst,
                tags=ctx.tag_dict,
                digest=definition_digest(definition),
            ),
        }

    # --- acting ---
    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        """Create the API with its tags in one call (so a crash right after leaves a findable API),
        then fill it in exactly as an update of an empty API would."""
        api = ctx.client("apigateway").create_rest_api(
            name=ctx.names.rest_api,
            description=f"envport environment {ctx.spec.suffix} ({ctx.spec.stage})",
            endpointConfiguration={"types": ["REGIONAL"]},
            apiKeySource="HEADER",
            tags=ctx.tag_dict,
        )
        live = LiveApi(
            api_id=api["id"], root_id=api["rootResourceId"], resource_ids={"/": api["rootResourceId"]}
        )
        found = {"endpointConfiguration.types": ["REGIONAL"], "tags": ctx.tag_dict, "duplicates": []}
        return self._apply(ctx, desired, live, compare(self.key, desired, found))

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        assert isinstance(observed, ObservedApi) and observed.live is not None
        return self._apply(ctx, desired, observed.live, diffs)

    def _apply(
        self, ctx: Context, desired: dict[str, Any], live: LiveApi, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        by_field = {d.field: d for d in diffs}
        apigw = ctx.client("apigateway")
        if "duplicates" in by_field:
            self._delete_apis(ctx, live.duplicates)
        if "endpointConfiguration.types" in by_field:
            self._fix_endpoint(ctx, live, by_field["endpointConfiguration.types"].found)
        if "tags" in by_field:
            repair_apigw_tags(apigw, self._api_arn(ctx, live.api_id), by_field["tags"].found, ctx.tag_dict)
        self._fix_resources(ctx, live, by_field)
        access = self.access(ctx)
        self._fix_authorizer(ctx, live, access, by_field)
        for spec in method_specs(self.integration_uri(ctx), self.origin(ctx), access):
            mine = {
                split_method_key(f)[1]: d
                for f, d in by_field.items()
                if f.startswith(spec.key) and split_method_key(f)[0] == spec.key
            }
            if mine:
                MethodFixer(apigw, live, spec).fix(mine)
        self._delete_authorizers(ctx, live, by_field)  # only once no method names them
        self._fix_gateway_responses(ctx, live, desired, by_field)
        redeploy = not live.stage_exists or any(is_definition_field(f) for f in by_field)
        self._fix_stage(ctx, live, desired, by_field, redeploy)
        return self._attrs(ctx, live)

    def _delete_apis(self, ctx: Context, api_ids: list[str]) -> None:
        """Duplicates carry this environment's name and tags, so they are provably ours (a run that
        raced another); DeleteRestApi is limited to 1 per 30 s, which the SDK's retries absorb."""
        for api_id in api_ids:
            with tolerating_absent(NOT_FOUND):
                ctx.client("apigateway").delete_rest_api(restApiId=api_id)

    def _fix_endpoint(self, ctx: Context, live: LiveApi, found: Any) -> None:
        current = found[0] if isinstance(found, list) and found else "EDGE"
        ctx.client("apigateway").update_rest_api(
            restApiId=live.api_id,
            patchOperations=[
                {"op": "replace", "path": f"/endpointConfiguration/types/{current}", "value": "REGIONAL"}
            ],
        )

    def _fix_resources(self, ctx: Context, live: LiveApi, by_field: dict[str, FieldDiff]) -> None:
        apigw = ctx.client("apigateway")
        for name, d in sorted(by_field.items(), key=lambda item: item[0].count("/")):
            if not name.startswith("resource:") or d.found != MISSING:
                continue
            path = name.removeprefix("resource:")
            parent, _, part = path.rpartition("/")
            created = apigw.create_resource(
                restApiId=live.api_id, parentId=live.resource_ids[parent or "/"], pathPart=part
            )
            live.resource_ids[path] = created["id"]
        extras = [
            n.removeprefix("resource:")
            for n, d in by_field.items()
            if n.startswith("resource:") and d.wanted == MISSING
        ]
        for path in extras:
            if not any(path.startswith(other + "/") for other in extras):  # deleting a parent removes it
                apigw.delete_resource(restApiId=live.api_id, resourceId=live.resource_ids[path])
        for name, d in by_field.items():
            if name.startswith("method:") and d.wanted == MISSING and not split_method_key(name)[1]:
                verb, path = parse_method_key(name)
                apigw.delete_method(
                    restApiId=live.api_id, resourceId=live.resource_ids[path], httpMethod=verb
                )

    def _fix_authorizer(
        self, ctx: Context, live: LiveApi, access: Access, by_field: dict[str, FieldDiff]
    ) -> None:
        """Create the mode's authorizer, or patch the fields that differ (before the methods name it)."""
        if not access.authorizer:
            return
        apigw = ctx.client("apigateway")
        k = authorizer_key(access.authorizer)
        wanted = access.definition
        if UNKNOWN in (
            v for value in wanted.values() for v in (value if isinstance(value, list) else [value])
        ):
            raise RuntimeError(
                f"rest_api: authorizer {access.authorizer} needs the user pool; converge user_pool first"
            )
        if access.authorizer not in live.authorizer_ids:
            made = apigw.create_authorizer(restApiId=live.api_id, name=access.authorizer, **wanted)
            live.authorizer_ids[access.authorizer] = made["id"]
            return
        changed = [f.removeprefix(k + ".") for f in by_field if f.startswith(k + ".")]
        if "type" in changed or "providerARNs" in changed:
            # Neither can be patched: a new authorizer under a new id (the methods move to it).
            live.retired_authorizers.append(live.authorizer_ids.pop(access.authorizer))
            self._fix_authorizer(ctx, live, access, {})
            return
        ops = [
            {"op": "replace", "path": f"/{name}", "value": patch_value(wanted[name])}
            for name in sorted(changed)
            if name in wanted
        ]
        if ops:
            apigw.update_authorizer(
                restApiId=live.api_id,
                authorizerId=live.authorizer_ids[access.authorizer],
                patchOperations=ops,
            )

    def _delete_authorizers(self, ctx: Context, live: LiveApi, by_field: dict[str, FieldDiff]) -> None:
        apigw = ctx.client("apigateway")
        unwanted = [
            live.authorizer_ids.pop(name.removeprefix("authorizer:"), None)
            for name, d in by_field.items()
            if name.startswith("authorizer:") and d.wanted == MISSING and "." not in name.split(":", 1)[1]
        ]
        for authorizer_id in [*unwanted, *live.retired_authorizers]:
            if authorizer_id is None:
                continue
            with tolerating_absent(NOT_FOUND):
                apigw.delete_authorizer(restApiId=live.api_id, authorizerId=authorizer_id)

    def _fix_gateway_responses(
        self, ctx: Context, live: LiveApi, desired: dict[str, Any], by_field: dict[str, FieldDiff]
    ) -> None:
        """PutGatewayResponse replaces the whole customisation, so one call per type that differs."""
        for rtype in GATEWAY_RESPONSE_TYPES:
            prefix = f"gateway_response:{rtype}."
            if not any(name.startswith(prefix) for name in by_field):
                continue
            params = {
                GATEWAY_HEADER + name.removeprefix(prefix): value
                for name, value in desired.items()
                if name.startswith(prefix)
            }
            ctx.client("apigateway").put_gateway_response(
                restApiId=live.api_id, responseType=rtype, responseParameters=params
            )

    def _fix_stage(
        self,
        ctx: Context,
        live: LiveApi,
        desired: dict[str, Any],
        by_field: dict[str, FieldDiff],
        redeploy: bool,
    ) -> None:
        """At most one CreateDeployment and one UpdateStage; settings-only changes deploy nothing."""
        apigw = ctx.client("apigateway")
        stage = ctx.names.api_stage
        description = stage_description(desired["stage.deployedDefinition"])
        deployment_id = None
        if redeploy:
            # Without stageName: the stage is created or repointed below, keeping its settings.
            deployment_id = apigw.create_deployment(restApiId=live.api_id, description=description)["id"]
        if not live.stage_exists:
            apigw.create_stage(
                restApiId=live.api_id,
                stageName=stage,
                deploymentId=deployment_id,
                description=description,
                tracingEnabled=desired["stage.tracingEnabled"],
                tags=desired["stage.tags"],
            )
            live.stage_exists = True
            settings = [
                n
                for n in desired
                if n.startswith(STAGE_PREFIX)
                and n not in ("stage.tracingEnabled", "stage.tags", "stage.deployedDefinition")
            ]
            ops = stage_patch_ops(desired, settings)
        else:
            ops = stage_patch_ops(desired, [n for n in by_field if n.startswith(STAGE_PREFIX)])
            if deployment_id is not None:
                ops.append({"op": "replace", "path": "/deploymentId", "value": deployment_id})
                ops.append({"op": "replace", "path": "/description", "value": description})
            if "stage.tags" in by_field:
                stage_arn = f"{self._api_arn(ctx, live.api_id)}/stages/{stage}"
                repair_apigw_tags(apigw, stage_arn, by_field["stage.tags"].found, desired["stage.tags"])
        if ops:
            apigw.update_stage(restApiId=live.api_id, stageName=stage, patchOperations=ops)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """One DeleteRestApi (1 per 30 s per account) removes the API with its stage and deployments."""
        ids = [observed.attrs["id"]]
        if isinstance(observed, ObservedApi) and observed.live is not None:
            ids += observed.live.duplicates
        self._delete_apis(ctx, ids)

    # --- publishing ---
    def _api_arn(self, ctx: Context, api_id: str) -> str:
        return apigateway_arn(ctx, f"/restapis/{api_id}")

    def _attrs(self, ctx: Context, live: LiveApi) -> dict[str, Any]:
        return {
            "id": live.api_id,
            "root_resource_id": live.root_id,
            "stage": ctx.names.api_stage,
            "execution_arn": ctx.arn("execute-api", live.api_id),
            "authorizer_id": live.authorizer_ids.get(self.authorizer_name(ctx) or ""),
        }

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        stage = attrs.get("stage", ctx.names.api_stage)
        return {
            "api_id": attrs["id"],
            "api_endpoint": ctx.aws.target.stage_url(attrs["id"], stage),
            "api_stage": stage,
        }


def find_api(ctx: Context) -> tuple[dict[str, Any] | None, list[str]]:
    """The oldest API with this name and this environment's tags; the others are duplicates
    (left by concurrent runs) and are reported, never adopted."""
    return oldest_of_mine(ctx, all_items(ctx.client("apigateway"), "get_rest_apis"), ctx.names.rest_api)


def _with_ok_integration_response(resources: list[dict[str, Any]]) -> set[str]:
    out = set()
    for resource in resources:
        for verb, method in (resource.get("resourceMethods") or {}).items():
            integration = (method or {}).get("methodIntegration") or {}
            if "200" in (integration.get("integrationResponses") or {}):
                out.add(method_key(verb, resource["path"]))
    return out


class MethodFixer:
    """Repairs one method with the fewest calls: patches for what exists, puts for what does not.

    The order matters to AWS: a method response must declare a header before an integration
    response maps a value to it.
    """

    def __init__(self, apigw: Any, live: LiveApi, spec: MethodSpec) -> None:
        self.apigw = apigw
        self.live = live
        self.spec = spec
        self.ids = {
            "restApiId": live.api_id,
            "resourceId": live.resource_ids[spec.path],
            "httpMethod": spec.verb,
        }

    def fix(self, diffs: dict[str, FieldDiff]) -> None:
        """`diffs` maps the method's field ('' for the method itself) to its difference."""
        whole = diffs.get("")
        if whole is not None and whole.found == MISSING:
            self.create()
            return
        self._patch_method(diffs)
        for name, d in diffs.items():
            if name.startswith("methodResponse."):
                self._fix_method_response(name.split(".")[1], d)
        integration_put = self._fix_integration(diffs)
        if not integration_put and any(n.startswith("response.") for n in diffs):
            self._fix_integration_response(diffs)

    def create(self) -> None:
        spec = self.spec
        kwargs: dict[str, Any] = {
            "authorizationType": spec.authorization_type,
            "apiKeyRequired": spec.api_key_required,
        }
        if spec.authorizer:
            kwargs["authorizerId"] = self.live.authorizer_ids[spec.authorizer]
        if spec.scopes:
            kwargs["authorizationScopes"] = list(spec.scopes)
        if spec.request_parameters:
            kwargs["requestParameters"] = dict(spec.request_parameters)
        self.apigw.put_method(**self.ids, **kwargs)
        for code in spec.method_responses:
            self._put_method_response(code)
        self._put_integration()

    def _put_method_response(self, code: str) -> None:
        headers = self.spec.method_responses[code]
        self.apigw.put_method_response(
            **self.ids,
            statusCode=code,
            responseParameters={METHOD_HEADER + h: False for h in headers},
        )

    def _put_integration(self) -> None:
        """PutIntegration replaces an integration (and its responses), so they are put again."""
        self.apigw.put_integration(**self.ids, **self.spec.integration)
        for code in self.spec.integration_responses:
            self._put_integration_response(code)

    def _put_integration_response(self, code: str) -> None:
        values = self.spec.integration_responses[code]
        self.apigw.put_integration_response(
            **self.ids,
            statusCode=code,
            responseParameters={METHOD_HEADER + h: v for h, v in values.items()},
        )

    def _patch_method(self, diffs: dict[str, FieldDiff]) -> None:
        ops: list[dict[str, str]] = []
        if "authorizationType" in diffs:
            ops.append({"op": "replace", "path": "/authorizationType", "value": self.spec.authorization_type})
        if "authorizer" in diffs or (self.spec.authorizer and "authorizationType" in diffs):
            authorizer_id = self.live.authorizer_ids[self.spec.authorizer] if self.spec.authorizer else ""
            ops.append({"op": "replace", "path": "/authorizerId", "value": authorizer_id})
        if "authorizationScopes" in diffs:
            found = diffs["authorizationScopes"].found
            have = set(found) if isinstance(found, list) else set()
            ops += [
                {"op": "add", "path": "/authorizationScopes", "value": scope}
                for scope in sorted(set(self.spec.scopes) - have)
            ]
            ops += [
                {"op": "remove", "path": "/authorizationScopes", "value": scope}
                for scope in sorted(have - set(self.spec.scopes))
            ]
        if "apiKeyRequired" in diffs:
            ops.append(
                {
                    "op": "replace",
                    "path": "/apiKeyRequired",
                    "value": patch_value(self.spec.api_key_required),
                }
            )
        if "requestParameters" in diffs:
            found = diffs["requestParameters"].found
            ops += _map_ops(
                "/requestParameters", found if isinstance(found, dict) else {}, self.spec.request_parameters
            )
        if ops:
            self.apigw.update_method(**self.ids, patchOperations=ops)

    def _fix_integration(self, diffs: dict[str, FieldDiff]) -> bool:
        """True when the integration was put whole (missing, or of another type, which no patch changes)."""
        if "integration.type" in diffs:
            self._put_integration()
            return True
        ops: list[dict[str, str]] = []
        if "integration.uri" in diffs:
            ops.append({"op": "replace", "path": "/uri", "value": self.spec.integration["uri"]})
        if "integration.httpMethod" in diffs:
            ops.append(
                {
                    "op": "replace",
                    "path": "/httpMethod",
                    "value": self.spec.integration["integrationHttpMethod"],
                }
            )
        if "integration.requestTemplates" in diffs:
            found = diffs["integration.requestTemplates"].found
            wanted = self.spec.integration.get("requestTemplates") or {}
            ops += _map_ops("/requestTemplates", found if isinstance(found, dict) else {}, wanted)
        if ops:
            self.apigw.update_integration(**self.ids, patchOperations=ops)
        return False

    def _fix_method_response(self, code: str, d: FieldDiff) -> None:
        if d.wanted == MISSING:
            self.apigw.delete_method_response(**self.ids, statusCode=code)
        elif d.found == MISSING:
            self._put_method_response(code)
        else:
            found = {METHOD_HEADER + h: False for h in d.found}
            wanted = {METHOD_HEADER + h: False for h in d.wanted}
            ops = _map_ops("/responseParameters", found, wanted, keep_values=True)
            if ops:
                self.apigw.update_method_response(**self.ids, statusCode=code, patchOperations=ops)

    def _fix_integration_response(self, diffs: dict[str, FieldDiff]) -> None:
        if self.spec.key not in self.live.integration_responses:
            for code in self.spec.integration_responses:
                self._put_integration_response(code)
            return
        ops = []
        for name, d in diffs.items():
            if not name.startswith("response."):
                continue
            path = "/responseParameters/" + escape_patch(METHOD_HEADER + name.removeprefix("response."))
            if d.wanted == MISSING:
                ops.append({"op": "remove", "path": path})
            else:
                ops.append(
                    {"op": "add" if d.found == MISSING else "replace", "path": path, "value": d.wanted}
                )
        self.apigw.update_integration_response(**self.ids, statusCode="200", patchOperations=ops)


def _map_ops(
    prefix: str, found: dict[str, Any], wanted: dict[str, Any], keep_values: bool = False
) -> list[dict[str, str]]:
    """Patch operations that turn map `found` into `wanted` (add, replace, remove per key)."""
    ops: list[dict[str, str]] = []
    for key, value in wanted.items():
        path = f"{prefix}/{escape_patch(key)}"
        if key not in found:
            ops.append({"op": "add", "path": path, "value": patch_value(value)})
        elif found[key] != value and not keep_values:
            ops.append({"op": "replace", "path": path, "value": patch_value(value)})
    for key in found:
        if key not in wanted:
            ops.append({"op": "remove", "path": f"{prefix}/{escape_patch(key)}"})
    return ops
