"""``python -m localcloud``: help text, start-up banner, clean shutdown on SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from localcloud_helpers import http

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.mark.slow
def test_help_says_state_is_in_memory():
    done = subprocess.run(
        [sys.executable, "-m", "localcloud", "--help"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "state lives in memory" in text
    assert "lost when it exits" in text
    for option in ("--host", "--port", "--region"):
        assert option in text


@pytest.mark.slow
def test_cli_serves_and_stops_cleanly_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "--port", "0", "--log-level", "WARNING"],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 30
        seen = []
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, "".join(seen)
                continue
            seen.append(line)
            found = re.search(r"AWS endpoint URL:\s+(http://\S+)", line)
            if found:
                url = found.group(1)
        assert url, "".join(seen)

        assert http(f"{url}/_localcloud/health").json()["status"] == "ok"
        client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1")
        assert client.list_functions()["Functions"] == []

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    output = "".join(seen + rest)
    assert "stage URL:" in output
    assert "/restapis/{api_id}/{stage}/_user_request_" in output
    assert "--endpoint-url" in output
    assert "shutting down" in output
