"""Fidelity fixes: small, documented monkeypatches that make moto 5.2.5 answer like real AWS.

The engine is written against real AWS behaviour. Where moto 5.2.5 falls short, the fixes patch
moto's model and response classes in-process, so they hold both in decorator mode (``mock_aws``) and
in server mode (a ``ThreadedMotoServer`` running in this process): both dispatch through the same
classes. Each fix lives with the service it corrects and registers itself in ``localcloud.registry``
(which imports nothing of the services); ``install.py`` imports every module that registers fixes,
one way, in the order they are applied.

Public API:

* ``apply()`` installs every fix. It is idempotent and thread-safe: call it from every fixture.
* ``FIXES`` lists the fixes (name, the moto behaviour corrected, the AWS behaviour restored), in
  the order they are applied, for generated documentation.
* ``Fix``: one fix; ``LOG_RETENTION_DAYS``: the retention values CloudWatch Logs accepts.
"""

from __future__ import annotations

from localcloud.cloudwatch.log_retention import LOG_RETENTION_DAYS
from localcloud.fidelity.install import FIXES, apply
from localcloud.registry import Fix

__all__ = ["FIXES", "LOG_RETENTION_DAYS", "Fix", "apply"]
