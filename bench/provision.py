"""Benchmark the engine against moto in-process: cold apply, no-op apply, drift, destroy.

Prints one JSON object as its last line. With `--latency MS` every AWS call is delayed by MS
milliseconds (a botocore hook), and `cold_apply` gains `critical_path_bound_s`: the longest
chain of calls that must follow one another (resource dependencies, each resource's own calls
in sequence) times the delay. `wall_s / critical_path_bound_s` near 1 means the engine runs
everything else in parallel with that chain.

    python bench/provision.py [--latency 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for key, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(key, value)

from moto import mock_aws  # noqa: E402

from localcloud import fidelity  # noqa: E402
from provisioning import graph  # noqa: E402
from provisioning.aws import AwsClients, AwsTarget  # noqa: E402
from provisioning.engine import Engine, RunResult  # noqa: E402
from provisioning.hooks import SERVICES, Latency  # noqa: E402
from provisioning.spec import build_spec  # noqa: E402


def _figures(result: RunResult) -> dict[str, Any]:
    assert result.ok, result.error
    return {
        "wall_s": round(result.wall_s, 4),
        "calls": result.calls.total,
        "mutating_calls": result.calls.mutating,
    }


def one_round(latency_s: float) -> dict[str, Any]:
    spec = build_spec(suffix="bench", stage="staging", alarm_emails=["ops@example.com"])
    hooks = (Latency(latency_s).hook(),) if latency_s else ()
    with mock_aws():
        clients = AwsClients(AwsTarget(region="us-east-1"), hooks=hooks)
        engine = Engine(spec, clients=clients, sleep=lambda _s: None, workers=16)
        # A worker process keeps its clients: make them (and resolve the account) before timing,
        # so cold_apply measures a new environment, not a new process loading botocore models.
        for service in SERVICES:
            clients.client(service)
        clients.account_id  # noqa: B018
        cold = engine.apply()
        figures = {"cold_apply": _figures(cold)}
        if latency_s:
            weights = {s.resource: s.calls * latency_s for s in cold.steps}
            bound, path = graph.longest_path(engine.deps, weights)
            figures["cold_apply"]["critical_path_bound_s"] = round(bound, 4)
            figures["cold_apply"]["critical_path"] = path
            figures["cold_apply"]["ratio"] = round(cold.wall_s / bound, 3) if bound else None
        figures["noop_apply"] = _figures(engine.apply())
        figures["drift"] = _figures(engine.drift())
        figures["destroy"] = _figures(engine.destroy())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.0, help="delay added to every AWS call, in ms")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the median of each figure is reported")
    args = parser.parse_args()
    fidelity.apply()
    rounds = [one_round(args.latency / 1000.0) for _ in range(args.runs)]
    out: dict[str, Any] = {"latency_ms": args.latency, "runs": args.runs}
    for phase in ("cold_apply", "noop_apply", "drift", "destroy"):
        merged: dict[str, Any] = {}
        for key in rounds[0][phase]:
            values = [r[phase][key] for r in rounds]
            merged[key] = statistics.median(values) if isinstance(values[0], (int, float)) else values[0]
        out[phase] = merged
    print(json.dumps(out))


if __name__ == "__main__":
    main()
