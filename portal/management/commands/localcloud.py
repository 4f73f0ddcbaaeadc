"""manage.py localcloud [--port N]: run the local cloud (moto in server mode) until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand


def default_port() -> int:
    endpoint = settings.ENVPORT_AWS_ENDPOINT_URL or "http://127.0.0.1:4566"
    return urlsplit(endpoint).port or 4566


class Command(BaseCommand):
    help = "Run the local cloud that the default (local) target provisions into; stop with Ctrl-C."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--port", type=int, default=None, help="default: the port of AWS_ENDPOINT_URL (4566)"
        )
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args: Any, **opts: Any) -> None:
        from localcloud import LocalCloud

        port = opts["port"] if opts["port"] is not None else default_port()
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        cloud = LocalCloud(host=opts["host"], port=port)
        try:
            cloud.start()
            self.stdout.write(f"local cloud at {cloud.endpoint_url}")
            self.stdout.write(f"  AWS_ENDPOINT_URL={cloud.endpoint_url}")
            self.stdout.write(f"  ENVPORT_EXECUTE_API_URL={cloud.stage_url_template}")
            self.stdout.write("Ctrl-C (or SIGTERM) stops it.")
            self.stdout.flush()
            while not stop.wait(0.5):
                pass
        finally:
            cloud.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("local cloud stopped")
