"""Notification channels (with their rules) and deliveries in the console. A channel whose last
deliveries gave up is marked failing in the list; every delivery shows its attempts and answer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from portal.tokens.reach import PATTERN_RE
from provisioning.spec import STAGES

from .addresses import ALLOWED, MAX_URL_LENGTH
from .models import EVENTS, FAILING_AFTER, Delivery, NotificationChannel, NotificationRule


class RuleForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=list(EVENTS.items()), widget=forms.CheckboxSelectMultiple)
    stages = forms.MultipleChoiceField(
        choices=[(s, s) for s in STAGES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every stage.",
    )

    class Meta:
        model = NotificationRule
        fields = ("events", "stages", "environments", "enabled")

    def clean_environments(self) -> str:
        value = str(self.cleaned_data.get("environments") or "")
        if value and not PATTERN_RE.match(value):
            raise forms.ValidationError(
                f"{value!r} is not allowed; a name pattern of a-z, 0-9, -, * and ? (pr*)"
            )
        return value


class RuleInline(admin.TabularInline):
    model = NotificationRule
    form = RuleForm
    extra = 1


class ChannelForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        # Write-only: the page never carries the key back (not even as the input's value).
        widget=forms.PasswordInput(render_value=False),
        help_text="Generic webhooks: the key receivers verify the signature with. Write-only: "
        "leave it empty to keep the current one.",
    )
    target = forms.CharField(
        max_length=MAX_URL_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=(
            "E-mail: addresses separated by commas. Webhooks: "
            + ALLOWED
            + "; the host must resolve to public addresses only."
        ),
    )

    class Meta:
        model = NotificationChannel
        fields = ("name", "kind", "target", "secret", "enabled")

    def clean(self) -> dict[str, Any]:
        """The secret here; the target in the model's `clean` (which the form runs too), so the
        admin and every other path that saves a channel refuse the same URLs with the same words."""
        data = super().clean() or {}
        if not data.get("secret") and self.instance.pk is not None:
            data["secret"] = self.instance.secret  # left empty: the key stays as it is
        if data.get("kind") == NotificationChannel.Kind.WEBHOOK and len(str(data.get("secret") or "")) < 16:
            self.add_error("secret", "at least 16 characters: it signs every request")
        return data


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    inlines = [RuleInline]
    list_display = ("name", "kind", "enabled", "health", "last_success_at", "last_failure_at")
    list_filter = ("kind", "enabled")
    readonly_fields = ("consecutive_failures", "last_success_at", "last_failure_at", "last_error")

    @admin.display(description="deliveries")
    def health(self, obj: NotificationChannel) -> SafeString:
        if obj.failing:
            return format_html(
                '<strong style="color:#ba2121">failing</strong>: {} deliveries in a row gave up (last: {})',
                obj.consecutive_failures,
                obj.last_error[:120],
            )
        if obj.consecutive_failures:
            return format_html("{} gave up in a row (failing at {})", obj.consecutive_failures, FAILING_AFTER)
        return format_html("{}", "ok")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if not self.has_change_permission(request, obj) and obj is not None:
            fields = [f for f in fields if f != "secret"]  # readers never see the signing key
        return fields


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    class Media:  # the console's list styles: long errors wrap instead of widening the page
        css = {"all": ("portal/console.css",)}

    list_display = (
        "created_at",
        "event",
        "environment_suffix",
        "channel",
        "status",
        "attempts",
        "response_code",
        "error",
    )
    list_filter = ("status", "event", "channel")
    search_fields = ("environment_suffix", "event")
    list_select_related = ("channel",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
