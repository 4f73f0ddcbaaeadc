"""Every refusal as JSON: `error` (one sentence) and `problems`, the CLI's exit-2 list, each as
field, value and what is allowed. Service refusals (`portal.services.base.ActionError`) map to 400
(bad input), 403 (role), 404 (unknown) and 409 (a run already holds the environment, named);
DRF's own to 400/401/403/404/405/413/415/429; Django's refusals of a body (too large, too many
fields) to 413 and 400. What no view answers (an unknown route, an exception) the middleware
(`middleware.ApiProblems`) turns into the same document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from django.urls import reverse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from portal.services.base import ActionError, Conflict, Forbidden, InvalidInput, NotFound

T = TypeVar("T")

_FIELD = re.compile(r"^(--?[\w-]+(?: [\w'\"-]+)?|[A-Za-z_][\w.-]*): (.*)$", re.S)


def problem(text: str) -> dict[str, Any]:
    """A problem line of the service ("field: value is not allowed; what is") as its parts."""
    field, rest = None, text
    match = _FIELD.match(text)
    if match:
        field, rest = match.group(1), match.group(2)
    value, allowed = None, None
    if " is not allowed; " in rest:
        value, allowed = rest.split(" is not allowed; ", 1)
    elif field is not None and "; " in rest:
        allowed = rest.split("; ", 1)[1]
    return {"field": field, "value": value, "allowed": allowed, "message": text}


def body(message: str, problems: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": message, "problems": [problem(p) for p in (problems or [message])], **extra}


def aws_answer(call: Callable[[], T], answer: Callable[[T], Response]) -> Response:
    """`answer` of what `call` read or did in AWS at once: a refusal stays a refusal (raised, see
    `exception_handler`); AWS failing to do it answers 502 with the reason."""
    try:
        found = call()
    except (InvalidInput, Forbidden, NotFound):
        raise
    except ActionError as exc:
        return Response(body(exc.message), status=status.HTTP_502_BAD_GATEWAY)
    return answer(found)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"


_ACTION_STATUS = (
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Conflict, status.HTTP_409_CONFLICT),
    (ActionError, status.HTTP_400_BAD_REQUEST),
)


def _validation_problems(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "request" if key == "non_field_errors" else f"{prefix}{key}"
            out += (
                _validation_problems(value, f"{name}.")
                if isinstance(value, dict)
                else [
                    {"field": name, "value": None, "allowed": str(v), "message": f"{name}: {v}"}
                    for v in (value if isinstance(value, list) else [value])
                ]
            )
    else:
        for v in detail if isinstance(detail, list) else [detail]:
            out.append(
                {"field": prefix.rstrip(".") or None, "value": None, "allowed": str(v), "message": str(v)}
            )
    return out


def action_response(exc: ActionError) -> Response:
    code = next(c for kind, c in _ACTION_STATUS if isinstance(exc, kind))
    extra: dict[str, Any] = {}
    if isinstance(exc, Conflict) and exc.running is not None:
        dep = exc.running
        extra["running"] = {
            "id": dep.pk,
            "kind": dep.kind,
            "status": dep.status,
            "url": reverse("api:run", args=[dep.pk]),
        }
    return Response(body(exc.message, exc.problems, **extra), status=code)


def body_refusal(exc: Exception) -> Response | None:
    """Django's refusals of a request body as problems (its own answers are HTML 400 pages)."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            body(
                "the request body is too large",
                [f"request: a body over {limit} bytes is not allowed; at most {limit} bytes"],
            ),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        fields, files = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS, settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return Response(
            body(
                "the request has too many fields",
                [f"request: so many fields is not allowed; at most {fields} fields and {files} files"],
            ),
            status=status.HTTP_400_BAD_REQUEST,
        )
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ActionError):
        return action_response(exc)
    refused = body_refusal(exc)
    if refused is not None:
        return refused
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    response = drf_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": "invalid request", "problems": _validation_problems(exc.detail)}
    else:
        detail = getattr(exc, "detail", str(exc))
        message = str(detail if not isinstance(detail, (list, dict)) else exc)
        response.data = body(message)
    return response
