from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Notification channels, rules and deliveries: an app of their own, on the tables the portal
    app made (`db_table` keeps their `portal_*` names; migration 0001 moves state only)."""

    name = "portal.notifications"
    label = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"
