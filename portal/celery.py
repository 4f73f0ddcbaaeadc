"""The Celery app: `celery -A portal worker` / `celery -A portal beat`.

Configuration comes from Django settings under the CELERY_ namespace (acks_late, reject on a lost
worker, prefetch 1: a run is long and must come back if its worker dies). When settings fell back
to the filesystem broker (no Redis answering), workers and beat say so when they start.
"""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import beat_init, celeryd_init, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("envport")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["portal"])

log = logging.getLogger("portal.celery")


def broker_warning() -> str | None:
    from django.conf import settings

    return getattr(settings, "ENVPORT_BROKER_WARNING", None)


@celeryd_init.connect
@beat_init.connect
def _say_which_broker(**_: object) -> None:
    from portal.targets import describe

    warning = broker_warning()
    if warning:
        log.warning(warning)
    log.info("envport runs go to the %s", describe())


@worker_ready.connect
def _start_heartbeat(sender: object = None, **_: object) -> None:
    """The worker heartbeat /readyz reads (portal/health.py)."""
    from portal.health import start_heartbeat

    start_heartbeat(str(getattr(sender, "hostname", None) or f"celery@{os.uname().nodename}"))


@worker_shutdown.connect
def _stop_heartbeat(**_: object) -> None:
    from portal.health import stop_heartbeat

    stop_heartbeat()
