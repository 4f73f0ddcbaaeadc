"""Every module that registers fidelity fixes, imported one way, in the order the fixes are applied.

The order within one moto class matters (a later fix may wrap an earlier one), so it is written
here once: the API Gateway REST API fixes, Lambda's configuration fixes and the Logs retention fix
first, then the services' other fixes.
"""

from __future__ import annotations

import threading

from localcloud.apigateway import fixes as apigateway_fixes
from localcloud.apigateway import rest_api_fixes, stage_logs_fixes
from localcloud.cloudwatch import fixes as cloudwatch_fixes
from localcloud.cloudwatch import log_retention, logs_fixes
from localcloud.cognito import fixes as cognito_fixes
from localcloud.dynamodb import fixes as dynamodb_fixes
from localcloud.ec2 import lambda_vpc
from localcloud.kms import fixes as kms_fixes
from localcloud.lambda_ import config_fixes
from localcloud.lambda_ import fixes as lambda_fixes
from localcloud.registry import Fix, fixes_of
from localcloud.s3 import policy as s3_policy
from localcloud.sts import sessions as sts_sessions
from localcloud.tagging import fixes as tagging_fixes

MODULES = (
    rest_api_fixes,
    config_fixes,
    log_retention,
    apigateway_fixes,
    cloudwatch_fixes,
    cognito_fixes,
    dynamodb_fixes,
    kms_fixes,
    lambda_fixes,
    logs_fixes,
    stage_logs_fixes,
    sts_sessions,
    lambda_vpc,
    s3_policy,
    tagging_fixes,
)

FIXES: list[Fix] = [fix for module in MODULES for fix in fixes_of(module.__name__)]

_LOCK = threading.Lock()


def apply() -> None:
    """Install every fix in ``FIXES``. Safe to call any number of times, from any thread."""
    with _LOCK:
        for fix in FIXES:
            fix.install()
