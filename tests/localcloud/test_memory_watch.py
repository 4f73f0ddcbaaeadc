"""The memory watcher of a Lambda worker: close while the environment runs (its init phase or an
invocation), almost never while it waits between invocations, when Lambda freezes it
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html, "Invoke phase":
the environment is frozen between invocations). A worker over its memory size is killed
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from localcloud.lambda_ import limits

PID = -4242  # no process has it: the stand-in's reads are told apart from real workers' watchers


class _Process:
    """A stand-in for the worker: its peak RSS as the watcher reads it, and whether it was killed."""

    def __init__(self, peak_mb: int) -> None:
        self.peak_mb = peak_mb
        self.reads = 0
        self.killed = threading.Event()
        self._real = limits.peak_rss_mb

    def peak(self, pid: int) -> int | None:
        """The stand-in's peak; a real worker's watcher in this process (a local cloud another test
        left running) still reads its own."""
        if pid != PID:
            return self._real(pid)
        self.reads += 1
        return self.peak_mb

    def alive(self) -> bool:
        return not self.killed.is_set()


@dataclass
class _Watched:
    process: _Process
    busy: threading.Event
    thread: threading.Thread


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Watched]:
    """A watcher over a stand-in worker of 64 MB under a 128 MB limit, idle; stopped after the test."""
    process = _Process(peak_mb=64)
    busy = threading.Event()
    monkeypatch.setattr(limits, "peak_rss_mb", process.peak)
    thread = threading.Thread(
        target=limits.watch_memory, args=(PID, 128, process.alive, process.killed.set, busy), daemon=True
    )
    thread.start()
    yield _Watched(process, busy, thread)
    process.killed.set()
    busy.set()
    thread.join(timeout=5)


def test_an_idle_worker_is_read_about_once_a_second_and_a_busy_one_every_20_ms(watched: _Watched) -> None:
    time.sleep(0.5)
    idle_reads = watched.process.reads
    watched.busy.set()
    time.sleep(0.5)
    busy_reads = watched.process.reads - idle_reads
    assert idle_reads <= 2, idle_reads
    assert busy_reads >= 5, busy_reads  # 25 at 20 ms; a loaded machine reads fewer


def test_an_invocation_starting_wakes_the_watcher_at_once_and_an_excess_is_killed(watched: _Watched) -> None:
    time.sleep(0.2)  # idle: waiting out its second
    watched.process.peak_mb = 256
    started = time.monotonic()
    watched.busy.set()
    assert watched.process.killed.wait(timeout=limits.IDLE_POLL_S / 2), "not woken by the invocation"
    assert time.monotonic() - started < limits.IDLE_POLL_S / 2
    watched.thread.join(timeout=5)
    assert not watched.thread.is_alive()
