"""API tokens in the console: created through `portal.actions` (audited; the token is shown once,
in a message, and never again), listed with their scope and state, revoked by an action."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect

from portal import actions

from .models import ROLES, ApiToken


class ApiTokenForm(forms.ModelForm):
    role = forms.ChoiceField(
        choices=[("", "the user's own role"), *[(r, r) for r in ROLES]],
        required=False,
        help_text="At most the user's own role.",
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name", "role", "read_only", "environments", "expires_at")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = (
        "prefix_shown",
        "user",
        "name",
        "role",
        "read_only",
        "scope",
        "expires_at",
        "state",
        "last_used_at",
    )
    list_filter = ("role", "read_only")
    search_fields = ("user__username", "name", "lookup")
    list_select_related = ("user",)
    actions = ["revoke"]

    @admin.display(description="token")
    def prefix_shown(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="environments")
    def scope(self, obj: ApiToken) -> str:
        return obj.environments or "*"

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        return obj.state

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token is never edited: revoke it and make another

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # kept for the audit trail; revoked instead

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("user", "name", "role", "read_only", "environments", "expires_at") if obj else ()

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            token, value = actions.create_api_token(
                actions.Actor("ui", request.user, remote_addr=request.META.get("REMOTE_ADDR")),
                data["user"],
                role=data.get("role") or None,
                read_only=data["read_only"],
                environments=data["environments"],
                expires_at=data["expires_at"],
                name=data["name"],
            )
        except actions.ActionError as exc:
            # The add view has already validated the form; the service's refusal is shown instead.
            raise forms.ValidationError(exc.problems) from None
        obj.pk, obj.lookup, obj.role = token.pk, token.lookup, token.role
        messages.warning(
            request, f"API token {token.prefix}… created. Copy it now; it is not shown again: {value}"
        )

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        try:
            return super().add_view(request, form_url, extra_context)
        except forms.ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return HttpResponseRedirect(request.path)

    @admin.action(description="Revoke the selected tokens (audited)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        who = actions.Actor("ui", request.user, remote_addr=request.META.get("REMOTE_ADDR"))
        done = 0
        for token in queryset.filter(revoked_at__isnull=True):
            try:
                actions.revoke_api_token(who, token)
                done += 1
            except actions.ActionError as exc:
                messages.error(request, exc.message)
        messages.success(request, f"{done} token(s) revoked.")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found = super().get_actions(request)
        if not request.user.has_perm("portal.change_apitoken"):
            found.pop("revoke", None)
        return found
