"""Benchmark verification and the local cloud's gateway.

Starts a local cloud, provisions one environment with the engine, then measures: verify wall
time over N runs with per-check latency p50/p95, the function's cold start, warm request
latency through the gateway, and requests per second with 8 concurrent clients. Prints one
JSON object as its last line.

    python bench/verify.py [--runs 5] [--requests 300] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The local cloud takes any credentials; never pick up a developer's real ones.
for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
    os.environ[key] = value
os.environ.pop("AWS_PROFILE", None)

from localcloud import LocalCloud  # noqa: E402
from provisioning import http  # noqa: E402
from provisioning.aws import AwsTarget  # noqa: E402
from provisioning.engine import Engine  # noqa: E402
from provisioning.spec import build_spec  # noqa: E402
from provisioning.verify import verify  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--requests", type=int, default=300, help="warm requests, and per client for throughput"
    )
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    # Throttling out of the way: this measures the gateway and the function, not the usage plan.
    spec = build_spec(
        suffix="benchver",
        stage="dev",
        overrides={"throttle_rate": 1000, "throttle_burst": 5000, "reserved_concurrency": 50},
    )
    with LocalCloud(port=0) as cloud:
        target = AwsTarget(
            region=cloud.region,
            endpoint_url=cloud.endpoint_url,
            execute_api_url_template=cloud.stage_url_template,
        )
        applied = Engine(spec, target).apply()
        assert applied.ok, applied.error
        outputs = applied.outputs
        key = cloud.client("apigateway").get_api_key(apiKey=outputs["api_key_id"], includeValue=True)["value"]
        url = outputs["api_endpoint"] + "/items?limit=10"
        headers = {"x-api-key": key}

        walls: list[float] = []
        per_check: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.runs):
            report = verify(spec, target, settle_s=2.0)
            assert report.ok, [c.to_dict() for c in report.failed]
            walls.append(report.wall_s)
            for check in report.checks:
                if check.latency_ms is not None:
                    per_check[check.name].append(check.latency_ms)

        colds: list[float] = []
        for _ in range(3):
            cloud._stop_workers()  # the next request starts a new worker process
            cloud.clear_invocations()
            started = time.perf_counter()
            assert http.request("GET", url, headers=headers).status == 200
            colds.append((time.perf_counter() - started) * 1000)
            record = cloud.invocations(outputs["function_name"])[-1]
            assert record["cold"], record

        warm = []
        for _ in range(args.requests):
            resp = http.request("GET", url, headers=headers)
            assert resp.status == 200, resp.status
            warm.append(resp.latency_ms)

        def client(_: int) -> int:
            return sum(
                1
                for _ in range(args.requests // 2)
                if http.request("GET", url, headers=headers).status == 200
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            ok = sum(pool.map(client, range(args.clients)))
        elapsed = time.perf_counter() - started

    out: dict[str, Any] = {
        "verify_runs": args.runs,
        "verify_wall_s": {"p50": round(statistics.median(walls), 3), "max": round(max(walls), 3)},
        "check_latency_ms": {
            name: {"p50": pct(v, 50), "p95": pct(v, 95)} for name, v in sorted(per_check.items())
        },
        "cold_start_ms": {"p50": round(statistics.median(colds), 1), "runs": len(colds)},
        "warm_request_ms": {"p50": pct(warm, 50), "p95": pct(warm, 95), "n": len(warm)},
        "throughput": {
            "clients": args.clients,
            "requests": ok,
            "seconds": round(elapsed, 3),
            "rps": round(ok / elapsed, 1),
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
