from django.apps import AppConfig


class TokensConfig(AppConfig):
    """API tokens and idempotency keys: an app of their own, on the tables the portal app made
    (`db_table` keeps `portal_apitoken` and `portal_idempotencykey`; migration 0001 moves state only)."""

    name = "portal.tokens"
    label = "tokens"
    verbose_name = "API tokens"
    default_auto_field = "django.db.models.BigAutoField"
