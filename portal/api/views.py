"""The API's endpoints: thin callers of `portal.services`, judged like the console.

Every view hands the work to the service layer with the request's actor (its user narrowed to
the token's role, and the token's reach); the service's one guard (`portal.services.authz`)
decides before anything is queued or written, and its refusals become JSON problems (`errors`):
out of a token's reach is 404, like an absent environment or run; a refused role or a read-only
token is 403. Runs are sent to a worker (`dispatch`) once the request commits; the answer is 202
with the run's URL, which `?wait=SECONDS` long-polls.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from portal import dispatch as dispatcher
from portal.models import AuditEvent, Deployment
from portal.services import authz, idempotency, releases
from portal.services import environments as environment_service
from portal.services import logs as log_service
from portal.services import releases as release_service
from portal.services.base import InvalidInput

from . import serializers as s
from .auth import actor, environment, environments, require_perm, require_write
from .errors import PayloadTooLarge
from .uploads import holder, upload_slot
from .waiting import SLOTS, WAIT_HEADER

ERRORS = {
    code: OpenApiResponse(s.ErrorOut, description=text)
    for code, text in (
        (400, "bad input: every problem listed"),
        (401, "no valid token or session"),
        (403, "the role or the token's scope does not allow it"),
        (404, "no such record"),
        (429, "too many requests for this token; see Retry-After"),
        (500, "a failure of the portal: only its request_id, under which the log holds the rest"),
    )
}
CONFLICT = {409: OpenApiResponse(s.ErrorOut, description="a run already holds the environment (named)")}
POLL_S = 0.5
_sleep = time.sleep  # replaced in tests


def dispatch(dep: Deployment) -> None:
    """Send a run to a worker once the request commits; tests replace this."""
    dispatcher.enqueue(dep)


class Pages(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class ApiView(generics.GenericAPIView):
    pagination_class = Pages

    def listing(self, request: Request, queryset: Any) -> Response:
        page = self.paginate_queryset(queryset)
        data = self.get_serializer(page, many=True).data
        return self.get_paginated_response(data)


# --- environments -----------------------------------------------------------------------------
class EnvironmentList(ApiView):
    serializer_class = s.EnvironmentOut

    @extend_schema(
        summary="List environments (those the token's stages and patterns reach)",
        responses={200: s.EnvironmentOut(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        require_perm(request, "portal.view_environment", "reading environments")
        return self.listing(request, environments(request).order_by("suffix"))

    @extend_schema(
        summary="Create an environment",
        request=s.EnvironmentCreate,
        responses={201: s.EnvironmentOut, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        require_write(request)
        data = _valid(s.EnvironmentCreate, request)
        fields = {k: v for k, v in data.items() if k != "name"}
        env = environment_service.create_environment(actor(request), suffix=data["name"], **fields)
        env = environment_service.get_environment(env.suffix)
        body = s.EnvironmentOut(env, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class EnvironmentDetail(ApiView):
    serializer_class = s.EnvironmentOut

    @extend_schema(summary="Show an environment", responses={200: s.EnvironmentOut, **ERRORS})
    def get(self, request: Request, name: str) -> Response:
        return Response(s.EnvironmentOut(environment(request, name), context={"request": request}).data)

    @extend_schema(
        summary="Change an environment (an override set to null goes back to the stage default)",
        request=s.EnvironmentUpdate,
        responses={200: s.EnvironmentOut, **ERRORS},
    )
    def patch(self, request: Request, name: str) -> Response:
        require_write(request)
        env = environment(request, name)
        fields = dict(_valid(s.EnvironmentUpdate, request))
        overrides = fields.pop("overrides", None)
        environment_service.update_environment(actor(request), env, overrides=overrides, **fields)
        env = environment_service.get_environment(env.suffix)
        return Response(s.EnvironmentOut(env, context={"request": request}).data)

    @extend_schema(
        summary="Delete an environment's record (only without resources: tear it down first)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, name: str) -> Response:
        require_write(request)
        env = environment(request, name)
        environment_service.delete_environment(actor(request), env)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- runs -------------------------------------------------------------------------------------
def _valid(serializer: type[Any], request: Request) -> dict[str, Any]:
    parsed = serializer(data=request.data)
    parsed.is_valid(raise_exception=True)
    return dict(parsed.validated_data)


class RunList(ApiView):
    serializer_class = s.RunSummaryOut

    @extend_schema(
        summary="List an environment's runs, newest first",
        parameters=[
            OpenApiParameter("kind", str, description="only runs of this kind"),
            OpenApiParameter("status", str, description="only runs in this status"),
        ],
        responses={200: s.RunSummaryOut(many=True), **ERRORS},
    )
    def get(self, request: Request, name: str) -> Response:
        env = environment(request, name)
        require_perm(request, "portal.view_deployment", "reading runs")
        runs = Deployment.objects.filter(environment=env)
        for field in ("kind", "status"):
            if request.query_params.get(field):
                runs = runs.filter(**{field: request.query_params[field]})
        return self.listing(request, runs.order_by("-created_at", "-id"))

    @extend_schema(
        summary="Request a run: plan, provision, verify, drift, teardown, release or rollback",
        request=s.RunCreate,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description=(
                    "a retried request with the same key gets the first run, never a second "
                    "(at most 255 characters)"
                ),
            )
        ],
        responses={
            202: OpenApiResponse(s.RunOut, description="queued; follow `url` (Location) with ?wait="),
            **ERRORS,
            **CONFLICT,
        },
    )
    def post(self, request: Request, name: str) -> Response:
        require_write(request)
        env = environment(request, name)
        data = _valid(s.RunCreate, request)
        key = (request.headers.get("Idempotency-Key") or "").strip()
        dep, replayed = idempotency.request_once(actor(request), env, data, key, dispatch)
        dep = Deployment.objects.select_related("environment").get(pk=dep.pk)
        body = s.RunOut(dep, context={"request": request}).data
        headers = {"Location": body["url"]}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)


class RunDetail(ApiView):
    serializer_class = s.RunOut

    @extend_schema(
        summary="Show a run with its steps, checks, findings and AWS calls",
        parameters=[
            OpenApiParameter(
                "wait",
                int,
                description="wait up to this many seconds (at most ENVPORT_API_MAX_WAIT_SECONDS) to finish",
            ),
            OpenApiParameter(
                WAIT_HEADER,
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description=(
                    "set when ?wait= did not wait: the server's waits were all taken (a share of its "
                    "threads, and of that a share per token); the run is as it is now: poll again"
                ),
            ),
        ],
        responses={200: s.RunOut, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        require_perm(request, "portal.view_deployment", "reading runs")
        dep = Deployment.objects.select_related("environment").filter(pk=pk).first()
        if dep is None or not authz.may(actor(request), "view", dep.environment):
            raise exceptions.NotFound(f"no run #{pk}")  # out of the token's reach: the same answer
        wait = _wait_seconds(request)
        headers = _wait_for(request, dep, wait) if wait and dep.active else {}
        dep = Deployment.objects.select_related("environment").get(pk=pk)
        return Response(s.RunOut(dep, context={"request": request}).data, headers=headers)


def _wait_for(request: Request, dep: Deployment, seconds: float) -> dict[str, str]:
    """Wait up to `seconds` for `dep` to end, in one of the process's wait slots (`waiting`); with
    none free, at once, and the answer's header says why."""
    token = getattr(request.auth, "pk", None)  # an ApiToken; None for a console session
    holder = f"token:{token}" if token is not None else f"user:{request.user.pk}"
    with SLOTS.hold(holder) as refusal:
        if refusal is not None:
            return {WAIT_HEADER: refusal}
        deadline = time.monotonic() + seconds
        while dep.active and time.monotonic() < deadline:
            _sleep(POLL_S)
            dep.refresh_from_db(fields=["status"])
    return {}


def _wait_seconds(request: Request) -> float:
    raw = request.query_params.get("wait")
    if raw in (None, ""):
        return 0.0
    limit = settings.ENVPORT_API_MAX_WAIT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= limit:
        raise InvalidInput("wait is out of range", [f"wait: {raw!r} is not allowed; 0 to {limit} seconds"])
    return value


# --- artifacts --------------------------------------------------------------------------------
class ArtifactUploadView(ApiView):
    serializer_class = s.ArtifactOut
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary=(
            "Upload a .zip for a release: a package folder's zip (requirements.txt inside) is built "
            "and vendored like `release --bundle`, any other zip is taken as is; import-checked, "
            "the same bytes are stored once"
        ),
        request={"multipart/form-data": s.ArtifactUpload},
        responses={
            201: s.ArtifactOut,
            200: OpenApiResponse(s.ArtifactOut, description="already held"),
            413: OpenApiResponse(s.ErrorOut, description="larger than ENVPORT_API_MAX_UPLOAD_BYTES"),
            **ERRORS,
            429: OpenApiResponse(
                s.ErrorOut, description="this token's uploads in progress are at their limit; see Retry-After"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        require_write(request)
        if not (
            request.user.has_perm("portal.release_environment")
            or request.user.has_perm("portal.release_prod_environment")
        ):
            raise exceptions.PermissionDenied(
                "uploading artifacts needs a role that releases (operator or admin)"
            )
        limit = settings.ENVPORT_API_MAX_UPLOAD_BYTES
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 64 * 1024:
            raise PayloadTooLarge(
                f"the upload is larger than {limit} bytes (Lambda takes at most 50 MB zipped)"
            )
        data = _valid(s.ArtifactUpload, request)
        upload = data["zip"]
        if upload.size > limit:
            raise PayloadTooLarge(f"the zip is larger than {limit} bytes")
        with upload_slot(holder(request)):
            record, created = releases.build_artifact(
                actor(request), upload.read(), handler=data["handler"], name=upload.name
            )
        body = s.ArtifactOut(record, context={"request": request}).data
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(body, status=code, headers={"Location": body["url"]})


class ArtifactDetail(ApiView):
    serializer_class = s.ArtifactOut

    @extend_schema(
        summary="Show an artifact (by SHA-256, or its first 8+ digits)",
        responses={200: s.ArtifactOut, **ERRORS},
    )
    def get(self, request: Request, sha256: str) -> Response:
        require_perm(request, "portal.view_artifact", "reading artifacts")
        return Response(
            s.ArtifactOut(release_service.find_artifact(sha256), context={"request": request}).data
        )


# --- the audit trail --------------------------------------------------------------------------
class AuditList(ApiView):
    serializer_class = s.AuditEventOut

    @extend_schema(
        summary="Read the audit trail, newest first",
        parameters=[
            OpenApiParameter("environment", str, description="only this environment's events"),
            OpenApiParameter(
                "action", str, description="only this action (deployment.requested.provision...)"
            ),
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="only events at or after this moment"
            ),
        ],
        responses={200: s.AuditEventOut(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        require_perm(request, "portal.view_auditevent", "reading the audit trail")
        events = authz.visible(actor(request), AuditEvent.objects.all(), "environment__")
        params = request.query_params
        if params.get("environment"):
            events = events.filter(environment_suffix=params["environment"])
        if params.get("action"):
            events = events.filter(action=params["action"])
        if params.get("since"):
            since = s.serializers.DateTimeField().run_validation(params["since"])
            events = events.filter(at__gte=since)
        return self.listing(request, events.order_by("-at", "-id"))


# --- logs and errors (issue 19) -----------------------------------------------------------------
class EnvironmentLogs(ApiView):
    serializer_class = s.LogViewOut

    @extend_schema(
        summary="Read an environment's function log or access log (every role; keys and tokens redacted)",
        parameters=[
            OpenApiParameter(
                "source", str, enum=list(log_service.SOURCES), description="function (default) or access"
            ),
            OpenApiParameter("since", str, description="how far back: 15m (default), 24h, 7d; at most 30d"),
            OpenApiParameter(
                "filter", str, description="a CloudWatch filter pattern, at most 1024 characters"
            ),
            OpenApiParameter(
                "request_id", str, description="one request's lines (8 to 64 letters, digits, '-')"
            ),
            OpenApiParameter("status", str, description="access log only: a status (503) or a class (5xx)"),
        ],
        responses={200: s.LogViewOut, **ERRORS},
    )
    def get(self, request: Request, name: str) -> Response:
        env = environment(request, name)
        params = request.query_params
        view = log_service.read_logs(
            actor(request),
            env,
            source=params.get("source", "function"),
            since=params.get("since"),
            pattern=params.get("filter"),
            request_id=params.get("request_id"),
            status=params.get("status"),
        )
        return Response(view)


class EnvironmentErrors(ApiView):
    serializer_class = s.ErrorsOut

    @extend_schema(
        summary="Read an environment's function errors, grouped by exception and top frame of its code",
        parameters=[
            OpenApiParameter("since", str, description="how far back: 24h (default), 7d; at most 30d")
        ],
        responses={200: s.ErrorsOut, **ERRORS},
    )
    def get(self, request: Request, name: str) -> Response:
        env = environment(request, name)
        return Response(log_service.read_errors(actor(request), env, since=request.query_params.get("since")))
