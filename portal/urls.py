"""URLs: the admin is the portal's UI (the operator console builds on it); /api/v1/ its HTTP API."""

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from portal import observability
from portal.notifications.models import Delivery, NotificationChannel
from portal.tokens.models import ApiToken


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """The console's icon, resolved when asked for: in production the static files' manifest
    (collectstatic) names it, and it need not exist when the URLs are loaded (`check --deploy`)."""
    return HttpResponsePermanentRedirect(static("portal/favicon.svg"))


def moved(model: type[Model]) -> Any:
    """A model's admin pages at the address they had while the model was the portal app's (API
    tokens and notifications are apps of their own since portal's migration 0010): bookmarks,
    scripts and the docs' links keep working; the admin's own links use the new address."""
    return include(admin.site._registry[model].urls)


urlpatterns = [
    path("admin/portal/apitoken/", moved(ApiToken)),
    path("admin/portal/notificationchannel/", moved(NotificationChannel)),
    path("admin/portal/delivery/", moved(Delivery)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    # Probes and Prometheus (docs/operations.md): no session needed.
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    # Browsers ask for /favicon.ico on every page: the console's icon, not a 404 (issue 23).
    path("favicon.ico", favicon),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
