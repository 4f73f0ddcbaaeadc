"""Benchmark a run's first clients: every run (a worker's task, a test's engine) makes a client
factory of its own, whose session makes the clients of every service the engine uses.

`shared_loader_s`: as provisioning/aws.py makes them (one botocore loader per process, its parsed
service models reused); `own_loader_s`: a session with a loader of its own, as before (each one
lists botocore's data directories and parses every model again). Both after one warm-up, so
neither pays the process's first import. Prints one JSON object as its last line.

    python bench/clients.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for key, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(key, value)

import boto3  # noqa: E402

from provisioning.aws import AwsClients, AwsTarget  # noqa: E402
from provisioning.hooks import SERVICES  # noqa: E402

ENDPOINT = "http://127.0.0.1:9"  # never called: making a client sends nothing


def _shared() -> float:
    start = time.perf_counter()
    clients = AwsClients(AwsTarget(region="us-east-1", endpoint_url=ENDPOINT))
    for service in SERVICES:
        clients.client(service)
    return time.perf_counter() - start


def _own() -> float:
    start = time.perf_counter()
    session = boto3.Session(region_name="us-east-1")  # botocore's default: a loader of its own
    for service in SERVICES:
        session.client(service, endpoint_url=ENDPOINT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    _shared(), _own()  # warm-up: imports, and the shared loader's first parse
    shared = [_shared() for _ in range(args.runs)]
    own = [_own() for _ in range(args.runs)]
    result: dict[str, Any] = {
        "services": len(SERVICES),
        "runs": args.runs,
        "shared_loader_s": round(statistics.median(shared), 4),
        "own_loader_s": round(statistics.median(own), 4),
    }
    result["ratio"] = round(result["own_loader_s"] / max(result["shared_loader_s"], 1e-9), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
