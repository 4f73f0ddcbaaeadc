"""Benchmark the test suite: run pytest with the given arguments, time it, and say where the time
went (the tests' own durations, summed by package folder under tests/, and the slowest tests).

    python bench/suite.py [--runs 1] -- -n 2 -m "not slow and not sweep and not heavy"

Each run writes its JUnit XML to build/bench-suite/ (--label names it). Prints one JSON object as
its last line: `wall_s` and `cpu_s` (medians over the runs; CPU is user plus system time of pytest
and every process it waited for), every run's figures and outcome counts, and from the last run
`by_folder_s` and `slowest`. On N cores a run cannot take less than `cpu_s / N`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench-suite"


def _read(report: Path) -> dict[str, Any]:
    """Outcome counts, seconds summed per tests/<folder>, and the ten slowest tests."""
    cases = ET.parse(report).getroot().iter("testcase")
    counts: Counter[str] = Counter()
    folders: Counter[str] = Counter()
    times: list[tuple[float, str]] = []
    for case in cases:
        seconds = float(case.get("time") or 0)
        name = f"{case.get('classname')}::{case.get('name')}"
        parts = str(case.get("classname") or "").split(".")
        folders[parts[1] if len(parts) > 2 and parts[0] == "tests" else parts[0]] += seconds
        times.append((seconds, name))
        marks = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome = marks[0] if marks else "passed"
        counts[outcome] += 1
    return {
        "counts": dict(counts),
        "by_folder_s": {k: round(v, 1) for k, v in folders.most_common()},
        "slowest": [[name, round(seconds, 2)] for seconds, name in sorted(times, reverse=True)[:10]],
    }


def _children_cpu() -> float:
    """User plus system seconds of the processes this one has waited for, theirs included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--label", default="run", help="names the JUnit files: build/bench-suite/LABEL-N.xml")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: pytest's arguments")
    args = parser.parse_args()
    extra = [a for a in args.pytest_args if a != "--"]
    OUT.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for n in range(args.runs):
        report = OUT / f"{args.label}-{n}.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        command += extra
        before = _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        cpu = _children_cpu() - before
        details = _read(report) if report.exists() else {}
        counts = details.get("counts", {})
        runs.append({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "exit": done.returncode, **counts})
        tail = done.stdout.strip().splitlines()[-1:] or [done.stderr[-2000:]]
        print(tail[0], file=sys.stderr)
    print(
        json.dumps(
            {
                "label": args.label,
                "pytest_args": extra,
                "wall_s": round(statistics.median(r["wall_s"] for r in runs), 1),
                "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 1),
                "runs": runs,
                "by_folder_s": details.get("by_folder_s", {}),
                "slowest": details.get("slowest", []),
            }
        )
    )


if __name__ == "__main__":
    main()
