"""localcloud: an embedded AWS for offline use and tests (moto + an execute-api gateway + a Lambda
runtime, one process, one port). Imports only the standard library, moto, werkzeug and boto3.

    from localcloud import LocalCloud

    with LocalCloud(port=0) as cloud:
        cloud.endpoint_url         # "http://127.0.0.1:PORT": point boto3 / aws --endpoint-url here
        cloud.stage_url_template   # ".../restapis/{api_id}/{stage}/_user_request_"
        cloud.invocations()        # the last Lambda invocation records (also GET /_localcloud/invocations)

An invocation record is a dict:

    request_id, function_name, function_arn (as invoked), version, code_sha256,
    source ("apigateway" | "invoke" | "invoke-event" | "direct"),
    status ("ok" | "error" | "timeout" | "crash" | "throttled"), error_type (e.g. "Runtime.ExitError"),
    cold (bool), init_ms (cold starts only), duration_ms (the handler's run), total_ms (wall clock in
    the runtime, including spawn and init on a cold start), max_memory_mb, memory_size, worker_pid,
    started_at (epoch seconds), log (the last log lines of the invocation)

CloudWatch is real enough for alarms to fire offline: the gateway and the runtime put AWS's
``AWS/ApiGateway`` and ``AWS/Lambda`` metrics (``cloudwatch/metrics.py``), EMF log lines become metrics, and
DynamoDB's consumed capacity, latency and error metrics are put after each request to its DynamoDB
(``dynamodb/metrics.py``), a stage's access log is written to its log group and its detailed metrics
put when enabled (``apigateway/stage_observer.py``), FilterLogEvents applies CloudWatch's filter pattern
syntax (``cloudwatch/logs_filter.py``), and
a background thread evaluates every alarm and publishes its SNS notifications (``cloudwatch/alarms.py``):

        cloud.notifications()      # alarm notifications sent (also GET /_localcloud/notifications)
        cloud.evaluate_alarms()    # evaluate every alarm now rather than at its next turn

Alarm time scale: ``LocalCloud(alarm_time_scale=0.05)``, ``python -m localcloud --alarm-time-scale
0.05`` or ``LOCALCLOUD_ALARM_TIME_SCALE=0.05`` evaluate alarms 20 times as often on periods 20 times
as short, so that tests of 60 s metrics take seconds. Default 1: AWS's timing. The alarms keep their
configured periods; only the local cloud's waiting changes.

STS sessions expire after their DurationSeconds, and AssumeRole checks the role's trust policy
(``sts/sessions.py``); ``LocalCloud(session_time_scale=0.01)``, ``--session-time-scale`` or
``LOCALCLOUD_SESSION_TIME_SCALE`` make a 900 s session last 9 s.

State lives in memory in this process and is lost when it ends.
"""

from .server import LocalCloud

__all__ = ["LocalCloud"]
