"""LocalCloud: moto's AWS, an execute-api gateway and a Lambda runtime behind one port.

One threaded werkzeug server in a thread of this process. Requests are dispatched by path:

- ``/restapis/{api_id}/{stage}/_user_request_/...``  -> the execute-api gateway (``apigateway/gateway.py``)
- ``POST /2015-03-31/functions/{name}/invocations``   -> Lambda Invoke run by our runtime (``lambda_/api.py``)
- ``/_localcloud/...``                                -> our own endpoints (invocations, notifications,
                                                        workers, reset)
- everything else                                     -> moto's server app (as ``moto_server`` builds it),
                                                        after ``iam_enforcement.authorize`` for calls
                                                        a function makes with its role's credentials

Every answer the local cloud makes itself is JSON (``{"message": ...}`` for errors): the request
handler's own errors (``handler.py``), the admin endpoints, werkzeug's error pages of moto's Flask
apps (an unknown URL) and any exception that escapes an app (500). moto's AWS responses keep their
AWS protocol formats (XML, JSON) untouched.

moto's state is process-global and lives in memory; it is lost when the process ends. So is the
alarm evaluator (``cloudwatch/alarms.py``): one thread per process, started by the first running
LocalCloud and stopped with the last, evaluating every alarm on its period (``alarm_time_scale``
shortens the wait).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Response

logger = logging.getLogger("localcloud")

ADMIN_PREFIX = "/_localcloud/"


class LocalCloud:
    """An embedded AWS for offline use and tests.

    >>> with LocalCloud(port=0) as cloud:
    ...     boto3.client("lambda", endpoint_url=cloud.endpoint_url, region_name=cloud.region)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        region: str = "us-east-1",
        *,
        max_concurrency: int = 10,
        max_records: int = 1000,
        idle_timeout_s: float = 900.0,
        work_dir: str | None = None,
        alarm_time_scale: float | None = None,
        quotas: str | None = None,
        quota_time_scale: float | None = None,
        session_time_scale: float | None = None,
    ) -> None:
        """`quotas`: "aws" enforces API Gateway's control-plane quotas
        (``apigateway/control_plane_limits.py``), None reads LOCALCLOUD_QUOTAS (off by default);
        `quota_time_scale` (LOCALCLOUD_QUOTA_TIME_SCALE) runs their clock faster.
        `session_time_scale` (LOCALCLOUD_SESSION_TIME_SCALE) shortens STS sessions
        (``sts/sessions.py``; 0.01: a 900 s session lasts 9 s)."""
        from localcloud.apigateway import control_plane_limits as quota_model
        from localcloud.cloudwatch import alarms

        env_mode, env_scale = quota_model.from_env()
        mode = env_mode if quotas is None else quota_model.parse_mode(quotas)
        scale = env_scale if quota_time_scale is None else quota_model.parse_time_scale(quota_time_scale)
        self.quotas = quota_model.ControlPlaneQuotas(scale) if mode == "aws" else None

        # 1 = AWS's timing; LOCALCLOUD_ALARM_TIME_SCALE when not given (see alarms.py).
        self._alarm_time_scale = (
            alarms.time_scale_from_env()
            if alarm_time_scale is None
            else alarms.parse_time_scale(alarm_time_scale, "alarm_time_scale")
        )
        self._alarms: Any = None
        from localcloud.sts import sessions as fidelity_sts

        if session_time_scale is not None:  # process-wide, as moto's sessions are
            fidelity_sts.set_session_time_scale(session_time_scale)
        else:
            fidelity_sts.session_time_scale()  # a bad LOCALCLOUD_SESSION_TIME_SCALE fails here, not later
        self.host = host
        self.port = port
        self.region = region
        self.max_concurrency = max_concurrency
        self.max_records = max_records
        self.idle_timeout_s = idle_timeout_s
        self.work_dir = work_dir
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._runtime: Any = None
        self._gateway: Any = None
        self._lock = threading.Lock()

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        with self._lock:
            if self._server is not None:
                return self
            # Fidelity fixes first (moto 5.2.5 gaps), then our deployment snapshots wrap whatever
            # create_deployment is installed.
            from localcloud.fidelity import apply as apply_fidelity

            apply_fidelity()
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication

            from localcloud.apigateway import snapshots
            from localcloud.apigateway.gateway import Gateway
            from localcloud.lambda_.api import LambdaInvokeAPI
            from localcloud.lambda_.runtime import Runtime

            from .handler import LocalCloudRequestHandler

            snapshots.install()

            app = _Dispatcher(self, DomainDispatcherApplication(_backend_app))
            server = make_server(
                self.host, self.port, app, threaded=True, request_handler=LocalCloudRequestHandler
            )
            self.port = server.server_address[1]
            self._runtime = Runtime(
                self.endpoint_url,
                self.work_dir,
                max_records=self.max_records,
                max_concurrency=self.max_concurrency,
                idle_timeout_s=self.idle_timeout_s,
            )
            self._gateway = Gateway(self._runtime)
            app.gateway = self._gateway
            app.lambda_api = LambdaInvokeAPI(self._runtime, self.region)
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, name="localcloud", daemon=True)
            self._thread.start()
            from localcloud.cloudwatch import alarms

            self._alarms = alarms.acquire(self._alarm_time_scale)
            logger.info("localcloud listening on %s", self.endpoint_url)
            return self

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            if server is None:
                return
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
                self._thread = None
            if self._runtime is not None:
                self._runtime.shutdown()
            if self._alarms is not None:
                from localcloud.cloudwatch import alarms

                alarms.release()
                self._alarms = None
            logger.info("localcloud stopped")

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- addresses ------------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def stage_url_template(self) -> str:
        return self.endpoint_url + "/restapis/{api_id}/{stage}/_user_request_"

    def stage_url(self, api_id: str, stage: str, path: str = "/") -> str:
        return self.stage_url_template.format(api_id=api_id, stage=stage) + "/" + path.lstrip("/")

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client pointed at this cloud (dummy credentials unless given)."""
        import boto3

        kwargs.setdefault("endpoint_url", self.endpoint_url)
        kwargs.setdefault("region_name", self.region)
        kwargs.setdefault("aws_access_key_id", "testing")
        kwargs.setdefault("aws_secret_access_key", "testing")
        return boto3.client(service, **kwargs)

    # -- state ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: moto's state (as POST /moto-api/reset), workers, throttling buckets.
        Invocation records are kept (clear them with clear_invocations)."""
        from moto.moto_api._internal.models import moto_api_backend

        self._stop_workers()
        moto_api_backend.reset()

    def _stop_workers(self) -> None:
        if self.quotas is not None:
            self.quotas.reset()
        if self._runtime is not None:
            self._runtime.stop_all()
        if self._gateway is not None:
            self._gateway.reset()

    def invocations(self, function_name: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The last invocation records, oldest first. See README in ``localcloud/__init__.py``."""
        return self._runtime.invocations(function_name, limit) if self._runtime is not None else []

    def clear_invocations(self) -> None:
        if self._runtime is not None:
            self._runtime.clear_invocations()

    def workers(self) -> list[dict[str, Any]]:
        return self._runtime.workers() if self._runtime is not None else []

    # -- alarms -----------------------------------------------------------------------------------
    @property
    def alarm_time_scale(self) -> float:
        """How much faster than AWS alarms are evaluated (1 = AWS's timing); see ``cloudwatch/alarms.py``."""
        return float(self._alarms.time_scale) if self._alarms is not None else self._alarm_time_scale

    @alarm_time_scale.setter
    def alarm_time_scale(self, value: float) -> None:
        from localcloud.cloudwatch import alarms

        self._alarm_time_scale = alarms.parse_time_scale(value, "alarm_time_scale")
        if self._alarms is not None:
            self._alarms.time_scale = self._alarm_time_scale  # the process's evaluator

    # -- STS sessions -----------------------------------------------------------------------------
    @property
    def session_time_scale(self) -> float:
        """How much shorter than asked STS sessions last (1 = AWS's timing); see ``sts/sessions.py``."""
        from localcloud.sts import sessions as fidelity_sts

        return fidelity_sts.session_time_scale()

    @session_time_scale.setter
    def session_time_scale(self, value: float) -> None:
        from localcloud.sts import sessions as fidelity_sts

        fidelity_sts.set_session_time_scale(value)

    def evaluate_alarms(self) -> int:
        """Evaluate every alarm now instead of at its next turn; returns how many changed state."""
        return int(self._alarms.evaluate_now()) if self._alarms is not None else 0

    def notifications(self, alarm_name: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The alarm notifications sent to SNS topics, oldest first (also GET /_localcloud/notifications)."""
        from localcloud.cloudwatch import alarms

        return alarms.notifications(alarm_name, limit)

    def clear_notifications(self) -> None:
        from localcloud.cloudwatch import alarms

        alarms.clear_notifications()


class BadAdminInput(ValueError):
    """A query parameter of an admin endpoint that is not what the endpoint allows (answered 400)."""


AdminHandler = Callable[[dict[str, list[str]]], Response]


class _Dispatcher:
    def __init__(self, cloud: LocalCloud, moto_app: Any) -> None:
        self.cloud = cloud
        self.moto_app = moto_app
        self.gateway: Any = None
        self.lambda_api: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Route the request; an exception that escapes any app is a JSON 500, not werkzeug's page."""
        try:
            return self._route(environ, start_response)
        except ConnectionError:
            raise  # the client went away: werkzeug's connection_dropped logs it in one line
        except Exception as exc:
            response = _unexpected(exc, environ.get("REQUEST_METHOD", ""), _path(environ))
            return response(environ, _restarting(start_response, sys.exc_info()))

    def _route(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = _path(environ)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path.startswith("/restapis/") and "/_user_request_" in path:
            from localcloud.apigateway.routing import STAGE_PATH

            if STAGE_PATH.match(path):
                from localcloud.apigateway.stage_observer import observe  # access logs, detailed metrics

                return observe(self.gateway, environ, start_response)
        if path.startswith(ADMIN_PREFIX):
            return self._admin(environ, path, method)(environ, start_response)
        from localcloud.sts.sessions import check_session

        refused = check_session(environ)  # a role session's token: present, and not expired
        if refused is not None:
            return refused(environ, start_response)
        if method == "POST" and path.rstrip("/") == "/moto-api/reset":
            self.cloud._stop_workers()
        if method == "POST" and path.startswith("/2015-03-31/functions/") and "/invocations" in path:
            response = self.lambda_api.handle(environ)
            if response is not None:
                return response(environ, start_response)
        if self.cloud.quotas is not None:  # API Gateway's control-plane quotas (--quotas aws)
            throttled = self.cloud.quotas.check(environ, path, method)
            if throttled is not None:
                return throttled(environ, start_response)
        from localcloud.iam.enforcement import authorize

        denied = authorize(environ)  # a function's call, against its role's policies
        if denied is not None:
            return denied(environ, start_response)
        from localcloud.dynamodb import metrics as dynamodb_metrics

        if dynamodb_metrics.is_dynamodb(environ):  # AWS/DynamoDB metrics after moto answered
            return dynamodb_metrics.observe(self.moto_app, environ, start_response, self.cloud.region)
        return self.moto_app(environ, start_response)

    # -- /_localcloud/ ----------------------------------------------------------------------------
    def _admin(self, environ: dict[str, Any], path: str, method: str) -> Response:
        name = path[len(ADMIN_PREFIX) :].strip("/")
        routes = self._admin_routes()
        methods = routes.get(name)
        if methods is None:
            known = ", ".join(ADMIN_PREFIX + n for n in sorted(routes))
            return _json({"message": f"no such localcloud endpoint: {path} (there are {known})"}, 404)
        handler = methods.get(method)
        if handler is None:
            allowed = ", ".join(sorted(methods))
            response = _json({"message": f"{method} is not allowed on {path}; allowed: {allowed}"}, 405)
            response.headers["Allow"] = allowed
            return response
        try:
            return handler(parse_qs(environ.get("QUERY_STRING", "")))
        except BadAdminInput as exc:
            return _json({"message": str(exc)}, 400)

    def _admin_routes(self) -> dict[str, dict[str, AdminHandler]]:
        return {
            "invocations": {"GET": self._get_invocations, "DELETE": _done(self.cloud.clear_invocations)},
            "notifications": {
                "GET": self._get_notifications,
                "DELETE": _done(self.cloud.clear_notifications),
            },
            "workers": {"GET": lambda _query: _json({"workers": self.cloud.workers()})},
            "reset": {"POST": _done(self.cloud.reset)},
            "health": {"GET": self._health},
            "quotas": {"GET": self._get_quotas, "DELETE": _done(self._reset_quotas)},
        }

    def _get_quotas(self, query: dict[str, list[str]]) -> Response:
        """The control-plane calls the quotas saw (time, account, operation, admitted)."""
        quotas = self.cloud.quotas
        if quotas is None:
            return _json({"enforced": False, "calls": [], "throttled": 0})
        calls = quotas.calls()
        since = query.get("since", [None])[-1]
        if since is not None:
            try:
                after = float(since)
            except ValueError:
                raise BadAdminInput(f"since: a Unix time in seconds (got {since[:40]!r})") from None
            calls = [c for c in calls if c.at >= after]
        return _json(
            {
                "enforced": True,
                "time_scale": quotas.time_scale,
                "throttled": sum(1 for c in calls if not c.admitted),
                "calls": [c.to_dict() for c in calls],
            }
        )

    def _reset_quotas(self) -> None:
        if self.cloud.quotas is not None:
            self.cloud.quotas.reset()

    def _get_invocations(self, query: dict[str, list[str]]) -> Response:
        limit = _limit(query, self.cloud.max_records)
        function = query.get("function", [None])[0]
        return _json({"invocations": self.cloud.invocations(function, limit)})

    def _get_notifications(self, query: dict[str, list[str]]) -> Response:
        from localcloud.cloudwatch.alarms import MAX_NOTIFICATIONS

        limit = _limit(query, MAX_NOTIFICATIONS)
        alarm = query.get("alarm", [None])[0]
        return _json({"notifications": self.cloud.notifications(alarm, limit)})

    def _health(self, _query: dict[str, list[str]]) -> Response:
        return _json(
            {
                "status": "ok",
                "endpoint_url": self.cloud.endpoint_url,
                "stage_url_template": self.cloud.stage_url_template,
                "region": self.cloud.region,
                "alarm_time_scale": self.cloud.alarm_time_scale,
                "quotas": "aws" if self.cloud.quotas is not None else "off",
                "quota_time_scale": self.cloud.quotas.time_scale if self.cloud.quotas is not None else 1,
                "session_time_scale": self.cloud.session_time_scale,
            }
        )


def _done(action: Callable[[], object]) -> AdminHandler:
    """The handler of an endpoint that does ``action`` and answers ``{"status": "ok"}``."""

    def handler(_query: dict[str, list[str]]) -> Response:
        action()
        return _json({"status": "ok"})

    return handler


def _limit(query: dict[str, list[str]], most: int) -> int | None:
    """``limit``: absent (every record kept), or a positive integer up to the records kept."""
    if "limit" not in query:
        return None
    text = query["limit"][-1].strip()
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(most))
    if not digits or not 1 <= int(text) <= most:
        raise BadAdminInput(f"limit: a positive integer up to {most} (got {text[:40]!r})")
    return int(text)


def _backend_app(service: Any) -> Any:
    """moto's Flask app for a service, with werkzeug's HTML error pages (an unknown URL, a method the
    route does not take, an unreadable body) answered as JSON instead. moto's AWS errors are its own
    HTTPException subclasses and keep their AWS protocol format."""
    from moto.moto_server.werkzeug_app import create_backend_app

    app = create_backend_app(service)
    app.register_error_handler(HTTPException, _werkzeug_error_as_json)
    return app


def _werkzeug_error_as_json(error: HTTPException) -> Any:
    if type(error).__module__ != "werkzeug.exceptions":
        return error  # moto's own exception, or a routing redirect: as Flask would answer it
    response = _json({"message": f"{error.name}: {error.description}"}, error.code or 500)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # Allow on a 405
    return response


def _unexpected(exc: Exception, method: str, path: str) -> Response:
    """The answer to an exception that escaped an app. A moto NotImplementedError is a known gap of
    moto, not a bug here: 501 and one line. Anything else is a bug: 500, logged with its traceback."""
    if isinstance(exc, NotImplementedError):
        logger.warning("moto does not implement %s %s: %s", method, path, exc)
        return _json({"message": f"Not implemented by the local cloud (moto): {exc}"}, 501)
    logger.exception("unexpected error on %s %s", method, path)
    return _json({"message": f"Internal server error: {type(exc).__name__}: {exc}"}, 500)


def _restarting(start_response: Any, exc_info: Any) -> Any:
    """``start_response`` that may replace headers an app set before raising (PEP 3333 exc_info)."""

    def start(status: str, headers: list[tuple[str, str]], _exc_info: Any = None) -> Any:
        return start_response(status, headers, exc_info)

    return start


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, default=str), status=status, content_type="application/json")


def _path(environ: dict[str, Any]) -> str:
    path = environ.get("PATH_INFO", "") or "/"
    if isinstance(path, bytes):  # pragma: no cover
        return path.decode("utf-8", "replace")
    try:
        return path.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return path
