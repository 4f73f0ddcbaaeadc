from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "portal.costs"
    label = "costs"
    verbose_name = "Costs"
    default_auto_field = "django.db.models.BigAutoField"
