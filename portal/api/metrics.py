"""GET /api/v1/environments/{name}/metrics?since=1h: the traffic page's data as JSON.

Governed like every read (`portal.services.traffic` asks `authz.authorize(actor, "view", env)`):
any role and a read-only token may read; out of the token's reach is 404 like an absent
environment; a range that is not one of the allowed ones is 400 listing them, before any AWS call;
CloudWatch not answering is 502.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.services import traffic as service
from provisioning.traffic import RANGES

from . import errors
from . import serializers as s
from .auth import actor, environment
from .views import ERRORS, ApiView


class MetricSeriesOut(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    stat = serializers.CharField()
    timestamps = serializers.ListField(child=serializers.DateTimeField())
    values = serializers.ListField(child=serializers.FloatField())


class MetricChartOut(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    unit = serializers.CharField()
    series = MetricSeriesOut(many=True)


class AlarmBandOut(serializers.Serializer):
    alarm = serializers.CharField()
    state = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class RunMarkerOut(serializers.Serializer):
    run = serializers.IntegerField()
    url = serializers.URLField()
    kind = serializers.ChoiceField(choices=["provision", "release", "rollback", "drift repair"])
    status = serializers.CharField()
    outcome = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()


class MetricsOut(serializers.Serializer):
    environment = serializers.CharField()
    range = serializers.ChoiceField(choices=list(RANGES))
    period_s = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    charts = MetricChartOut(many=True)
    alarm_bands = AlarmBandOut(many=True)
    markers = RunMarkerOut(many=True)
    aws_calls = s.CallsOut(help_text="the AWS calls the view cost when it was read (at most 2)")
    cached = serializers.BooleanField(help_text="answered from the portal's brief cache")
    complete = serializers.BooleanField()
    messages = serializers.ListField(child=serializers.CharField())


class EnvironmentMetrics(ApiView):
    serializer_class = MetricsOut

    @extend_schema(
        summary=(
            "An environment's API Gateway, Lambda and DynamoDB metrics, alarm bands and runs over a "
            "range: one GetMetricData and one DescribeAlarmHistory, cached briefly"
        ),
        parameters=[
            OpenApiParameter("since", str, enum=list(RANGES), description="the range (default 1h)"),
        ],
        responses={
            200: MetricsOut,
            **ERRORS,
            502: OpenApiResponse(s.ErrorOut, description="CloudWatch did not answer"),
        },
    )
    def get(self, request: Request, name: str) -> Response:
        env = environment(request, name)
        try:
            found = service.traffic(actor(request), env, request.query_params.get("since"))
        except service.MetricsUnavailable as exc:
            return Response(errors.body(exc.message, exc.problems), status=502)
        body: dict[str, Any] = found.to_dict()
        for marker in body["markers"]:
            marker["url"] = request.build_absolute_uri(f"/api/v1/runs/{marker['run']}/")
        return Response(body)
