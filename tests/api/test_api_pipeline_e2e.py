"""The preview-environment pipeline of docs/pipelines.md, once, through the API against the local
cloud: open (create + provision), release on push (upload a zip, release it), verify, and close
(teardown + delete). Each run is requested as the pipeline requests it and then run as a worker
would run it; the pipeline's `?wait=` sees it finished."""

from __future__ import annotations

import io
import shutil

import pytest

from portal.models import AuditEvent
from portal.services import runs as run_service
from provisioning.artifacts import DEFAULT_ROOT, build_artifact

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_preview_pipeline_through_the_api(local_target, token, api, dispatched, tmp_path, settings):
    settings.ENVPORT_RELEASE_POLL_SECONDS = 0.5
    # the token docs/pipelines.md makes: dev previews only
    ci = api(token("operator", stages=["dev"], environments=["pr[0-9]*"], name="github-actions"))

    def run(kind: str, key: str, **options) -> dict:
        """POST a run with an Idempotency-Key, let a worker run it, and read it with ?wait=."""
        answer = ci.post(
            "/api/v1/environments/pr4966/runs/", {"kind": kind, **options}, {"Idempotency-Key": key}
        )
        assert answer.status_code == 202, answer.content
        for dep in list(dispatched):
            run_service.run_deployment(dep.pk)
        dispatched.clear()
        retried = ci.post(
            "/api/v1/environments/pr4966/runs/", {"kind": kind, **options}, {"Idempotency-Key": key}
        )
        assert retried.json()["id"] == answer.json()["id"] and dispatched == []  # a retried step: no new run
        done = ci.get(answer["Location"], wait=5).json()
        assert done["finished"] is True
        return done

    # pull request opened
    created = ci.post("/api/v1/environments/", {"name": "pr4966", "stage": "dev", "owner": "pr-4966"})
    assert created.status_code == 201, created.content
    opened = run("provision", "pr4966-open")
    assert opened["status"] == "succeeded", opened["error"]
    assert opened["checks"] and all(c["passed"] for c in opened["checks"])
    assert ci.get("/api/v1/environments/pr4966/").json()["outputs"]["api_endpoint"]

    # push: a new build
    bundle = tmp_path / "build" / "lambda_bundle"
    shutil.copytree(DEFAULT_ROOT, bundle, ignore=shutil.ignore_patterns("__pycache__"))
    (bundle / "handler.py").write_text((bundle / "handler.py").read_text() + "\n# commit 9f1c2e\n")
    built = build_artifact(bundle)
    uploaded = ci.upload("/api/v1/artifacts/", {"zip": io.BytesIO(built.data), "handler": built.handler})
    assert uploaded.status_code == 201, uploaded.content
    sha = uploaded.json()["sha256"]
    assert sha == built.sha256
    released = run("release", f"pr4966-push-{sha[:12]}", artifact=sha)
    assert (released["status"], released["result"]) == ("succeeded", "promoted"), released
    assert released["artifact"]["sha256"] == sha

    verified = run("verify", "pr4966-verify-1")
    assert verified["status"] == "succeeded" and all(c["passed"] for c in verified["checks"])

    # pull request closed
    closed = run("teardown", "pr4966-close", backup=False)
    assert closed["status"] == "succeeded", closed["error"]
    assert ci.delete("/api/v1/environments/pr4966/").status_code == 403  # records are an admin's to delete
    assert api(token("admin")).delete("/api/v1/environments/pr4966/").status_code == 204
    trail = api(token("admin")).get("/api/v1/audit/", environment="pr4966", limit=100).json()["results"]
    assert {e["action"] for e in trail} >= {
        "environment.created",
        "deployment.requested.provision",
        "deployment.requested.release",
        "deployment.requested.teardown",
        "environment.deleted",
    }
    assert {e["source"] for e in trail if e["action"] != "artifact.registered"} == {"api"}
    assert AuditEvent.objects.filter(action="artifact.registered", source="api").exists()
