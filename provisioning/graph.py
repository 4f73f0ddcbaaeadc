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
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="envport") as pool:
        state = _Run(deps, pool, on_start, on_finish, set(early) if probe is not None else set())
        try:
            for key in sorted(state.probing):
                assert probe is not None
                state.start(key, probe)
            state.submit_ready(work)
            while state.futures:
                done, _ = wait(list(state.futures), return_when=FIRST_COMPLETED)
                for future in done:
                    state.finished(future)
                state.submit_ready(work)
        except BaseException:
            # Stop between steps: let the ones in flight finish (threads cannot be killed), start no more.
            for future in state.futures:
                future.cancel()
            raise
    return state.results


class _Run:
    """One run's bookkeeping. Only the calling thread reads or writes it; the pool's threads run
    `work` (or a probe) alone."""

    def __init__(
        self,
        deps: Mapping[str, set[str]],
        pool: ThreadPoolExecutor,
        on_start: Callable[[str, float], None] | None,
        on_finish: Callable[[NodeRun], None] | None,
        probing: set[str],
    ) -> None:
        self.deps, self.pool, self.on_start, self.on_finish = deps, pool, on_start, on_finish
        self.t0 = time.monotonic()
        self.results: dict[str, NodeRun] = {}
        self.futures: dict[Future[Any], tuple[str, float]] = {}
        self.dependents = reverse(deps)
        self.probing = probing
        self.first_start: dict[str, float] = {}

    def start(self, key: str, fn: Callable[[str], Any]) -> None:
        """Announced once (a probe's start, if it had one); a node that its probe did not settle
        is timed from its work's start, when its dependencies let it run."""
        now = time.monotonic() - self.t0
        if key not in self.first_start:
            self.first_start[key] = now
            if self.on_start is not None:
                self.on_start(key, now)
        self.futures[self.pool.submit(fn, key)] = (key, now)

    def submit_ready(self, work: Callable[[str], Any]) -> None:
        running = {key for key, _ in self.futures.values()}
        for key, needs in self.deps.items():
            if key in self.results or key in running or key in self.probing:
                continue
            if all(self.results.get(n) is not None and self.results[n].status == "succeeded" for n in needs):
                self.start(key, work)
                running.add(key)

    def finished(self, future: Future[Any]) -> None:
        key, started = self.futures.pop(future)
        seconds = time.monotonic() - self.t0 - started
        error = future.exception()
        if key in self.probing:
            self.probing.discard(key)
            if key in self.results or (error is None and future.result() is None):
                return  # skipped meanwhile, or not settled: it waits for its dependencies
        if error is None:
            node = NodeRun(key, "succeeded", started, seconds, value=future.result())
        else:
            node = NodeRun(key, "failed", started, seconds, error=error)
        self.results[key] = node
        skipped = self.skip_dependents(key) if error is not None else []
        if self.on_finish is not None:
            self.on_finish(node)
            for run_ in skipped:
                self.on_finish(run_)

    def skip_dependents(self, failed: str) -> list[NodeRun]:
        skipped = []
        stack = [failed]
        while stack:
            for child in self.dependents[stack.pop()]:
                if child not in self.results:
                    now = time.monotonic() - self.t0
                    run_ = NodeRun(child, "skipped", now, 0.0, error=None)
                    self.results[child] = run_
                    skipped.append(run_)
                    stack.append(child)
        return skipped
