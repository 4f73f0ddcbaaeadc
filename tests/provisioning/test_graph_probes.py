"""The engine's graph settles an unused mode's resource by its probe at the start, off the critical
path (issue 23 item 5: a cold apply within 1.2x its critical path), and leaves one its probe found
present to its turn after its dependencies, as before (the function leaves the VPC before the
subnets go)."""

from __future__ import annotations

import threading

from provisioning import graph


def test_a_probe_settles_a_node_while_its_dependency_is_still_running() -> None:
    release = threading.Event()
    order: list[str] = []

    def work(key: str) -> str:
        if key == "slow":
            assert release.wait(10), "the probe never ran beside the slow node"
        order.append(f"work {key}")
        return key

    def probe(key: str) -> str | None:
        order.append(f"probe {key}")
        if key == "absent":
            release.set()  # runs while "slow", which it depends on, is still running
            return "settled"
        return None

    deps = {"slow": set(), "absent": {"slow"}, "present": {"slow"}}
    starts: list[str] = []
    results = graph.run(
        deps,
        work,
        workers=4,
        probe=probe,
        early={"absent", "present"},
        on_start=lambda k, _t: starts.append(k),
    )
    assert results["absent"].value == "settled" and results["absent"].status == "succeeded"
    # the one its probe did not settle ran its work after its dependency, timed from then
    assert order.index("work slow") < order.index("work present")
    assert results["present"].started >= results["slow"].started + results["slow"].seconds - 0.01
    assert sorted(starts) == ["absent", "present", "slow"]  # each announced once


def test_a_node_skipped_by_a_failed_dependency_stays_skipped_whatever_its_probe_found() -> None:
    def work(key: str) -> str:
        if key == "broken":
            raise RuntimeError("boom")
        return key

    results = graph.run({"broken": set(), "after": {"broken"}}, work, probe=lambda _k: None, early={"after"})
    assert results["broken"].status == "failed"
    assert results["after"].status == "skipped"


def test_the_hooks_know_every_service_the_engine_calls() -> None:
    """The benchmark makes the clients of `SERVICES` before timing (a worker keeps its clients) and
    the fault injector answers in each one's wire format: a service the engine calls that is not
    listed loaded its botocore model inside the measured cold apply (EC2's is the largest)."""
    import re
    from pathlib import Path

    from provisioning.hooks import SERVICES

    source = Path(graph.__file__).parent
    called = {
        name
        for path in source.rglob("*.py")
        for name in re.findall(r"client\(\"([a-z0-9-]+)\"\)", path.read_text())
    }
    assert called and called <= set(SERVICES), sorted(called - set(SERVICES))
