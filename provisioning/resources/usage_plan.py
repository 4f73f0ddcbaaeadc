"""The environment's API key and usage plan, with the key attached (R-API-2).

Clients call the API with this key; the plan throttles them (rate and burst) and caps a day's
requests. Neither keys nor plans have unique names in AWS, so each is found by name AND the
environment's tags, and never created twice. UpdateUsagePlan is limited to 1 request per 20 s
per account: one call carries every differing patch operation, and none is made when nothing
differs. The key's VALUE is never read back, stored or published: only its id.
"""

from __future__ import annotations

from typing import Any

from ..aws import error_code, tolerating_absent
from .apigw import NOT_FOUND, all_items, apigateway_arn, patch_value, repair_apigw_tags
from .base import UNKNOWN, Context, FieldDiff, Observed, Resource, compare, oldest_of_mine, user_tags


def _stage_ref(stage: dict[str, Any]) -> str:
    """How UpdateUsagePlan names an API stage in /apiStages operations."""
    return f"{stage['apiId']}:{stage['stage']}"


def find_api_key(ctx: Context) -> tuple[dict[str, Any] | None, list[str]]:
    """The environment's key (never its value) and the ids of duplicates, as `oldest_of_mine`."""
    found = all_items(
        ctx.client("apigateway"), "get_api_keys", nameQuery=ctx.names.api_key, includeValues=False
    )
    return oldest_of_mine(ctx, found, ctx.names.api_key)


class UsagePlan(Resource):
    """API key + usage plan + their attachment, one resource because none is useful alone."""

    key = "usage_plan"
    kind = "apigateway-usage-plan"
    depends_on = ("rest_api",)

    # --- reading ---
    def name(self, ctx: Context) -> str:
        """The plan and the API key it holds."""
        return f"{ctx.names.usage_plan} (key {ctx.names.api_key})"

    def observe(self, ctx: Context) -> Observed | None:
        apigw = ctx.client("apigateway")
        api_key, key_dups = find_api_key(ctx)
        plan, plan_dups = oldest_of_mine(ctx, all_items(apigw, "get_usage_plans"), ctx.names.usage_plan)
        if api_key is None and plan is None:
            return None
        state: dict[str, Any] = {"api_key.duplicates": key_dups, "duplicates": plan_dups}
        attrs: dict[str, Any] = {}
        if api_key is not None:
            attrs["api_key_id"] = api_key["id"]
            state["api_key.enabled"] = bool(api_key.get("enabled"))
            state["api_key.tags"] = user_tags(api_key.get("tags"))
        if plan is not None:
            attrs["usage_plan_id"] = plan["id"]
            state.update(self._plan_fields(plan))
            keys = all_items(apigw, "get_usage_plan_keys", usagePlanId=plan["id"])
            state["usage_plan.keys"] = sorted(k["id"] for k in keys)
        return Observed(state=state, attrs=attrs)

    @staticmethod
    def _plan_fields(plan: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"tags": user_tags(plan.get("tags"))}
        throttle = plan.get("throttle") or {}
        quota = plan.get("quota") or {}
        for name in ("rateLimit", "burstLimit"):
            if name in throttle:
                out[f"throttle.{name}"] = throttle[name]
        for name in ("limit", "period"):  # offset: always 0 here; moto does not return it
            if name in quota:
                out[f"quota.{name}"] = quota[name]
        out["apiStages"] = sorted(
            ({"apiId": s["apiId"], "stage": s["stage"]} for s in plan.get("apiStages") or []),
            key=_stage_ref,
        )
        return out

    # --- wanting ---
    def desired(self, ctx: Context) -> dict[str, Any]:
        settings = ctx.spec.settings
        api_id = ctx.attr("rest_api", "id")
        return {
            "api_key.enabled": True,
            "api_key.tags": ctx.tag_dict,
            "api_key.duplicates": [],
            "throttle.rateLimit": float(settings.throttle_rate),
            "throttle.burstLimit": settings.throttle_burst,
            "quota.limit": settings.quota_per_day,
            "quota.period": "DAY",
            "apiStages": (
                UNKNOWN if api_id == UNKNOWN else [{"apiId": api_id, "stage": ctx.names.api_stage}]
            ),
            "tags": ctx.tag_dict,
            "usage_plan.keys": UNKNOWN,  # the key's id: known once the key exists (see diff)
            "duplicates": [],
        }

    def diff(self, ctx: Context, desired: dict[str, Any], observed: Observed) -> list[FieldDiff]:
        """As `compare`, with the wanted attached keys being exactly the key this run found."""
        wanted = dict(desired)
        if "api_key_id" in observed.attrs:
            wanted["usage_plan.keys"] = [observed.attrs["api_key_id"]]
        return compare(self.key, wanted, observed.state)

    # --- acting ---
    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        key_id = self._create_key(ctx)
        plan_id = self._create_plan(ctx, desired)
        self._attach(ctx, plan_id, key_id)
        return {"usage_plan_id": plan_id, "api_key_id": key_id}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        fields = {d.field: d for d in diffs}
        key_id = observed.attrs.get("api_key_id")
        new_key = key_id is None
        if key_id is None:
            key_id = self._create_key(ctx)
        else:
            self._fix_key(ctx, key_id, fields)
        plan_id = observed.attrs.get("usage_plan_id")
        if plan_id is None:
            plan_id = self._create_plan(ctx, desired)
            self._attach(ctx, plan_id, key_id)
        else:
            self._fix_plan(ctx, plan_id, desired, fields)
            self._fix_keys(ctx, plan_id, key_id, fields, new_key)
        if "api_key.duplicates" in fields:
            for extra in fields["api_key.duplicates"].found or []:
                self._delete_key(ctx, extra)
        if "duplicates" in fields:
            for extra in fields["duplicates"].found or []:
                self._delete_plan(ctx, extra, None)
        return {"usage_plan_id": plan_id, "api_key_id": key_id}

    def _create_key(self, ctx: Context) -> str:
        """The response carries the key's value; it is dropped here, never stored."""
        created = ctx.client("apigateway").create_api_key(
            name=ctx.names.api_key,
            description=f"envport environment {ctx.spec.suffix}: clients of its API",
            enabled=True,
            tags=ctx.tag_dict,
        )
        return str(created["id"])

    def _create_plan(self, ctx: Context, desired: dict[str, Any]) -> str:
        stages = desired["apiStages"]
        if stages == UNKNOWN:
            raise RuntimeError("usage plan: the REST API's id is unknown; converge rest_api first")
        created = ctx.client("apigateway").create_usage_plan(
            name=ctx.names.usage_plan,
            description=f"envport environment {ctx.spec.suffix}: throttle and daily quota",
            apiStages=stages,
            throttle={
                "rateLimit": desired["throttle.rateLimit"],
                "burstLimit": desired["throttle.burstLimit"],
            },
            quota={"limit": desired["quota.limit"], "offset": 0, "period": "DAY"},
            tags=ctx.tag_dict,
        )
        return str(created["id"])

    def _attach(self, ctx: Context, plan_id: str, key_id: str) -> None:
        ctx.client("apigateway").create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")

    def _fix_key(self, ctx: Context, key_id: str, fields: dict[str, FieldDiff]) -> None:
        apigw = ctx.client("apigateway")
        if "api_key.enabled" in fields:
            apigw.update_api_key(
                apiKey=key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "true"}]
            )
        if "api_key.tags" in fields:
            key_arn = apigateway_arn(ctx, f"/apikeys/{key_id}")
            repair_apigw_tags(apigw, key_arn, fields["api_key.tags"].found, ctx.tag_dict)

    def _fix_plan(
        self, ctx: Context, plan_id: str, desired: dict[str, Any], fields: dict[str, FieldDiff]
    ) -> None:
        """Every differing setting in ONE UpdateUsagePlan (1 request per 20 s per account)."""
        ops: list[dict[str, str]] = []
        for name, path in (
            ("throttle.rateLimit", "/throttle/rateLimit"),
            ("throttle.burstLimit", "/throttle/burstLimit"),
            ("quota.limit", "/quota/limit"),
            ("quota.period", "/quota/period"),
        ):
            if name in fields:
                ops.append({"op": "replace", "path": path, "value": patch_value(desired[name])})
        if "apiStages" in fields:
            found = fields["apiStages"].found
            found_refs = {_stage_ref(s) for s in found} if isinstance(found, list) else set()
            wanted_refs = {_stage_ref(s) for s in desired["apiStages"]}
            ops += [
                {"op": "remove", "path": "/apiStages", "value": r} for r in sorted(found_refs - wanted_refs)
            ]
            ops += [{"op": "add", "path": "/apiStages", "value": r} for r in sorted(wanted_refs - found_refs)]
        apigw = ctx.client("apigateway")
        if ops:
            apigw.update_usage_plan(usagePlanId=plan_id, patchOperations=ops)
        if "tags" in fields:
            plan_arn = apigateway_arn(ctx, f"/usageplans/{plan_id}")
            repair_apigw_tags(apigw, plan_arn, fields["tags"].found, ctx.tag_dict)

    def _fix_keys(
        self, ctx: Context, plan_id: str, key_id: str, fields: dict[str, FieldDiff], new_key: bool
    ) -> None:
        """Attach our key if it is not; detach any other key (it would use this plan's limits)."""
        apigw = ctx.client("apigateway")
        diff = fields.get("usage_plan.keys")
        found = diff.found if diff is not None and isinstance(diff.found, list) else None
        if new_key or (found is not None and key_id not in found):
            self._attach(ctx, plan_id, key_id)
        for other in found or []:
            if other != key_id:
                apigw.delete_usage_plan_key(usagePlanId=plan_id, keyId=other)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """The plan first (AWS refuses to delete one that still names API stages), then the key."""
        if "usage_plan_id" in observed.attrs:
            stages = observed.state.get("apiStages")
            self._delete_plan(
                ctx, observed.attrs["usage_plan_id"], stages if isinstance(stages, list) else None
            )
        for plan_id in observed.state.get("duplicates", []):
            self._delete_plan(ctx, plan_id, None)
        for key_id in [observed.attrs.get("api_key_id"), *observed.state.get("api_key.duplicates", [])]:
            if key_id:
                self._delete_key(ctx, key_id)

    def _delete_plan(self, ctx: Context, plan_id: str, stages: list[dict[str, Any]] | None) -> None:
        apigw = ctx.client("apigateway")
        try:
            if stages is None:
                stages = apigw.get_usage_plan(usagePlanId=plan_id).get("apiStages") or []
            if stages:
                apigw.update_usage_plan(
                    usagePlanId=plan_id,
                    patchOperations=[
                        {"op": "remove", "path": "/apiStages", "value": _stage_ref(s)} for s in stages
                    ],
                )
            apigw.delete_usage_plan(usagePlanId=plan_id)
        except Exception as exc:
            if error_code(exc) != NOT_FOUND:
                raise

    def _delete_key(self, ctx: Context, key_id: str) -> None:
        with tolerating_absent(NOT_FOUND):
            ctx.client("apigateway").delete_api_key(apiKey=key_id)

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        """Ids only: the key's value is fetched by whoever needs it, when they need it (R-ENV-4)."""
        return {"api_key_id": attrs.get("api_key_id"), "usage_plan_id": attrs.get("usage_plan_id")}
