"""API tokens in the console: created through `portal.services.tokens` (audited), listed with their scope
(stages and name patterns) and state, revoked by an action.

A new token is shown once, on the page that answers the form (rendered in that response, marked
no-store), never in a message: Django's messages travel in a signed cookie, which anyone holding
the browser's cookies could decode into a working token."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from portal.services import tokens as token_service
from portal.services.base import ActionError
from portal.tokens.models import ROLES, ApiToken
from portal.tokens.reach import PATTERN_ALLOWED, STAGES

from .pages import actor

# the value of a token made by this request, kept on the request only (never in a cookie)
NEW_TOKEN = "_envport_new_token"


class ApiTokenForm(forms.ModelForm):
    role = forms.ChoiceField(
        choices=[("", "the user's own role"), *[(r, r) for r in ROLES]],
        required=False,
        help_text="At most the user's own role.",
    )
    stages = forms.MultipleChoiceField(
        choices=[(s, s) for s in STAGES],
        widget=forms.CheckboxSelectMultiple,
        help_text="The stages it reaches; only an admin may tick prod.",
    )
    environments = forms.CharField(
        required=False,
        max_length=700,
        help_text=f"Name patterns, separated by spaces (none: every name in its stages); {PATTERN_ALLOWED}",
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name", "role", "read_only", "stages", "environments", "expires_at")

    def clean_environments(self) -> list[str]:
        return str(self.cleaned_data.get("environments") or "").replace(",", " ").split()


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

    @admin.display(description="scope")
    def scope(self, obj: ApiToken) -> str:
        return obj.scope

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        return obj.state

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token is never edited: revoke it and make another

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # kept for the audit trail; revoked instead

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("user", "name", "role", "read_only", "scope", "expires_at") if obj else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return ("user", "name", "role", "read_only", "scope", "expires_at")
        return super().get_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            token, value = token_service.create_api_token(
                actor(request),
                data["user"],
                role=data.get("role") or None,
                read_only=data["read_only"],
                stages=data["stages"],
                environments=data["environments"],
                expires_at=data["expires_at"],
                name=data["name"],
            )
        except ActionError as exc:
            # The add view has already validated the form; the service's refusal is shown instead.
            raise forms.ValidationError(exc.problems) from None
        obj.pk, obj.lookup, obj.role = token.pk, token.lookup, token.role
        setattr(request, NEW_TOKEN, (token, value))

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: Any = None
    ) -> HttpResponse:
        """The new token, on this response's page only: not in a message (a cookie), not cached."""
        made = getattr(request, NEW_TOKEN, None)
        if made is None:
            return super().response_add(request, obj, post_url_continue)
        token, value = made
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"API token {token.prefix}… created",
            "token": token,
            "value": value,
        }
        response = TemplateResponse(request, "admin/portal/apitoken/created.html", context)
        response.render()
        add_never_cache_headers(response)
        response["Cache-Control"] += ", no-store"
        return response

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        try:
            return super().add_view(request, form_url, extra_context)
        except forms.ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return HttpResponseRedirect(request.path)

    @admin.action(description="Revoke the selected tokens (audited)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        who = actor(request)
        done = 0
        for token in queryset.filter(revoked_at__isnull=True):
            try:
                token_service.revoke_api_token(who, token)
                done += 1
            except ActionError as exc:
                messages.error(request, exc.message)
        messages.success(request, f"{done} token(s) revoked.")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found = super().get_actions(request)
        if not request.user.has_perm("tokens.change_apitoken"):
            found.pop("revoke", None)
        return found
