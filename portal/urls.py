"""URLs: the admin is the portal's UI (the operator console builds on it); /api/v1/ its HTTP API."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from portal import observability


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """The console's icon, resolved when asked for: in production the static files' manifest
    (collectstatic) names it, and it need not exist when the URLs are loaded (`check --deploy`)."""
    return HttpResponsePermanentRedirect(static("portal/favicon.svg"))


urlpatterns = [
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
