"""URLs: the admin is the portal's UI (the operator console builds on it); /api/v1/ its HTTP API."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
