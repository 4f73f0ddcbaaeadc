"""``python -m localcloud``: run the local cloud in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

DESCRIPTION = """\
Run an embedded AWS on one port: moto's services (API Gateway, Lambda, DynamoDB, IAM, SQS, SNS,
CloudWatch, Logs, KMS, ...), an execute-api gateway that serves the stages of the REST APIs created
in it, and a Lambda runtime that runs each function's uploaded zip in worker processes.

CloudWatch alarms are evaluated on their periods, as on AWS; --alarm-time-scale (or the
environment variable LOCALCLOUD_ALARM_TIME_SCALE) shortens the wait for tests: 0.05 makes a 300 s
period last 15 s. The alarms themselves keep their periods. --session-time-scale (or
LOCALCLOUD_SESSION_TIME_SCALE) likewise shortens STS sessions: 0.01 makes a 900 s session last 9 s.

All state lives in memory in this process and is lost when it exits. Stop it with Ctrl-C (SIGINT)
or SIGTERM.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=4566, help="port to bind; 0 picks a free one (default: 4566)"
    )
    parser.add_argument("--region", default="us-east-1", help="region to advertise (default: us-east-1)")
    parser.add_argument("--log-level", default="INFO", help="log level of localcloud and of functions' logs")
    parser.add_argument(
        "--alarm-time-scale",
        type=_time_scale,
        default=None,
        metavar="SCALE",
        help="evaluate alarms SCALE times as often, on periods SCALE times as long (0 < SCALE <= 1; "
        "default: $LOCALCLOUD_ALARM_TIME_SCALE, else 1 = AWS's timing)",
    )
    parser.add_argument(
        "--quotas",
        choices=("aws", "off"),
        default=None,
        help="aws: answer API Gateway control-plane calls beyond AWS's published quotas with 429 "
        "TooManyRequestsException, per account and region (default: $LOCALCLOUD_QUOTAS, else off)",
    )
    parser.add_argument(
        "--quota-time-scale",
        type=float,
        default=None,
        metavar="SCALE",
        help="run the quota clock SCALE times faster (>= 1; default: $LOCALCLOUD_QUOTA_TIME_SCALE, else 1)",
    )
    parser.add_argument(
        "--session-time-scale",
        type=_session_time_scale,
        default=None,
        metavar="SCALE",
        help="STS sessions last SCALE times their DurationSeconds (0 < SCALE <= 1; "
        "default: $LOCALCLOUD_SESSION_TIME_SCALE, else 1 = AWS's timing)",
    )
    return parser


def _session_time_scale(text: str) -> float:
    from localcloud.sts.sessions import parse_time_scale

    try:
        return parse_time_scale(text, "--session-time-scale")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _time_scale(text: str) -> float:
    from localcloud.cloudwatch.alarms import parse_time_scale

    try:
        return parse_time_scale(text, "--alarm-time-scale")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _describe_quotas(cloud: object) -> str:
    quotas = getattr(cloud, "quotas", None)
    if quotas is None:
        return "off (API Gateway control-plane calls are never throttled)"
    return f"aws (API Gateway's control-plane quotas, clock x{quotas.time_scale:g})"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.alarm_time_scale is None:
        from localcloud.cloudwatch.alarms import time_scale_from_env

        try:
            args.alarm_time_scale = time_scale_from_env()
        except ValueError as exc:
            parser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from .server import LocalCloud

    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    try:
        cloud = LocalCloud(
            host=args.host,
            port=args.port,
            region=args.region,
            alarm_time_scale=args.alarm_time_scale,
            quotas=args.quotas,
            quota_time_scale=args.quota_time_scale,
            session_time_scale=args.session_time_scale,
        )
    except ValueError as exc:
        parser.error(str(exc))
    cloud.start()
    url = cloud.endpoint_url
    print(
        f"localcloud is running (state in memory, lost at exit)\n"
        f"  AWS endpoint URL: {url}\n"
        f"  stage URL:        {cloud.stage_url_template}/{{path}}\n"
        f"  invocations:      {url}/_localcloud/invocations\n"
        f"  notifications:    {url}/_localcloud/notifications\n"
        f"  alarm time scale: {cloud.alarm_time_scale:g} (1 = AWS's timing)\n"
        f"  quotas:           {_describe_quotas(cloud)}\n"
        f"  session scale:    {cloud.session_time_scale:g} (STS sessions; 1 = AWS's timing)\n"
        f"  region:           {cloud.region}\n"
        f"\n"
        f"Point clients at it:\n"
        f"  aws --endpoint-url {url} --region {cloud.region} apigateway get-rest-apis\n"
        f"  export AWS_ENDPOINT_URL={url} AWS_DEFAULT_REGION={cloud.region} "
        f"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing\n"
        f'  boto3.client("lambda", endpoint_url="{url}", region_name="{cloud.region}")\n'
        f"\n"
        f"Reset all state: curl -X POST {url}/moto-api/reset    Stop: Ctrl-C or SIGTERM",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("localcloud: shutting down", flush=True)
        cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
