"""URLs: the admin is the portal's UI (the operator console builds on it); /api/v1/ its HTTP API."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from portal import observability

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    # Probes and Prometheus (docs/operations.md): no session needed.
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    # Browsers ask for /favicon.ico on every page: the console's icon, not a 404 (issue 23).
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True)),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
