"""Fixtures of the notification tests: a webhook receiver on 127.0.0.1 that records what reaches
it and answers with the codes a test scripts, and the portal's fixtures (scripted engine)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.portal.conftest import engine, make_env  # noqa: F401  (fixtures)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # codes to answer with, in turn; then 200


@pytest.fixture
def allow_local_receiver(settings: Any) -> None:
    """The receivers of these tests listen on 127.0.0.1, which webhooks may not reach unless the
    portal allows the host by name (ENVPORT_NOTIFY_ALLOWED_HOSTS, docs/notifications.md)."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("127.0.0.1", "localhost")


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks run in place when sent; a retry runs again at once (Celery's eager mode ignores the
    countdown), which it only does when eager errors are not propagated."""
    from portal.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(Received(self.path, dict(self.headers.items()), self.rfile.read(length)))
            code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/envport"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
