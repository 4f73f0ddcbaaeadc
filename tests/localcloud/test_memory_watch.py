"""The memory watcher of a Lambda worker: close while the environment runs (its init phase or an
invocation), almost never while it waits between invocations, when Lambda freezes it
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html, "Invoke phase":
the environment is frozen between invocations). A worker over its memory size is killed
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)."""

from __future__ import annotations

import threading
import time

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


def _watch(process: _Process, busy: threading.Event, monkeypatch: pytest.MonkeyPatch) -> threading.Thread:
    monkeypatch.setattr(limits, "peak_rss_mb", process.peak)
    thread = threading.Thread(
        target=limits.watch_memory, args=(PID, 128, process.alive, process.killed.set, busy), daemon=True
    )
    thread.start()
    return thread


def test_an_idle_worker_is_read_about_once_a_second_and_a_busy_one_every_20_ms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process = _Process(peak_mb=64)
    busy = threading.Event()
    thread = _watch(process, busy, monkeypatch)
    time.sleep(0.5)
    idle_reads = process.reads
    busy.set()
    time.sleep(0.5)
    busy_reads = process.reads - idle_reads
    process.killed.set()
    busy.set()
    thread.join(timeout=5)
    assert idle_reads <= 2, idle_reads
    assert busy_reads >= 5, busy_reads  # 25 at 20 ms; a loaded machine reads fewer


def test_an_invocation_starting_wakes_the_watcher_at_once_and_an_excess_is_killed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process = _Process(peak_mb=64)
    busy = threading.Event()
    thread = _watch(process, busy, monkeypatch)
    time.sleep(0.2)  # idle: waiting out its second
    process.peak_mb = 256
    started = time.monotonic()
    busy.set()
    assert process.killed.wait(timeout=limits.IDLE_POLL_S / 2), "not woken by the invocation"
    assert time.monotonic() - started < limits.IDLE_POLL_S / 2
    thread.join(timeout=5)
    assert not thread.is_alive()
