"""URLs: the admin is the portal's UI (the operator console builds on it); /api/v1/ its HTTP API."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    # Browsers ask for /favicon.ico on every page: the console's icon, not a 404 (issue 23).
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True)),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
