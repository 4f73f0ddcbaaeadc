"""/api/v1/: the resources, the OpenAPI schema and Swagger UI beside it (its files served by the
portal, from drf-spectacular-sidecar: no CDN; ReDoc is left out, as it fetches Google's fonts)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import backups, costs, metrics, restore, views

app_name = "api"

urlpatterns = [
    path("environments/", views.EnvironmentList.as_view(), name="environments"),
    path("environments/<str:name>/", views.EnvironmentDetail.as_view(), name="environment"),
    path("environments/<str:name>/runs/", views.RunList.as_view(), name="runs"),
    path("environments/<str:name>/backups/", backups.BackupList.as_view(), name="backups"),
    path("environments/<str:name>/restore/", restore.RestoreView.as_view(), name="restore"),
    path("environments/<str:name>/cost/", costs.EnvironmentCost.as_view(), name="cost"),
    path("environments/<str:name>/cost/actuals/", costs.EnvironmentActuals.as_view(), name="cost-actuals"),
    path("environments/<str:name>/logs/", views.EnvironmentLogs.as_view(), name="logs"),
    path("environments/<str:name>/errors/", views.EnvironmentErrors.as_view(), name="errors"),
    path("environments/<str:name>/metrics/", metrics.EnvironmentMetrics.as_view(), name="metrics"),
    path("runs/<int:pk>/", views.RunDetail.as_view(), name="run"),
    path("artifacts/", views.ArtifactUploadView.as_view(), name="artifacts"),
    path("artifacts/<str:sha256>/", views.ArtifactDetail.as_view(), name="artifact"),
    path("costs/", costs.CostRollup.as_view(), name="costs"),
    path("audit/", views.AuditList.as_view(), name="audit"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
