"""/api/v1/environments/{name}/restore/: request a restore, an undo or a clone (POST), and list the
tables a restore replaced and keeps (GET), issue 20.

Thin callers of `portal.services.restore`, judged like the other endpoints: the token's scope
first (its environment pattern; read-only tokens only GET), then the service's one guard (a
restore is `restore` on the environment; a clone also `clone_data` on its source, so cloning from
prod is an admin's). Every input is bounded here (lengths, counts) and again by the engine's
`parse_request` before anything is queued or any AWS call is made. The answer is the queued run
(202, `Location` to follow with `?wait=`), as for `runs/`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.models import Deployment
from portal.services import environments as environment_service
from portal.services import restore as restore_service
from portal.services.base import InvalidInput
from provisioning import restore as engine
from provisioning import retained

from . import serializers as s
from . import views
from .auth import actor, environment, require_write
from .errors import aws_answer
from .views import CONFLICT, ERRORS, ApiView

FIELDS = ("to_time", "backup", "undo", "from_environment", "mask", "retain_days")


class RestoreCreate(serializers.Serializer):
    to_time = serializers.CharField(
        required=False, max_length=engine.MAX_TIME_TEXT, help_text="ISO-8601 with its offset, e.g. ...Z"
    )
    backup = serializers.CharField(
        required=False, max_length=engine.MAX_ARN, help_text="a backup ARN or latest"
    )
    undo = serializers.BooleanField(
        required=False, default=False, help_text="swap back to the replaced table"
    )
    from_environment = serializers.CharField(
        required=False, max_length=64, help_text="clone this environment's data (same account and region)"
    )
    mask = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=engine.MAX_MASKS,
        help_text="clones: attributes replaced by stable pseudonyms",
    )
    retain_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=retained.MAX_RETENTION_DAYS,
        default=retained.DEFAULT_RETENTION_DAYS,
        help_text="how long the replaced table is kept",
    )


class RetainedTableOut(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.CharField()
    items = serializers.IntegerField(allow_null=True)
    retained_until = serializers.DateTimeField(allow_null=True)
    replaced_by = serializers.CharField()
    replaced_at = serializers.DateTimeField(allow_null=True)
    deletion_protection = serializers.BooleanField()


class RetainedListOut(serializers.Serializer):
    environment = serializers.CharField()
    table_name = serializers.CharField(help_text="the physical table serving now")
    retained_tables = RetainedTableOut(many=True)


FAILED = {502: OpenApiResponse(s.ErrorOut, description="AWS could not be read; the reason")}


class RestoreView(ApiView):
    serializer_class = RetainedListOut

    @extend_schema(
        summary="List the tables a restore replaced and keeps (deleted after their retention)",
        responses={200: RetainedListOut, **ERRORS, **FAILED},
    )
    def get(self, request: Request, name: str) -> Response:
        env = environment(request, name)

        def listed(tables: list[dict[str, Any]]) -> Response:
            current = env.spec().names.table
            return Response({"environment": env.suffix, "table_name": current, "retained_tables": tables})

        return aws_answer(lambda: restore_service.retained_tables(actor(request), env), listed)

    @extend_schema(
        summary="Restore the table (to a time, from a backup), undo the last restore, or clone another "
        "environment's data, with a verified cut-over",
        request=RestoreCreate,
        responses={
            202: OpenApiResponse(s.RunOut, description="queued; follow `url` (Location) with ?wait="),
            **ERRORS,
            **CONFLICT,
        },
    )
    def post(self, request: Request, name: str) -> Response:
        require_write(request)
        env = environment(request, name)
        _refuse_unknown(request.data)
        parsed = RestoreCreate(data=request.data)
        parsed.is_valid(raise_exception=True)
        data = dict(parsed.validated_data)
        who = actor(request)
        source = None
        if data.get("from_environment"):
            source = environment_service.get_environment(data["from_environment"], who)
        with transaction.atomic():
            dep = restore_service.request_restore(
                who,
                env,
                to_time=data.get("to_time"),
                backup=data.get("backup"),
                undo=data["undo"],
                source=source,
                masks=data.get("mask") or [],
                retention_days=data["retain_days"],
            )
            views.dispatch(dep)  # looked up at call time (tests replace it)
        dep = Deployment.objects.select_related("environment").get(pk=dep.pk)
        answer = s.RunOut(dep, context={"request": request}).data
        return Response(answer, status=status.HTTP_202_ACCEPTED, headers={"Location": answer["url"]})


def _refuse_unknown(data: Any) -> None:
    if not isinstance(data, dict):
        raise InvalidInput("a restore takes a JSON object", ["body: a JSON object of " + ", ".join(FIELDS)])
    unknown = sorted(str(k)[:40] for k in data if k not in FIELDS)[:5]
    if unknown:
        raise InvalidInput(
            "unknown fields in a restore",
            [f"{name}: is not allowed; one of {', '.join(FIELDS)}" for name in unknown],
        )
