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

State lives in memory in this process and is lost when it ends.
"""

from .server import LocalCloud

__all__ = ["LocalCloud"]
