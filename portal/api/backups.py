"""/api/v1/environments/{name}/backups/: list an environment's backups (GET), take one (POST).

Thin callers of `portal.services.backups`, judged like the other endpoints: the token's scope
first (its environment pattern; read-only tokens only GET), then the service's authorization
(viewers list, operators back up non-prod, admins prod). A backup DynamoDB failed to take answers
502 with the reason; refusals answer 400/403/404 like every other refusal (`errors`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.services import backups
from portal.services.base import InvalidInput

from . import serializers as s
from .auth import actor, environment, require_write
from .errors import aws_answer
from .views import ERRORS, ApiView


class BackupOut(serializers.Serializer):
    arn = serializers.CharField()
    name = serializers.CharField(help_text="envport-NAME-ondemand-STAMP or envport-NAME-teardown-STAMP")
    kind = serializers.ChoiceField(choices=["on-demand", "pre-teardown"])
    table_name = serializers.CharField(help_text="the table backed up (it may be gone)")
    created_at = serializers.DateTimeField()
    status = serializers.CharField(help_text="CREATING, AVAILABLE or DELETED")
    size_bytes = serializers.IntegerField(allow_null=True)
    tags = serializers.DictField(child=serializers.CharField(), help_text="the environment's tags")


class PointInTimeOut(serializers.Serializer):
    table_name = serializers.CharField()
    status = serializers.ChoiceField(choices=["enabled", "disabled", "table-gone"])
    earliest = serializers.DateTimeField(allow_null=True, help_text="EarliestRestorableDateTime")
    latest = serializers.DateTimeField(allow_null=True, help_text="LatestRestorableDateTime")
    recovery_period_days = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField(help_text='the window in words, or "PITR off"')


class BackupListOut(serializers.Serializer):
    environment = serializers.CharField()
    on_demand = BackupOut(many=True)
    pre_teardown = BackupOut(many=True)
    point_in_time = PointInTimeOut()


class BackupTakenOut(serializers.Serializer):
    environment = serializers.CharField()
    backup = BackupOut()


FAILED = {502: OpenApiResponse(s.ErrorOut, description="DynamoDB did not take the backup; the reason")}


class BackupList(ApiView):
    serializer_class = BackupOut

    @extend_schema(
        summary="List an environment's backups (on demand, before teardown) and its point-in-time window",
        responses={200: BackupListOut, **ERRORS, **FAILED},
    )
    def get(self, request: Request, name: str) -> Response:
        env = environment(request, name)
        return aws_answer(lambda: backups.list_backups(actor(request), env), Response)

    @extend_schema(
        summary="Take an on-demand backup of the environment's table now (answered once AVAILABLE)",
        request=None,
        responses={201: BackupTakenOut, **ERRORS, **FAILED},
    )
    def post(self, request: Request, name: str) -> Response:
        require_write(request)
        env = environment(request, name)
        if request.data:
            raise InvalidInput(
                "a backup takes no parameters",
                [f"body: {_fields(request.data)} is not allowed; send no body (or {{}})"],
            )
        return aws_answer(
            lambda: backups.take_backup(actor(request), env),
            lambda taken: Response(
                {"environment": env.suffix, "backup": taken}, status=status.HTTP_201_CREATED
            ),
        )


def _fields(data: Any) -> str:
    if isinstance(data, dict):
        return ", ".join(sorted(str(k)[:40] for k in data)[:5]) or "a body"
    return "a body"
