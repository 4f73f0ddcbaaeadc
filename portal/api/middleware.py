"""Every answer under /api/v1/ is JSON, whoever makes it, and carries a request id.

The views answer with problem documents (`errors`), but some answers are not theirs: an unknown
route is Django's 404 page, an exception that escapes a view is Django's 500 page (with DEBUG on,
a stack trace), and a body Django refuses before any view runs is a 400 page. A pipeline reads
none of those. This middleware, first in MIDDLEWARE, gives each API request an id (the
`X-Request-Id` answer header), answers an escaping exception with a 500 problem naming that id
(the log holds the traceback under it, the answer never does), and turns any other answer of 400
or more that is not JSON into a problem of the same status, keeping its Allow, Retry-After and
WWW-Authenticate headers. Everything outside /api/v1/ passes untouched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from . import errors

PREFIX = "/api/v1/"
REQUEST_ID_HEADER = "X-Request-Id"
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
logger = logging.getLogger("portal.api")


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(PREFIX)


def request_id(request: HttpRequest) -> str:
    return str(getattr(request, "envport_request_id", "") or "")


def internal_error(request: HttpRequest) -> dict[str, Any]:
    rid = request_id(request)
    return errors.body(
        f"internal error: nothing about it is shown here; the portal's log has it under request id {rid}",
        request_id=rid,
    )


def _problem_for(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
    code = response.status_code
    if code == 404:
        path = request.path[:200]
        return errors.body(
            f"no such route: {request.method} {path}",
            [f"path: {path!r} is not allowed; the API's routes are listed in {PREFIX}schema/"],
        )
    if code >= 500:
        return internal_error(request)
    try:
        phrase = HTTPStatus(code).phrase.lower()
    except ValueError:
        phrase = "refused"
    return errors.body(f"{phrase} ({code})")


def _is_json(response: HttpResponse) -> bool:
    return str(response.get("Content-Type", "")).split(";")[0].strip().endswith("json")


class ApiProblems:
    """JSON answers and request ids for /api/v1/ (see the module's docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        request.envport_request_id = uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        if response.status_code >= 400 and not response.streaming and not _is_json(response):
            if response.status_code >= 500:  # escaped elsewhere than a view; django.request logged it
                logger.error(
                    "request %s: %s %s answered %s",
                    request_id(request),
                    request.method,
                    request.path[:200],
                    response.status_code,
                )
            problem = JsonResponse(_problem_for(request, response), status=response.status_code)
            for header in KEPT_HEADERS:
                if header in response:
                    problem[header] = response[header]
            response = problem
        response[REQUEST_ID_HEADER] = request_id(request)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        """An exception a view did not answer: Django's refusals keep their status (as problems,
        through __call__); a body too large is 413; anything else is a 500 whose traceback is
        logged under the request id and never answered."""
        if not is_api(request):
            return None
        refused = errors.body_refusal(exc)
        if refused is not None:
            return JsonResponse(refused.data, status=refused.status_code)
        if isinstance(exc, (Http404, PermissionDenied, SuspiciousOperation, BadRequest)):
            return None
        logger.error(
            "request %s: %s %s raised %s",
            request_id(request),
            request.method,
            request.path[:200],
            type(exc).__name__,
            exc_info=exc,
        )
        return JsonResponse(internal_error(request), status=500)
