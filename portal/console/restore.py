"""The console's restore form, on an environment's backups page (issue 20): restore to a point in
time or from a backup, undo the last restore, or clone another environment's data (with masks).

POST only; the page itself is the backups page (`console.backups`), which lists the retained
tables beside the backups. The service (`portal.services.restore`) decides who may and checks the
input; the person types the environment's name to confirm, as for a teardown. A queued restore
goes to a worker and the browser follows its run page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from portal import dispatch as dispatcher
from portal.services import environments as environment_service
from portal.services import restore as restore_service
from portal.services.base import ActionError, InvalidInput

from .pages import actor, page_object, refused

MODES = ("to_time", "backup", "undo", "clone")
MAX_FIELD = 1024


def _field(request: HttpRequest, name: str) -> str:
    return (request.POST.get(name) or "").strip()[:MAX_FIELD]


def _arguments(request: HttpRequest) -> dict[str, Any]:
    """The form as `request_restore`'s arguments; a bad mode or confirmation is refused here."""
    mode = _field(request, "mode")
    if mode not in MODES:
        raise InvalidInput(
            "choose what to restore", [f"mode: {mode[:20]!r} is not allowed; one of {', '.join(MODES)}"]
        )
    masks = [m.strip() for m in _field(request, "mask").split(",") if m.strip()]
    args: dict[str, Any] = {"masks": masks}
    if mode == "to_time":
        args["to_time"] = _field(request, "to_time")
    elif mode == "backup":
        args["backup"] = _field(request, "backup") or "latest"
    elif mode == "undo":
        args["undo"] = True
    else:
        source = _field(request, "source")
        args["source"] = environment_service.get_environment(source[:64], actor(request))
        if _field(request, "backup"):
            args["backup"] = _field(request, "backup")
        elif _field(request, "to_time"):
            args["to_time"] = _field(request, "to_time")
    return args


def restore_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """POST: request the restore and follow its run; a refusal comes back on the backups page."""
    env = page_object(model_admin, request, object_id)
    back = reverse("admin:portal_environment_backups", args=[env.pk])
    try:
        args = _arguments(request)
        confirmed = _field(request, "confirm") == env.suffix

        def confirm() -> None:
            if not confirmed:
                raise InvalidInput(
                    f"type {env.suffix} to confirm",
                    [f"confirm: type {env.suffix} to confirm; nothing was done"],
                )

        with transaction.atomic():
            dep = restore_service.request_restore(actor(request), env, confirm=confirm, **args)
            dispatcher.enqueue(dep)
    except ActionError as exc:
        refused(request, exc)
        return HttpResponseRedirect(back)
    messages.success(
        request, f"{dep.options['operation'].capitalize()} of {env.suffix} queued (run #{dep.pk})."
    )
    return HttpResponseRedirect(reverse("admin:portal_deployment_change", args=[dep.pk]))
