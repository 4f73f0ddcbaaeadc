"""Benchmark a restore of 10,000 items on the local cloud: restore time and cut-over time.

Starts a local cloud, provisions one environment with the engine (point-in-time recovery on),
writes N items (BatchWriteItem, 25 a call), notes the time, deletes a tenth of them, then runs the
framework-free restore engine (`provisioning.restore`) to the noted time and reports, the median
over R runs (each restores the table the last one made, to a time noted after its cut-over):
- `restore_s`: from the call to the restored table checked (restore, wait for ACTIVE, bring it
  to the specification, count and sample, compare with the live table);
- `cutover_s`: from there to the end (grant, publish a version reading it, the CRUD journey against
  that version, the alias moved, role, alarms and dashboard converged, the old table retained);
- the AWS calls of one restore, and that the restored table holds every item.
The local cloud's restore delay (`LOCALCLOUD_DYNAMODB_RESTORE_S`, default 1 s) is part of
`restore_s`; AWS takes minutes for a table of this size, so the figure is the engine's own cost.
Prints one JSON object as its last line.

    python bench/restore.py [--items 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The local cloud takes any credentials; never pick up a developer's real ones.
for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
    os.environ[key] = value
os.environ.pop("AWS_PROFILE", None)

from localcloud import LocalCloud  # noqa: E402
from provisioning.aws import AwsClients, AwsTarget  # noqa: E402
from provisioning.engine import Engine  # noqa: E402
from provisioning.restore import parse_request, restore, with_table  # noqa: E402
from provisioning.spec import EnvironmentSpec, build_spec  # noqa: E402


def _write(cloud: LocalCloud, table: str, count: int, prefix: str) -> list[str]:
    ddb = cloud.client("dynamodb")
    ids = [f"{prefix}-{n:06d}" for n in range(count)]
    for start in range(0, count, 25):
        batch = [
            {
                "PutRequest": {
                    "Item": {
                        "id": {"S": item},
                        "name": {"S": f"item {item}"},
                        "email": {"S": f"{item}@example.com"},
                        "listKey": {"S": "items"},
                        "createdAt": {"S": dt.datetime.now(dt.UTC).isoformat()},
                    }
                }
            }
            for item in ids[start : start + 25]
        ]
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return ids


def _delete(cloud: LocalCloud, table: str, ids: list[str]) -> None:
    ddb = cloud.client("dynamodb")
    for start in range(0, len(ids), 25):
        batch = [{"DeleteRequest": {"Key": {"id": {"S": i}}}} for i in ids[start : start + 25]]
        ddb.batch_write_item(RequestItems={table: batch})


def one_run(
    cloud: LocalCloud, spec: EnvironmentSpec, clients: AwsClients, items: int
) -> tuple[EnvironmentSpec, dict[str, Any]]:
    table = spec.names.table
    time.sleep(1.2)
    noted = dt.datetime.now(dt.UTC)
    time.sleep(1.2)
    _delete(cloud, table, [f"b-{n:06d}" for n in range(0, items, 10)])
    request = parse_request(spec, operation="restore", to_time=noted.isoformat())
    started = time.monotonic()
    result = restore(spec, clients, request)
    wall = time.monotonic() - started
    if not result.ok:
        raise RuntimeError(f"restore failed: {result.error} {result.state.reason}")
    marks = result.state.phases
    phases = {b["phase"]: round(b["at"] - a["at"], 3) for a, b in itertools.pairwise(marks)}
    run = {
        "phases_s": phases,
        "restore_s": result.timings["restore_s"],
        "cutover_s": result.timings["cutover_s"],
        "wall_s": wall,
        "restored_items": result.state.check["items"],
        "calls": result.calls.total,
        "mutating": result.calls.mutating,
    }
    new_spec = with_table(spec, result.state.new_table)
    _write(cloud, new_spec.names.table, items, "b")  # the next run deletes from a full table again
    return new_spec, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with LocalCloud(port=0) as cloud:
        target = AwsTarget(
            region=cloud.region,
            endpoint_url=cloud.endpoint_url,
            execute_api_url_template=cloud.stage_url_template,
        )
        spec = build_spec(suffix="bench-rst", stage="dev", overrides={"pitr": True})
        provisioned = Engine(spec, target).apply()
        if not provisioned.ok:
            raise RuntimeError(provisioned.error)
        clients = AwsClients(target)
        _write(cloud, spec.names.table, args.items, "b")
        runs = []
        for n in range(args.runs):
            spec, run = one_run(cloud, spec, clients, args.items)
            shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}
            run.pop("phases_s")
            print(f"run {n + 1}: {json.dumps(shown)}", file=sys.stderr)
            runs.append(run)
    median = {
        k: round(statistics.median(r[k] for r in runs), 3) for k in ("restore_s", "cutover_s", "wall_s")
    }
    print(
        json.dumps(
            {
                "bench": "restore",
                "items": args.items,
                "runs": args.runs,
                "median_restore_s": median["restore_s"],
                "median_cutover_s": median["cutover_s"],
                "median_wall_s": median["wall_s"],
                "restored_items": runs[-1]["restored_items"],
                "calls_per_restore": runs[-1]["calls"],
                "mutating_calls_per_restore": runs[-1]["mutating"],
            }
        )
    )


if __name__ == "__main__":
    main()
