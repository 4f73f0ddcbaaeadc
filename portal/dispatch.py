"""How the web console, the API and the CLI send a requested run to a worker.

They depend on this module rather than on `portal.tasks` (Celery's task module) or on
the service layer knowing about tasks: `portal.services` takes the dispatcher from its caller, and
this is the one callers outside the worker use. Tests replace `enqueue` here, or the console's or
the API's `views.dispatch` (`portal.console.views`, `portal.api.views`), to run or record instead
of sending.
"""

from __future__ import annotations

from .models import Deployment
from .tasks import enqueue as _enqueue


def enqueue(dep: Deployment) -> None:
    """Send `dep` to a Celery worker once the request commits (cancelled if no broker answers)."""
    _enqueue(dep)
