"""The deployment page, live: its JSON endpoint while a run goes and after it ends, and the
timeline picture of a run whose steps ran in parallel."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.models import CheckResult, Deployment, Environment, Step
from portal.services import runs
from portal.services.base import Actor
from portal.svg import lanes, timeline
from provisioning.resources import resources_for
from provisioning.resources.base import Context

pytestmark = pytest.mark.django_db


def _live(client, dep):
    response = client.get(reverse("admin:portal_deployment_live", args=[dep.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.json()


def test_live_json_while_the_run_goes_and_after_it_ends(login, make_env, engine):
    # R-VER-4: each check shown with its outcome once the run has ended
    env = make_env("live1", "dev")
    dep = runs.request_deployment(Actor.cli(), env, "provision")
    client = login("viewer")
    queued = _live(client, dep)
    assert (queued["status"], queued["finished"], queued["steps"]) == ("queued", False, [])
    assert "waiting for a worker" in queued["message"]

    seen = []  # the endpoint's answer after each step, read from inside the run (as a browser would)
    runs.run_deployment(dep.pk, progress=lambda step: seen.append(_live(client, dep)))

    assert [s["status"] for s in seen] == ["running"] * 4
    assert [len(s["steps"]) for s in seen] == [1, 2, 3, 4]
    second = seen[1]
    assert second["finished"] is False
    # a step per resource the spec wants, and one for the other modes' resources found absent
    probe = Context(spec=env.spec(), aws=None)  # type: ignore[arg-type]  # `wanted` reads the spec only
    total = len([r for r in resources_for(env.spec()) if r.wanted(probe)]) + 1
    assert second["progress"]["done"] == 2 and second["progress"]["total"] == total
    assert second["steps"][1]["resource"] == "table" and second["steps"][1]["status"] == "succeeded"
    assert set(second["html"]) == {"ep-banner", "ep-steps", "ep-timeline"}  # results only at the end
    assert f"Running: 2 of {total} steps finished" in second["message"]
    assert second["html"]["ep-timeline"].startswith("<svg")
    assert second["checks"] == {"total": 0, "passed": 0}

    done = _live(client, dep)
    assert (done["status"], done["finished"], done["progress"]["percent"]) == ("succeeded", True, 100)
    assert done["checks"] == {"total": 3, "passed": 3}
    assert "This run has ended: succeeded." in done["html"]["ep-banner"]
    assert "Checks: 3 of 3 passed" in done["html"]["ep-results"]
    assert done["html"]["ep-results"].count('data-passed="true"') == 3
    assert done["elapsed_s"] >= 0


def test_a_failed_run_shows_its_error_with_a_hint(login, make_env, engine):
    engine.verify_fail = ["read item"]
    env = make_env("live2", "dev")
    dep = runs.run_deployment(runs.request_deployment(Actor.cli(), env, "provision").pk)
    page = login("viewer").get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    assert "verification failed: 1 of 3 checks: read item" in page
    assert "What to do:" in page and "a Verify run repeats the checks" in page
    assert 'data-passed="false"' in page and "FAIL" in page
    assert 'data-finished="true"' in page  # the script does not poll a finished run


def test_the_page_of_a_running_deployment_polls(login, make_env):
    env = make_env("live3", "dev")
    dep = runs.request_deployment(Actor.cli(), env, "verify")
    page = login("viewer").get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    assert 'data-finished="false"' in page
    assert f'data-live-url="{reverse("admin:portal_deployment_live", args=[dep.pk])}"' in page
    assert "portal/console.js" in page


def test_drift_findings_are_listed(login, make_env, engine):
    engine.diffs = {"function": [("MemorySize", 512, 256)]}
    env = make_env("live4", "dev", status="ready")
    dep = runs.run_deployment(runs.request_deployment(Actor.cli(), env, "drift").pk)
    html = _live(login("viewer"), dep)["html"]["ep-results"]
    assert "Drift findings: 1" in html and "MemorySize" in html
    assert "a Provision run" in html  # the hint


# --- the timeline picture ------------------------------------------------------------------
def _bars(svg: str) -> dict[str, dict[str, float]]:
    root = ET.fromstring(svg)
    out = {}
    for rect in root.iter("{http://www.w3.org/2000/svg}rect"):
        x, w = float(rect.get("x")), float(rect.get("width"))
        out[rect.get("data-resource")] = {
            "x0": x,
            "x1": x + w,
            "y": float(rect.get("y")),
            "lane": int(rect.get("data-lane")),
        }
    return out


def test_parallel_steps_overlap_in_time_on_separate_lanes(login):
    env = Environment.objects.create(suffix="tl1")
    now = timezone.now()
    dep = Deployment.objects.create(
        environment=env,
        kind="provision",
        status="succeeded",
        started_at=now,
        finished_at=now + dt.timedelta(seconds=3),
    )
    # resource: (started_offset_s, seconds)
    spans = {
        "kms_key": (0.0, 0.4),
        "dlq": (0.0, 0.3),
        "log_group": (0.05, 0.2),
        "table": (0.4, 1.3),
        "function": (0.45, 1.2),
        "dashboard": (1.8, 0.05),
    }
    Step.objects.bulk_create(
        Step(
            deployment=dep,
            position=i,
            resource=r,
            kind="k",
            action="create",
            status="succeeded",
            started_offset_s=s,
            seconds=d,
        )
        for i, (r, (s, d)) in enumerate(spans.items(), start=1)
    )
    CheckResult.objects.create(
        deployment=dep, name="create item", passed=True, http_status=201, latency_ms=12
    )
    svg = _live(login("viewer"), dep)["html"]["ep-timeline"]
    bars = _bars(svg)
    assert set(bars) == set(spans)
    # kms_key, dlq and log_group ran at once: their bars overlap in time and sit on three lanes.
    for a, b in (("kms_key", "dlq"), ("kms_key", "log_group"), ("table", "function")):
        assert bars[a]["x0"] < bars[b]["x1"] and bars[b]["x0"] < bars[a]["x1"], (a, b)
        assert bars[a]["y"] != bars[b]["y"], (a, b)
    assert len({bars[k]["y"] for k in ("kms_key", "dlq", "log_group")}) == 3
    # table starts when kms_key ends: the first lane is free again and reused; the axis is shared.
    assert bars["table"]["lane"] == 0 and bars["table"]["x0"] == pytest.approx(bars["kms_key"]["x1"], abs=0.2)
    assert bars["dashboard"]["x0"] > bars["table"]["x1"]
    # widths are proportional to durations
    ratio = (bars["table"]["x1"] - bars["table"]["x0"]) / (bars["kms_key"]["x1"] - bars["kms_key"]["x0"])
    assert ratio == pytest.approx(1.3 / 0.4, rel=0.02)
    assert 'aria-label="Timeline: 6 steps on 3 lanes' in svg
    page = login("viewer").get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    assert 'data-resource="function"' in page


def test_lanes_are_assigned_greedily():
    assert lanes([(0, 1), (0, 1), (1, 2), (0.5, 3), (2, 3)]) == [0, 1, 0, 2, 0]
    assert lanes([]) == []


def test_a_failed_step_says_so_in_words_not_only_colour():
    class S:
        resource, action, status, started_offset_s, seconds = "function", "error", "failed", 0.0, 1.0

    svg = str(timeline([S()]))
    assert "✖ function" in svg and "failed" in svg and "stroke-dasharray" in svg
    assert "No step has finished yet" in str(timeline([]))
