"""What the console's pages share: the actor a request acts as, the object a page is about (or
404, or 403), and a refusal shown as an error message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from portal.services.base import ActionError, Actor

T = TypeVar("T")


def actor(request: HttpRequest) -> Actor:
    return Actor("ui", request.user, remote_addr=request.META.get("REMOTE_ADDR"))


def page_object(model_admin: Any, request: HttpRequest, object_id: str) -> Any:
    obj = model_admin.get_object(request, object_id)
    if obj is None:
        raise Http404(f"no {model_admin.opts.verbose_name} {object_id}")
    if not model_admin.has_view_or_change_permission(request, obj):
        raise PermissionDenied
    return obj


def refused(request: HttpRequest, exc: ActionError) -> None:
    extra = [p for p in exc.problems if p != exc.message]
    messages.error(request, exc.message + (": " + "; ".join(extra) if extra else ""))


def attempt(request: HttpRequest, call: Callable[[], T]) -> T | None:
    """What `call` answers, or None with its refusal as a message (e.g. another run holds the env)."""
    try:
        return call()
    except ActionError as exc:
        refused(request, exc)
        return None
