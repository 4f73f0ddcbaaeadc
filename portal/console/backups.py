"""The console's backups page of an environment: its backups and point-in-time window (GET), and
an on-demand backup (POST). The service (`portal.services.backups`) decides who may; a refusal or
a failure comes back as a message, like the other buttons."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal.models import Environment
from portal.permissions import allowed
from portal.services import authz, backups
from portal.services import restore as restore_service
from portal.services.base import ActionError

from .pages import actor, page_object, refused


def backups_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: the backups and the window, read from AWS now; POST: take a backup, back to the page."""
    env = page_object(model_admin, request, object_id)
    here = reverse("admin:portal_environment_backups", args=[env.pk])
    if request.method == "POST":
        try:
            taken = backups.take_backup(actor(request), env)
        except ActionError as exc:
            refused(request, exc)
        else:
            messages.success(request, f"Backed up {taken['table_name']} as {taken['name']} (audited).")
        return HttpResponseRedirect(here)
    listing: dict[str, Any] | None = None
    retained: list[dict[str, Any]] = []
    try:
        listing = backups.list_backups(actor(request), env)
        retained = restore_service.retained_tables(actor(request), env)
    except ActionError as exc:
        refused(request, exc)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": env,
        "title": f"Backups of {env.suffix}",
        "listing": listing,
        "can_backup": allowed(request.user, "teardown", env),
        # issue 20: the tables restores replaced, and the restore form for who may restore
        "retained": retained,
        "can_restore": authz.may(actor(request), "restore", env),
        "others": Environment.objects.exclude(pk=env.pk).filter(region=env.region).order_by("suffix")[:200],
    }
    return TemplateResponse(request, "admin/portal/environment/backups.html", context)
