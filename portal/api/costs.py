"""/api/v1/environments/{name}/cost/ and /api/v1/costs/?by=: stored cost figures (docs/cost.md).

Thin callers of `portal.costs.service`, judged like the other endpoints: the service asks the one
guard ("view": every role reads figures; an environment out of a token's reach answers 404, as an
absent one does). Both read stored figures only, never AWS: the hourly schedule computes them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.costs import service
from portal.costs.models import CostEstimate
from portal.models import Environment
from portal.services.base import InvalidInput

from .auth import actor, environment, environments, require_perm
from .views import ERRORS, ApiView

MAX_BY = 40  # the longest `by` echoed back in a refusal


class CostLineOut(serializers.Serializer):
    item = serializers.CharField()
    resource = serializers.CharField(help_text="the resource graph's key the line is for")
    quantity = serializers.FloatField()
    unit = serializers.CharField()
    price_id = serializers.CharField(help_text="the price table's row")
    unit_price = serializers.CharField(help_text="a decimal, as a string: exact")
    per = serializers.IntegerField(help_text="the number of units the unit price is for")
    amount = serializers.FloatField()
    formula = serializers.CharField(help_text="quantity x price = amount, in words")
    source = serializers.CharField(help_text="the AWS pricing page of the price")
    read = serializers.CharField(help_text="the date of the page version the price was read from")
    detail = serializers.CharField(help_text="how the quantity was found")


class UsageWindowOut(serializers.Serializer):
    days = serializers.IntegerField()
    hours = serializers.FloatField(help_text="the hours the totals cover")
    totals = serializers.DictField(child=serializers.FloatField(), help_text="metric totals, measured")
    lines = CostLineOut(many=True)
    monthly = serializers.FloatField(help_text="the window's usage extrapolated to a month")


class PreviewCostOut(serializers.Serializer):
    created = serializers.CharField()
    expires = serializers.CharField()
    so_far = serializers.FloatField()
    at_expiry = serializers.FloatField()
    lines_so_far = CostLineOut(many=True)


class FreeTierOut(serializers.Serializer):
    price_id = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.FloatField()
    unit = serializers.CharField()
    note = serializers.CharField()


class EstimateCallsOut(serializers.Serializer):
    total = serializers.IntegerField()
    mutating = serializers.IntegerField()
    by_operation = serializers.DictField(child=serializers.IntegerField())


class EstimateOut(serializers.Serializer):
    environment = serializers.CharField()
    stage = serializers.CharField()
    region = serializers.CharField()
    owner = serializers.CharField()
    cost_centre = serializers.CharField()
    computed_at = serializers.CharField()
    currency = serializers.CharField()
    monthly = serializers.FloatField(help_text="fixed + storage + usage at the basis window's rate")
    fixed_monthly = serializers.FloatField()
    storage_monthly = serializers.FloatField()
    usage_monthly = serializers.FloatField()
    basis_days = serializers.IntegerField()
    monthly_by_window = serializers.DictField(child=serializers.FloatField(), help_text="days -> a month")
    fixed = CostLineOut(many=True)
    storage = CostLineOut(many=True)
    windows = UsageWindowOut(many=True)
    preview = PreviewCostOut(allow_null=True)
    free_tiers = FreeTierOut(many=True, help_text="per account: shown, never subtracted")
    not_counted = serializers.ListField(child=serializers.CharField())
    no_charge = serializers.ListField(child=serializers.CharField())
    prices = serializers.CharField(help_text="the price table's basis")
    calls = EstimateCallsOut(help_text="the AWS reads the estimate made")


class IdleOut(serializers.Serializer):
    days = serializers.IntegerField(help_text="the days without a request (ENVPORT_COST_IDLE_DAYS)")
    requests = serializers.IntegerField()
    fixed_share = serializers.FloatField(help_text="the part of the monthly figure that is fixed")
    saving_monthly = serializers.FloatField(help_text="what tearing it down saves a month")
    summary = serializers.CharField()


class EnvironmentCostOut(serializers.Serializer):
    environment = serializers.CharField()
    stage = serializers.CharField()
    owner = serializers.CharField()
    cost_centre = serializers.CharField()
    computed_at = serializers.DateTimeField(allow_null=True, help_text="null: no figure yet")
    monthly = serializers.FloatField(allow_null=True)
    estimate = EstimateOut(allow_null=True, help_text="every line; null: no figure yet")
    idle = IdleOut(allow_null=True, help_text="the idle finding; null: not idle (or no figure)")
    last_error = serializers.CharField(
        allow_null=True, help_text="the newest attempt's error, when it failed (the figure is older)"
    )


class ActualDayOut(serializers.Serializer):
    date = serializers.CharField()
    amount = serializers.FloatField()


class ActualsTagOut(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField()


class ActualsOut(serializers.Serializer):
    environment = serializers.CharField()
    start = serializers.CharField()
    end = serializers.CharField(help_text="exclusive: today (UTC), so only full days")
    days = serializers.IntegerField()
    available = serializers.BooleanField()
    reason = serializers.CharField(help_text="why not available; empty when it is")
    daily = ActualDayOut(many=True)
    total = serializers.FloatField(allow_null=True)
    currency = serializers.CharField()
    estimated = serializers.BooleanField(help_text="Cost Explorer's figures of days not yet final")
    tag = ActualsTagOut(help_text="the cost allocation tag filtered by")
    estimate_for_days = serializers.FloatField(allow_null=True, help_text="the stored estimate, same days")
    difference = serializers.FloatField(allow_null=True, help_text="actual minus estimate")
    summary = serializers.CharField(help_text='the figure in words, or "not available: <reason>"')


class CostGroupOut(serializers.Serializer):
    key = serializers.CharField(help_text="the owner, cost centre or stage; (none) when unset")
    environments = serializers.ListField(child=serializers.CharField())
    monthly = serializers.FloatField()
    fixed_monthly = serializers.FloatField()
    usage_monthly = serializers.FloatField(help_text="usage and storage")
    previews_at_expiry = serializers.FloatField()
    missing = serializers.ListField(child=serializers.CharField(), help_text="no stored figure")


class CostRollupOut(serializers.Serializer):
    by = serializers.ChoiceField(choices=sorted(service.GROUPINGS))
    groups = CostGroupOut(many=True)
    monthly_total = serializers.FloatField()
    missing = serializers.ListField(child=serializers.CharField())


def cost_document(env: Environment, record: CostEstimate | None, last: CostEstimate | None) -> dict[str, Any]:
    """One environment's stored figure as the API (and the CLI's --json) answers it."""
    return {
        **service.document_head(env, record),
        "monthly": None if record is None or record.monthly is None else float(record.monthly),
        "estimate": None if record is None else record.figures,
        "idle": service.idle_finding(record),
        "last_error": last.error if last is not None and not last.ok else None,
    }


class EnvironmentCost(ApiView):
    serializer_class = EnvironmentCostOut

    @extend_schema(
        summary="Read an environment's stored cost figure, line by line (every role; no AWS call)",
        responses={200: EnvironmentCostOut, **ERRORS},
    )
    def get(self, request: Request, name: str) -> Response:
        env = environment(request, name)
        who = actor(request)
        return Response(cost_document(env, service.latest(env, who), service.last_attempt(env, who)))


class EnvironmentActuals(ApiView):
    serializer_class = ActualsOut

    @extend_schema(
        summary="Ask Cost Explorer for the last 7 full days' actuals beside the estimate "
        "(operators and admins: one $0.01 AWS call)",
        responses={200: ActualsOut, **ERRORS},
    )
    def get(self, request: Request, name: str) -> Response:
        env = environment(request, name)
        return Response(service.actuals(env, actor(request)))


class CostRollup(ApiView):
    serializer_class = CostRollupOut

    @extend_schema(
        summary="Stored cost figures rolled up by owner, cost centre or stage (environments in reach)",
        parameters=[
            OpenApiParameter(
                "by", str, enum=sorted(service.GROUPINGS), description="owner, cost-centre (default) or stage"
            )
        ],
        responses={200: CostRollupOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        require_perm(request, "portal.view_environment", "reading costs")
        by = request.query_params.get("by") or "cost-centre"
        if by not in service.GROUPINGS:
            raise InvalidInput(
                "by: not a grouping",
                [f"by: {by[:MAX_BY]!r} is not allowed; one of {', '.join(sorted(service.GROUPINGS))}"],
            )
        envs = list(environments(request).exclude(status=Environment.Status.TORN_DOWN).order_by("suffix"))
        groups, found = service.rollup(envs, by, actor(request))
        return Response(
            {
                "by": by,
                "groups": [g.to_dict() for g in groups],
                "monthly_total": float(sum((g.monthly for g in groups), Decimal(0))),
                "missing": [suffix for suffix, record in found.items() if record is None],
            }
        )
