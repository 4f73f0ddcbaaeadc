"""LocalCloud: moto's AWS, an execute-api gateway and a Lambda runtime behind one port.

One threaded werkzeug server in a thread of this process. Requests are dispatched by path:

- ``/restapis/{api_id}/{stage}/_user_request_/...``  -> the execute-api gateway (``gateway.py``)
- ``POST /2015-03-31/functions/{name}/invocations``   -> Lambda Invoke run by our runtime (``lambda_api.py``)
- ``/_localcloud/...``                                -> our own endpoints (invocations, workers, reset)
- everything else                                     -> moto's server app (as ``moto_server`` builds it)

moto's state is process-global and lives in memory; it is lost when the process ends.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any
from urllib.parse import parse_qs

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
    ) -> None:
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
            from . import fidelity

            fidelity.apply()
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )

            from . import snapshots
            from .gateway import Gateway
            from .lambda_api import LambdaInvokeAPI
            from .runtime import Runtime

            snapshots.install()

            class _QuietHandler(MotoRequestHandler):
                def log_request(self, code: Any = "-", size: Any = "-") -> None:
                    logger.debug("%s %s -> %s", self.command, self.path, code)

            app = _Dispatcher(self, DomainDispatcherApplication(create_backend_app))
            server = make_server(self.host, self.port, app, threaded=True, request_handler=_QuietHandler)
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


class _Dispatcher:
    def __init__(self, cloud: LocalCloud, moto_app: Any) -> None:
        self.cloud = cloud
        self.moto_app = moto_app
        self.gateway: Any = None
        self.lambda_api: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = _path(environ)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path.startswith("/restapis/") and "/_user_request_" in path:
            from .gateway import STAGE_PATH

            if STAGE_PATH.match(path):
                return self.gateway(environ, start_response)
        if path.startswith(ADMIN_PREFIX):
            return self._admin(environ, path, method)(environ, start_response)
        if method == "POST" and path.rstrip("/") == "/moto-api/reset":
            self.cloud._stop_workers()
        if method == "POST" and path.startswith("/2015-03-31/functions/") and "/invocations" in path:
            response = self.lambda_api.handle(environ)
            if response is not None:
                return response(environ, start_response)
        return self.moto_app(environ, start_response)

    def _admin(self, environ: dict[str, Any], path: str, method: str) -> Response:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        name = path[len(ADMIN_PREFIX) :].strip("/")
        if name == "invocations" and method == "GET":
            limit = int(query["limit"][0]) if "limit" in query else None
            function = query.get("function", [None])[0]
            return _json({"invocations": self.cloud.invocations(function, limit)})
        if name == "invocations" and method == "DELETE":
            self.cloud.clear_invocations()
            return _json({"status": "ok"})
        if name == "workers" and method == "GET":
            return _json({"workers": self.cloud.workers()})
        if name == "reset" and method == "POST":
            self.cloud.reset()
            return _json({"status": "ok"})
        if name == "health" and method == "GET":
            return _json(
                {
                    "status": "ok",
                    "endpoint_url": self.cloud.endpoint_url,
                    "stage_url_template": self.cloud.stage_url_template,
                    "region": self.cloud.region,
                }
            )
        return _json({"message": f"no such localcloud endpoint: {method} {path}"}, 404)


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
