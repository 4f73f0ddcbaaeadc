"""envport's portal: the Django project and its one app (models, admin, CLI, Celery tasks)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
