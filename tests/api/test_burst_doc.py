"""The burst of docs/operations.md ("A burst of traffic against the demo", issue 19's done-when), run
as written against an environment provisioned in the local cloud, and its counts read back from the
metrics API: API Gateway's requests and 4XX/5XX errors and the function's invocations are what the
document says the traffic page shows.

The block is run by bash with curl, exactly as an operator pastes it; only `URL` and `KEY` are given
beforehand (the document says setting them aims the script at another environment), since its
own lookups read the demo of `make up` at the local cloud's default port."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from portal.models import Environment
from portal.services import environments as environment_service
from portal.services import runs as run_service
from portal.services.base import Actor

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DOC = Path(django_settings.BASE_DIR) / "docs" / "operations.md"
METRICS = "/api/v1/environments/{}/metrics/"


def burst_block() -> str:
    text = DOC.read_text()
    start = text.index("## A burst of traffic against the demo")
    end = text.index("\n## ", start + 1)
    blocks = re.findall(r"^```sh\n(.*?)^```$", text[start:end], flags=re.M | re.S)
    assert len(blocks) == 1, "the section holds one script"
    return str(blocks[0])


def _documented_key_lookup(script: str, endpoint: str, key_id: str) -> str:
    """The script's own lookup of the API key (its `python -c` program), run against this test's
    local cloud instead of the one `make up` starts on port 4566."""
    program = re.search(r"python -c '([^']+)'", script)
    assert program and "http://127.0.0.1:4566" in program.group(1)
    code = program.group(1).replace("http://127.0.0.1:4566", endpoint)
    found = subprocess.run(
        [sys.executable, "-c", code, key_id], capture_output=True, text=True, timeout=60, check=False
    )
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


def documented_counts() -> dict[str, int]:
    """The counts the section's prose promises, as the test compares them."""
    text = DOC.read_text()
    section = text[text.index("## A burst of traffic against the demo") :]
    found = re.search(
        r"API Gateway requests (\d+), 4XX errors (\d+), 5XX errors (\d+), and Lambda invocations (\d+)",
        " ".join(section.split()),
    )
    assert found, "the section names the counts the page shows"
    requests, client, server, invocations = (int(g) for g in found.groups())
    return {"requests": requests, "4xx": client, "5xx": server, "invocations": invocations}


def totals(body: dict[str, Any]) -> dict[str, int]:
    def total(chart: str, label: str) -> int:
        found = next(c for c in body["charts"] if c["key"] == chart)
        return round(sum(next(s for s in found["series"] if s["label"] == label)["values"]))

    return {
        "requests": total("api_requests", "Requests"),
        "4xx": total("api_requests", "4XX errors"),
        "5xx": total("api_requests", "5XX errors"),
        "invocations": total("lambda_invocations", "Invocations"),
    }


def test_the_documented_burst_shows_on_the_traffic_view(local_target, token, api):
    assert shutil.which("curl") and shutil.which("bash"), "the document's script runs curl in bash"
    env = environment_service.create_environment(Actor.cli(), suffix="burst1", stage="dev")
    run = run_service.request_deployment(Actor.cli(), env, "provision", {"verify": False})
    run_service.run_deployment(run.pk)  # as a worker runs it
    env = Environment.objects.get(pk=env.pk)
    assert env.status == "ready", env.status
    outputs = env.outputs or {}
    key = local_target.client("apigateway").get_api_key(apiKey=outputs["api_key_id"], includeValue=True)
    script = burst_block()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={"PATH": "/usr/bin:/bin", "URL": outputs["api_endpoint"], "KEY": key["value"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _documented_key_lookup(script, local_target.endpoint_url, outputs["api_key_id"]) == key["value"]
    assert done.stdout.split() == ["201"] * 20 + ["404"] * 5 + ["403"] * 3  # what the document says

    expected = documented_counts()
    client = api(token("viewer", read_only=True))
    deadline = time.monotonic() + 30  # the invocations' metrics land when their workers report
    while True:
        answer = client.get(METRICS.format("burst1"), since="1h")
        assert answer.status_code == 200, answer.content
        seen = totals(answer.json())
        if seen == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
        cache.clear()  # the view is cached briefly; the next read asks CloudWatch again
    assert seen == expected
    assert answer.json()["aws_calls"]["total"] == 2
