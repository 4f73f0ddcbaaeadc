"""Run one function per resource in dependency order, independent resources in parallel.

A node starts as soon as every node it depends on has succeeded; a failed node fails its
dependents (they are reported as skipped) while unrelated branches carry on, so one broken
alarm never stops the table from being made. An exception raised by the event callback aborts
the whole run: that is how a caller (or a test) stops a run between two steps, as a crash would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any


class CycleError(ValueError):
    pass


@dataclass
class NodeRun:
    key: str
    status: str  # succeeded / failed / skipped
    started: float  # seconds since the run started
    seconds: float
    value: Any = None
    error: BaseException | None = None


def topological(deps: Mapping[str, set[str]]) -> list[str]:
    """Keys in an order where each comes after what it depends on; stable for equal ranks."""
    order: list[str] = []
    done: set[str] = set()
    pending = dict(deps)
    while pending:
        ready = [k for k, d in pending.items() if d <= done]
        if not ready:
            raise CycleError(f"dependency cycle among {sorted(pending)}")
        for key in ready:
            order.append(key)
            done.add(key)
            del pending[key]
    return order


def reverse(deps: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The dependents of each node: the order in which things are torn down."""
    out: dict[str, set[str]] = {k: set() for k in deps}
    for key, needs in deps.items():
        for need in needs:
            out[need].add(key)
    return out


def longest_path(deps: Mapping[str, set[str]], weight: Mapping[str, float]) -> tuple[float, list[str]]:
    """The heaviest chain of nodes that must run one after another (the critical path)."""
    best: dict[str, tuple[float, list[str]]] = {}
    for key in topological(deps):
        before = max((best[d] for d in deps[key]), key=lambda item: item[0], default=(0.0, []))
        best[key] = (before[0] + weight.get(key, 0.0), [*before[1], key])
    return max(best.values(), key=lambda item: item[0], default=(0.0, []))


def run(
    deps: Mapping[str, set[str]],
    work: Callable[[str], Any],
    *,
    workers: int = 8,
    on_start: Callable[[str, float], None] | None = None,
    on_finish: Callable[[NodeRun], None] | None = None,
    probe: Callable[[str], Any] | None = None,
    early: Collection[str] = (),
) -> dict[str, NodeRun]:
    """Run `work(key)` for every node once its dependencies succeeded; return every node's run.

    `early` nodes start at once with `probe(key)`, whatever they depend on: a value that is not
    None is the node's result (a resource of an unused mode found absent has nothing to wait for),
    None leaves the node to `work` once its dependencies succeeded (one that must be deleted after
    its former dependents let go of it). Nothing waits on a probe but its own node."""
    topological(deps)  # refuse a cycle before doing anything
    t0 = time.monotonic()
    # Only this thread reads or writes `results` and `futures`; the pool's threads run `work` alone.
    results: dict[str, NodeRun] = {}
    futures: dict[Future[Any], tuple[str, float]] = {}
    dependents = reverse(deps)
    probing: set[str] = set(early) if probe is not None else set()
    first_start: dict[str, float] = {}

    def skip_dependents(failed: str) -> list[NodeRun]:
        skipped = []
        stack = [failed]
        while stack:
            for child in dependents[stack.pop()]:
                if child not in results:
                    now = time.monotonic() - t0
                    run_ = NodeRun(child, "skipped", now, 0.0, error=None)
                    results[child] = run_
                    skipped.append(run_)
                    stack.append(child)
        return skipped

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="envport") as pool:

        def start(key: str, fn: Callable[[str], Any]) -> None:
            """Announced once (a probe's start, if it had one); a node that its probe did not settle
            is timed from its work's start, when its dependencies let it run."""
            now = time.monotonic() - t0
            if key not in first_start:
                first_start[key] = now
                if on_start is not None:
                    on_start(key, now)
            futures[pool.submit(fn, key)] = (key, now)

        def submit_ready() -> None:
            running = {key for key, _ in futures.values()}
            for key, needs in deps.items():
                if key in results or key in running or key in probing:
                    continue
                if all(results.get(n) is not None and results[n].status == "succeeded" for n in needs):
                    start(key, work)
                    running.add(key)

        try:
            for key in sorted(probing):
                assert probe is not None
                start(key, probe)
            submit_ready()
            while futures:
                done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for future in done:
                    key, started = futures.pop(future)
                    seconds = time.monotonic() - t0 - started
                    error = future.exception()
                    if key in probing:
                        probing.discard(key)
                        if key in results or (error is None and future.result() is None):
                            continue  # skipped meanwhile, or not settled: it waits for its dependencies
                    if error is None:
                        node = NodeRun(key, "succeeded", started, seconds, value=future.result())
                    else:
                        node = NodeRun(key, "failed", started, seconds, error=error)
                    results[key] = node
                    skipped = skip_dependents(key) if error is not None else []
                    if on_finish is not None:
                        on_finish(node)
                        for run_ in skipped:
                            on_finish(run_)
                submit_ready()
        except BaseException:
            # Stop between steps: let the ones in flight finish (threads cannot be killed), start no more.
            for future in futures:
                future.cancel()
            raise
    return results
