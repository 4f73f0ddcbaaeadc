"""Benchmark the artifact check on hostile zips: how long each takes and how much memory it costs.

Each case is a zip a pipeline could upload (the API's artifact upload hands a ready zip's bytes
to `artifact_from_bytes`): the 2 KB source bomb (a handler followed by 500,000 lines of `x=1`),
the 245 KB zip bomb (one entry of 238 MiB of zeros, just under Lambda's 250 MB), a deeply nested
expression, and the largest module the check parses (256 KB of `x=1`, accepted). Every case runs
in a fresh child process that reports its elapsed time, its own peak RSS and the peak RSS of its
children (the import check's process) from `resource.getrusage`. Prints one line per case, then
one JSON object.

    python bench/artifact_bombs.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLER = "def h(event, context):\n    return 1\n"

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from provisioning.artifacts import ArtifactError, artifact_from_bytes
data = open({path!r}, 'rb').read()
started = time.perf_counter()
try:
    artifact_from_bytes(data, handler='app.h', source='bench')
    outcome = 'accepted'
except ArtifactError as exc:
    outcome = 'refused: ' + exc.problems[0][:120]
except BaseException as exc:
    outcome = 'crashed: ' + type(exc).__name__
print(json.dumps({{
    'zip_bytes': len(data),
    'seconds': round(time.perf_counter() - started, 3),
    'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    'children_peak_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024,
    'outcome': outcome,
}}))
"""


def write_zip(path: Path, entries: dict[str, str], big: tuple[str, int] | None = None) -> None:
    """A deflated zip; `big` is an entry of that many zero bytes, written in 1 MB chunks."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
        if big is not None:
            info = zipfile.ZipInfo(big[0])
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as out:
                for _ in range(big[1] // 2**20):
                    out.write(bytes(2**20))


def cases(folder: Path) -> dict[str, Path]:
    made = {
        "source_bomb": ({"app.py": HANDLER + "x=1\n" * 500_000}, None),
        "zip_bomb": ({"app.py": HANDLER}, ("blob.bin", 238 * 2**20)),
        "nested_expression": ({"app.py": HANDLER + "x = " + "-" * 200_000 + "1\n"}, None),
        "largest_module": ({"app.py": HANDLER + "x=1\n" * ((256 * 1024 - len(HANDLER)) // 4)}, None),
    }
    paths = {}
    for name, (entries, big) in made.items():
        paths[name] = folder / f"{name}.zip"
        write_zip(paths[name], entries, big)
    return paths


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory(prefix="envport-bench-") as tmp:
        for name, path in cases(Path(tmp)).items():
            code = CHILD.format(root=str(ROOT), path=str(path))
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            row = results[name]
            print(
                f"{name}: {row['zip_bytes']} bytes zipped, {row['seconds']} s, peak {row['peak_mb']} MB "
                f"(check process {row['children_peak_mb']} MB): {row['outcome']}"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
