"""The server with its images in S3 against the image log (decision 0017 against 0010):
`veille bench ingest --images` run alternately with `VEILLE_IMAGE_STORE=s3://…` (a real
SeaweedFS server started here, fsync on) and without (the image log, fdatasync on).

Each run sends `--reads` reads, each with a ~3 KB plate crop and a ~25 KB overview
inline, over HTTP (`--batch` reads a request, `--concurrency` connections: the cameras
waiting for an answer at once, which bounds the writer's group); the bench counts the
reads in the store. Reported per run: reads/s, request p50/p99, reads per commit, and
the load average before and after.

    PYTHONPATH=src:. python scripts/s3_ingest_ab.py --reads 6000 --batch 1 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests/

from tests.seaweedfs import SeaweedFS


def bench(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "veille",
            "bench",
            "ingest",
            "--images",
            "--reads",
            str(args.reads),
            "--batch",
            str(args.batch),
            "--concurrency",
            str(args.concurrency),
            "--rounds",
            "1",
            "--json",
        ],
        env={**os.environ, **env},
        capture_output=True,
        check=True,
    )
    result = json.loads(done.stdout)
    run = result["rounds"][0]["end_to_end"]
    return {
        "reads_per_s": run["reads_per_s"],
        "request_p50_ms": run["request_p50_ms"],
        "request_p99_ms": run["request_p99_ms"],
        "reads_per_commit": run["writer_reads_per_commit"],
        "all_stored_once": result["all_stored_once"],
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16, help="cameras posting at once")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--s3-concurrency", type=int, default=16, help="VEILLE_S3_MAX_CONCURRENCY")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veille-s3-ab-") as folder:
        server = SeaweedFS(Path(folder))
        server.start()
        try:
            s3 = {
                "VEILLE_IMAGE_STORE": f"s3://{server.new_bucket()}",
                "VEILLE_S3_ENDPOINT_URL": server.endpoint_url,
                "VEILLE_S3_ACCESS_KEY_ID": server.access_key,
                "VEILLE_S3_SECRET_ACCESS_KEY": server.secret_key,
                "VEILLE_S3_MAX_CONCURRENCY": str(args.s3_concurrency),
            }
            results: dict[str, list[dict[str, Any]]] = {"image log": [], "s3": []}
            for round_no in range(args.rounds):
                order = ["image log", "s3"] if round_no % 2 == 0 else ["s3", "image log"]
                for name in order:
                    run = bench(args, s3 if name == "s3" else {})
                    results[name].append(run)
                    print(f"round {round_no + 1} {name}: {run}", flush=True)
        finally:
            server.stop(kill=True)
    for name, runs in results.items():
        print(
            f"{name}: reads/s {[r['reads_per_s'] for r in runs]},"
            f" p99 ms {[r['request_p99_ms'] for r in runs]}"
        )


if __name__ == "__main__":
    main()
